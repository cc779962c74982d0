import type { Registration } from '../store/types.js';

/** Body keys the engine sets on every attempt (SPEC §5), overriding any the producer sent. */
const ENGINE_KEYS = ['username', 'password', 'callbackCount', 'maxCallbackThreshold'] as const;
const ENGINE_KEY_PATTERN = /"(?:username|password|callbackCount|maxCallbackThreshold)"/;

/**
 * The body of one attempt: the stored payload with `username`, `password`, `callbackCount` and
 * `maxCallbackThreshold` set. The payload text is spliced rather than parsed and re-serialised, since
 * only these four keys differ between attempts; a payload that already mentions one of them (anywhere,
 * even in a value) takes the slow path so the engine's values win.
 */
export function callbackBody(
  payload: string,
  registration: Pick<Registration, 'username' | 'password'>,
  attemptNumber: number,
  maxAttempts: number,
): string {
  const fields = `"username":${JSON.stringify(registration.username ?? '')},"password":${JSON.stringify(
    registration.password ?? '',
  )},"callbackCount":${attemptNumber},"maxCallbackThreshold":${maxAttempts}`;
  const text = payload.trim();
  if (!ENGINE_KEY_PATTERN.test(text) && text.startsWith('{') && text.endsWith('}')) {
    const inner = text.slice(1, -1).trim();
    return inner === '' ? `{${fields}}` : `{${inner},${fields}}`;
  }
  const body = JSON.parse(text) as Record<string, unknown>;
  for (const key of ENGINE_KEYS) delete body[key];
  return JSON.stringify({
    ...body,
    username: registration.username ?? '',
    password: registration.password ?? '',
    callbackCount: attemptNumber,
    maxCallbackThreshold: maxAttempts,
  });
}

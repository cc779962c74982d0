import type { ClaimedMessage } from '../services/messages.js';
import type { Registration } from '../services/registrations.js';
import type { Signer } from './signer.js';

/** Body keys the engine sets on every attempt (SPEC §5), overriding any the producer sent. */
const ENGINE_KEYS = new Set(['username', 'password', 'callbackCount', 'maxCallbackThreshold']);
const ENGINE_KEY_PATTERN = /"(?:username|password|callbackCount|maxCallbackThreshold)"|\\u/;

/** One attempt's request, ready for the sender. */
export interface CallbackRequest {
  headers: Record<string, string>;
  body: string;
}

/** What makes one attempt's request besides the message: its number, its time and who signs it. */
export interface AttemptContext {
  attemptNumber: number;
  /** The attempt's start (epoch ms): the signature's timestamp. */
  now: number;
  signer: Signer;
  userAgent: string;
}

/**
 * The request of attempt `attemptNumber` of a claimed message (SPEC §5): the body with credentials
 * and counters, and the headers, signed over that exact body.
 */
export function callbackRequest(
  { message, registration }: ClaimedMessage,
  { attemptNumber, now, signer, userAgent }: AttemptContext,
): CallbackRequest {
  const body = callbackBody(message.payload, registration, attemptNumber, message.maxAttempts);
  const timestamp = Math.floor(now / 1000);
  return {
    headers: {
      'content-type': 'application/json',
      'user-agent': userAgent,
      'webhook-id': message.id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signer.sign(registration, { id: message.id, timestampSeconds: timestamp, body, now }),
      'ccb-account': message.accountName,
      'ccb-service': message.serviceName,
    },
    body,
  };
}

/**
 * The body of one attempt: the stored payload text (a JSON object) with `username`, `password`,
 * `callbackCount` and `maxCallbackThreshold` appended. The text is spliced, never parsed and
 * re-serialised, so the producer's values (numbers above 2^53, say) arrive as sent. A payload that
 * already has one of those keys at its top level loses that member, so each key appears once.
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
  // Most payloads never mention the engine's keys (nor escape a key's letters): keep their text whole.
  const members = ENGINE_KEY_PATTERN.test(payload) ? withoutEngineKeys(payload) : innerText(payload);
  return members === '' ? `{${fields}}` : `{${members},${fields}}`;
}

/** The members of an object's text, between its braces, trimmed. */
function innerText(payload: string): string {
  const text = payload.trim();
  if (!text.startsWith('{') || !text.endsWith('}')) throw new SyntaxError('a callback payload must be a JSON object');
  return text.slice(1, -1).trim();
}

/**
 * The members of an object's text without those whose key is an engine key, each member's text kept
 * as it was. Scans the top level only: nested objects and strings are skipped whole.
 */
function withoutEngineKeys(payload: string): string {
  const text = payload.trim();
  if (text[0] !== '{') throw new SyntaxError('a callback payload must be a JSON object');
  const kept: string[] = [];
  let i = skipSpace(text, 1);
  if (text[i] === '}') return '';
  for (;;) {
    if (text[i] !== '"') throw new SyntaxError(`expected a key at ${i} of the payload`);
    const keyEnd = skipString(text, i);
    const rawKey = text.slice(i, keyEnd);
    const key = rawKey.includes('\\') ? (JSON.parse(rawKey) as string) : rawKey.slice(1, -1);
    let j = skipSpace(text, keyEnd);
    if (text[j] !== ':') throw new SyntaxError(`expected ':' at ${j} of the payload`);
    j = skipValue(text, skipSpace(text, j + 1));
    if (!ENGINE_KEYS.has(key)) kept.push(text.slice(i, j));
    i = skipSpace(text, j);
    if (text[i] === '}') return kept.join(',');
    if (text[i] !== ',') throw new SyntaxError(`expected ',' or '}' at ${i} of the payload`);
    i = skipSpace(text, i + 1);
  }
}

function skipSpace(text: string, i: number): number {
  while (i < text.length && (text[i] === ' ' || text[i] === '\n' || text[i] === '\r' || text[i] === '\t')) i++;
  return i;
}

/** The index just past the string starting at `i` (a `"`). */
function skipString(text: string, i: number): number {
  for (let j = i + 1; j < text.length; j++) {
    const c = text[j];
    if (c === '\\') j++;
    else if (c === '"') return j + 1;
  }
  throw new SyntaxError('unterminated string in the payload');
}

/** The index just past the value starting at `i`: a string, an object or array (nesting counted), or a literal. */
function skipValue(text: string, i: number): number {
  const first = text[i];
  if (first === '"') return skipString(text, i);
  if (first === '{' || first === '[') {
    let depth = 0;
    for (let j = i; j < text.length; j++) {
      const c = text[j];
      if (c === '"') j = skipString(text, j) - 1;
      else if (c === '{' || c === '[') depth++;
      else if (c === '}' || c === ']') {
        depth--;
        if (depth === 0) return j + 1;
      }
    }
    throw new SyntaxError('unterminated value in the payload');
  }
  let j = i;
  while (j < text.length && !',}] \n\r\t'.includes(text[j])) j++;
  if (j === i) throw new SyntaxError(`expected a value at ${i} of the payload`);
  return j;
}

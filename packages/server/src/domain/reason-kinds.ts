import { ATTEMPT_ERROR_KINDS } from './attempt-error.js';
import { MessageReasons } from './reasons.js';

/** A reason's kind: its text before `: ` (`timeout: no answer …` → `timeout`), or all of it. */
export function reasonKind(reason: string): string {
  const colon = reason.indexOf(': ');
  return colon < 0 ? reason : reason.slice(0, colon);
}

/**
 * Every kind a message's reason can have, for filtering (`GET /admin/v1/messages?reason=`): the
 * service's own reasons (MessageReasons) and the kinds of attempt errors (`http_status`, `timeout`, …).
 */
export const REASON_KINDS = [
  ...new Set([...Object.values(MessageReasons).map(reasonKind), ...ATTEMPT_ERROR_KINDS]),
] as readonly string[];

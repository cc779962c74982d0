import { InvalidCursorError } from './types.js';

/**
 * List cursors of both backends: an insertion sequence number, wrapped so that callers treat it as
 * an opaque string (and a backend can change what is inside without breaking them).
 */
export function encodeSeqCursor(seq: number | string | bigint): string {
  return Buffer.from(`s${seq}`, 'utf8').toString('base64url');
}

/** The sequence number inside a cursor made by encodeSeqCursor, as a decimal string. */
export function decodeSeqCursor(cursor: string): string {
  const text = /^[A-Za-z0-9_-]{1,32}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  const match = /^s([1-9][0-9]{0,17})$/.exec(text);
  if (!match) throw new InvalidCursorError(`cursor "${cursor}" was not made by this server's message list`);
  return match[1];
}

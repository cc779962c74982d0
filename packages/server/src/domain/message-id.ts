import { randomFillSync } from 'node:crypto';

/** The prefix of every message id. */
export const MESSAGE_ID_PREFIX = 'msg_';

/**
 * Time-ordered message ids (`msg_` + 12 hex digits of epoch ms + 20 random hex digits): they sort by
 * creation and keep inserts into the id index sequential.
 */
export function newMessageId(now: number = Date.now()): string {
  return timeOrderedId(MESSAGE_ID_PREFIX, now, 10);
}

/**
 * `prefix` + 12 hex digits of epoch ms + `randomBytes` random bytes in hex: the form of message ids,
 * and of other ids that should sort by creation (audit entries).
 */
export function timeOrderedId(prefix: string, now: number, randomBytes: number): string {
  return `${prefix}${now.toString(16).padStart(12, '0')}${randomHex(randomBytes)}`;
}

/** Random bytes drawn a page at a time: one call into the system's generator per 409 message ids, not per id. */
const ID_RANDOM = Buffer.alloc(4090);
let idRandomAt = ID_RANDOM.length;

/** `bytes` random bytes (at most a page) as hex digits. */
function randomHex(bytes: number): string {
  if (idRandomAt + bytes > ID_RANDOM.length) {
    randomFillSync(ID_RANDOM);
    idRandomAt = 0;
  }
  idRandomAt += bytes;
  return ID_RANDOM.toString('hex', idRandomAt - bytes, idRandomAt);
}

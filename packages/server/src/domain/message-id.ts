import { randomFillSync } from 'node:crypto';

/** The prefix of every message id. */
export const MESSAGE_ID_PREFIX = 'msg_';

/**
 * Time-ordered message ids (`msg_` + 12 hex digits of epoch ms + 20 random hex digits): they sort by
 * creation and keep inserts into the id index sequential.
 */
export function newMessageId(now: number = Date.now()): string {
  return `${MESSAGE_ID_PREFIX}${now.toString(16).padStart(12, '0')}${randomHex10()}`;
}

/** Random bytes drawn a page at a time: one call into the system's generator per 409 ids, not per id. */
const ID_RANDOM = Buffer.alloc(4090);
let idRandomAt = ID_RANDOM.length;

/** 10 random bytes as 20 hex digits. */
function randomHex10(): string {
  if (idRandomAt + 10 > ID_RANDOM.length) {
    randomFillSync(ID_RANDOM);
    idRandomAt = 0;
  }
  idRandomAt += 10;
  return ID_RANDOM.toString('hex', idRandomAt - 10, idRandomAt);
}

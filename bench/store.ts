/**
 * `node --import tsx bench/store.ts [--rounds N] [--count N] [--outcomes N]`: the SQLite store's CPU
 * time per message on the delivery path alone (no HTTP, no dispatcher), through the real
 * SqliteMessageStore on a file database in a temporary folder: insert (as the publish fast path does:
 * stored already claimed), record the outcome (a first-try success with its attempt, in batches of
 * `--outcomes`), then the same through a claim (pending messages, claimed in batches of 200) and
 * outcomes that are retries, so that each part of the claim → acknowledge path is seen, and the
 * retention purge of them all. The median round counts. It measures the process's own CPU, so other
 * load on the machine changes it little.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newMessageId } from '../packages/server/src/domain/message-id.js';
import { openStore } from '../packages/server/src/store/index.js';
import type { Attempt, MessageChange, MessageInsert } from '../packages/server/src/store/types.js';
import { benchArgs } from './lib/args.js';
import { carrierPayload } from './lib/payload.js';

const flags = benchArgs(
  `node --import tsx bench/store.ts [--rounds N] [--count N] [--outcomes N]

The SQLite store's CPU time per message on the delivery path alone (no HTTP, no dispatcher).
  --rounds N    rounds; the median counts (default 5)
  --count N     messages per round (default 20000)
  --outcomes N  outcomes recorded per batch (default 64)`,
  {
    rounds: { type: 'string', default: '5' },
    count: { type: 'string', default: '20000' },
    outcomes: { type: 'string', default: '64' },
  },
  ['rounds', 'count', 'outcomes'],
);
const COUNT = Number(flags.count);
const ROUNDS = Number(flags.rounds);
const OUTCOMES = Number(flags.outcomes);
const INSERT_BATCH = 1000;
const CLAIM_BATCH = 200;
const LEASE_MS = 35_000;

const dir = mkdtempSync(join(tmpdir(), 'ccb-bench-store-'));
const store = await openStore(`sqlite:${join(dir, 'ccb.sqlite')}`);
const messages = store.messages;

function cpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

function inserts(count: number, now: number, claimed: boolean): MessageInsert[] {
  return Array.from({ length: count }, (_, i) => ({
    id: newMessageId(now),
    accountName: '0000000123-00001',
    serviceName: 'CarrierService',
    payload: JSON.stringify(carrierPayload(i)),
    status: claimed ? 'delivering' : 'pending',
    maxAttempts: 4,
    nextAttemptAt: now,
    lockedUntil: claimed ? now + LEASE_MS : null,
    reason: null,
    idempotency: null,
  }));
}

function attempt(id: string, n: number, now: number, ok: boolean): Attempt {
  return {
    messageId: id,
    attemptNumber: n,
    startedAt: now,
    url: 'http://127.0.0.1:9001/carrier',
    statusCode: ok ? 200 : 503,
    latencyMs: 1.25,
    errorKind: ok ? null : 'http_status',
    error: ok ? null : '503',
    responseExcerpt: null,
  };
}

/** Runs `work` over `count` messages, returning µs of CPU per message. */
async function timed(work: () => Promise<unknown>, count = COUNT): Promise<number> {
  const before = cpuMicros();
  await work();
  return (cpuMicros() - before) / count;
}

async function insertAll(rows: MessageInsert[], now: number) {
  for (let i = 0; i < rows.length; i += INSERT_BATCH) await messages.insert(rows.slice(i, i + INSERT_BATCH), now);
}

async function acknowledge(ids: string[], now: number, ok: boolean, attemptNumber: number) {
  for (let i = 0; i < ids.length; i += OUTCOMES) {
    const changes = ids.slice(i, i + OUTCOMES).map(
      (id): MessageChange => ({
        id,
        attempt: attempt(id, attemptNumber, now, ok),
        status: ok ? 'delivered' : 'pending',
        nextAttemptAt: ok ? null : now,
        reason: ok ? null : 'http_status: 503',
        deliveredAt: ok ? now : null,
      }),
    );
    await messages.update(changes, now);
  }
}

const phases = [
  'insert claimed',
  'ack delivered',
  'insert pending',
  'claim',
  'ack retry',
  'claim again',
  'ack delivered 2',
  'purge',
];
const figures: number[][] = phases.map(() => []);
for (let round = 0; round < ROUNDS + 1; round++) {
  let now = Date.now();
  const fast = inserts(COUNT, now, true);
  const slow = inserts(COUNT, now, false);
  const claimedIds: string[] = [];
  const claimAll = async () => {
    claimedIds.length = 0;
    for (;;) {
      const batch = await messages.claim(now, CLAIM_BATCH, LEASE_MS);
      if (batch.length === 0) break;
      for (const m of batch) claimedIds.push(m.id);
    }
  };
  const results = [
    await timed(() => insertAll(fast, now)),
    await timed(() =>
      acknowledge(
        fast.map((m) => m.id),
        now,
        true,
        1,
      ),
    ),
    await timed(() => insertAll(slow, now)),
    await timed(claimAll),
    await timed(() => acknowledge(claimedIds, now, false, 1)),
    await timed(async () => {
      now += 1;
      await claimAll();
    }),
    await timed(() => acknowledge(claimedIds, now, true, 2)),
    // Both sets, delivered at the first attempt and at the second.
    await timed(
      () => messages.purge({ deliveredBefore: now + 1, failedBefore: now + 1, keysExpiredBy: now + 1 }),
      2 * COUNT,
    ),
  ];
  if (claimedIds.length !== COUNT) throw new Error(`claimed ${claimedIds.length} of ${COUNT}`);
  // The first round warms up (statement caches, JIT) and is not counted.
  if (round > 0) {
    for (const [i, r] of results.entries()) figures[i].push(r);
  }
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
for (const [i, phase] of phases.entries()) console.log(`${phase.padEnd(16)} ${median(figures[i]).toFixed(2)} µs`);
const path = median(figures[0]) + median(figures[1]);
const claimPath = figures[2].map(
  (_, r) => figures[2][r] + figures[3][r] + figures[4][r] + figures[5][r] + figures[6][r],
);
console.log(`fast path (insert claimed + ack): ${path.toFixed(2)} µs per message`);
console.log(`claim path (insert, claim, retry, claim, ack): ${median(claimPath).toFixed(2)} µs per message`);
await store.close();
rmSync(dir, { recursive: true, force: true });

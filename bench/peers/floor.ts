import { randomBytes } from 'node:crypto';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { callbackRequest } from '../../packages/server/src/delivery/callback-request.js';
import { serveRpc } from '../lib/ipc.js';
import { carrierPayload } from '../lib/payload.js';
import { peerDelivery } from '../lib/peer-delivery.js';

/**
 * The durable floor (SPEC §10): the sender plus the least a durable queue must do, with no product
 * logic. Each published batch is one bare prepared INSERT; deliveries are claimed in batches by one
 * statement (rows leased, `FOR UPDATE SKIP LOCKED` on PostgreSQL) and acknowledged in batches by one
 * statement (the rows deleted: everything that finished in the same turn of the event loop). The
 * database settings are our store's: SQLite in WAL mode with `synchronous = NORMAL`; PostgreSQL with
 * durable commits for the insert and `synchronous_commit = off` for the claim and the acknowledgement,
 * as our store's relaxed pool. The sending half is the sender's (bench/peers/sender.ts): our request
 * building, signing and HttpSender, `inFlight` attempts at a time.
 */
interface Options {
  backend: 'sqlite' | 'postgres';
  /** A SQLite file path or a PostgreSQL URL. */
  database: string;
  listener: string;
  inFlight: number;
  attemptTimeoutMs: number;
  /** Most rows one claim takes (our engine's default batch size). */
  batchSize: number;
}

interface Row {
  seq: number;
  id: string;
  payload: string;
}

/** The three statements of a durable queue. */
interface Queue {
  insert(rows: { id: string; payload: string }[]): Promise<void>;
  claim(limit: number, leaseUntil: number): Promise<Row[]>;
  acknowledge(seqs: number[]): Promise<void>;
  close(): Promise<void>;
}

const options = JSON.parse(process.argv[2] ?? '{}') as Options;
const { sender, signer, claimed } = peerDelivery({
  listener: options.listener,
  connections: options.inFlight,
  timeoutMs: options.attemptTimeoutMs,
});

function sqliteQueue(path: string): Queue {
  const db = new BetterSqlite3(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(`CREATE TABLE IF NOT EXISTS floor_queue (
    seq INTEGER PRIMARY KEY, id TEXT NOT NULL, payload TEXT NOT NULL, locked_until INTEGER)`);
  const insertOne = db.prepare('INSERT INTO floor_queue (id, payload) VALUES (?, ?)');
  const insertBatch = db.transaction((rows: { id: string; payload: string }[]) => {
    for (const row of rows) insertOne.run(row.id, row.payload);
  });
  const claim = db.prepare(
    `UPDATE floor_queue SET locked_until = ? WHERE seq IN
       (SELECT seq FROM floor_queue WHERE locked_until IS NULL ORDER BY seq LIMIT ?)
     RETURNING seq, id, payload`,
  );
  const acknowledge = db.prepare('DELETE FROM floor_queue WHERE seq IN (SELECT value FROM json_each(?))');
  return {
    async insert(rows) {
      insertBatch(rows);
    },
    async claim(limit, leaseUntil) {
      return claim.all(leaseUntil, limit) as Row[];
    },
    async acknowledge(seqs) {
      acknowledge.run(JSON.stringify(seqs));
    },
    async close() {
      db.close();
    },
  };
}

async function postgresQueue(url: string): Promise<Queue> {
  const durable = new pg.Pool({ connectionString: url, max: 4 });
  const relaxed = new pg.Pool({ connectionString: url, max: 4, options: '-c synchronous_commit=off' });
  await durable.query(`CREATE TABLE IF NOT EXISTS floor_queue (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, id text NOT NULL, payload text NOT NULL,
    locked_until bigint)`);
  return {
    async insert(rows) {
      await durable.query({
        name: 'floor_insert',
        text: 'INSERT INTO floor_queue (id, payload) SELECT * FROM unnest($1::text[], $2::text[])',
        values: [rows.map((r) => r.id), rows.map((r) => r.payload)],
      });
    },
    async claim(limit, leaseUntil) {
      const result = await relaxed.query<{ seq: string; id: string; payload: string }>({
        name: 'floor_claim',
        text: `UPDATE floor_queue SET locked_until = $1 WHERE seq = ANY(ARRAY(
                 SELECT seq FROM floor_queue WHERE locked_until IS NULL ORDER BY seq LIMIT $2
                 FOR UPDATE SKIP LOCKED))
               RETURNING seq, id, payload`,
        values: [leaseUntil, limit],
      });
      return result.rows.map((r) => ({ seq: Number(r.seq), id: r.id, payload: r.payload }));
    },
    async acknowledge(seqs) {
      await relaxed.query({
        name: 'floor_ack',
        text: 'DELETE FROM floor_queue WHERE seq = ANY($1::bigint[])',
        values: [seqs],
      });
    },
    async close() {
      await durable.end();
      await relaxed.end();
    },
  };
}

const queue = options.backend === 'sqlite' ? sqliteQueue(options.database) : await postgresQueue(options.database);
/** Claim only once this much room is free while busy (as our dispatcher's low-water mark). */
const LOW_WATER = Math.max(1, Math.floor(Math.min(options.batchSize, options.inFlight) / 4));
let inFlight = 0;
let claiming = false;
let claimAgain = false;
let acks: number[] = [];
let acking: Promise<void> | null = null;
let failed = 0;

/** Starts claiming unless a claim runs (then it claims once more); a failed claim is logged, and the next wake-up tries again. */
function wake(): void {
  pump().catch((error) => console.error('floor: claim failed', error));
}

/** Claims while there is room and rows come back, starting an attempt for each claimed row. */
async function pump(): Promise<void> {
  if (claiming) {
    claimAgain = true;
    return;
  }
  claiming = true;
  try {
    for (;;) {
      claimAgain = false;
      const room = options.inFlight - inFlight;
      if (room <= 0 || (inFlight > 0 && room < LOW_WATER)) break;
      const limit = Math.min(options.batchSize, room);
      const rows = await queue.claim(limit, Date.now() + 2 * options.attemptTimeoutMs + 5_000);
      for (const row of rows) start(row);
      if (rows.length < limit && !claimAgain) break;
    }
  } finally {
    claiming = false;
  }
}

function start(row: Row): void {
  inFlight++;
  const item = claimed(row.id, row.payload);
  const request = callbackRequest(item, { attemptNumber: 1, now: Date.now(), signer, userAgent: 'ccb/bench-floor' });
  void sender.send(item.registration.url, request.headers, request.body).then((result) => {
    if (result.error !== null) failed++;
    inFlight--;
    acks.push(row.seq);
    if (!acking) acking = new Promise<void>((resolve) => setImmediate(resolve)).then(flushAcks);
    wake();
  });
}

/** One acknowledgement statement for everything that finished since the last one. */
async function flushAcks(): Promise<void> {
  try {
    while (acks.length > 0) {
      const batch = acks;
      acks = [];
      await queue.acknowledge(batch).catch((error) => console.error('floor: acknowledgement failed', error));
    }
  } finally {
    acking = null;
  }
}

const rpc = serveRpc({
  /** Publishes `count` messages in batches of 1,000, one INSERT each; delivery starts with the first batch. */
  async enqueue({ count, offset }: { count: number; offset: number }) {
    for (let start = 0; start < count; start += 1000) {
      const rows = [];
      for (let i = start; i < Math.min(count, start + 1000); i++) {
        rows.push({
          id: `msg_${randomBytes(16).toString('hex')}`,
          payload: JSON.stringify(carrierPayload(offset + i)),
        });
      }
      await queue.insert(rows);
      wake();
    }
    return count;
  },
  /** Attempts that did not get a 2xx so far (the floor acknowledges them all the same). */
  failed: () => failed,
  async stop() {
    await acking;
    await queue.close();
    await sender.close();
    setTimeout(() => process.exit(0), 20);
  },
});
rpc.ready({ backend: options.backend });

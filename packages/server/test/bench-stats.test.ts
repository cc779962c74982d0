import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { delta, NO_DELTA, parseLsn, perDelivery, sumDeltas } from '../../../bench/lib/pg-stats.js';
import {
  autovacuumRunsSince,
  growthAfter,
  soakServerEnv,
  type TableRow,
  tuplesByTable,
} from '../../../bench/lib/soak-stats.js';

// The arithmetic behind the postgres section's WAL/commit/tuple figures and the soak's readings.
describe('bench PostgreSQL write figures', () => {
  it('reads an LSN as a byte position: high 32 bits before the slash', () => {
    assert.equal(parseLsn('0/16B3748'), 0x16b3748n);
    assert.equal(parseLsn('16/B374D848'), (0x16n << 32n) + 0xb374d848n);
    assert.equal(parseLsn('1/0') - parseLsn('0/FFFFFFFF'), 1n);
  });

  it('refuses what is not an LSN instead of reading it as zero', () => {
    assert.throws(() => parseLsn(''), /not a PostgreSQL LSN/);
    assert.throws(() => parseLsn('16B3748'), /not a PostgreSQL LSN/);
    assert.throws(() => parseLsn('0/123456789'), /not a PostgreSQL LSN/);
  });

  it('divides what was written between two snapshots by the deliveries', () => {
    const before = { walBytes: parseLsn('0/1000000'), commits: 100, tuples: 1_000 };
    const after = { walBytes: parseLsn('0/1000000') + 35_550_000n, commits: 312, tuples: 22_000 };
    assert.deepEqual(perDelivery(delta(before, after, 10_000)), {
      wal_bytes_per_delivery: 3_555,
      commits_per_delivery: 0.021,
      tuples_per_delivery: 2.1,
    });
  });

  it('adds rounds up before dividing, so a short round weighs by its deliveries', () => {
    const a = delta({ walBytes: 0n, commits: 0, tuples: 0 }, { walBytes: 30_000n, commits: 10, tuples: 30 }, 10);
    const b = delta({ walBytes: 30_000n, commits: 10, tuples: 30 }, { walBytes: 40_000n, commits: 11, tuples: 40 }, 10);
    const total = sumDeltas(sumDeltas(NO_DELTA, a), b);
    assert.equal(total.deliveries, 20);
    assert.deepEqual(perDelivery(total), {
      wal_bytes_per_delivery: 2_000,
      commits_per_delivery: 0.55,
      tuples_per_delivery: 2,
    });
  });

  it('says NaN, not zero or Infinity, for rounds without a delivery', () => {
    const none = perDelivery(NO_DELTA);
    assert.ok(Number.isNaN(none.wal_bytes_per_delivery));
    assert.ok(Number.isNaN(none.tuples_per_delivery));
  });

  it('refuses snapshots taken in the wrong order', () => {
    const early = { walBytes: 10n, commits: 1, tuples: 1 };
    const late = { walBytes: 20n, commits: 2, tuples: 2 };
    assert.throws(() => delta(late, early, 5), /went backwards/);
  });
});

describe('bench soak readings', () => {
  const row = (relid: number, table: string, live: number, dead: number, autovacuums: number): TableRow => ({
    relid,
    table,
    live,
    dead,
    autovacuums,
  });

  it('sums partitions into their parent table, by name', () => {
    const tables = tuplesByTable([
      row(3, 'messages', 100, 5, 0),
      row(4, 'messages', 50, 1, 0),
      row(2, 'attempts', 10, 0, 0),
    ]);
    assert.deepEqual([...tables.keys()], ['attempts', 'messages']);
    assert.deepEqual(tables.get('messages'), { live: 150, dead: 6 });
  });

  it('counts autovacuum runs per table, so a dropped partition does not take its runs away', () => {
    const seen = new Map<number, number>();
    assert.equal(autovacuumRunsSince(seen, [row(1, 'queue', 0, 0, 2), row(2, 'messages', 0, 0, 1)]), 3);
    // Partition 2 dropped (gone from the rows), partition 3 new with one run, the queue vacuumed again.
    assert.equal(autovacuumRunsSince(seen, [row(1, 'queue', 0, 0, 4), row(3, 'messages', 0, 0, 1)]), 3);
    assert.equal(autovacuumRunsSince(seen, [row(1, 'queue', 0, 0, 4), row(3, 'messages', 0, 0, 1)]), 0);
  });

  it('judges growth from the first reading once retention is reached', () => {
    const samples = [
      { atS: 30, bytes: 10 },
      { atS: 60, bytes: 80 },
      { atS: 150, bytes: 100 },
      { atS: 180, bytes: 104 },
      { atS: 210, bytes: 102 },
    ];
    assert.equal(growthAfter(samples, 150), 0.02);
    assert.equal(growthAfter(samples, 600), null);
  });

  it('gives the server retention of minutes unless told otherwise, --retention first', () => {
    const options = { minutes: 10, rate: 2000, everyS: 30 };
    assert.deepEqual(soakServerEnv(options, {}), {
      CCB_RETENTION_DELIVERED: '2m',
      CCB_RETENTION_FAILED: '2m',
      CCB_PURGE_INTERVAL: '30s',
      CCB_PARTITION_INTERVAL: '1m',
    });
    const env = { CCB_RETENTION_DELIVERED: '5m', CCB_PURGE_INTERVAL: '10s', CCB_PARTITION_INTERVAL: '2m' };
    assert.deepEqual(soakServerEnv(options, env), {
      CCB_RETENTION_DELIVERED: '5m',
      CCB_RETENTION_FAILED: '2m',
      CCB_PURGE_INTERVAL: '10s',
      CCB_PARTITION_INTERVAL: '2m',
    });
    assert.equal(soakServerEnv({ ...options, retention: '1m' }, env).CCB_RETENTION_DELIVERED, '1m');
  });
});

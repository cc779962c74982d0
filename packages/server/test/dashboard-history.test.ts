import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HistoryPointView as HistoryPoint } from '../src/api/views.js';
import { chartSeries } from '../web/src/history.js';

const point = (atMs: number, delivered: number, intervalMs: number, live = false): HistoryPoint => ({
  at: new Date(atMs).toISOString(),
  counts: { pending: 0, delivering: 0, delivered, failed: 0, cancelled: 0 },
  queueDepth: 3,
  oldestDueAgeMs: 2000,
  intervalMs,
  attempts: { success: delivered, http_5xx: 1 },
  live,
});

describe("the overview charts' series", () => {
  const T = 1_700_000_000_000;

  it('draws a rate per point after the first, from the delivered count and the failed attempts', () => {
    const series = chartSeries(
      [point(T, 0, 0), point(T + 10_000, 50, 10_000), point(T + 12_000, 60, 2_000, true)],
      10_000,
    );
    assert.deepEqual(series.x, [(T + 10_000) / 1000, (T + 12_000) / 1000]);
    assert.deepEqual(series.rate, [
      [5, 5],
      [0.1, 0.5],
    ]);
    assert.deepEqual(series.queue, [
      [3, 3],
      [2, 2],
    ]);
    assert.equal(series.gaps, 0);
  });

  it('puts a gap (null) where no sample was stored, instead of a line across it', () => {
    const series = chartSeries(
      [
        point(T, 0, 0),
        point(T + 10_000, 10, 10_000),
        point(T + 3_600_000, 500, 3_590_000),
        point(T + 3_610_000, 510, 10_000),
      ],
      10_000,
    );
    assert.equal(series.gaps, 1);
    assert.deepEqual(series.x, [
      (T + 10_000) / 1000,
      (T + 20_000) / 1000,
      (T + 3_600_000) / 1000,
      (T + 3_610_000) / 1000,
    ]);
    assert.deepEqual(series.rate[0], [1, null, null, 1]);
    assert.deepEqual(series.queue[0], [3, null, 3, 3]);
  });

  it('never counts the live point as a gap, however late it is after the last sample', () => {
    const series = chartSeries([point(T, 0, 0), point(T + 25_000, 10, 25_000, true)], 10_000);
    assert.equal(series.gaps, 0);
    assert.deepEqual(series.rate[0], [0.4]);
  });
});

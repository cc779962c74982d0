/** The overview charts' figures from the stats history (no DOM here: tested in Node too). */
import type { HistoryPointView as HistoryPoint } from '../../src/api/views.js';

const perSecond = (count: number, intervalMs: number) => (intervalMs > 0 ? (count * 1000) / intervalMs : 0);

/** Points further apart than this many sample intervals have a gap between them (no process ran). */
const GAP_INTERVALS = 2.5;

/**
 * Deliveries per second come from the store's delivered count (every process on the store counts,
 * so it is right behind a split api/worker deployment too; a replay or a purge lowering the count
 * reads as 0). Failed attempts come from the attempts the processes made.
 */
export function rates(point: HistoryPoint, previous: HistoryPoint) {
  let failed = 0;
  for (const [outcome, count] of Object.entries(point.attempts)) if (outcome !== 'success') failed += count;
  return {
    delivered: perSecond(Math.max(0, point.counts.delivered - previous.counts.delivered), point.intervalMs),
    failed: perSecond(failed, point.intervalMs),
  };
}

/**
 * The chart's series: one x per point after the first, and a null (drawn as a gap, not a line across
 * it) where the points are further apart than the samples are taken.
 */
export function chartSeries(points: HistoryPoint[], sampleIntervalMs: number) {
  const x: number[] = [];
  const delivered: (number | null)[] = [];
  const failed: (number | null)[] = [];
  const depth: (number | null)[] = [];
  const oldest: (number | null)[] = [];
  for (let i = 1; i < points.length; i++) {
    const point = points[i];
    const at = Date.parse(point.at) / 1000;
    const gap = !point.live && point.intervalMs > GAP_INTERVALS * sampleIntervalMs;
    if (gap) {
      x.push(Date.parse(points[i - 1].at) / 1000 + sampleIntervalMs / 1000);
      for (const series of [delivered, failed, depth, oldest]) series.push(null);
    }
    const r = rates(point, points[i - 1]);
    x.push(at);
    delivered.push(gap ? null : r.delivered);
    failed.push(gap ? null : r.failed);
    depth.push(point.queueDepth);
    oldest.push(point.oldestDueAgeMs / 1000);
  }
  return { x, rate: [delivered, failed], queue: [depth, oldest], gaps: x.length - (points.length - 1) };
}

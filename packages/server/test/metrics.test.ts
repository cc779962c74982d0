import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HandBackReasons } from '../src/domain/hand-back.js';
import { Metrics } from '../src/metrics.js';

// The delivery engine's own counters, as a scrape of GET /metrics shows them.
describe('Metrics', () => {
  it('counts hand-backs by reason and the retention purge runs', async () => {
    const metrics = new Metrics();
    metrics.recordHandBack(3, HandBackReasons.originStuck);
    metrics.recordHandBack(2, HandBackReasons.originStuck);
    metrics.recordHandBack(1, HandBackReasons.stopping);
    metrics.recordPurge(120, 0.25);
    metrics.recordPurge(0, 0.5);
    const text = await metrics.registry.metrics();
    assert.match(text, /^ccb_messages_handed_back_total\{reason="origin_stuck"\} 5$/m);
    assert.match(text, /^ccb_messages_handed_back_total\{reason="stopping"\} 1$/m);
    assert.match(text, /^# HELP ccb_messages_handed_back_total .*origin_slow, origin_stuck, lease_short, stopping/m);
    assert.match(text, /^ccb_retention_purge_duration_seconds_count 2$/m);
    assert.match(text, /^ccb_retention_purge_duration_seconds_sum 0\.75$/m);
    assert.match(text, /^ccb_messages_purged_total 120$/m);
  });
});

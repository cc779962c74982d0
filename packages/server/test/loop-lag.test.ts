import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LoopLag } from '../src/delivery/loop-lag.js';

// The event loop's delay as the origin scheduler reads it, driven by an injected clock (every step is
// synchronous, so the probe's own timer cannot fire in between).
describe('LoopLag', () => {
  it('reads how late the loop runs: an overrun turn at once, then the late tick fading out', () => {
    let now = 1_000;
    const lag = new LoopLag(() => now);
    assert.equal(lag.current(), 0, 'not started');
    lag.start();
    now += 20;
    lag.tick();
    assert.equal(lag.current(), 0, 'a tick on time');
    // A 600 ms pause: read before the late tick fires, it is the overrun so far.
    now += 600;
    assert.equal(lag.current(), 580);
    lag.tick();
    assert.equal(lag.current(), 580);
    now += 20;
    lag.tick();
    assert.equal(lag.current(), 580 * 0.7);
    for (let i = 0; i < 10; i++) {
      now += 20;
      lag.tick();
    }
    assert.ok(lag.current() < 20, `${lag.current()} ms ten ticks later`);
    lag.stop();
    assert.equal(lag.current(), 0, 'stopped');
  });

  it('keeps reading a steady delay while every turn runs late', () => {
    let now = 0;
    const lag = new LoopLag(() => now);
    lag.start();
    for (let i = 0; i < 20; i++) {
      now += 80;
      lag.tick();
    }
    assert.equal(lag.current(), 60);
    lag.stop();
  });
});

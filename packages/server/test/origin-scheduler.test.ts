import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MAX_LOCAL_WAIT_MS,
  MIN_ROUND_MS,
  OriginScheduler,
  STUCK_AFTER_MIN_MS,
} from '../src/delivery/origin-scheduler.js';

const T0 = 1_000_000;
const A = 'http://a.test';
const B = 'http://b.test';

function scheduler(originConcurrency = 2, attemptTimeoutMs = 10_000, loopLag?: () => number) {
  return new OriginScheduler<string>({ originConcurrency, attemptTimeoutMs, loopLag });
}

/** A saturated origin (2 slots) whose latency average is `latencyMs`, learnt from one finished attempt. */
function answeringIn(s: OriginScheduler<string>, origin: string, latencyMs: number, now: number) {
  const [first] = fill(s, origin, 2, now - latencyMs);
  s.finished(first, now);
  fill(s, origin, 1, now);
  assert.equal(s.latencyOf(origin), latencyMs);
}

/** Starts `count` attempts to `origin` at `now` (placing each first, as the dispatcher does). */
function fill(s: OriginScheduler<string>, origin: string, count: number, now: number) {
  return Array.from({ length: count }, (_, i) => {
    assert.deepEqual(s.place({ origin, item: `${origin}#${i}`, now, globalRoom: true }), { action: 'start' });
    return s.begin(origin, now);
  });
}

describe('OriginScheduler', () => {
  it('starts attempts while the origin has a free slot and the global limit allows', () => {
    const s = scheduler(2);
    fill(s, A, 2, T0);
    assert.equal(s.place({ origin: B, item: 'b', now: T0, globalRoom: true }).action, 'start');
    // No global room: even an origin with free slots waits.
    assert.equal(s.place({ origin: B, item: 'b2', now: T0, globalRoom: false }).action, 'queue');
  });

  it('queues locally for a saturated origin that answers quickly, and hands out in order as slots free', () => {
    const s = scheduler(2);
    const tickets = fill(s, A, 2, T0);
    assert.equal(s.place({ origin: A, item: 'w1', now: T0, globalRoom: true }).action, 'queue');
    assert.equal(s.place({ origin: A, item: 'w2', now: T0, globalRoom: true }).action, 'queue');
    assert.equal(s.waiting, 2);
    assert.equal(s.next(A), undefined, 'no slot free yet');
    s.finished(tickets[0], T0 + 5);
    assert.equal(s.next(A), 'w1');
    s.begin(A, T0 + 5);
    assert.equal(s.next(A), undefined, 'the freed slot is taken again');
    s.finished(tickets[1], T0 + 6);
    assert.equal(s.next(A), 'w2');
    assert.equal(s.waiting, 0);
  });

  it('learns an origin latency as a moving average, one long sample moving it at most about twice', () => {
    const s = scheduler(4);
    const [a, b, c] = fill(s, A, 3, T0);
    s.finished(a, T0 + 10);
    assert.equal(s.latencyOf(A), 10);
    const d = s.begin(A, T0 + 10);
    // A 5-second stall of the whole process counts as 2 × the usual 10 ms + MIN_ROUND_MS at most.
    s.finished(d, T0 + 5_010);
    assert.equal(s.latencyOf(A), 10 * 0.8 + (2 * 10 + MIN_ROUND_MS) * 0.2);
    // Attempts started before anything was known count as they took.
    s.finished(b, T0 + 5_010);
    assert.ok((s.latencyOf(A) ?? 0) > 1_000);
    s.finished(c, T0 + 5_010);
    assert.equal(s.latencyOf(A), null, 'an idle origin is forgotten');
  });

  it('gives a slow origin no local queue: its surplus goes back, spread one round of its latency per slot batch', () => {
    const s = scheduler(2);
    const [first] = fill(s, A, 2, T0);
    const now = T0 + 300;
    s.finished(first, now);
    fill(s, A, 1, now);
    assert.ok((s.latencyOf(A) ?? 0) > MAX_LOCAL_WAIT_MS);
    const placed = ['x1', 'x2', 'x3', 'x4', 'x5'].map((x) => s.place({ origin: A, item: x, now, globalRoom: true }));
    assert.ok(placed.every((p) => p.action === 'hand_back'));
    // Two (the origin's slots) per round of 300 ms.
    assert.deepEqual(
      placed.map((p) => (p as { at: number }).at),
      [now + 300, now + 300, now + 600, now + 600, now + 900],
    );
  });

  it('hands back at whole milliseconds even when the latency average is fractional', () => {
    const s = scheduler(2);
    const [first] = fill(s, A, 2, T0);
    const now = T0 + 300.4;
    s.finished(first, now);
    fill(s, A, 1, now);
    assert.ok(!Number.isInteger(s.latencyOf(A)));
    const placed = ['z1', 'z2', 'z3'].map((z) => s.place({ origin: A, item: z, now: T0 + 301, globalRoom: true }));
    assert.ok(placed.every((p) => p.action === 'hand_back'));
    for (const p of placed) assert.ok(Number.isInteger((p as { at: number }).at), `${(p as { at: number }).at}`);
  });

  it('counts a saturated origin as stuck when nothing finished for a while, not during a short pause', () => {
    const s = scheduler(2, 10_000);
    fill(s, A, 2, T0);
    assert.equal(s.place({ origin: A, item: 'w1', now: T0, globalRoom: true }).action, 'queue');
    assert.equal(s.originIsStuck(A, T0 + STUCK_AFTER_MIN_MS - 1), false, 'a pause under 500 ms is not stuck');
    const later = T0 + STUCK_AFTER_MIN_MS + 1;
    assert.equal(s.originIsStuck(A, later), true);
    // Its waiting messages go back, due one attempt timeout later (the round of a stuck origin).
    assert.deepEqual(s.shedStuck(later), [{ item: 'w1', at: later + 10_000 }]);
    assert.equal(s.waiting, 0);
    // New messages for it go straight back too, spread round by round.
    const next = ['y1', 'y2', 'y3'].map((y) => s.place({ origin: A, item: y, now: later, globalRoom: true }));
    assert.deepEqual(
      next.map((p) => (p as { at: number }).at),
      [later + 10_000, later + 20_000, later + 20_000],
    );
  });

  it('queues one round at most for a saturated origin that has not answered for a while', () => {
    const s = scheduler(2);
    fill(s, A, 2, T0);
    // Just started: no answer could have come yet, so it queues as usual.
    assert.equal(s.place({ origin: A, item: 'w1', now: T0, globalRoom: true }).action, 'queue');
    assert.equal(s.place({ origin: A, item: 'w2', now: T0, globalRoom: true }).action, 'queue');
    assert.equal(s.place({ origin: A, item: 'w3', now: T0 + MIN_ROUND_MS - 1, globalRoom: true }).action, 'queue');
    // No answer after MIN_ROUND_MS: how long a round takes is unknown, so a further round goes back.
    assert.equal(s.place({ origin: A, item: 'w4', now: T0 + MIN_ROUND_MS, globalRoom: true }).action, 'hand_back');
    assert.equal(s.waiting, 3);
  });

  it('before its first answer, expects a saturated origin to take at least as long as its silence', () => {
    const s = scheduler(2);
    fill(s, A, 2, T0);
    // 200 ms without an answer: one round would take at least that, still under the local wait.
    assert.equal(s.place({ origin: A, item: 'w1', now: T0 + 200, globalRoom: true }).action, 'queue');
    // Longer than MAX_LOCAL_WAIT_MS without one (not yet stuck): no more local waiting.
    const later = T0 + MAX_LOCAL_WAIT_MS + 10;
    assert.equal(s.originIsStuck(A, later), false);
    const placed = s.place({ origin: A, item: 'w2', now: later, globalRoom: true });
    assert.equal(placed.action, 'hand_back');
    // Due again after a round as long as the silence.
    assert.equal((placed as { at: number }).at, later + MAX_LOCAL_WAIT_MS + 10);
  });

  it('once it has answered, judges an origin by its average, not by a pause of the whole process', () => {
    const s = scheduler(2);
    const [first] = fill(s, A, 2, T0);
    s.finished(first, T0 + 5);
    s.begin(A, T0 + 5);
    // Nothing finished for 300 ms (a loaded machine): still a 5 ms origin, so it queues.
    assert.equal(s.place({ origin: A, item: 'w1', now: T0 + 305, globalRoom: true }).action, 'queue');
    assert.equal(s.place({ origin: A, item: 'w2', now: T0 + 305, globalRoom: true }).action, 'queue');
    assert.equal(s.place({ origin: A, item: 'w3', now: T0 + 305, globalRoom: true }).action, 'queue');
  });

  it('tells when messages waiting for a silent origin will be shed, and nothing when none wait', () => {
    const s = scheduler(2, 10_000);
    fill(s, A, 2, T0);
    assert.equal(s.nextShedAt(), null, 'nothing waits');
    s.place({ origin: A, item: 'w1', now: T0, globalRoom: true });
    const at = s.nextShedAt();
    assert.equal(at, T0 + STUCK_AFTER_MIN_MS + 1);
    assert.equal(s.originIsStuck(A, (at as number) - 1), false);
    assert.equal(s.originIsStuck(A, at as number), true);
    assert.deepEqual(s.shedStuck(at as number), [{ item: 'w1', at: (at as number) + 10_000 }]);
    assert.equal(s.nextShedAt(), null);
  });

  it('never counts an origin with a free slot as stuck', () => {
    const s = scheduler(2);
    fill(s, A, 1, T0);
    assert.equal(s.originIsStuck(A, T0 + 60_000), false);
  });

  it('finds a hanging origin well before its attempts time out', () => {
    const s = scheduler(2, 1_000);
    fill(s, A, 2, T0);
    // A quarter of the attempt timeout (250 ms) is the longest it waits, even under the 500 ms floor.
    assert.equal(s.originIsStuck(A, T0 + 251), true);
  });

  it('hands every waiting message back when asked to (the dispatcher is stopping)', () => {
    const s = scheduler(1);
    fill(s, A, 1, T0);
    fill(s, B, 1, T0);
    s.place({ origin: A, item: 'a1', now: T0, globalRoom: true });
    s.place({ origin: B, item: 'b1', now: T0, globalRoom: true });
    s.place({ origin: B, item: 'b2', now: T0, globalRoom: true });
    assert.deepEqual(s.takeAllWaiting().sort(), ['a1', 'b1', 'b2']);
    assert.equal(s.waiting, 0);
    assert.deepEqual([...s.waitingOrigins()], []);
  });

  it('learns an origin latency from its own time to first byte, not from how late this process read it', () => {
    const s = scheduler(2);
    const [a] = fill(s, A, 2, T0);
    // The answer was read 400 ms after the attempt began; the origin took 3 ms from the request's write.
    s.finished(a, T0 + 400, 3);
    assert.equal(s.latencyOf(A), 3);
  });

  it("takes the event loop's delay off a latency sample and off a silence", () => {
    let lag = 0;
    const s = scheduler(2, 10_000, () => lag);
    const [a] = fill(s, A, 2, T0);
    lag = 95;
    s.finished(a, T0 + 100);
    assert.equal(s.latencyOf(A), 5, 'a failure or a sender without a first-byte time: the duration less the lag');
    s.begin(A, T0 + 100);
    assert.equal(s.place({ origin: A, item: 'w1', now: T0 + 100, globalRoom: true }).action, 'queue');
    // 600 ms without an answer, 300 of them a pause of this process: not stuck...
    lag = 300;
    assert.equal(s.originIsStuck(A, T0 + 700), false);
    assert.equal(s.nextShedAt(), T0 + 100 + STUCK_AFTER_MIN_MS + 300 + 1);
    // ...but stuck once the silence is its own.
    lag = 0;
    assert.equal(s.originIsStuck(A, T0 + 700), true);
  });

  it('lets the only busy origin keep its surplus while the engine has room, if it answers in time', () => {
    const s = scheduler(2);
    const now = T0 + 1_000;
    // 40 ms a round of 2: twelve waiting messages fit in a local wait (six rounds), a thirteenth does not.
    answeringIn(s, A, 40, now);
    for (let i = 1; i <= 12; i++)
      assert.equal(s.place({ origin: A, item: `w${i}`, now, globalRoom: true, engineRoom: 20 }).action, 'queue');
    assert.equal(
      s.place({ origin: A, item: 'w13', now, globalRoom: true, engineRoom: 0 }).action,
      'hand_back',
      'no room left in the engine: back',
    );
    assert.equal(
      s.place({ origin: A, item: 'w13', now, globalRoom: true, engineRoom: 20 }).action,
      'queue',
      'room left and nobody else busy: it waits',
    );
    assert.equal(s.place({ origin: A, item: 'w14', now, globalRoom: true, engineRoom: 20 }).action, 'queue');
    assert.equal(s.waiting, 14);
  });

  it('still hands back the surplus of a busy origin when another origin is busy too', () => {
    const s = scheduler(2);
    const now = T0 + 1_000;
    answeringIn(s, A, 40, now);
    fill(s, B, 2, now);
    for (let i = 1; i <= 12; i++)
      assert.equal(s.place({ origin: A, item: `w${i}`, now, globalRoom: true, engineRoom: 20 }).action, 'queue');
    assert.equal(
      s.place({ origin: A, item: 'w13', now, globalRoom: true, engineRoom: 20 }).action,
      'hand_back',
      'B is saturated: A would hold its room',
    );
  });

  it('hands back the surplus of the only busy origin when it is slower than a round by its own measure, or stuck', () => {
    const slow = scheduler(2);
    const now = T0 + 1_000;
    // 60 ms a round: eight waiting messages fit in a local wait (four rounds), a ninth goes back.
    answeringIn(slow, A, MIN_ROUND_MS + 10, now);
    for (let i = 1; i <= 8; i++)
      assert.equal(slow.place({ origin: A, item: `w${i}`, now, globalRoom: true, engineRoom: 20 }).action, 'queue');
    const back = slow.place({ origin: A, item: 'w9', now, globalRoom: true, engineRoom: 20 });
    assert.deepEqual(back, { action: 'hand_back', at: now + MIN_ROUND_MS + 10, stuck: false });

    const stuck = scheduler(2, 10_000);
    answeringIn(stuck, A, 10, now);
    assert.equal(stuck.place({ origin: A, item: 'w1', now, globalRoom: true, engineRoom: 20 }).action, 'queue');
    const later = now + STUCK_AFTER_MIN_MS + 1;
    assert.equal(stuck.originIsStuck(A, later), true);
    assert.deepEqual(stuck.place({ origin: A, item: 'w2', now: later, globalRoom: true, engineRoom: 20 }), {
      action: 'hand_back',
      at: later + 10_000,
      stuck: true,
    });
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TurnGroups, type Waiting } from '../src/common/turn-groups.js';

/** A run that records each group and waits until the test lets it finish. */
function recorder() {
  const groups: number[][] = [];
  const finish: (() => void)[] = [];
  const run = async (group: Waiting<number, number>[]) => {
    groups.push(group.map((entry) => entry.input));
    await new Promise<void>((resolve) => finish.push(resolve));
    for (const entry of group) entry.resolve(entry.input * 10);
  };
  return { groups, finish, run };
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
/** Lets the event loop turn until `done` holds (at most 20 turns: grouping takes one or two). */
async function turnsUntil(done: () => boolean): Promise<void> {
  for (let i = 0; i < 20 && !done(); i++) await turn();
  assert.ok(done(), 'the expected group did not run');
}

describe('TurnGroups (calls of one event-loop turn written together)', () => {
  it('runs the calls of one turn as one group and answers each caller with its own result', async () => {
    const { groups, finish, run } = recorder();
    const batches = new TurnGroups(run, 2);
    const answers = Promise.all([1, 2, 3].map((n) => batches.add(n)));
    await turn();
    assert.deepEqual(groups, [[1, 2, 3]]);
    finish[0]();
    assert.deepEqual(await answers, [10, 20, 30]);
  });

  it('keeps at most maxInFlight groups running; calls made meanwhile form the next group', async () => {
    const { groups, finish, run } = recorder();
    const batches = new TurnGroups(run, 1);
    const first = batches.add(1);
    await turn();
    const later = [batches.add(2), batches.add(3)];
    await turn();
    await turn();
    assert.deepEqual(groups, [[1]], 'the second group waits for the first');
    finish[0]();
    assert.equal(await first, 10);
    await turnsUntil(() => groups.length === 2);
    assert.deepEqual(groups, [[1], [2, 3]]);
    finish[1]();
    assert.deepEqual(await Promise.all(later), [20, 30]);
  });

  it('splits a turn into groups of at most maxSize, a larger single call going alone', async () => {
    const { groups, finish, run } = recorder();
    const batches = new TurnGroups(run, 10, 5, (n: number) => n);
    const answers = Promise.all([2, 3, 1, 9, 4].map((n) => batches.add(n)));
    await turnsUntil(() => groups.length === 4);
    assert.deepEqual(groups, [[2, 3], [1], [9], [4]]);
    for (const done of finish) done();
    assert.deepEqual(await answers, [20, 30, 10, 90, 40]);
  });

  it('fails the callers a run left unsettled when it throws, and runs later groups', async () => {
    let calls = 0;
    const batches = new TurnGroups<number, number>(async (group) => {
      calls++;
      if (calls === 1) {
        group[0].resolve(1);
        throw new Error('database gone');
      }
      for (const entry of group) entry.resolve(entry.input);
    }, 1);
    const settled = await Promise.allSettled([batches.add(5), batches.add(6)]);
    assert.equal(settled[0].status, 'fulfilled');
    assert.equal(settled[1].status, 'rejected');
    assert.match(String((settled[1] as PromiseRejectedResult).reason), /database gone/);
    assert.equal(await batches.add(7), 7);
  });

  it('takes pushed calls without a promise each, and tells when everything queued is written', async () => {
    const { groups, finish, run } = recorder();
    const batches = new TurnGroups(run, 1);
    let idle = false;
    batches.push(1);
    batches.push(2);
    const drained = batches.idle().then(() => {
      idle = true;
    });
    await turn();
    assert.deepEqual(groups, [[1, 2]]);
    batches.push(3);
    finish[0]();
    await turnsUntil(() => groups.length === 2);
    assert.equal(idle, false, 'a group is still running');
    finish[1]();
    await drained;
    assert.deepEqual(groups, [[1, 2], [3]]);
    await batches.idle();
  });
});

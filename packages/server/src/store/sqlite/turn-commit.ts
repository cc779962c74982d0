import type { Database } from 'better-sqlite3';
import { TurnGroups } from '../../common/turn-groups.js';
import { unavailableReason } from './availability.js';
import { writeTransaction } from './transaction.js';

/**
 * A single-row write made a turn at a time: the calls of one event-loop turn run `write` in call
 * order inside one transaction (one commit instead of one each), and each caller hears back after that
 * commit. A lock held elsewhere or a full disk fails them all alike; any other failure is found by
 * running each call again on its own, so one bad call fails only its caller.
 */
export function turnCommit<T, R>(db: Database, write: (input: T) => R): (input: T) => Promise<R> {
  const writeAll = writeTransaction(db, (inputs: T[]) => inputs.map(write));
  const groups = new TurnGroups<T, R>(async (group) => {
    try {
      const results = writeAll(group.map((entry) => entry.input));
      for (const [i, entry] of group.entries()) entry.resolve(results[i]);
    } catch (error) {
      if (unavailableReason(error) !== null || group.length === 1) {
        for (const entry of group) entry.reject(error);
        return;
      }
      for (const entry of group) {
        try {
          entry.resolve(writeAll([entry.input])[0]);
        } catch (single) {
          entry.reject(single);
        }
      }
    }
  }, 1);
  return (input) => groups.add(input);
}

/**
 * A read made a turn at a time: the calls of one event-loop turn run `read` in call order inside one
 * read transaction, where a statement of its own would take and give back SQLite's read lock for each
 * caller (concurrent requests reading a key or a registration's gate).
 */
export function turnRead<T, R>(db: Database, read: (input: T) => R): (input: T) => Promise<R> {
  const readAll = db.transaction((inputs: T[]) => inputs.map(read)).deferred;
  const groups = new TurnGroups<T, R>(async (group) => {
    const results = readAll(group.map((entry) => entry.input));
    for (const [i, entry] of group.entries()) entry.resolve(results[i]);
  }, 1);
  return (input) => groups.add(input);
}

import type { Database } from 'better-sqlite3';
import type {
  AttemptOutcome,
  ClaimedMessage,
  MessageFilter,
  MessagePage,
  MessageStats,
  MessageStore,
  NewMessage,
  PublishedMessage,
  RegistrationStore,
} from '../types.js';

const notYet = () => Promise.reject(new Error('message store not built yet (issue 4)'));

/** Messages and attempts on SQLite. Built by the delivery issue (issue 4). */
export class SqliteMessageStore implements MessageStore {
  constructor(
    readonly db: Database,
    readonly registrations: RegistrationStore,
  ) {}
  publish(_m: NewMessage[], _now: number): Promise<PublishedMessage[]> {
    return notYet();
  }
  claimDue(_now: number, _limit: number, _leaseMs: number): Promise<ClaimedMessage[]> {
    return Promise.resolve([]);
  }
  complete(_o: AttemptOutcome[], _now: number): Promise<void> {
    return notYet();
  }
  nextDueAt(): Promise<number | null> {
    return Promise.resolve(null);
  }
  get(_id: string) {
    return notYet();
  }
  list(_f: MessageFilter, _l: number, _c: string | null): Promise<MessagePage> {
    return notYet();
  }
  stats(_now: number): Promise<MessageStats> {
    return notYet();
  }
  replay(_ids: string[], _max: number, _now: number): Promise<string[]> {
    return notYet();
  }
  findIds(_f: MessageFilter, _l: number, _a: string | null): Promise<string[]> {
    return notYet();
  }
  purge(_d: number, _f: number): Promise<number> {
    return notYet();
  }
}

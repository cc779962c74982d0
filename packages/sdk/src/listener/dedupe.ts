import { LRUCache } from 'lru-cache';

/**
 * Remembers which message ids a listener has processed, so retries and duplicates are acknowledged
 * without running the handler again. Implement it over Redis or a database to share it between
 * listener processes; both methods may be async.
 */
export interface DedupeStore {
  has(id: string): boolean | Promise<boolean>;
  add(id: string): void | Promise<void>;
}

export interface MemoryDedupeStoreOptions {
  /** Most ids kept; the least recently seen go first. Default 50,000. */
  maxEntries?: number;
  /** How long an id is remembered, in ms. Default 24 h, longer than any sensible retry schedule. */
  ttlMs?: number;
  /** Clock in ms; for tests. */
  now?: () => number;
}

/** The default store: in memory, bounded by count and age, per process. */
export class MemoryDedupeStore implements DedupeStore {
  readonly #ttlMs: number;
  readonly #now: () => number;
  /**
   * id -> expiry. lru-cache bounds the count; the expiry is kept as the value rather than as its ttl so
   * the injected clock decides alone (no timers, and a clock may start at 0).
   */
  readonly #expiries: LRUCache<string, number>;

  constructor(options: MemoryDedupeStoreOptions = {}) {
    this.#expiries = new LRUCache({ max: Math.max(1, Math.floor(options.maxEntries ?? 50_000)) });
    this.#ttlMs = options.ttlMs ?? 24 * 60 * 60 * 1000;
    this.#now = options.now ?? Date.now;
  }

  has(id: string): boolean {
    // peek: a lookup does not count as seeing the id again (only add does).
    const expiry = this.#expiries.peek(id);
    if (expiry === undefined) return false;
    if (expiry <= this.#now()) {
      this.#expiries.delete(id);
      return false;
    }
    return true;
  }

  add(id: string): void {
    this.#expiries.set(id, this.#now() + this.#ttlMs);
  }

  /** Number of ids currently remembered (expired ones may still count until looked up or evicted). */
  get size(): number {
    return this.#expiries.size;
  }
}

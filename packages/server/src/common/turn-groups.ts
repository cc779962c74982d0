/** A caller waiting in a group: what it asked for, and how it hears back. */
export interface Waiting<T, R> {
  input: T;
  resolve(result: R): void;
  reject(error: unknown): void;
}

const ignore = (): void => {};

/**
 * The one batching helper: collect what this turn of the event loop brings, write it once. Used by
 * SQLite's group commit of publishes, the PostgreSQL store's grouped statements and the dispatcher's
 * outcome writer.
 *
 * Calls made in the same turn of the event loop go to the database together: `run` gets the whole
 * group once the turn ends and settles every caller in it (one round trip for many concurrent
 * requests instead of one each). At most `maxInFlight` groups run at once; calls made meanwhile
 * wait and form the next group, so under load the groups grow rather than the round trips. A group
 * holds calls up to `maxSize` (as measured by `sizeOf`; a single larger call goes alone), so one
 * statement never grows without bound.
 */
export class TurnGroups<T, R> {
  private queue: Waiting<T, R>[] = [];
  private inFlight = 0;
  private queued = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly run: (group: Waiting<T, R>[]) => Promise<void>,
    private readonly maxInFlight: number,
    private readonly maxSize = Number.POSITIVE_INFINITY,
    private readonly sizeOf: (input: T) => number = () => 1,
  ) {}

  add(input: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ input, resolve, reject });
      this.schedule();
    });
  }

  /** Like `add`, for a caller that does not wait for the result (no promise is made). */
  push(input: T): void {
    this.queue.push({ input, resolve: ignore, reject: ignore });
    this.schedule();
  }

  /** Resolves once nothing is queued and no group is running. */
  idle(): Promise<void> {
    if (this.queue.length === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(): void {
    if (this.queued || this.queue.length === 0 || this.inFlight >= this.maxInFlight) return;
    this.queued = true;
    setImmediate(this.onTurn);
  }

  private readonly onTurn = (): void => {
    this.queued = false;
    let size = 0;
    let taken = 0;
    while (taken < this.queue.length) {
      size += this.sizeOf(this.queue[taken].input);
      if (taken > 0 && size > this.maxSize) break;
      taken++;
    }
    const group = this.queue.splice(0, taken);
    this.inFlight++;
    // What did not fit goes in the next group (next turn), if another may run meanwhile.
    this.schedule();
    this.run(group)
      // `run` settles each caller; anything it left unsettled hears of its failure (settling twice is a no-op).
      .catch((error: unknown) => {
        for (const entry of group) entry.reject(error);
      })
      .finally(() => {
        this.inFlight--;
        this.schedule();
        if (this.inFlight === 0 && this.queue.length === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
      });
  };
}

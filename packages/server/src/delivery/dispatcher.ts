import { type HandBackReason, HandBackReasons } from '../domain/hand-back.js';
import type { StructuredLogger } from '../logger.js';
import type { ClaimedMessage, DeliveryQueue } from '../services/messages.js';
import type { CallbackMessage } from '../store/types.js';
import { AttemptStage, type AttemptTracer, type Sender } from './attempt-stage.js';
import { LoopLag } from './loop-lag.js';
import { type AttemptTicket, OriginScheduler } from './origin-scheduler.js';
import { OutcomeWriter } from './outcome-writer.js';
import type { RetrySchedule } from './retry-schedule.js';
import type { SendResult } from './send-result.js';
import { Signer } from './signer.js';

export interface DispatcherOptions {
  store: DeliveryQueue;
  sender: Sender;
  schedule: RetrySchedule;
  logger: StructuredLogger;
  /** Attempts in flight at once, over all origins. */
  concurrency: number;
  /** Attempts in flight at once to one origin. */
  originConcurrency: number;
  /** Most messages claimed per store call. */
  batchSize: number;
  leaseMs: number;
  attemptTimeoutMs: number;
  /** Longest idle sleep between looks at the store. */
  pollIntervalMs: number;
  userAgent: string;
  /** OpenTelemetry spans of attempts; null or absent when tracing is off (nothing is done per attempt). */
  tracer?: AttemptTracer | null;
  signer?: Signer;
  now?: () => number;
  /** Called with the attempts of each recorded batch (metrics), once per batch rather than per attempt. */
  onAttempts?: (results: readonly SendResult[]) => void;
  /** Called with every group of claimed messages given back to the store undelivered (metrics). */
  onHandBack?: (count: number, reason: HandBackReason) => void;
}

/**
 * What the loop is doing (the `loop` field):
 * - `stopped`: not started, or stop() returned. Nothing is claimed.
 * - `idle`: running, waiting for a wake-up: a publish (`wake`), a finished attempt, or the poll timer.
 *   Attempts may be in flight meanwhile; `state` then reads `delivering`.
 * - `claiming`: a claim is being read from the store. A wake-up meanwhile sets `claimAgain`, so the
 *   loop claims once more before it goes idle instead of running twice at once.
 * - `draining`: stop() was called: nothing more is claimed, locally queued messages went back to the
 *   store, attempts in flight end (by their timeout at the latest) and their outcomes are recorded.
 */
export type LoopState = 'stopped' | 'idle' | 'claiming' | 'draining';

/** The loop's changes of state: every one goes through `Dispatcher.enter`, which allows only these. */
const TRANSITIONS: Readonly<Record<LoopState, readonly LoopState[]>> = {
  stopped: ['idle'],
  idle: ['claiming', 'draining'],
  claiming: ['idle', 'draining'],
  draining: ['stopped'],
};

/** Safety margin kept between the end of an attempt and the end of its claim's lease. */
const LEASE_MARGIN_MS = 1_000;

/**
 * The dispatch loop: claims due messages in batches, delivers them under a global and a per-origin
 * concurrency limit, decides retries through the RetrySchedule and acknowledges outcomes in batches
 * (one store transaction for everything that finished in the same turn of the event loop).
 *
 * An attempt is the AttemptStage's (prepare → send → decide); its outcome goes to the OutcomeWriter
 * for the next batched write. Which claimed message may start, wait or go back to the store is the
 * OriginScheduler's policy; a waiting message is started only while its lease still covers a whole
 * attempt, so no second claim can deliver it concurrently.
 */
export class Dispatcher {
  private readonly now: () => number;
  private readonly stage: AttemptStage;
  private readonly writer: OutcomeWriter;
  private readonly scheduler: OriginScheduler<ClaimedMessage>;
  /** How late the event loop runs: the scheduler takes it off what it measures of origins. */
  private readonly loopLag: LoopLag;
  private loop: LoopState = 'stopped';
  /** A wake-up is queued for the next turn of the event loop (setImmediate). */
  private wakeQueued = false;
  /** Something woke the loop while it was claiming: claim once more before going idle. */
  private claimAgain = false;
  /**
   * The store may hold due messages this loop has not claimed: set by every outside wake-up (a
   * publish, a replay, the poll timer) and by a full claim, cleared by a claim that found less than it
   * asked for. A finished attempt claims more only while it is set, so handed-over publishes (the
   * fast path) do not cost a claim query per attempt.
   */
  private backlog = true;
  /** The poll timer while idle (the fallback when no wake-up comes), due at `timerAt`. */
  private timer: NodeJS.Timeout | null = null;
  private timerAt = 0;
  private inFlight = 0;
  /** Claim only once this much room is free while busy, so completions do not each cause a tiny claim. */
  private readonly lowWater: number;
  /**
   * Lease kept beyond a whole attempt when one starts: a second, or half of what the lease has beyond
   * the attempt timeout when that is less (a lease just renewed must still be enough to start).
   */
  private readonly leaseMargin: number;
  private idleWaiters: (() => void)[] = [];
  /**
   * Claimed messages this dispatcher holds (waiting, in flight, or with an outcome not yet written),
   * whose leases it renews; and those whose lease another claim took meanwhile (never handed back
   * by this one).
   */
  private readonly held = new Map<string, CallbackMessage>();
  private readonly lost = new Set<string>();
  private renewTimer: NodeJS.Timeout | null = null;
  private renewing = false;

  constructor(private readonly options: DispatcherOptions) {
    this.now = options.now ?? Date.now;
    this.stage = new AttemptStage({
      sender: options.sender,
      schedule: options.schedule,
      signer: options.signer ?? new Signer(),
      logger: options.logger,
      userAgent: options.userAgent,
      tracer: options.tracer ?? null,
      now: this.now,
    });
    this.writer = new OutcomeWriter({
      store: options.store,
      logger: options.logger,
      now: this.now,
      onAttempts: options.onAttempts,
      onRetries: () => this.wake(),
      onWritten: (ids) => this.forget(ids),
    });
    this.loopLag = new LoopLag(this.now);
    this.scheduler = new OriginScheduler({
      originConcurrency: options.originConcurrency,
      attemptTimeoutMs: options.attemptTimeoutMs,
      loopLag: this.loopLag.current,
    });
    this.lowWater = Math.max(1, Math.floor(Math.min(options.batchSize, options.concurrency) / 4));
    this.leaseMargin = Math.min(LEASE_MARGIN_MS, (options.leaseMs - options.attemptTimeoutMs) / 2);
  }

  /** The loop's state, with `delivering` for an idle loop whose attempts are in flight. */
  get state(): LoopState | 'delivering' {
    return this.loop === 'idle' && this.inFlight > 0 ? 'delivering' : this.loop;
  }

  /** Attempts currently in flight (for tests and metrics). */
  get activeAttempts(): number {
    return this.inFlight;
  }

  start(): void {
    if (!this.enter('idle', 'stopped')) return;
    this.loopLag.start();
    // A third of the lease apart, so a lease is renewed while two thirds of it are left, even when
    // the machine is so starved that attempts and their writes take longer than the lease.
    this.renewTimer = setInterval(() => void this.renewLeases(), Math.max(1, Math.floor(this.options.leaseMs / 3)));
    this.renewTimer.unref();
    this.wake();
  }

  /**
   * The one place the loop changes state: to `to` when it is in one of `from` and the change is one of
   * TRANSITIONS; returns whether it changed.
   */
  private enter(to: LoopState, ...from: LoopState[]): boolean {
    if (!from.includes(this.loop) || !TRANSITIONS[this.loop].includes(to)) return false;
    this.loop = to;
    return true;
  }

  /** Something became due now: look at the store on the next turn instead of after the sleep. */
  wake(): void {
    this.backlog = true;
    this.claimSoon();
  }

  private claimSoon(): void {
    if (this.loop === 'claiming') this.claimAgain = true;
    if ((this.loop !== 'idle' && this.loop !== 'claiming') || this.wakeQueued) return;
    this.wakeQueued = true;
    setImmediate(this.onWake);
  }

  /**
   * How many messages `accept` would start or queue at once: the publish fast path hands over at most
   * this many fresh messages instead of leaving them for a claim.
   */
  get room(): number {
    if (this.loop !== 'idle' && this.loop !== 'claiming') return 0;
    return Math.max(0, this.options.concurrency - this.inFlight - this.scheduler.waiting);
  }

  /** The lease a handed-over message must already hold (as a claim would give it). */
  get leaseMs(): number {
    return this.options.leaseMs;
  }

  /**
   * Takes messages that the publisher stored already claimed (`delivering`, leased for `leaseMs`) and
   * delivers them as if this dispatcher had claimed them: no claim query per publish. A dispatcher
   * that is stopping hands them back to the store at once.
   */
  accept(claimed: ClaimedMessage[]): void {
    if (claimed.length === 0) return;
    if (this.loop !== 'idle' && this.loop !== 'claiming') {
      void this.release(
        claimed.map((c) => c.message.id),
        this.now(),
        HandBackReasons.stopping,
      );
      return;
    }
    this.place(claimed, this.now());
    this.wakeForShedding();
  }

  /** Stops claiming, hands back queued messages, waits for attempts in flight and records every outcome. */
  async stop(): Promise<void> {
    if (!this.enter('draining', 'idle', 'claiming')) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const queued = this.scheduler.takeAllWaiting().map((claimed) => claimed.message.id);
    if (queued.length > 0) await this.release(queued, this.now(), HandBackReasons.stopping);
    if (this.inFlight > 0) {
      // Attempts end by their own timeout; the extra second covers reading the last response.
      const limit = new Promise<void>((resolve) => setTimeout(resolve, this.options.attemptTimeoutMs + 1_000).unref());
      await Promise.race([new Promise<void>((resolve) => this.idleWaiters.push(resolve)), limit]);
    }
    await this.writer.flush();
    this.loopLag.stop();
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.renewTimer = null;
    this.enter('stopped', 'draining');
  }

  private readonly onWake = (): void => {
    this.wakeQueued = false;
    void this.claim();
  };

  /** Claims batches while there is room, places them, then sleeps until something is due. */
  private async claim(): Promise<void> {
    if (!this.enter('claiming', 'idle')) return;
    let full = false;
    try {
      for (;;) {
        this.claimAgain = false;
        this.shedStuckOrigins();
        const room = this.options.concurrency - this.inFlight - this.scheduler.waiting;
        const limit = Math.min(this.options.batchSize, room);
        // While busy, wait until a worthwhile batch fits rather than claiming a few at every completion.
        const busy = this.inFlight + this.scheduler.waiting > 0;
        if (limit <= 0 || (busy && limit < this.lowWater)) {
          full = true;
          break;
        }
        const now = this.now();
        // A wake-up during the claim sets it again.
        this.backlog = false;
        const claimed = await this.options.store.claimDue(now, limit, this.options.leaseMs);
        if (claimed.length === limit) this.backlog = true;
        if (this.loop !== 'claiming') {
          await this.release(
            claimed.map((c) => c.message.id),
            now,
            HandBackReasons.stopping,
          );
          return;
        }
        const handedBack = this.place(claimed, now);
        // Some of it went back for a saturated origin, the rest runs: finishing attempts wake the loop,
        // and claiming on now (or polling at once) would mostly hand back more. A claim that went back
        // whole started nothing that could wake it, so it goes on to what is due behind.
        if (handedBack > 0 && handedBack < claimed.length) {
          full = true;
          break;
        }
        // A full claim means more is probably due; keep going while there is room.
        if (claimed.length < limit && !this.claimAgain) break;
      }
    } catch (error) {
      this.backlog = true;
      this.options.logger.error({ err: error }, 'claiming due messages failed');
      // Try again after the poll interval rather than at once (the store may be busy or down).
      full = true;
    }
    if (!this.enter('idle', 'claiming')) return;
    // With no room, finishing attempts wake the loop; the poll timer is only a fallback then.
    await this.sleepUntilDue(full);
  }

  /** Starts, queues or hands back each claimed message as the origin policy says; returns how many went back. */
  private place(claimed: ClaimedMessage[], now: number): number {
    const slow: [at: number, id: string][] = [];
    const stuck: [at: number, id: string][] = [];
    // The claim may have taken long on a busy database or machine: what is left of each lease is
    // measured now, not from when the claim was asked for.
    const current = this.now();
    const short: ClaimedMessage[] = [];
    for (const item of claimed) {
      if (!this.leaseCoversAttempt(item, current)) {
        short.push(item);
        continue;
      }
      const origin = this.originOf(item);
      // The room the engine has for claimed messages, this one included.
      const room = this.options.concurrency - this.inFlight - this.scheduler.waiting;
      const placement = this.scheduler.place({
        origin,
        item,
        now,
        globalRoom: this.inFlight < this.options.concurrency,
        engineRoom: room,
      });
      if (placement.action === 'hand_back') (placement.stuck ? stuck : slow).push([placement.at, item.message.id]);
      else {
        this.held.set(item.message.id, item.message);
        if (placement.action === 'start') this.startAttempt(origin, item, now);
      }
    }
    this.releaseAt(slow, HandBackReasons.originSlow);
    this.releaseAt(stuck, HandBackReasons.originStuck);
    if (short.length > 0) void this.renewThenPlace(short);
    return slow.length + stuck.length;
  }

  /** Whether what is left of the message's lease covers a whole attempt, with a margin. */
  private leaseCoversAttempt(item: ClaimedMessage, now: number): boolean {
    return (item.message.lockedUntil ?? 0) - now >= this.options.attemptTimeoutMs + this.leaseMargin;
  }

  /**
   * Claimed messages whose lease no longer covers a whole attempt (a slow claim, a wait for their
   * origin): their leases are renewed first, then they are placed again; those whose lease another
   * claim took are that claim's, and those still short after the renewal go back to the store.
   */
  private async renewThenPlace(items: ClaimedMessage[]): Promise<void> {
    for (const item of items) this.held.set(item.message.id, item.message);
    const now = this.now();
    const lockedUntil = now + this.options.leaseMs;
    let renewed: Set<string>;
    try {
      renewed = new Set(
        await this.options.store.renew(
          items.map((c) => ({ id: c.message.id, lockedUntil: c.message.lockedUntil ?? 0 })),
          lockedUntil,
          now,
        ),
      );
    } catch (error) {
      this.options.logger.error({ err: error, count: items.length }, 'renewing leases failed');
      await this.release(
        items.map((c) => c.message.id),
        this.now(),
        HandBackReasons.leaseShort,
      );
      return;
    }
    const again: ClaimedMessage[] = [];
    const back: string[] = [];
    const current = this.now();
    for (const item of items) {
      if (!renewed.has(item.message.id)) {
        this.forget([item.message.id]);
        continue;
      }
      item.message.lockedUntil = lockedUntil;
      if (this.leaseCoversAttempt(item, current) && (this.loop === 'idle' || this.loop === 'claiming'))
        again.push(item);
      else back.push(item.message.id);
    }
    if (back.length > 0) await this.release(back, current, HandBackReasons.leaseShort);
    if (again.length > 0) this.place(again, current);
  }

  /** Hands back what waits for stuck origins, freeing the room it holds for origins that answer. */
  private shedStuckOrigins(): void {
    this.releaseAt(
      this.scheduler.shedStuck(this.now()).map(({ item, at }) => [at, item.message.id]),
      HandBackReasons.originStuck,
    );
  }

  /** Hands messages back to the store, one call per due time. */
  private releaseAt(entries: [at: number, id: string][], reason: HandBackReason): void {
    const byTime = new Map<number, string[]>();
    for (const [at, id] of entries) {
      const ids = byTime.get(at);
      if (ids) ids.push(id);
      else byTime.set(at, [id]);
    }
    for (const [at, ids] of byTime) void this.release(ids, at, reason);
  }

  private originOf(item: ClaimedMessage): string {
    try {
      return this.options.sender.originOf(item.registration.url);
    } catch {
      // An unparsable URL gets an origin of its own; its attempt fails as invalid_url.
      return item.registration.url;
    }
  }

  private startAttempt(origin: string, item: ClaimedMessage, now: number): void {
    this.inFlight++;
    void this.attempt(item, this.scheduler.begin(origin, now));
  }

  /** The attempt stage, then its outcome joins the next batched write; then the slot is given back. */
  private async attempt(item: ClaimedMessage, ticket: AttemptTicket): Promise<void> {
    // What the origin itself took (time to first byte from the request's write), when the sender knows.
    let originMs: number | null = null;
    try {
      const record = await this.stage.run(item, ticket.startedAt);
      originMs = record.result.firstByteMs ?? null;
      this.writer.add(record);
    } catch (error) {
      // Not recorded: the message stays claimed until its lease ends, then it is delivered again.
      this.forget([item.message.id]);
      this.options.logger.error({ err: error, messageId: item.message.id }, 'recording an attempt failed');
    } finally {
      this.afterAttempt(ticket, originMs);
    }
  }

  private afterAttempt(ticket: AttemptTicket, originMs: number | null): void {
    this.inFlight--;
    const now = this.now();
    this.scheduler.finished(ticket, now, originMs);
    const tooLate: ClaimedMessage[] = [];
    this.startWaiting(ticket.origin, now, tooLate);
    // A global slot came free: other origins may have messages waiting only for that.
    if (this.scheduler.waiting > 0 && this.inFlight < this.options.concurrency) {
      for (const other of this.scheduler.waitingOrigins()) {
        if (this.inFlight >= this.options.concurrency) break;
        if (other !== ticket.origin) this.startWaiting(other, now, tooLate);
      }
    }
    if (tooLate.length > 0) void this.renewThenPlace(tooLate);
    if (this.inFlight === 0 && this.idleWaiters.length > 0) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
    // Claim more when this origin is running low, or when nothing at all waits locally.
    if (
      this.backlog &&
      (this.scheduler.waitingFor(ticket.origin) < this.options.originConcurrency / 2 || this.scheduler.waiting === 0)
    ) {
      this.claimSoon();
    }
  }

  /** Starts an origin's waiting messages while the limits allow. */
  private startWaiting(origin: string, now: number, tooLate: ClaimedMessage[]): void {
    while (this.loop !== 'draining' && this.loop !== 'stopped' && this.inFlight < this.options.concurrency) {
      const next = this.scheduler.next(origin);
      if (!next) return;
      // Starting after the lease could end would let another claim deliver it concurrently.
      const leaseLeft = (next.message.lockedUntil ?? 0) - now;
      if (leaseLeft < this.options.attemptTimeoutMs + this.leaseMargin) tooLate.push(next);
      else this.startAttempt(origin, next, now);
    }
  }

  private async release(ids: string[], nextAttemptAt: number, reason: HandBackReason): Promise<void> {
    this.backlog = true;
    // A message whose lease another claim took is that claim's now: not handed back from here.
    if (this.lost.size > 0) ids = ids.filter((id) => !this.lost.has(id));
    this.forget(ids);
    if (ids.length === 0) return;
    this.options.onHandBack?.(ids.length, reason);
    try {
      await this.options.store.release(ids, nextAttemptAt);
    } catch (error) {
      this.options.logger.error({ err: error, count: ids.length }, 'handing back claimed messages failed');
    }
  }

  /** No longer held: its lease is not renewed any more. */
  private forget(ids: readonly string[]): void {
    for (const id of ids) {
      this.held.delete(id);
      this.lost.delete(id);
    }
  }

  /**
   * Renews, in one store call, the leases of held messages with less than two thirds of a lease left,
   * so a lease never ends under an attempt that is waiting, running or being recorded, however long
   * that takes. A lease found taken or ended (the process was stopped longer than it) is lost: the
   * message is another claim's; this dispatcher starts no attempt on it and never hands it back.
   */
  private async renewLeases(): Promise<void> {
    if (this.renewing || this.held.size === 0) return;
    const now = this.now();
    const threshold = now + (this.options.leaseMs * 2) / 3;
    const due: CallbackMessage[] = [];
    for (const message of this.held.values()) {
      if (!this.lost.has(message.id) && (message.lockedUntil ?? 0) <= threshold) due.push(message);
    }
    if (due.length === 0) return;
    this.renewing = true;
    const lockedUntil = now + this.options.leaseMs;
    try {
      const renewed = new Set(
        await this.options.store.renew(
          due.map((m) => ({ id: m.id, lockedUntil: m.lockedUntil ?? 0 })),
          lockedUntil,
          now,
        ),
      );
      for (const message of due) {
        if (renewed.has(message.id)) message.lockedUntil = lockedUntil;
        else if (this.held.has(message.id)) this.lost.add(message.id);
      }
    } catch (error) {
      this.options.logger.error({ err: error, count: due.length }, 'renewing leases failed');
    } finally {
      this.renewing = false;
    }
  }

  private async sleepUntilDue(full: boolean): Promise<void> {
    let delay = this.options.pollIntervalMs;
    if (!full) {
      try {
        const due = await this.options.store.nextDueAt();
        if (due !== null) delay = Math.min(delay, Math.max(0, due - this.now()));
      } catch (error) {
        this.options.logger.error({ err: error }, 'reading the next due time failed');
      }
    }
    if (this.loop !== 'idle') return;
    this.setTimer(this.now() + delay);
    this.wakeForShedding();
  }

  /**
   * Messages waiting for an origin that stops answering hold room, and no attempt may finish to wake
   * the loop: it looks again when they would be shed, not only at the next poll.
   */
  private wakeForShedding(): void {
    const shedAt = this.scheduler.nextShedAt();
    if (shedAt === null || this.loop !== 'idle') return;
    if (this.timer === null || shedAt < this.timerAt) this.setTimer(shedAt);
  }

  private setTimer(at: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(this.onTimer, Math.max(at - this.now(), 1));
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    this.wake();
  };
}

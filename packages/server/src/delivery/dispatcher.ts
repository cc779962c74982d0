import type { AttemptOutcome, ClaimedMessage, MessageStore } from '../store/types.js';
import { callbackBody } from './callback-request.js';
import type { SendResult } from './http-sender.js';
import type { RetrySchedule } from './retry-schedule.js';
import { Signer } from './signer.js';

/** What the dispatcher needs from the HTTP side (HttpSender in production, fakes in tests). */
export interface Sender {
  originOf(url: string): string;
  send(url: string, headers: Record<string, string>, body: string): Promise<SendResult>;
}

export interface DispatcherLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  /** pino's level check, when the logger has one. */
  isLevelEnabled?(level: string): boolean;
}

export interface DispatcherOptions {
  store: MessageStore;
  sender: Sender;
  schedule: RetrySchedule;
  logger: DispatcherLogger;
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
  signer?: Signer;
  now?: () => number;
  /** Called after every attempt (metrics). */
  onAttempt?: (result: SendResult, outcome: AttemptOutcome['kind']) => void;
}

interface OriginQueue {
  active: number;
  waiting: ClaimedMessage[];
  /** When an attempt to this origin last finished: tells a busy origin from a stuck one. */
  lastFinishedAt: number;
  /** Moving average of this origin's attempt durations (null until one finished). */
  latencyMs: number | null;
  /** Where handed-back messages of this (stuck or slow) origin are scheduled: one round per slot. */
  slotAt: number;
  slotCount: number;
}

/**
 * A saturated origin counts as stuck (slow or hanging) when no attempt to it has finished for a while:
 * at least this long, so that a GC or CPU pause of a loaded machine, during which no answer can be
 * read, does not make a healthy origin look stuck...
 */
const STUCK_AFTER_MIN_MS = 500;
/** ...and at least this many of its usual attempt durations... */
const STUCK_AFTER_LATENCIES = 10;
/** ...but at most this share of the attempt timeout, so a hanging origin is still found well before its attempts time out. */
const STUCK_AFTER_TIMEOUT_SHARE = 0.25;
/**
 * Longest a claimed message may expect to wait locally for its origin. A slower origin (a few
 * attempts' durations per round) gets no local queue: its surplus goes back to the store, spread over
 * the rounds it needs, so it cannot fill the room that fast origins use.
 */
const MAX_LOCAL_WAIT_MS = 250;
/** Shortest spacing of a handed-back backlog. */
const MIN_ROUND_MS = 50;
/** Safety margin kept between the end of an attempt and the end of its claim's lease. */
const LEASE_MARGIN_MS = 1_000;

/**
 * The dispatch loop: claims due messages in batches, delivers them under a global and a per-origin
 * concurrency limit, decides retries through the RetrySchedule and acknowledges outcomes in batches
 * (one store transaction for everything that finished in the same turn of the event loop).
 *
 * Isolation: claimed messages wait in their origin's local queue while the origin is busy answering
 * quickly. Once a saturated origin stops answering (stuck), or answers so slowly that a queued
 * message would wait long, its surplus is handed back to the store and spread over the rounds the
 * origin needs, so it holds only its own in-flight slots and never the room healthy origins need.
 * A waiting message is started only while its lease still covers a whole attempt.
 */
export class Dispatcher {
  private readonly signer: Signer;
  private readonly now: () => number;
  private readonly origins = new Map<string, OriginQueue>();
  private inFlight = 0;
  private waiting = 0;
  private readonly lowWater: number;
  private outcomes: AttemptOutcome[] = [];
  private flushing: Promise<void> | null = null;
  private tickQueued = false;
  private ticking = false;
  private tickAgain = false;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly options: DispatcherOptions) {
    this.signer = options.signer ?? new Signer();
    this.now = options.now ?? Date.now;
    this.lowWater = Math.max(1, Math.floor(Math.min(options.batchSize, options.concurrency) / 4));
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.wake();
  }

  /** Something became due now: look at the store on the next turn instead of after the sleep. */
  wake(): void {
    if (!this.running || this.tickQueued) return;
    this.tickQueued = true;
    setImmediate(() => {
      this.tickQueued = false;
      void this.tick();
    });
  }

  /** Stops claiming, hands back queued messages, waits for attempts in flight and records every outcome. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const queued: string[] = [];
    for (const queue of this.origins.values()) {
      for (const claimed of queue.waiting.splice(0)) queued.push(claimed.message.id);
    }
    this.waiting = 0;
    if (queued.length > 0) await this.release(queued, this.now());
    if (this.inFlight > 0) {
      // Attempts end by their own timeout; the extra second covers reading the last response.
      const limit = new Promise<void>((resolve) => setTimeout(resolve, this.options.attemptTimeoutMs + 1_000).unref());
      await Promise.race([new Promise<void>((resolve) => this.idleWaiters.push(resolve)), limit]);
    }
    await this.flush();
  }

  /** Attempts currently in flight (for tests and metrics). */
  get activeAttempts(): number {
    return this.inFlight;
  }

  private async tick(): Promise<void> {
    if (!this.running) return;
    if (this.ticking) {
      this.tickAgain = true;
      return;
    }
    this.ticking = true;
    let full = false;
    try {
      for (;;) {
        this.tickAgain = false;
        this.shedStuckOrigins();
        const room = this.options.concurrency - this.inFlight - this.waiting;
        const limit = Math.min(this.options.batchSize, room);
        // While busy, wait until a worthwhile batch fits rather than claiming a few at every completion.
        const busy = this.inFlight + this.waiting > 0;
        if (limit <= 0 || (busy && limit < this.lowWater)) {
          full = true;
          break;
        }
        const now = this.now();
        const claimed = await this.options.store.claimDue(now, limit, this.options.leaseMs);
        if (!this.running) {
          await this.release(
            claimed.map((c) => c.message.id),
            now,
          );
          return;
        }
        const handedBack = this.distribute(claimed, now);
        // A saturated origin wakes the loop when it runs low; claiming on now would only hand back more.
        if (handedBack > 0) break;
        // A full claim means more is probably due; keep going while there is room.
        if (claimed.length < limit && !this.tickAgain) break;
      }
    } catch (error) {
      this.options.logger.error({ err: error }, 'claiming due messages failed');
      // Try again after the poll interval rather than at once (the store may be busy or down).
      full = true;
    } finally {
      this.ticking = false;
    }
    // With no room, finishing attempts wake the loop; the poll timer is only a fallback then.
    await this.sleepUntilDue(full);
  }

  /** Queues claimed messages by origin and starts what the limits allow; returns how many went back. */
  private distribute(claimed: ClaimedMessage[], now: number): number {
    const surplus = new Map<number, string[]>();
    let handedBack = 0;
    for (const item of claimed) {
      let origin: string;
      try {
        origin = this.options.sender.originOf(item.registration.url);
      } catch {
        origin = item.registration.url;
      }
      let queue = this.origins.get(origin);
      if (!queue) {
        queue = { active: 0, waiting: [], lastFinishedAt: now, latencyMs: null, slotAt: 0, slotCount: 0 };
        this.origins.set(origin, queue);
      }
      if (queue.active < this.options.originConcurrency && this.inFlight < this.options.concurrency) {
        this.startAttempt(origin, queue, item);
      } else if (!this.isStuck(queue, now) && this.expectedWaitMs(queue) <= MAX_LOCAL_WAIT_MS) {
        queue.waiting.push(item);
        this.waiting++;
      } else {
        const at = this.deferralSlot(queue, now);
        const ids = surplus.get(at) ?? [];
        ids.push(item.message.id);
        surplus.set(at, ids);
        handedBack++;
      }
    }
    for (const [at, ids] of surplus) void this.release(ids, at);
    return handedBack;
  }

  /** Hands back what waits for stuck origins, freeing the room it holds for origins that answer. */
  private shedStuckOrigins(): void {
    if (this.waiting === 0) return;
    const now = this.now();
    for (const queue of this.origins.values()) {
      if (queue.waiting.length === 0 || !this.isStuck(queue, now)) continue;
      const shed = new Map<number, string[]>();
      for (const item of queue.waiting.splice(0)) {
        const at = this.deferralSlot(queue, now);
        const ids = shed.get(at) ?? [];
        ids.push(item.message.id);
        shed.set(at, ids);
        this.waiting--;
      }
      for (const [at, ids] of shed) void this.release(ids, at);
    }
  }

  /** How long one more message queued for this origin would wait before its attempt starts. */
  private expectedWaitMs(queue: OriginQueue): number {
    const rounds = Math.ceil((queue.waiting.length + 1) / this.options.originConcurrency);
    return rounds * (queue.latencyMs ?? 0);
  }

  /**
   * When a message handed back by a stuck or slow origin becomes due again: the origin frees at most
   * `originConcurrency` slots per round (an attempt timeout when stuck, its usual attempt duration
   * when slow), so its backlog is spread round by round instead of crowding the front of the queue
   * (and every claim) all at once.
   */
  private deferralSlot(queue: OriginQueue, now: number): number {
    const round = this.isStuck(queue, now)
      ? this.options.attemptTimeoutMs
      : Math.min(this.options.attemptTimeoutMs, Math.max(MIN_ROUND_MS, queue.latencyMs ?? 0));
    if (queue.slotAt < now + round) {
      queue.slotAt = now + round;
      queue.slotCount = 0;
    }
    if (queue.slotCount >= this.options.originConcurrency) {
      queue.slotAt += round;
      queue.slotCount = 0;
    }
    queue.slotCount++;
    return queue.slotAt;
  }

  /** A saturated origin that has not finished an attempt lately: its messages would only wait for timeouts. */
  private isStuck(queue: OriginQueue, now: number): boolean {
    if (queue.active < this.options.originConcurrency) return false;
    const stuckAfter = Math.min(
      Math.max(STUCK_AFTER_MIN_MS, STUCK_AFTER_LATENCIES * (queue.latencyMs ?? 0)),
      this.options.attemptTimeoutMs * STUCK_AFTER_TIMEOUT_SHARE,
    );
    return now - queue.lastFinishedAt > stuckAfter;
  }

  private startAttempt(origin: string, queue: OriginQueue, item: ClaimedMessage): void {
    queue.active++;
    this.inFlight++;
    const started = this.now();
    const usual = queue.latencyMs;
    void this.attempt(item).finally(() => {
      queue.active--;
      this.inFlight--;
      // A sample counts at most about twice the average its attempt started with: a pause of the whole
      // process (GC, a loaded machine) stretches every attempt in flight at once and would otherwise make
      // a fast origin look slow. A really slower origin still doubles per generation of attempts.
      const took = this.now() - started;
      const sample = usual === null ? took : Math.min(took, 2 * usual + MIN_ROUND_MS);
      queue.latencyMs = queue.latencyMs === null ? sample : queue.latencyMs * 0.8 + sample * 0.2;
      this.afterAttempt(origin, queue);
    });
  }

  private afterAttempt(origin: string, queue: OriginQueue): void {
    const now = this.now();
    queue.lastFinishedAt = now;
    const tooLate: string[] = [];
    this.drain(origin, queue, now, tooLate);
    // A global slot came free: other origins may have messages waiting only for that.
    if (this.waiting > 0 && this.inFlight < this.options.concurrency) {
      for (const [other, otherQueue] of this.origins) {
        if (this.inFlight >= this.options.concurrency) break;
        if (otherQueue !== queue) this.drain(other, otherQueue, now, tooLate);
      }
    }
    if (tooLate.length > 0) void this.release(tooLate, now);
    if (this.inFlight === 0 && this.idleWaiters.length > 0) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
    // Claim more when this origin is running low, or when nothing at all waits locally.
    if (queue.waiting.length < this.options.originConcurrency / 2 || this.waiting === 0) this.wake();
  }

  /** Starts an origin's waiting messages while the limits allow. */
  private drain(origin: string, queue: OriginQueue, now: number, tooLate: string[]): void {
    while (
      this.running &&
      queue.waiting.length > 0 &&
      queue.active < this.options.originConcurrency &&
      this.inFlight < this.options.concurrency
    ) {
      const next = queue.waiting.shift()!;
      this.waiting--;
      // Starting after the lease could end would let another claim deliver it concurrently.
      const leaseLeft = (next.message.lockedUntil ?? 0) - now;
      if (leaseLeft < this.options.attemptTimeoutMs + LEASE_MARGIN_MS) tooLate.push(next.message.id);
      else this.startAttempt(origin, queue, next);
    }
    if (queue.active === 0 && queue.waiting.length === 0) this.origins.delete(origin);
  }

  private async attempt({ message, registration }: ClaimedMessage): Promise<void> {
    const attemptNumber = message.attempts + 1;
    const startedAt = this.now();
    let result: SendResult;
    try {
      const body = callbackBody(message.payload, registration, attemptNumber, message.maxAttempts);
      const timestamp = Math.floor(startedAt / 1000);
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'user-agent': this.options.userAgent,
        'webhook-id': message.id,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': this.signer.sign(registration, message.id, timestamp, body, startedAt),
        'ccb-account': message.accountName,
        'ccb-service': message.serviceName,
      };
      result = await this.options.sender.send(registration.url, headers, body);
    } catch (error) {
      result = {
        statusCode: null,
        retryAfter: null,
        error: `internal: ${(error as Error).message}`,
        responseExcerpt: null,
        latencyMs: this.now() - startedAt,
      };
    }
    const attempt = {
      messageId: message.id,
      attemptNumber,
      startedAt,
      url: registration.url,
      statusCode: result.statusCode,
      latencyMs: result.latencyMs,
      error: result.error,
      responseExcerpt: result.responseExcerpt,
    };
    const decision = this.options.schedule.decide(attemptNumber, message.maxAttempts, result, this.now());
    const outcome: AttemptOutcome =
      decision.kind === 'retry'
        ? { kind: 'retry', attempt, nextAttemptAt: decision.nextAttemptAt }
        : decision.kind === 'failed'
          ? { kind: 'failed', attempt, reason: decision.reason }
          : { kind: 'delivered', attempt };
    // One line per outcome; built only when info is on (benchmarks and quiet deployments run at warn).
    if (this.options.logger.isLevelEnabled?.('info') !== false) {
      this.options.logger.info(
        {
          messageId: message.id,
          account: message.accountName,
          service: message.serviceName,
          attempt: attemptNumber,
          url: registration.url,
          statusCode: result.statusCode,
          error: result.error,
          ms: Math.round(result.latencyMs),
          outcome: outcome.kind,
          ...(outcome.kind === 'failed' ? { reason: outcome.reason } : {}),
          ...(outcome.kind === 'retry'
            ? { retryIn: `${Math.round((outcome.nextAttemptAt - this.now()) / 1000)}s` }
            : {}),
        },
        outcome.kind === 'delivered'
          ? 'message delivered'
          : outcome.kind === 'failed'
            ? 'message failed'
            : 'attempt failed',
      );
    }
    this.options.onAttempt?.(result, outcome.kind);
    this.outcomes.push(outcome);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushing) return;
    this.flushing = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.flushNow());
  }

  /** Records every collected outcome, one store transaction per batch. */
  private async flushNow(): Promise<void> {
    try {
      while (this.outcomes.length > 0) {
        const batch = this.outcomes;
        this.outcomes = [];
        try {
          await this.options.store.complete(batch, this.now());
        } catch (error) {
          // The messages stay claimed; their leases lapse and they are delivered again (at least once).
          this.options.logger.error({ err: error, count: batch.length }, 'recording attempt outcomes failed');
        }
      }
    } finally {
      this.flushing = null;
    }
    // A retry may be due before the current sleep ends.
    this.wake();
  }

  private async flush(): Promise<void> {
    if (this.flushing) await this.flushing;
    if (this.outcomes.length > 0) await this.flushNow();
  }

  private async release(ids: string[], nextAttemptAt: number): Promise<void> {
    try {
      await this.options.store.release(ids, nextAttemptAt);
    } catch (error) {
      this.options.logger.error({ err: error, count: ids.length }, 'handing back claimed messages failed');
    }
  }

  private async sleepUntilDue(full: boolean): Promise<void> {
    if (!this.running) return;
    let delay = this.options.pollIntervalMs;
    if (!full) {
      try {
        const due = await this.options.store.nextDueAt();
        if (due !== null) delay = Math.min(delay, Math.max(0, due - this.now()));
      } catch (error) {
        this.options.logger.error({ err: error }, 'reading the next due time failed');
      }
    }
    if (!this.running) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.wake();
      },
      Math.max(delay, 1),
    );
  }
}

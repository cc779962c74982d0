/**
 * The per-origin scheduling policy of the dispatcher (SPEC §5 isolation): how many attempts an origin
 * (`scheme://host:port`) may have in flight, when a claimed message may wait locally for its origin,
 * and when it goes back to the store instead, spread over the rounds the origin needs.
 *
 * Its verdicts rest on what the origin itself did, not on how busy this process is: an attempt's
 * latency is the origin's time to first byte from the request's write (the sender measures it),
 * less the event loop's own delay; a silence counts without that delay too; failures count as they
 * took. A process that is late reading answers (a saturated event loop, a GC pause) makes every
 * origin look slower at once, and must not make the one busy origin look slow: its surplus would go
 * back to the store and come back, round after round, with nothing gained (issue #23).
 *
 * It holds no timers and reads no clock: every call gets `now`, and the loop's delay comes from the
 * `loopLag` option, so tests drive it step by step.
 */

/**
 * A saturated origin counts as stuck (slow or hanging) when no attempt to it has finished for a while:
 * at least this long, so that a GC or CPU pause of a loaded machine, during which no answer can be
 * read, does not make a healthy origin look stuck...
 */
export const STUCK_AFTER_MIN_MS = 500;
/** ...and at least this many of its usual attempt durations... */
const STUCK_AFTER_LATENCIES = 10;
/** ...but at most this share of the attempt timeout, so a hanging origin is still found well before its attempts time out. */
const STUCK_AFTER_TIMEOUT_SHARE = 0.25;
/**
 * Longest a claimed message may expect to wait locally for its origin. A slower origin (a few
 * attempts' durations per round) gets no local queue: its surplus goes back to the store, spread over
 * the rounds it needs, so it cannot fill the room that fast origins use.
 */
export const MAX_LOCAL_WAIT_MS = 250;
/** Shortest spacing of a handed-back backlog. */
export const MIN_ROUND_MS = 50;
/** Weight of the newest sample in an origin's moving latency average. */
const LATENCY_WEIGHT = 0.2;

/** What the dispatcher does with a claimed message, as the policy decides it. */
export type Placement =
  /** Start the attempt now (the origin's slot is already taken for it). */
  | { action: 'start' }
  /** Keep it in the origin's local queue; `next` hands it out when a slot frees. */
  | { action: 'queue' }
  /** Give it back to the store, due again at `at`; `stuck` when its origin stopped answering (else slow). */
  | { action: 'hand_back'; at: number; stuck: boolean };

/** A claimed message to place, with what the dispatcher knows of its room (`OriginScheduler.place`). */
export interface PlaceRequest<T> {
  /** The message's origin (`scheme://host:port`). */
  origin: string;
  item: T;
  now: number;
  /** Whether the global concurrency limit allows one more attempt now. */
  globalRoom: boolean;
  /**
   * The room the engine has for claimed messages, this one included (global limit less attempts in
   * flight and messages waiting). None by default.
   */
  engineRoom?: number;
}

/** One origin as the policy sees it. */
interface OriginState<T> {
  /** Attempts in flight. */
  active: number;
  /** Claimed messages waiting for a slot, oldest first. */
  waiting: T[];
  /** When an attempt to this origin last finished: tells a busy origin from a stuck one. */
  lastFinishedAt: number;
  /** Moving average of this origin's attempt durations (null until one finished). */
  latencyMs: number | null;
  /** Where handed-back messages of this (stuck or slow) origin are scheduled: one round per slot. */
  slotAt: number;
  slotCount: number;
}

export interface OriginSchedulerOptions {
  /** Attempts in flight at once to one origin. */
  originConcurrency: number;
  attemptTimeoutMs: number;
  /**
   * How late the event loop runs now, in ms (what this process adds to any time it measures): taken
   * off latency samples and silences. None by default.
   */
  loopLag?: () => number;
}

/** A started attempt's ticket: give it back to `finished` when the attempt ends. */
export interface AttemptTicket {
  origin: string;
  startedAt: number;
  /** The origin's average when the attempt started (caps how much one sample may move it). */
  usualMs: number | null;
}

export class OriginScheduler<T> {
  private readonly origins = new Map<string, OriginState<T>>();
  /** Messages waiting in all local queues. */
  private waitingTotal = 0;

  private readonly loopLag: () => number;

  constructor(private readonly options: OriginSchedulerOptions) {
    this.loopLag = options.loopLag ?? (() => 0);
  }

  get waiting(): number {
    return this.waitingTotal;
  }

  /**
   * Where a claimed message goes: started at once when its origin has a slot (and `globalRoom` says
   * the global limit allows it), queued locally while its origin answers quickly, or handed back.
   * While the engine has room (`engineRoom`), the only busy origin keeps its surplus, as long as it
   * answers and is not slow by its own measure. Handing it back would free room for nobody.
   */
  place({ origin, item, now, globalRoom, engineRoom = 0 }: PlaceRequest<T>): Placement {
    const state = this.state(origin, now);
    if (state.active < this.options.originConcurrency && globalRoom) return { action: 'start' };
    const stuck = this.isStuck(state, now);
    if (
      !stuck &&
      (this.expectedWaitMs(state, now) <= MAX_LOCAL_WAIT_MS ||
        (engineRoom > 0 && this.answersInTime(state) && this.onlyBusy(origin)))
    ) {
      state.waiting.push(item);
      this.waitingTotal++;
      return { action: 'queue' };
    }
    return { action: 'hand_back', at: this.deferralSlot(state, now), stuck };
  }

  /** Takes a slot of `origin` for an attempt starting now. */
  begin(origin: string, now: number): AttemptTicket {
    const state = this.state(origin, now);
    state.active++;
    return { origin, startedAt: now, usualMs: state.latencyMs };
  }

  /**
   * An attempt ended: frees its slot and learns the origin's latency from it. `originMs` is what the
   * origin took by the sender's measure (time to first byte from the request's write); without it
   * (a failure before any answer, a fake sender), the attempt's whole duration counts. Either way the
   * event loop's current delay is taken off: it is this process's, not the origin's.
   */
  finished(ticket: AttemptTicket, now: number, originMs?: number | null): void {
    const state = this.origins.get(ticket.origin);
    if (!state) return;
    state.active--;
    state.lastFinishedAt = now;
    // A sample also counts at most about twice the average its attempt started with: a pause of the
    // whole process (GC, a loaded machine) stretches every attempt in flight at once. A really slower
    // origin still doubles per generation of attempts.
    const took = Math.max(0, (originMs ?? now - ticket.startedAt) - this.loopLag());
    const sample = ticket.usualMs === null ? took : Math.min(took, 2 * ticket.usualMs + MIN_ROUND_MS);
    state.latencyMs =
      state.latencyMs === null ? sample : state.latencyMs * (1 - LATENCY_WEIGHT) + sample * LATENCY_WEIGHT;
    this.forgetIfIdle(ticket.origin, state);
  }

  /** The next waiting message of `origin` when it has a free slot (the caller checks the global limit). */
  next(origin: string): T | undefined {
    const state = this.origins.get(origin);
    if (!state || state.waiting.length === 0 || state.active >= this.options.originConcurrency) return undefined;
    this.waitingTotal--;
    const item = state.waiting.shift();
    this.forgetIfIdle(origin, state);
    return item;
  }

  /** Origins with messages waiting, for handing out a global slot that came free. */
  *waitingOrigins(): IterableIterator<string> {
    for (const [origin, state] of this.origins) if (state.waiting.length > 0) yield origin;
  }

  /** Messages waiting locally for `origin`. */
  waitingFor(origin: string): number {
    return this.origins.get(origin)?.waiting.length ?? 0;
  }

  /** Takes what waits for stuck origins, each with the time it is due again, freeing the room it holds. */
  shedStuck(now: number): { item: T; at: number }[] {
    const shed: { item: T; at: number }[] = [];
    if (this.waitingTotal === 0) return shed;
    for (const [origin, state] of this.origins) {
      if (state.waiting.length === 0 || !this.isStuck(state, now)) continue;
      for (const item of state.waiting.splice(0)) {
        shed.push({ item, at: this.deferralSlot(state, now) });
        this.waitingTotal--;
      }
      this.forgetIfIdle(origin, state);
    }
    return shed;
  }

  /** Takes every waiting message (the dispatcher is stopping). */
  takeAllWaiting(): T[] {
    const all: T[] = [];
    for (const [origin, state] of this.origins) {
      all.push(...state.waiting.splice(0));
      this.forgetIfIdle(origin, state);
    }
    this.waitingTotal = 0;
    return all;
  }

  /**
   * When the first origin that has messages waiting locally would count as stuck (and have them shed),
   * if nothing finishes before: the dispatcher looks again then rather than at its next poll, since
   * with the room held by those messages nothing else may wake it. Null when nothing waits for a
   * saturated origin.
   */
  nextShedAt(): number | null {
    if (this.waitingTotal === 0) return null;
    let first: number | null = null;
    const lag = this.loopLag();
    for (const state of this.origins.values()) {
      if (state.waiting.length === 0 || state.active < this.options.originConcurrency) continue;
      // isStuck asks for strictly more than stuckAfter, not counting the loop's delay.
      const at = state.lastFinishedAt + this.stuckAfterMs(state) + lag + 1;
      if (first === null || at < first) first = at;
    }
    return first;
  }

  /**
   * A saturated origin that has not finished an attempt lately: its messages would only wait for
   * timeouts. The silence is counted without the event loop's current delay: after a pause of this
   * process, answers that arrived meanwhile are still unread.
   */
  private isStuck(state: OriginState<T>, now: number): boolean {
    if (state.active < this.options.originConcurrency) return false;
    return this.silenceMs(state, now) > this.stuckAfterMs(state);
  }

  private silenceMs(state: OriginState<T>, now: number): number {
    return Math.max(0, now - state.lastFinishedAt - this.loopLag());
  }

  /**
   * Known to answer, within a shortest round by its own latency: its local queue then starts each
   * message no later than a hand-back would bring it back (due one round of at least MIN_ROUND_MS per
   * slot batch), so handing back gains nothing. A slower origin's surplus still goes back beyond the
   * local wait, also when it is alone: its backlog would hold the room newcomers need for long.
   */
  private answersInTime(state: OriginState<T>): boolean {
    return state.latencyMs !== null && state.latencyMs <= MIN_ROUND_MS;
  }

  /** No other origin is busy (saturated, or with messages waiting). */
  private onlyBusy(origin: string): boolean {
    for (const [other, state] of this.origins) {
      if (other === origin) continue;
      if (state.waiting.length > 0 || state.active >= this.options.originConcurrency) return false;
    }
    return true;
  }

  private stuckAfterMs(state: OriginState<T>): number {
    return Math.min(
      Math.max(STUCK_AFTER_MIN_MS, STUCK_AFTER_LATENCIES * (state.latencyMs ?? 0)),
      this.options.attemptTimeoutMs * STUCK_AFTER_TIMEOUT_SHARE,
    );
  }

  /** Whether `origin` currently counts as stuck (for tests and logs). */
  originIsStuck(origin: string, now: number): boolean {
    const state = this.origins.get(origin);
    return state !== undefined && this.isStuck(state, now);
  }

  /** The origin's moving latency average, null before its first finished attempt. */
  latencyOf(origin: string): number | null {
    return this.origins.get(origin)?.latencyMs ?? null;
  }

  private state(origin: string, now: number): OriginState<T> {
    let state = this.origins.get(origin);
    if (!state) {
      state = { active: 0, waiting: [], lastFinishedAt: now, latencyMs: null, slotAt: 0, slotCount: 0 };
      this.origins.set(origin, state);
    }
    return state;
  }

  /**
   * An origin with nothing in flight and nothing waiting is forgotten, so departed listeners leave
   * nothing behind; its latency is learnt again when it comes back.
   */
  private forgetIfIdle(origin: string, state: OriginState<T>): void {
    if (state.active === 0 && state.waiting.length === 0) this.origins.delete(origin);
  }

  /** How long one more message queued for this origin would wait before its attempt starts. */
  private expectedWaitMs(state: OriginState<T>, now: number): number {
    const rounds = Math.ceil((state.waiting.length + 1) / this.options.originConcurrency);
    const roundMs = this.roundMs(state, now);
    // Without a first answer after a while, how long a round takes is unknown: one round may wait, no
    // more (a hanging origin would otherwise fill the whole room until it counts as stuck).
    if (state.latencyMs === null && rounds > 1 && roundMs >= MIN_ROUND_MS) return Number.POSITIVE_INFINITY;
    return rounds * roundMs;
  }

  /**
   * How long a round of attempts to this origin takes, as far as is known: its latency average, or
   * before its first answer, how long it has been saturated without one (it will not answer sooner).
   * Once an average exists a silence does not count: on a loaded machine every origin goes quiet
   * for tens of milliseconds at times, and counting that handed back the one busy origin's messages
   * over and over (server CPU per delivery 75 → 140 µs in bench/cpu.ts).
   */
  private roundMs(state: OriginState<T>, now: number): number {
    if (state.latencyMs !== null) return state.latencyMs;
    return state.active >= this.options.originConcurrency ? this.silenceMs(state, now) : 0;
  }

  /**
   * When a message handed back by a stuck or slow origin becomes due again: the origin frees at most
   * `originConcurrency` slots per round (an attempt timeout when stuck, its usual attempt duration
   * when slow), so its backlog is spread round by round instead of crowding the front of the queue
   * (and every claim) all at once.
   */
  private deferralSlot(state: OriginState<T>, now: number): number {
    // Whole milliseconds: the latency average is fractional, and stores keep due times as integers
    // (PostgreSQL's bigint refuses a fraction, which failed the hand-back and left the messages claimed).
    const round = this.isStuck(state, now)
      ? this.options.attemptTimeoutMs
      : Math.ceil(Math.min(this.options.attemptTimeoutMs, Math.max(MIN_ROUND_MS, this.roundMs(state, now))));
    if (state.slotAt < now + round) {
      state.slotAt = now + round;
      state.slotCount = 0;
    }
    if (state.slotCount >= this.options.originConcurrency) {
      state.slotAt += round;
      state.slotCount = 0;
    }
    state.slotCount++;
    return state.slotAt;
  }
}

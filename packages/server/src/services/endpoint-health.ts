import { MessageReasons } from '../domain/reasons.js';
import type { StructuredLogger } from '../logger.js';
import type { MessageStore, RegistrationHealth } from '../store/types.js';
import { isOperatorRegistration, iso, type OperatorEvent, type OperatorEvents } from './operator-events.js';
import type { Registration, RegistrationService } from './registrations.js';

/** The success ratio is over this many last attempts. */
export const HEALTH_WINDOW = 32;
/** Attempts are counted in memory and written at most this often per registration. */
export const HEALTH_FLUSH_MS = 1_000;

/** The attempts of one registration since the last write, in the order they ended. */
interface Tally {
  registration: Registration;
  /** The last attempts, newest in bit 0 (1 = success). */
  bits: number;
  count: number;
  /** Failures after the last success (all of them when there was none). */
  trailingFailures: number;
  /** The first of those failures. */
  streakStart: number | null;
  lastSuccessAt: number | null;
  lastFailureAt: number | null;
}

/** Stored health after the attempts of a tally (a pure step, tested on its own). */
export function mergeHealth(health: RegistrationHealth, tally: Omit<Tally, 'registration'>): RegistrationHealth {
  const next = { ...health };
  const n = Math.min(tally.count, HEALTH_WINDOW);
  next.recentBits = n >= 32 ? tally.bits >>> 0 : ((health.recentBits << n) | tally.bits) >>> 0;
  next.recentCount = Math.min(HEALTH_WINDOW, health.recentCount + tally.count);
  if (tally.lastFailureAt !== null) next.lastFailureAt = Math.max(health.lastFailureAt ?? 0, tally.lastFailureAt);
  if (tally.lastSuccessAt !== null) {
    next.lastSuccessAt = Math.max(health.lastSuccessAt ?? 0, tally.lastSuccessAt);
    next.consecutiveFailures = tally.trailingFailures;
    next.failingSince = tally.trailingFailures > 0 ? tally.streakStart : null;
    next.warnedAt = null;
  } else {
    next.consecutiveFailures = health.consecutiveFailures + tally.trailingFailures;
    next.failingSince = health.failingSince ?? tally.streakStart;
  }
  return next;
}

/** The success ratio of the recent attempts, null before the first one. */
export function successRatio(health: RegistrationHealth): number | null {
  if (health.recentCount === 0) return null;
  let ones = 0;
  for (let i = 0; i < health.recentCount; i++) ones += (health.recentBits >>> i) & 1;
  return Math.round((ones / health.recentCount) * 1000) / 1000;
}

/** What `EndpointHealth` works with. */
export interface EndpointHealthOptions {
  store: { messages: MessageStore };
  registrations: RegistrationService;
  /** Where `registration.failing`, `.disabled` and `.recovered` go; null when no operator webhook is set. */
  events: OperatorEvents | null;
  logger: StructuredLogger;
  /** How often counted health is written; HEALTH_FLUSH_MS by default. */
  flushMs?: number;
}

/**
 * Endpoint health (SPEC §11): every attempt's outcome is counted per registration in memory and
 * written every HEALTH_FLUSH_MS (one read and one write per registration that had attempts, never
 * per attempt), which is also when auto-disable is decided:
 * - all attempts failed since `failingSince` for at least `warnAfter` → `registration.failing` (once
 *   per streak);
 * - for at least `after` → the registration is disabled (`enabled: false`), its pending messages fail
 *   with `registration_disabled`, and `registration.disabled` is sent;
 * - the first success after either → `registration.recovered`.
 * Times are the attempts' own. Health counted but not yet written when a process dies is lost
 * (at most one interval of it); messages are not.
 */
export class EndpointHealth {
  private tallies = new Map<Registration, Tally>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;

  private readonly store: { messages: MessageStore };
  private readonly registrations: RegistrationService;
  private readonly events: OperatorEvents | null;
  private readonly logger: StructuredLogger;
  private readonly flushMs: number;

  constructor(options: EndpointHealthOptions) {
    this.store = options.store;
    this.registrations = options.registrations;
    this.events = options.events;
    this.logger = options.logger;
    this.flushMs = options.flushMs ?? HEALTH_FLUSH_MS;
  }

  /** Counts one attempt (called for every attempt: no I/O, no allocation after the first of a registration). */
  record(registration: Registration, ok: boolean, at: number): void {
    let tally = this.tallies.get(registration);
    if (!tally) {
      tally = {
        registration,
        bits: 0,
        count: 0,
        trailingFailures: 0,
        streakStart: null,
        lastSuccessAt: null,
        lastFailureAt: null,
      };
      this.tallies.set(registration, tally);
    }
    tally.bits = ((tally.bits << 1) | (ok ? 1 : 0)) >>> 0;
    tally.count++;
    if (ok) {
      tally.lastSuccessAt = at;
      tally.trailingFailures = 0;
      tally.streakStart = null;
    } else {
      tally.lastFailureAt = at;
      tally.trailingFailures++;
      tally.streakStart ??= at;
    }
    if (this.timer === null) {
      this.timer = setTimeout(() => {
        this.timer = null;
        void this.flush();
      }, this.flushMs);
      this.timer.unref();
    }
  }

  /** Writes what was counted (and waits for a write in progress). */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.tallies.size === 0) return;
    const tallies = [...this.tallies.values()];
    this.tallies = new Map();
    this.flushing = (async () => {
      for (const tally of tallies) {
        try {
          await this.write(tally);
        } catch (error) {
          this.logger.error(
            { err: error, account: tally.registration.accountName, service: tally.registration.serviceName },
            'writing endpoint health failed',
          );
        }
      }
    })();
    try {
      await this.flushing;
    } finally {
      this.flushing = null;
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.flush();
  }

  private async write(tally: Tally): Promise<void> {
    const key = { accountName: tally.registration.accountName, serviceName: tally.registration.serviceName };
    const operator = isOperatorRegistration(key);
    let decided: { event: OperatorEvent; key: string }[] = [];
    let disabled = false;
    const written = await this.registrations.updateHealth(
      key,
      (health, record) => {
        const next: RegistrationHealth & { enabled?: boolean } = mergeHealth(health, tally);
        decided = [];
        disabled = false;
        const now = Math.max(tally.lastFailureAt ?? 0, tally.lastSuccessAt ?? 0);
        const base = { accountName: key.accountName, serviceName: key.serviceName, url: record.url };
        if (tally.lastSuccessAt !== null && health.recoveryDue) {
          next.recoveryDue = false;
          decided.push({
            event: {
              type: 'registration.recovered',
              timestamp: iso(tally.lastSuccessAt) as string,
              data: { ...base, recoveredAt: iso(tally.lastSuccessAt) },
            },
            key: `${key.accountName}:${key.serviceName}:${tally.lastSuccessAt}`,
          });
        }
        const auto = record.controls.autoDisable;
        if (auto && record.controls.enabled && next.failingSince !== null && tally.lastFailureAt !== null) {
          const failingFor = now - next.failingSince;
          const streak = {
            ...base,
            failingSince: iso(next.failingSince),
            consecutiveFailures: next.consecutiveFailures,
            lastSuccessAt: iso(next.lastSuccessAt),
          };
          const streakKey = `${key.accountName}:${key.serviceName}:${next.failingSince}`;
          if (failingFor >= auto.afterMs) {
            next.enabled = false;
            next.disabledAt = now;
            next.recoveryDue = true;
            disabled = true;
            decided.push({
              event: {
                type: 'registration.disabled',
                timestamp: iso(now) as string,
                data: { ...streak, disabledAt: iso(now) },
              },
              key: streakKey,
            });
          } else if (failingFor >= auto.warnAfterMs && next.warnedAt === null) {
            next.warnedAt = now;
            next.recoveryDue = true;
            decided.push({
              event: {
                type: 'registration.failing',
                timestamp: iso(now) as string,
                data: { ...streak, disableAt: iso(next.failingSince + auto.afterMs) },
              },
              key: streakKey,
            });
          }
        }
        return next;
      },
      async () => {
        // Stored before the health that decided them: a crash in between sends them at most once more
        // (their idempotency keys), never not at all. The operator's own registration reports nothing
        // about itself (no loop of events).
        if (!operator && this.events && decided.length > 0) await this.events.emit(decided, Date.now());
      },
    );
    if (!written) return;
    if (disabled) {
      await this.store.messages.failPending(
        key.accountName,
        key.serviceName,
        MessageReasons.registrationDisabled,
        written.disabledAt ?? Date.now(),
      );
      this.logger.warn(
        { account: key.accountName, service: key.serviceName },
        'registration disabled: its attempts failed for too long',
      );
    }
  }
}

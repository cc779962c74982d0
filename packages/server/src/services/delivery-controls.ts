import type { ControlSettings } from '../domain/delivery-controls.js';
import { formatDuration, parseDuration } from '../settings.js';
import type { DeliveryControls } from '../store/types.js';

/**
 * A registration's delivery controls as the admin API, the CLI and the dashboard write them
 * (ControlSettings, domain/delivery-controls.ts); the store keeps them as DeliveryControls
 * (milliseconds).
 */
export type { ControlSettings };

/** The most a rate limit may allow per second or per minute. */
export const MAX_RATE = 10_000;
/** The shortest `after` / `warnAfter` of auto-disable. */
export const MIN_AUTO_DISABLE_MS = 1_000;
/**
 * How far ahead the admission of held messages gives rate-limit slots: messages due in the next
 * second are admitted at once (each at its slot), the rest wait for a later claim.
 */
export const ADMISSION_HORIZON_MS = 1_000;

/** A settings value that the schema lets through but the rules refuse (a bad duration, warnAfter ≥ after). */
export class InvalidSettingsError extends Error {
  override name = 'InvalidSettingsError';
}

/** What a stored control looks like in the API. */
export function toSettings(controls: DeliveryControls): ControlSettings {
  const rate = controls.rateLimit;
  return {
    ordering: controls.ordering,
    rateLimit: rate === null ? null : rate.windowMs === 1_000 ? { perSecond: rate.count } : { perMinute: rate.count },
    autoDisable:
      controls.autoDisable === null
        ? null
        : {
            after: formatDuration(controls.autoDisable.afterMs),
            warnAfter: formatDuration(controls.autoDisable.warnAfterMs),
          },
    enabled: controls.enabled,
  };
}

function durationOf(text: string, field: string): number {
  let ms: number;
  try {
    ms = parseDuration(text, field);
  } catch (error) {
    throw new InvalidSettingsError((error as Error).message);
  }
  if (ms < MIN_AUTO_DISABLE_MS) {
    throw new InvalidSettingsError(`${field} must be at least ${formatDuration(MIN_AUTO_DISABLE_MS)}`);
  }
  return ms;
}

/**
 * The stored controls after a (partial) change: keys left out keep their value. Throws
 * InvalidSettingsError for a duration that does not parse or a warning not before the disable.
 */
export function applySettings(current: DeliveryControls, change: Partial<ControlSettings>): DeliveryControls {
  const next: DeliveryControls = { ...current };
  if (change.ordering !== undefined) next.ordering = change.ordering;
  if (change.enabled !== undefined) next.enabled = change.enabled;
  if (change.rateLimit !== undefined) {
    const rate = change.rateLimit;
    next.rateLimit =
      rate === null
        ? null
        : 'perSecond' in rate
          ? { count: rate.perSecond, windowMs: 1_000 }
          : { count: rate.perMinute, windowMs: 60_000 };
  }
  if (change.autoDisable !== undefined) {
    const auto = change.autoDisable;
    if (auto === null) next.autoDisable = null;
    else {
      const afterMs = durationOf(auto.after, 'autoDisable.after');
      const warnAfterMs = durationOf(auto.warnAfter, 'autoDisable.warnAfter');
      if (warnAfterMs >= afterMs) {
        throw new InvalidSettingsError(
          `autoDisable.warnAfter (${auto.warnAfter}) must be shorter than autoDisable.after (${auto.after})`,
        );
      }
      next.autoDisable = { afterMs, warnAfterMs };
    }
  }
  return next;
}

/** Whether messages of a registration with these controls are held until admitted (FIFO or a rate limit). */
export function isHeld(controls: DeliveryControls): boolean {
  return controls.ordering === 'fifo' || controls.rateLimit !== null;
}

import { randomBytes } from 'node:crypto';
import type { OperatorEventType } from '../domain/delivery-controls.js';
import type { NewMessage, PublishedMessage } from './messages.js';
import type { RegistrationService } from './registrations.js';

/**
 * Operator events (SPEC §11) go to `CCB_OPERATOR_WEBHOOK_URL` as messages of this internal
 * registration, through the same durable engine as every callback: stored before anything depends on
 * them, retried, signed, never in the way of other registrations' deliveries. The account name has a
 * character no platform account may have, so it can never be one of theirs.
 */
export const OPERATOR_ACCOUNT = 'ccb:operator';
export const OPERATOR_SERVICE = 'OperatorEvents';

export { OPERATOR_EVENT_TYPES, type OperatorEventType } from '../domain/delivery-controls.js';

/** The body of an operator event (the engine adds `username`, `password`, `callbackCount`, `maxCallbackThreshold`). */
export interface OperatorEvent {
  type: OperatorEventType;
  /** When it happened, ISO 8601. */
  timestamp: string;
  data: Record<string, string | number | null>;
}

export function isOperatorRegistration(key: { accountName: string; serviceName: string }): boolean {
  return key.accountName === OPERATOR_ACCOUNT && key.serviceName === OPERATOR_SERVICE;
}

/**
 * Publishes operator events. Each carries an idempotency key made of what identifies it (the
 * registration and its failing streak, the message and its attempt), so instances or retries that
 * decide the same event store it once.
 */
export class OperatorEvents {
  constructor(
    private readonly publish: (messages: NewMessage[], now: number) => Promise<PublishedMessage[]>,
    private readonly maxAttempts: number,
  ) {}

  async emit(events: { event: OperatorEvent; key: string }[], now: number): Promise<void> {
    if (events.length === 0) return;
    await this.publish(
      events.map(({ event, key }) => ({
        id: `msg_${now.toString(16).padStart(12, '0')}${randomBytes(10).toString('hex')}`,
        accountName: OPERATOR_ACCOUNT,
        serviceName: OPERATOR_SERVICE,
        payload: JSON.stringify(event),
        idempotencyKey: `${event.type}:${key}`.slice(0, 255),
        maxAttempts: this.maxAttempts,
      })),
      now,
    );
  }
}

export const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/**
 * Makes the internal registration match the configuration at start-up: registered to the URL (with
 * the configured secret, or the one generated at its first registration), or removed when no URL is
 * set (its undelivered events are cancelled). Every instance does it; the result is the same.
 */
export async function setUpOperatorWebhook(
  registrations: RegistrationService,
  config: { url: string | null; secret: string | null },
): Promise<void> {
  if (config.url === null) {
    if (await registrations.get(OPERATOR_ACCOUNT, OPERATOR_SERVICE)) {
      await registrations.remove(OPERATOR_ACCOUNT, OPERATOR_SERVICE);
    }
    return;
  }
  await registrations.upsert({ accountName: OPERATOR_ACCOUNT, serviceName: OPERATOR_SERVICE, url: config.url });
  if (config.secret !== null) await registrations.useSigningSecret(OPERATOR_ACCOUNT, OPERATOR_SERVICE, config.secret);
}

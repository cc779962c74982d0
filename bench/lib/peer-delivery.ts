import { randomBytes } from 'node:crypto';
import { HttpSender } from '../../packages/server/src/delivery/http-sender.js';
import { Signer } from '../../packages/server/src/delivery/signer.js';
import { UrlGuard } from '../../packages/server/src/delivery/url-guard.js';
import type { ClaimedMessage } from '../../packages/server/src/services/messages.js';
import { DEFAULT_CONTROLS } from '../../packages/server/src/store/types.js';

/**
 * What a peer needs to send the very webhooks our engine sends: our HttpSender (loopback allowed),
 * our Signer, one registration for `listener`, and claimed messages shaped as a claim hands them over.
 */
export function peerDelivery(options: { listener: string; connections: number; timeoutMs: number }) {
  const sender = new HttpSender({
    guard: new UrlGuard({ allowedPorts: null, allowLoopback: true, allowPrivate: false }),
    timeoutMs: options.timeoutMs,
    connectionsPerOrigin: options.connections,
  });
  const signer = new Signer();
  const now = Date.now();
  const registration: ClaimedMessage['registration'] = {
    accountName: '0000123456-00001',
    serviceName: 'CarrierService',
    url: options.listener,
    username: null,
    password: null,
    signingSecret: `whsec_${randomBytes(24).toString('base64')}`,
    previousSecret: null,
    previousSecretExpiresAt: null,
    createdAt: now,
    updatedAt: now,
    controls: DEFAULT_CONTROLS,
  };
  /** A first-attempt message with the stored payload text `payload`. */
  const claimed = (id: string, payload: string): ClaimedMessage => ({
    message: {
      id,
      accountName: registration.accountName,
      serviceName: registration.serviceName,
      payload,
      status: 'delivering',
      attempts: 0,
      maxAttempts: 4,
      nextAttemptAt: null,
      lockedUntil: null,
      reason: null,
      idempotencyKey: null,
      createdAt: now,
      updatedAt: now,
      deliveredAt: null,
    },
    registration,
  });
  return { sender, signer, registration, claimed };
}

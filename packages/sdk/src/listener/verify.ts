import { createHmac, timingSafeEqual } from 'node:crypto';

/** Why a delivery failed verification; a program can switch on it. */
export type WebhookVerificationErrorCode =
  | 'missing_headers'
  | 'invalid_timestamp'
  | 'timestamp_too_old'
  | 'timestamp_in_future'
  | 'invalid_signature'
  | 'invalid_secret';

/** A delivery whose Standard Webhooks headers do not prove it came from the engine. */
export class WebhookVerificationError extends Error {
  override readonly name = 'WebhookVerificationError';
  constructor(
    readonly code: WebhookVerificationErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** The Standard Webhooks headers of one delivery. */
export interface WebhookHeaders {
  /** `webhook-id`: the message id, stable across attempts. */
  id: string | undefined;
  /** `webhook-timestamp`: seconds since the Unix epoch. */
  timestamp: string | undefined;
  /** `webhook-signature`: space-separated `v1,<base64>` signatures. */
  signature: string | undefined;
}

export interface VerifyWebhookOptions {
  /** One secret or several (during a rotation), each `whsec_<base64>` or bare base64. */
  secrets: string | readonly string[];
  /** Largest accepted distance between the timestamp and now, both ways. Default 300. */
  toleranceSeconds?: number;
  /** Current time in milliseconds; for tests. */
  now?: number;
}

const SECRET_PREFIX = 'whsec_';
const TIMESTAMP = /^\d{1,15}$/;

/**
 * Checks a delivery's Standard Webhooks signature and timestamp against the raw body. Accepts when
 * any secret matches any `v1` signature, so deliveries signed with the old or the new secret pass
 * during a rotation. Returns the timestamp as a Date.
 *
 * @throws WebhookVerificationError
 */
export function verifyWebhook(headers: WebhookHeaders, body: string | Uint8Array, options: VerifyWebhookOptions): Date {
  const { id, timestamp, signature } = headers;
  if (!id || !timestamp || !signature) {
    throw new WebhookVerificationError(
      'missing_headers',
      'The webhook-id, webhook-timestamp and webhook-signature headers are required',
    );
  }
  if (!TIMESTAMP.test(timestamp)) {
    throw new WebhookVerificationError('invalid_timestamp', 'webhook-timestamp is not a number of seconds');
  }
  const tolerance = options.toleranceSeconds ?? 300;
  const nowSeconds = Math.floor((options.now ?? Date.now()) / 1000);
  const sentSeconds = Number(timestamp);
  if (nowSeconds - sentSeconds > tolerance) {
    throw new WebhookVerificationError('timestamp_too_old', 'webhook-timestamp is older than the tolerance');
  }
  if (sentSeconds - nowSeconds > tolerance) {
    throw new WebhookVerificationError('timestamp_in_future', 'webhook-timestamp is too far in the future');
  }

  const offered = signature
    .split(' ')
    .filter((entry) => entry.startsWith('v1,'))
    .map((entry) => Buffer.from(entry.slice(3), 'base64'));
  const signedContent = Buffer.concat([Buffer.from(`${id}.${timestamp}.`), toBuffer(body)]);
  let matched = false;
  // Every pair is compared, so the time taken does not reveal which secret or signature matched.
  for (const key of secretKeys(options.secrets)) {
    const expected = createHmac('sha256', key).update(signedContent).digest();
    for (const candidate of offered) {
      if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) matched = true;
    }
  }
  if (!matched) throw new WebhookVerificationError('invalid_signature', 'No signature matches a signing secret');
  return new Date(sentSeconds * 1000);
}

/**
 * The `webhook-signature` value for a delivery: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`.
 * Useful to test a listener.
 */
export function signWebhook(secret: string, id: string, timestamp: number | string, body: string | Uint8Array): string {
  const [key] = secretKeys(secret);
  const hmac = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(toBuffer(body));
  return `v1,${hmac.digest('base64')}`;
}

function secretKeys(secrets: string | readonly string[]): Buffer[] {
  const list = typeof secrets === 'string' ? [secrets] : secrets;
  if (list.length === 0) throw new WebhookVerificationError('invalid_secret', 'No signing secret configured');
  return list.map((secret) => {
    const key = Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, 'base64');
    // Never echo the secret itself: error messages may end up in logs.
    if (key.length === 0)
      throw new WebhookVerificationError('invalid_secret', 'A signing secret is not whsec_<base64>');
    return key;
  });
}

function toBuffer(body: string | Uint8Array): Buffer {
  return typeof body === 'string' ? Buffer.from(body) : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

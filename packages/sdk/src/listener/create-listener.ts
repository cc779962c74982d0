import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isServiceName, type ServiceName } from '../services/catalogue.js';
import type { CallbackMessage, CallbackMessageByService } from '../services/messages.js';
import { type DedupeStore, MemoryDedupeStore } from './dedupe.js';
import { verifyWebhook, WebhookVerificationError } from './verify.js';

/** One delivered callback, as `onMessage` receives it. */
export interface ReceivedCallback<S extends ServiceName | undefined, B> {
  /**
   * `webhook-id`: the message id, stable across attempts. Without that header (deliveries from the
   * original platform) a digest of the body without its attempt counter stands in.
   */
  id: string;
  /** `ccb-account` header; undefined when the sender does not set it. */
  account: string | undefined;
  /** From the `ccb-service` header or the listener's `service` option. */
  service: S;
  /** This attempt's number (`callbackCount`), from 1. */
  attempt: number;
  /** `webhook-timestamp`, or the time of receipt when absent. */
  timestamp: Date;
  /** The parsed body, typed by service. */
  body: B;
}

/**
 * What `onMessage` receives: for a listener bound to one service, that service's message; otherwise a
 * union that narrows on `service` (`undefined` when neither header nor option names a known service).
 */
export type ListenerMessage<S extends ServiceName = ServiceName> =
  | (S extends ServiceName ? ReceivedCallback<S, CallbackMessageByService[S]> : never)
  | ([ServiceName] extends [S] ? ReceivedCallback<undefined, CallbackMessage> : never);

export interface ListenerOptions<S extends ServiceName = ServiceName> {
  /** Expected `username` in the body (as given at registration); checked when username or password is set. */
  username?: string;
  /** Expected `password` in the body. */
  password?: string;
  /** The registration's signing secret(s), `whsec_…`; give old and new during a rotation. */
  signingSecrets?: string | readonly string[];
  /** The service this listener is registered for; types `body`, and messages for another service get 400. */
  service?: S;
  /** Handles one message; the delivery is acknowledged only after it resolves, and retried if it throws. */
  onMessage: (message: ListenerMessage<S>) => void | Promise<void>;
  /** Largest accepted age (or lead) of `webhook-timestamp`, in seconds. Default 300. */
  toleranceSeconds?: number;
  /** Largest accepted body, in bytes. Default 1 MiB. */
  maxBodyBytes?: number;
  /** Where processed ids are remembered; `false` turns de-duplication off. Default: in memory. */
  dedupe?: DedupeStore | false;
  /** Called when a delivery gets 500: `onMessage` threw, or a set-up problem. Default: `console.error` with the message id. */
  onError?: (error: unknown, messageId: string) => void;
  /** Called after a delivery was refused with a 4xx (bad signature or credentials, bad body), with the reason. */
  onRefused?: (refusal: ListenerRefusal) => void;
  /** Called after a duplicate delivery was acknowledged (2xx) without running `onMessage` again. */
  onDuplicate?: (message: ListenerMessage<S>) => void;
}

/** A delivery the listener refused, as `onRefused` receives it. */
export interface ListenerRefusal {
  statusCode: number;
  /** e.g. `SIGNATURE_INVALID`, `CREDENTIALS_INVALID`, `BODY_INVALID`. */
  errorCode: string;
  /** Why, in words (the error message of the answer). */
  reason: string;
  /** `webhook-id`, when the delivery had one. */
  messageId: string | undefined;
}

/** A Node request handler, usable with `http.createServer`, Express and Fastify (see the README). */
export type ListenerHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/** A request as frameworks hand it over, possibly with the body already read. */
type FrameworkRequest = IncomingMessage & { body?: unknown; rawBody?: unknown };

const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** A refusal: the status to answer and a platform-style error body. */
class Refusal extends Error {
  constructor(
    readonly statusCode: number,
    readonly errorCode: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Creates the request handler of a callback listener: it verifies, de-duplicates and parses each
 * delivery, calls `onMessage`, and answers 204 once it resolved (500 if it threw, so the engine retries).
 */
export function createListener<S extends ServiceName = ServiceName>(options: ListenerOptions<S>): ListenerHandler {
  if (typeof options.onMessage !== 'function') throw new TypeError('createListener needs an onMessage function');
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const secrets = normaliseSecrets(options.signingSecrets);
  const credentials = credentialDigests(options);
  const dedupe = options.dedupe === false ? undefined : (options.dedupe ?? new MemoryDedupeStore());
  const onError = options.onError ?? defaultOnError;
  /** Deliveries being processed, so a concurrent duplicate waits for the first outcome instead of running twice. */
  const inFlight = new Map<string, Promise<boolean>>();

  /** Answers 204; `duplicate` is the message when it was a duplicate and `onMessage` did not run. */
  async function receive(req: FrameworkRequest): Promise<{ statusCode: number; duplicate?: ListenerMessage<S> }> {
    if (req.method !== 'POST') throw new Refusal(405, 'METHOD_NOT_ALLOWED', 'Callbacks are delivered with POST');
    const received = await readBody(req, maxBodyBytes);

    const webhookId = header(req, 'webhook-id');
    let timestamp = new Date();
    if (secrets) {
      if (received.raw === undefined) {
        throw new Refusal(
          500,
          'BODY_ALREADY_PARSED',
          'The request body was parsed before the listener; mount it before JSON body parsers so the signature can be checked',
        );
      }
      try {
        timestamp = verifyWebhook(
          { id: webhookId, timestamp: header(req, 'webhook-timestamp'), signature: header(req, 'webhook-signature') },
          received.raw,
          { secrets, toleranceSeconds: options.toleranceSeconds },
        );
      } catch (error) {
        if (error instanceof WebhookVerificationError) throw new Refusal(401, 'SIGNATURE_INVALID', error.message);
        throw error;
      }
    } else {
      const sent = Number(header(req, 'webhook-timestamp'));
      if (Number.isFinite(sent) && sent > 0) timestamp = new Date(sent * 1000);
    }

    const body = received.parsed ?? parseJsonObject(received.raw ?? Buffer.alloc(0));
    if (credentials && !credentialsMatch(credentials, body)) {
      throw new Refusal(401, 'CREDENTIALS_INVALID', 'The username or password in the body does not match');
    }

    const service = resolveService(header(req, 'ccb-service'), options.service);
    const id = webhookId ?? bodyDigest(body);
    const message = {
      id,
      account: header(req, 'ccb-account'),
      service,
      attempt: typeof body.callbackCount === 'number' ? body.callbackCount : 1,
      timestamp,
      body,
    } as unknown as ListenerMessage<S>;

    const pending = inFlight.get(id);
    if (pending) {
      await pending;
      return { statusCode: 204, duplicate: message };
    }
    const processing = handleOnce(id, message);
    inFlight.set(id, processing);
    let handled: boolean;
    try {
      handled = await processing;
    } finally {
      inFlight.delete(id);
    }
    return handled ? { statusCode: 204 } : { statusCode: 204, duplicate: message };
  }

  /** Runs onMessage unless the id was processed before; false for such a duplicate. */
  async function handleOnce(id: string, message: ListenerMessage<S>): Promise<boolean> {
    if (dedupe && (await dedupe.has(id))) return false;
    try {
      await options.onMessage(message);
    } catch (error) {
      onError(error, id);
      throw new Refusal(500, 'HANDLER_FAILED', 'The listener could not process the message');
    }
    // Only a handled message is remembered, so the retry of a failed one runs the handler again.
    if (dedupe) await dedupe.add(id);
    return true;
  }

  return async function callbackListener(req, res) {
    let statusCode: number;
    let errorBody: string | undefined;
    let duplicate: ListenerMessage<S> | undefined;
    let refusal: Refusal | undefined;
    try {
      ({ statusCode, duplicate } = await receive(req));
    } catch (error) {
      refusal =
        error instanceof Refusal
          ? error
          : new Refusal(500, 'LISTENER_ERROR', 'The listener failed to process the request');
      // A handler failure was reported already; other 500s are set-up problems the owner must see.
      if (refusal.statusCode === 500 && refusal.errorCode !== 'HANDLER_FAILED') {
        onError(error, header(req, 'webhook-id') ?? 'unknown');
      }
      statusCode = refusal.statusCode;
      errorBody = JSON.stringify({ errorCode: refusal.errorCode, errorMessage: refusal.message });
    }
    if (res.headersSent || res.writableEnded) return;
    if (statusCode === 405) res.setHeader('allow', 'POST');
    if (errorBody === undefined) {
      res.writeHead(statusCode).end();
    } else {
      res
        .writeHead(statusCode, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(errorBody) })
        .end(errorBody);
    }
    if (duplicate) options.onDuplicate?.(duplicate);
    if (refusal && refusal.statusCode < 500) {
      options.onRefused?.({
        statusCode: refusal.statusCode,
        errorCode: refusal.errorCode,
        reason: refusal.message,
        messageId: header(req, 'webhook-id'),
      });
    }
  };

  function resolveService(fromHeader: string | undefined, fromOption: S | undefined): ServiceName | undefined {
    if (fromOption && fromHeader && fromHeader !== fromOption) {
      throw new Refusal(400, 'SERVICE_MISMATCH', `This listener handles ${fromOption}, not ${fromHeader}`);
    }
    if (fromOption) return fromOption;
    return isServiceName(fromHeader) ? fromHeader : undefined;
  }
}

function defaultOnError(error: unknown, messageId: string): void {
  console.error(`ccb listener: message ${messageId} was not processed (answered 500):`, error);
}

function normaliseSecrets(secrets: string | readonly string[] | undefined): readonly string[] | undefined {
  if (secrets === undefined) return undefined;
  const list = (typeof secrets === 'string' ? [secrets] : [...secrets]).filter((secret) => secret.length > 0);
  if (list.length === 0) throw new TypeError('signingSecrets is empty');
  return list;
}

interface CredentialDigests {
  username: Buffer;
  password: Buffer;
}

/** Digests of the expected credentials: comparing fixed-length digests hides the secrets' lengths too. */
function credentialDigests(options: { username?: string; password?: string }): CredentialDigests | undefined {
  if (options.username === undefined && options.password === undefined) return undefined;
  return { username: sha256(options.username ?? ''), password: sha256(options.password ?? '') };
}

function credentialsMatch(expected: CredentialDigests, body: Record<string, unknown>): boolean {
  const username = typeof body.username === 'string' ? body.username : '';
  const password = typeof body.password === 'string' ? body.password : '';
  const usernameMatches = timingSafeEqual(sha256(username), expected.username);
  const passwordMatches = timingSafeEqual(sha256(password), expected.password);
  return usernameMatches && passwordMatches;
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Stable across retries of one message: the attempt counter is the only key the sender changes. */
function bodyDigest(body: Record<string, unknown>): string {
  const { callbackCount: _attempt, ...stable } = body;
  return `sha256:${createHash('sha256').update(JSON.stringify(stable)).digest('hex')}`;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function parseJsonObject(raw: Buffer): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new Refusal(400, 'BODY_INVALID', 'The body is not valid JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Refusal(400, 'BODY_INVALID', 'The body is not a JSON object');
  }
  return value as Record<string, unknown>;
}

interface ReceivedBody {
  /** The exact bytes, when available: needed for the signature. */
  raw?: Buffer;
  /** The object a framework already parsed, when it consumed the stream. */
  parsed?: Record<string, unknown>;
}

/** Reads the body from the stream, or takes what a framework already read (rawBody, a Buffer or string body). */
async function readBody(req: FrameworkRequest, maxBytes: number): Promise<ReceivedBody> {
  const preRead = req.rawBody ?? req.body;
  if (preRead !== undefined) {
    if (Buffer.isBuffer(preRead) || typeof preRead === 'string') {
      const raw = Buffer.isBuffer(preRead) ? preRead : Buffer.from(preRead);
      if (raw.length > maxBytes) throw tooLarge(maxBytes);
      return { raw };
    }
    if (preRead !== null && typeof preRead === 'object' && !Array.isArray(preRead)) {
      return { parsed: preRead as Record<string, unknown> };
    }
  }

  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(maxBytes);
  return new Promise<ReceivedBody>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const onData = (chunk: Buffer) => {
      length += chunk.length;
      if (length > maxBytes) {
        cleanup();
        // Node discards the unread rest once the response is sent, keeping the connection usable.
        req.resume();
        reject(tooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve({ raw: Buffer.concat(chunks, length) });
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

function tooLarge(maxBytes: number): Refusal {
  return new Refusal(413, 'BODY_TOO_LARGE', `The body is larger than ${maxBytes} bytes`);
}

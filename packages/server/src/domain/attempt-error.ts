/**
 * Why a delivery attempt failed, as a value the retry policy, the metrics and the API switch on
 * (after Svix's `ErrorType`): the kind says what went wrong, the detail says it to a person.
 */
export const ATTEMPT_ERROR_KINDS = [
  /** The listener answered with a status other than 2xx or 3xx. */
  'http_status',
  /** The listener answered 3xx: redirects are never followed. */
  'redirect',
  /** No (complete) response within the attempt timeout: connect, headers or body. */
  'timeout',
  'connection_refused',
  /** The connection was reset or closed before a response arrived. */
  'connection_reset',
  'dns',
  'tls',
  'unreachable',
  /** The response headers were larger than the client reads. */
  'too_large',
  /** The URL guard refused the listener's address (SSRF). */
  'url_guard',
  'invalid_url',
  /** Any other transport failure. */
  'network',
  /** The engine itself failed to build or send the request. */
  'internal',
] as const;

export type AttemptErrorKind = (typeof ATTEMPT_ERROR_KINDS)[number];

export interface AttemptError {
  kind: AttemptErrorKind;
  detail: string;
}

const KINDS = new Set<string>(ATTEMPT_ERROR_KINDS);

/** The text form kept in the message's `reason` and in logs: `kind: detail`. */
export function formatAttemptError(error: AttemptError): string {
  return `${error.kind}: ${error.detail}`;
}

/**
 * Reads back the text form. Records written before errors were typed (`http_500`, `timeout: …`)
 * are read as their kind where one matches, else as `network` with the whole text as detail.
 */
export function parseAttemptError(text: string | null): AttemptError | null {
  if (text === null) return null;
  const colon = text.indexOf(': ');
  const head = colon < 0 ? text : text.slice(0, colon);
  if (KINDS.has(head)) return { kind: head as AttemptErrorKind, detail: colon < 0 ? '' : text.slice(colon + 2) };
  const status = /^http_(\d{3})$/.exec(text);
  if (status) {
    const code = Number(status[1]);
    return { kind: code >= 300 && code < 400 ? 'redirect' : 'http_status', detail: statusDetail(code) };
  }
  return { kind: 'network', detail: text };
}

/** The typed error of a stored attempt; rows from before kinds were stored hold `kind: detail` in `error`. */
export function storedAttemptError(attempt: { errorKind: string | null; error: string | null }): AttemptError | null {
  if (attempt.errorKind !== null && KINDS.has(attempt.errorKind)) {
    return { kind: attempt.errorKind as AttemptErrorKind, detail: attempt.error ?? '' };
  }
  return parseAttemptError(attempt.error);
}

/** The error of an attempt that got a response with `statusCode` (null for a 2xx). */
export function statusError(statusCode: number): AttemptError | null {
  if (statusCode >= 200 && statusCode < 300) return null;
  return { kind: statusCode >= 300 && statusCode < 400 ? 'redirect' : 'http_status', detail: statusDetail(statusCode) };
}

function statusDetail(statusCode: number): string {
  return statusCode >= 300 && statusCode < 400
    ? `the listener answered ${statusCode} (redirects are not followed)`
    : `the listener answered ${statusCode}`;
}

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ErrorCodes, HttpError } from './errors.js';
import { markForTextCheck } from './request-text.js';

/** Deeper JSON is refused: no payload of the platform nests this far, and deep values cost every reader. */
export const MAX_JSON_DEPTH = 64;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The `charset` parameter of a Content-Type header, lower-cased; undefined when there is none. */
function charsetOf(contentType: string | undefined): string | undefined {
  const match = contentType ? /;\s*charset\s*=\s*"?([^";\s]*)"?/i.exec(contentType) : null;
  return match ? match[1].toLowerCase() : undefined;
}

/** A JSON number as sign, significant digits and exponent, so `1.50e2` and `150` compare equal. */
function decimalForm(literal: string): string {
  const match = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(literal);
  if (!match) return literal;
  const fraction = match[3] ?? '';
  const digits = (match[2] + fraction).replace(/^0+/, '');
  if (digits === '') return '0';
  const significant = digits.replace(/0+$/, '');
  const exponent = Number(match[4] ?? 0) - fraction.length + (digits.length - significant.length);
  return `${match[1]}${significant}e${exponent}`;
}

/**
 * Whether a JSON number survives being read as a 64-bit float and written again: `1e400` (Infinity,
 * written as null), `1e-400` (0) and a 23-digit integer do not, and are refused instead of changed.
 */
function roundTrips(literal: string): boolean {
  const value = Number(literal);
  return Number.isFinite(value) && decimalForm(String(value)) === decimalForm(literal);
}

/** JSON text the parser accepts but that would be changed or be costly downstream: too deep, inexact numbers. */
export function inspectJson(text: string): HttpError | null {
  let depth = 0;
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // Skip a string, escapes included.
      i++;
      while (i < length) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i += 2;
        else if (d === 0x22) break;
        else i++;
      }
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > MAX_JSON_DEPTH) {
        return new HttpError(ErrorCodes.requestDepth, `the JSON is nested more than ${MAX_JSON_DEPTH} levels deep`);
      }
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      let end = i + 1;
      let exponent = false;
      while (end < length) {
        const d = text.charCodeAt(end);
        if (d === 0x65 || d === 0x45) exponent = true;
        else if (!((d >= 0x30 && d <= 0x39) || d === 0x2e || d === 0x2b || d === 0x2d)) break;
        end++;
      }
      // Up to 15 significant digits always survive a 64-bit float; only longer or scaled numbers need a look.
      if (exponent || end - i > 15) {
        const literal = text.slice(i, end);
        if (!roundTrips(literal)) {
          return new HttpError(
            ErrorCodes.requestNumber,
            `the number ${literal.length > 40 ? `${literal.slice(0, 40)}…` : literal} cannot be kept exactly ` +
              '(JSON numbers are read as 64-bit floating point); send it as a string',
          );
        }
      }
      i = end - 1;
    }
  }
  return null;
}

/** The any-type Content-Type (star slash star), which some generated SDKs send with a JSON body. */
function isAnyType(contentType: string | undefined): boolean {
  return contentType !== undefined && /^\s*\*\/\*\s*(;|$)/.test(contentType);
}

/**
 * The API's body parsers: JSON only, read as strict UTF-8, with no other charset; an empty body is "no
 * body" whatever its Content-Type (the platform's docs send `Content-Type: application/json` on GET and
 * DELETE, and axios adds a form type to every bare POST); the any-type is read as JSON; any other non-empty
 * body is 415. A request that no route serves is not read at all: it gets its 404 or 405 whatever
 * its body (Fastify runs the parser before the not-found handler).
 */
export function installBodyParsers(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  const readJson = (request: FastifyRequest, bytes: Buffer, done: (error: Error | null, body?: unknown) => void) => {
    if (request.is404) {
      done(null, undefined);
      return;
    }
    const charset = charsetOf(request.headers['content-type']);
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
      done(
        new HttpError(ErrorCodes.contentType, `charset "${charset}" is not read here; send the JSON as UTF-8`),
        undefined,
      );
      return;
    }
    if (bytes.length === 0) {
      done(null, undefined);
      return;
    }
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch {
      done(new HttpError(ErrorCodes.requestEncoding, 'the request body is not valid UTF-8'), undefined);
      return;
    }
    const problem = inspectJson(text);
    if (problem) {
      done(problem, undefined);
      return;
    }
    // Valid UTF-8 has no lone surrogate, and JSON text no raw NUL: only a \u escape can bring either,
    // so only such bodies are walked (request-text.ts).
    if (!text.includes('\\u')) {
      parseJson(request, text, done);
      return;
    }
    parseJson(request, text, (error, value) => {
      if (!error) markForTextCheck(value);
      done(error, value);
    });
  };
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) =>
    readJson(request, body as Buffer, done),
  );
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (request, body, done) => {
    const bytes = body as Buffer;
    if (request.is404 || bytes.length === 0) done(null, undefined);
    else if (isAnyType(request.headers['content-type'])) readJson(request, bytes, done);
    else done(new HttpError(ErrorCodes.contentType, 'the request body must be sent as application/json'), undefined);
  });
}

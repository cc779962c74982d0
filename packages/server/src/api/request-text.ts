import type { FastifyInstance } from 'fastify';
import { ErrorCodes, HttpError } from './errors.js';

/** A lone surrogate: with the `u` flag a well-formed pair is one code point and does not match. */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * The one rule for text in a request, on every route and both backends alike: no U+0000 (PostgreSQL
 * refuses it in text and JSON, SQLite would keep it) and no lone surrogate (not well-formed Unicode:
 * written as UTF-8 it would become U+FFFD, so two idempotency keys that differ only there would
 * collapse into one). Such text is refused with 400, never changed. Returns what is wrong, or null.
 */
export function textProblem(text: string): string | null {
  if (text.includes('\u0000')) return 'contains the character U+0000 (NUL), which is not accepted';
  if (LONE_SURROGATE.test(text)) {
    return 'contains a lone surrogate (\\ud800-\\udfff without its pair, not well-formed Unicode), which is not accepted';
  }
  return null;
}

/** Where a string that breaks the rule is: its field path (`payload.note`, `messages[2].idempotencyKey`). */
export interface TextProblem {
  path: string;
  /** The string is a key of the object at `path`. */
  key: boolean;
  problem: string;
}

/** The first string (value or key) in `value` that breaks the rule; `path` is where `value` sits. */
export function findTextProblem(value: unknown, path = ''): TextProblem | null {
  if (typeof value === 'string') {
    const problem = textProblem(value);
    return problem ? { path, key: false, problem } : null;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findTextProblem(value[i], `${path}[${i}]`);
      if (found) return found;
    }
    return null;
  }
  if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      const keyProblem = textProblem(key);
      if (keyProblem) return { path, key: true, problem: keyProblem };
      const found = findTextProblem(item, path ? `${path}.${key}` : key);
      if (found) return found;
    }
  }
  return null;
}

/** The 400 for text that breaks the rule; `part` is the part of the request it was found in. */
export function textError(found: TextProblem, part: 'body' | 'path' | 'query' | 'credentials'): HttpError {
  // A wildcard route's whole path is its parameter `*`.
  const named = found.path && !(part === 'path' && found.path === '*');
  const where = named ? `${part === 'body' ? '' : `${part} `}${found.path}` : `the ${part}`;
  return new HttpError(ErrorCodes.requestEncoding, `${found.key ? `a key in ${where}` : where} ${found.problem}`);
}

/** Parsed JSON bodies whose text had a `\u` escape: the only ones that can hold NUL or a lone surrogate. */
const escapedBodies = new WeakSet<object>();

/** Called by the JSON parser for a body whose text has a `\u` escape. */
export function markForTextCheck(body: unknown): void {
  if (body !== null && typeof body === 'object') escapedBodies.add(body);
}

/**
 * Applies the rule to the path parameters and the query (percent-decoded), to form bodies and to JSON
 * bodies with escapes, after schema validation: a field with a rule of its own (an account name, a
 * registration's username or URL) keeps its own error code, and everything else that would reach a
 * store with such text gets this 400.
 */
export function installRequestTextRule(app: FastifyInstance): void {
  app.addHook('preHandler', (request, _reply, done) => {
    const inPath = findTextProblem(request.params);
    if (inPath) return done(textError(inPath, 'path'));
    const inQuery = findTextProblem(request.query);
    if (inQuery) return done(textError(inQuery, 'query'));
    const body = request.body;
    const form = request.headers['content-type']?.startsWith('application/x-www-form-urlencoded') === true;
    if (form || (body !== null && typeof body === 'object' && escapedBodies.has(body))) {
      const inBody = findTextProblem(body);
      if (inBody) return done(textError(inBody, 'body'));
    }
    done();
  });
}

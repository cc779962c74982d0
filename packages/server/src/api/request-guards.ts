import type { FastifyInstance } from 'fastify';
import { ErrorCodes, HttpError } from './errors.js';

/** Longer URLs get 414; none of the API's is near this. Node refuses headers over 16 KiB in all (431). */
export const MAX_URL_LENGTH = 8 * 1024;

/**
 * Checks Node leaves to the application, made before routing, and the shutdown answer, in the
 * envelope: a server that is closing answers 503, an HTTP/1.1 request needs `Host`, a URL has a length
 * limit.
 */
export function installRequestGuards(app: FastifyInstance): void {
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  // Synchronous (no promise per request): it runs on every request.
  app.addHook('onRequest', (request, _reply, done) => {
    if (closing) {
      throw new HttpError(ErrorCodes.unavailable, 'the server is shutting down; try again', {
        headers: { connection: 'close', 'retry-after': '1' },
      });
    }
    if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) {
      throw new HttpError(ErrorCodes.missingHost, 'an HTTP/1.1 request needs a Host header');
    }
    if (request.url.length > MAX_URL_LENGTH) {
      throw new HttpError(ErrorCodes.uriTooLong, `the URL is longer than ${MAX_URL_LENGTH} characters`);
    }
    done();
  });
}

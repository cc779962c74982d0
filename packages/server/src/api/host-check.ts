import type { FastifyInstance } from 'fastify';
import { ErrorCodes, HttpError } from './errors.js';

/**
 * The host name of a Host header, lower-case, without its port or a trailing dot:
 * `LocalHost.:8080` → `localhost`, `[::1]:8080` → `[::1]`.
 */
export function hostNameOf(header: string): string {
  const value = header.trim().toLowerCase();
  const name = value.startsWith('[') ? value.slice(0, value.indexOf(']') + 1) : value.replace(/:\d*$/, '');
  return name.endsWith('.') ? name.slice(0, -1) : name;
}

/** Whether `name` is one of `allowed`: an exact name, or `*.example.com` for its subdomains. */
export function hostAllowed(name: string, allowed: readonly string[]): boolean {
  for (const entry of allowed) {
    if (entry === name) return true;
    if (entry.startsWith('*.') && name.endsWith(entry.slice(1)) && name.length > entry.length - 1) return true;
  }
  return false;
}

/**
 * Answers only requests addressed to an allowed host name (CCB_ALLOWED_HOSTS; in the dev profile the
 * loopback names). A page on another site that rebinds its own name to 127.0.0.1 (DNS rebinding) still
 * sends its own name as Host, so it cannot drive the server or read /ui/profile.json. A request
 * without Host (HTTP/1.0) comes from no browser and passes; HTTP/1.1 without one is refused earlier.
 */
export function installHostCheck(app: FastifyInstance, allowed: readonly string[] | null): void {
  if (allowed === null) return;
  const list = allowed.join(', ');
  // Synchronous (no promise per request): it runs on every request.
  app.addHook('onRequest', (request, _reply, done) => {
    const host = request.headers.host;
    if (host !== undefined && !hostAllowed(hostNameOf(host), allowed)) {
      throw new HttpError(
        ErrorCodes.missingHost,
        `this server does not answer to the host name in the Host header; allowed: ${list} (CCB_ALLOWED_HOSTS)`,
      );
    }
    done();
  });
}

import { promises as dns, type LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import type { UrlGuard } from './url-guard.js';

/** Resolves a host name to every address it has (dns.lookup with `all`; replaced in tests). */
export type Resolver = (hostname: string) => Promise<LookupAddress[]>;

export const systemResolver: Resolver = (hostname) => dns.lookup(hostname, { all: true, verbatim: true });

/** The error code of a connection the URL guard refused (classified as `url_guard`). */
export const GUARD_ERROR = 'CCB_URL_GUARD';

class GuardError extends Error {
  readonly code = GUARD_ERROR;
}

/**
 * A `net.connect` lookup: resolve, keep only the addresses the guard accepts, refuse when none is
 * left. Both transports connect through it, so a DNS answer cannot change between the check and the
 * connect.
 */
export function guardedLookup(guard: UrlGuard, resolve: Resolver): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname).then(
      (addresses) => {
        const accepted: LookupAddress[] = [];
        let refusal: string | null = null;
        for (const entry of addresses) {
          const reason = guard.checkAddress(entry.address);
          if (reason === null) accepted.push(entry);
          else refusal ??= reason;
        }
        if (accepted.length === 0) {
          const error = refusal
            ? new GuardError(refusal)
            : Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' });
          callback(error, '', 0);
        } else if (options.all) {
          callback(null, accepted);
        } else {
          callback(null, accepted[0].address, accepted[0].family);
        }
      },
      (error: NodeJS.ErrnoException) => callback(error, '', 0),
    );
  };
}

import ipaddr from 'ipaddr.js';
import { LRUCache } from 'lru-cache';
import type { Config } from '../config.js';

export interface UrlGuardOptions {
  /** Ports a listener URL may use; null = any. */
  allowedPorts: Set<number> | null;
  allowLoopback: boolean;
  allowPrivate: boolean;
}

const MAX_URL_LENGTH = 2048;
/** Listeners re-register the same few URLs, so the verdicts on recent ones are kept (options never change). */
const CHECK_CACHE_MAX_ENTRIES = 1_000;
// C0 controls, space, DEL, C1 controls and Unicode spaces: the WHATWG parser would silently strip or
// encode some of these, so the URL stored would differ from the one the user typed.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const FORBIDDEN_CHARACTERS = /[\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff]/;

/** How each ipaddr.js range reads in an error message. Anything else but `unicast` is refused too. */
const RANGE_DESCRIPTIONS: Record<string, string> = {
  loopback: 'a loopback address',
  private: 'a private (RFC 1918) address',
  uniqueLocal: 'a private (unique local, fc00::/7) address',
  carrierGradeNat: 'a shared (100.64.0.0/10) address',
  linkLocal: 'a link-local address',
  multicast: 'a multicast address',
  unspecified: 'an unspecified address',
  broadcast: 'a broadcast address',
  reserved: 'a reserved address',
};

/**
 * The SSRF guard (SPEC §5): decides which listener URLs may be registered and which resolved
 * addresses the delivery engine may connect to.
 */
export class UrlGuard {
  private readonly portList: string;
  private readonly checked = new LRUCache<string, { problem: string | null }>({ max: CHECK_CACHE_MAX_ENTRIES });

  constructor(private readonly options: UrlGuardOptions) {
    this.portList = options.allowedPorts ? describePorts(options.allowedPorts) : 'any';
  }

  /** The guard that the configuration asks for (the registration API and the delivery engine use the same rules). */
  static fromConfig(config: Pick<Config, 'allowedPorts' | 'allowLoopback' | 'allowPrivateTargets'>): UrlGuard {
    return new UrlGuard({
      allowedPorts: config.allowedPorts,
      allowLoopback: config.allowLoopback,
      allowPrivate: config.allowPrivateTargets,
    });
  }

  /** Registration time: null when acceptable, else a message saying why (names the allowed ports on a port error). */
  checkUrl(url: string): string | null {
    const known = this.checked.get(url);
    if (known !== undefined) return known.problem;
    const problem = this.judgeUrl(url);
    if (url.length <= MAX_URL_LENGTH) this.checked.set(url, { problem });
    return problem;
  }

  private judgeUrl(url: string): string | null {
    if (url.length > MAX_URL_LENGTH) return `url must be at most ${MAX_URL_LENGTH} characters`;
    if (FORBIDDEN_CHARACTERS.test(url)) return 'url must not contain whitespace or control characters';
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return 'url must be an absolute http or https URL';
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      return 'url must be an absolute http or https URL';
    }
    if (parsed.username || parsed.password || authorityOf(url).includes('@')) {
      return 'url must not contain credentials (user:password@); register username and password separately';
    }
    const port = parsed.port ? Number(parsed.port) : parsed.protocol === 'https:' ? 443 : 80;
    if (this.options.allowedPorts && !this.options.allowedPorts.has(port)) {
      return `url port ${port} is not allowed; allowed ports are ${this.portList}`;
    }
    return this.checkHost(parsed.hostname);
  }

  /** Delivery time: null when this resolved IP address may be contacted, else the reason (e.g. "127.0.0.1 is a loopback address"). */
  checkAddress(address: string): string | null {
    const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
    if (!ipaddr.isValid(bare)) return `${address} is not an IP address`;
    // process() unwraps IPv4-mapped IPv6 (::ffff:7f00:1 → 127.0.0.1) so it is judged as IPv4.
    const ip = ipaddr.process(bare);
    const range = rangeOf(ip);
    if (range === 'unicast') return null;
    if (range === 'loopback' && this.options.allowLoopback) return null;
    if ((range === 'private' || range === 'uniqueLocal') && this.options.allowPrivate) return null;
    const description = RANGE_DESCRIPTIONS[range] ?? `a special-purpose (${range}) address`;
    return `${ip.toString()} is ${description}`;
  }

  private checkHost(hostname: string): string | null {
    if (hostname.startsWith('[')) return this.checkAddress(hostname.slice(1, -1));
    if (ipaddr.IPv4.isValidFourPartDecimal(hostname)) return this.checkAddress(hostname);
    const name = hostname.toLowerCase().replace(/\.$/, '');
    if ((name === 'localhost' || name.endsWith('.localhost')) && !this.options.allowLoopback) {
      return `${hostname} is a loopback address`;
    }
    return null;
  }
}

/** ipaddr's range, with IPv4-compatible IPv6 (::a.b.c.d, deprecated) counted as reserved. */
function rangeOf(ip: ipaddr.IPv4 | ipaddr.IPv6): string {
  const range = ip.range();
  if (ip.kind() === 'ipv6' && range === 'unicast') {
    const parts = (ip as ipaddr.IPv6).parts;
    if (parts.slice(0, 6).every((p) => p === 0)) return 'reserved';
  }
  return range;
}

/** The raw authority (between `//` and the path), to catch an empty `@` the URL parser drops. */
function authorityOf(url: string): string {
  const start = url.indexOf('//');
  if (start < 0) return '';
  const rest = url.slice(start + 2);
  const end = rest.search(/[/?#\\]/);
  return end < 0 ? rest : rest.slice(0, end);
}

/** `80, 443, 9001-9006, …` from a set of ports. */
export function describePorts(ports: Set<number>): string {
  const sorted = [...ports].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; i++) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    parts.push(j > i ? `${sorted[i]}-${sorted[j]}` : `${sorted[i]}`);
    i = j;
  }
  return parts.join(', ');
}

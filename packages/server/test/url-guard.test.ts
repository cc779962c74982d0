import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseAllowedPorts } from '../src/config.js';
import { UrlGuard } from '../src/delivery/url-guard.js';

const defaultPorts = parseAllowedPorts('80,443,9001-9006,50551-50559,28200-28220');
const strict = new UrlGuard({ allowedPorts: defaultPorts, allowLoopback: false, allowPrivate: false });
const anyPort = new UrlGuard({ allowedPorts: null, allowLoopback: false, allowPrivate: false });

/** The ways an IPv4 address can be written in a URL host that the WHATWG parser accepts. */
function spellings([a, b, c, d]: number[]): string[] {
  const value = ((a << 24) >>> 0) + (b << 16) + (c << 8) + d;
  const hex = (n: number) => `0x${n.toString(16)}`;
  const octal = (n: number) => `0${n.toString(8)}`;
  return [
    `${a}.${b}.${c}.${d}`,
    `${value}`,
    `${hex(value)}`,
    [a, b, c, d].map(hex).join('.'),
    [a, b, c, d].map(octal).join('.'),
    `${a}.${(b << 16) + (c << 8) + d}`,
    `${hex(a)}.${b}.${c}.${d}`,
    `[::ffff:${a}.${b}.${c}.${d}]`,
    `[::ffff:${((a << 8) + b).toString(16)}:${((c << 8) + d).toString(16)}]`,
  ];
}

describe('UrlGuard.checkUrl', () => {
  it('accepts absolute http and https URLs on allowed ports', () => {
    assert.equal(strict.checkUrl('https://hooks.example.net/vz/carrier'), null);
    assert.equal(strict.checkUrl('http://hooks.example.net:9003/vz/usage?x=1'), null);
    assert.equal(strict.checkUrl('https://93.184.216.34:50555/cb'), null);
    assert.equal(strict.checkUrl('http://[2606:4700::1111]:28210/'), null);
  });

  it('refuses relative URLs and schemes other than http and https', () => {
    for (const url of ['/callbacks', 'hooks.example.net/x', 'ftp://hooks.example.net/', 'file:///etc/passwd', '']) {
      assert.match(strict.checkUrl(url) ?? '', /absolute http or https/, url);
    }
  });

  it('refuses URLs longer than 2048 characters', () => {
    const url = `https://hooks.example.net/${'a'.repeat(2048)}`;
    assert.match(strict.checkUrl(url) ?? '', /2048/);
    assert.equal(strict.checkUrl(`https://hooks.example.net/${'a'.repeat(2000)}`), null);
  });

  it('refuses embedded credentials, even an empty user part', () => {
    for (const url of [
      'https://user:pw@hooks.example.net/',
      'https://user@hooks.example.net/',
      'https://@hooks.example.net/',
    ]) {
      assert.match(strict.checkUrl(url) ?? '', /credentials/, url);
    }
  });

  it('refuses whitespace and control characters anywhere in the URL', () => {
    for (const url of [
      ' https://a.example/',
      'https://a.example/ x',
      'https://a.example/\tx',
      'https://a.example/\nx',
      'https://a.example/\u0000',
      'https://a.example/\u007f',
      'https://a.example/\u00a0',
    ]) {
      assert.match(strict.checkUrl(url) ?? '', /whitespace or control/, JSON.stringify(url));
    }
  });

  it('refuses ports outside the allowed list and names the allowed ports', () => {
    const message = strict.checkUrl('https://hooks.example.net:8443/x');
    assert.equal(
      message,
      'url port 8443 is not allowed; allowed ports are 80, 443, 9001-9006, 28200-28220, 50551-50559',
    );
    assert.match(strict.checkUrl('http://hooks.example.net:9007/') ?? '', /port 9007/);
    assert.match(strict.checkUrl('http://hooks.example.net:50569/') ?? '', /port 50569/);
  });

  it('applies the scheme default port when none is given', () => {
    const only443 = new UrlGuard({ allowedPorts: new Set([443]), allowLoopback: false, allowPrivate: false });
    assert.equal(only443.checkUrl('https://hooks.example.net/'), null);
    assert.match(only443.checkUrl('http://hooks.example.net/') ?? '', /port 80 is not allowed; allowed ports are 443/);
  });

  it('accepts any port when the allowed ports are lifted', () => {
    assert.equal(anyPort.checkUrl('https://hooks.example.net:8443/x'), null);
  });

  it('refuses localhost names as loopback unless loopback is allowed', () => {
    for (const url of ['http://localhost/', 'http://LOCALHOST./', 'http://api.localhost:9001/']) {
      assert.match(strict.checkUrl(url) ?? '', /loopback/, url);
    }
    const dev = new UrlGuard({ allowedPorts: defaultPorts, allowLoopback: true, allowPrivate: false });
    assert.equal(dev.checkUrl('http://localhost:9001/'), null);
    assert.equal(dev.checkUrl('http://127.0.0.1:9001/'), null);
    assert.match(dev.checkUrl('http://10.0.0.1:9001/') ?? '', /private/);
  });

  it('refuses loopback in every spelling: decimal, hex, octal, IPv4-mapped IPv6', () => {
    const urls = [
      'http://2130706433/',
      'http://0x7f000001/',
      'http://0x7f.1/',
      'http://0177.0.0.1/',
      'http://127.1/',
      'http://127.0.0.1./',
      'http://[::1]/',
      'http://[::ffff:127.0.0.1]/',
      'http://[::ffff:7f00:1]/',
      'http://[0:0:0:0:0:ffff:7f00:1]/',
    ];
    for (const url of urls) assert.match(strict.checkUrl(url) ?? '', /loopback/, url);
  });

  it('refuses the metadata address, private, shared, link-local, multicast, unspecified and reserved ranges', () => {
    const cases: [string, RegExp][] = [
      ['http://169.254.169.254/latest/meta-data/', /link-local/],
      ['http://[fe80::1]/', /link-local/],
      ['http://10.1.2.3/', /private/],
      ['http://172.16.0.1/', /private/],
      ['http://192.168.1.1/', /private/],
      ['http://[fc00::1]/', /private/],
      ['http://[fd12:3456::1]/', /private/],
      ['http://100.64.0.1/', /shared/],
      ['http://100.127.255.254/', /shared/],
      ['http://224.0.0.1/', /multicast/],
      ['http://[ff02::1]/', /multicast/],
      ['http://0.0.0.0/', /unspecified/],
      ['http://0/', /unspecified/],
      ['http://[::]/', /unspecified/],
      ['http://255.255.255.255/', /broadcast/],
      ['http://240.0.0.1/', /reserved/],
      ['http://192.0.2.10/', /reserved/],
      ['http://[2001:db8::1]/', /reserved/],
      ['http://[::7f00:1]/', /reserved/],
      ['http://[64:ff9b::7f00:1]/', /special-purpose/],
      ['http://0xa9fea9fe/', /link-local/],
    ];
    for (const [url, reason] of cases) assert.match(strict.checkUrl(url) ?? '', reason, url);
  });

  it('allows private ranges, and only those, when private targets are allowed', () => {
    const onPremise = new UrlGuard({ allowedPorts: null, allowLoopback: false, allowPrivate: true });
    assert.equal(onPremise.checkUrl('http://10.120.102.147:50569/CallbackListener/Carrier.asmx'), null);
    assert.equal(onPremise.checkUrl('http://[fd00::5]/'), null);
    assert.match(onPremise.checkUrl('http://127.0.0.1/') ?? '', /loopback/);
    assert.match(onPremise.checkUrl('http://169.254.169.254/') ?? '', /link-local/);
    assert.match(onPremise.checkUrl('http://100.64.0.1/') ?? '', /shared/);
  });

  it('judges every spelling of an IPv4 address the same as its dotted form (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }), (octets) => {
        const expected = anyPort.checkAddress(octets.join('.')) === null;
        for (const host of spellings(octets)) {
          assert.equal(anyPort.checkUrl(`http://${host}/`) === null, expected, `${host} vs ${octets.join('.')}`);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('refuses every spelling of every loopback and link-local address (property)', () => {
    const special = fc.oneof(
      fc.tuple(fc.constant(127), fc.nat(255), fc.nat(255), fc.nat(255)),
      fc.tuple(fc.constant(169), fc.constant(254), fc.nat(255), fc.nat(255)),
      fc.tuple(fc.constant(10), fc.nat(255), fc.nat(255), fc.nat(255)),
    );
    fc.assert(
      fc.property(special, (octets) => {
        for (const host of spellings(octets)) assert.notEqual(anyPort.checkUrl(`http://${host}/`), null, host);
      }),
      { numRuns: 200 },
    );
  });
});

describe('UrlGuard.checkAddress', () => {
  it('names the range of a refused address', () => {
    assert.equal(strict.checkAddress('127.0.0.1'), '127.0.0.1 is a loopback address');
    assert.equal(strict.checkAddress('::ffff:127.0.0.1'), '127.0.0.1 is a loopback address');
    assert.equal(strict.checkAddress('169.254.169.254'), '169.254.169.254 is a link-local address');
  });

  it('accepts public unicast addresses', () => {
    for (const address of ['93.184.216.34', '8.8.8.8', '2606:4700::1111', '::ffff:8.8.8.8']) {
      assert.equal(strict.checkAddress(address), null, address);
    }
  });

  it('refuses what is not an IP address', () => {
    assert.match(strict.checkAddress('example.com') ?? '', /not an IP address/);
  });
});

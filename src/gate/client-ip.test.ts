import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import ipaddr from 'ipaddr.js';
import { CLOUDFLARE_IPV4, CLOUDFLARE_IPV6 } from '../core/cdn.ts';
import { canonicalIp, createClientIpResolver, forwardedAddress } from './client-ip.ts';

describe('canonicalIp', () => {
  const cases: [string, string | undefined][] = [
    ['203.0.113.7', '203.0.113.7'],
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['::FFFF:cb00:7107', '203.0.113.7'],
    ['0:0:0:0:0:ffff:203.0.113.7', '203.0.113.7'],
    ['2001:DB8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8::', '2001:db8::'],
    ['::', '::'],
    ['::1', '::1'],
    ['[2001:db8::1]', '2001:db8::1'],
    ['fe80::1%eth0', 'fe80::1'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['1:0:0:4:0:0:0:8', '1:0:0:4::8'],
    ['::1.2.3.4', '::102:304'],
    ['2001:db8::1.2.3.4', '2001:db8::102:304'],
    ['010.0.0.1', undefined],
    ['1.2.3', undefined],
    ['256.0.0.1', undefined],
    ['[1.2.3.4]', undefined],
    ['1:2:3:4:5:6:7:8:9', undefined],
    ['1::2::3', undefined],
    [':1', undefined],
    ['1:', undefined],
    ['12345::', undefined],
    ['::g', undefined],
    ['1.2.3.4:80', undefined],
    ['fe80::1%', undefined],
    ['', undefined],
    ['unknown', undefined],
    ['1:2:3:4:5:6:7:1.2.3.4', undefined],
  ];
  for (const [text, expected] of cases) {
    it(`${JSON.stringify(text)} → ${expected}`, () => assert.equal(canonicalIp(text), expected));
  }

  it('agrees with ipaddr.js on random IPv6 addresses written every way', () => {
    let state = 42;
    const next = (): number => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return state >>> 16;
    };
    for (let n = 0; n < 2000; n++) {
      const parts = Array.from({ length: 8 }, () => (next() % 4 === 0 ? 0 : next()));
      const address = ipaddr.fromByteArray(parts.flatMap((p) => [p >> 8, p & 255])) as ipaddr.IPv6;
      const expected = address.isIPv4MappedAddress()
        ? address.toIPv4Address().toString()
        : address.toRFC5952String();
      assert.equal(canonicalIp(address.toNormalizedString()), expected);
      assert.equal(canonicalIp(address.toRFC5952String().toUpperCase()), expected);
      assert.equal(canonicalIp(parts.map((p) => p.toString(16).padStart(4, '0')).join(':')), expected);
    }
  });
});

describe('forwardedAddress', () => {
  it('takes addresses with ports, brackets and quotes as proxies write them', () => {
    assert.equal(forwardedAddress(' 198.51.100.7 '), '198.51.100.7');
    assert.equal(forwardedAddress('198.51.100.7:51234'), '198.51.100.7');
    assert.equal(forwardedAddress('[2001:db8::7]:443'), '2001:db8::7');
    assert.equal(forwardedAddress('"[2001:db8::7]"'), '2001:db8::7');
    assert.equal(forwardedAddress('unknown'), undefined);
    assert.equal(forwardedAddress('_hidden'), undefined);
    assert.equal(forwardedAddress('2001:db8::7:443x'), undefined);
  });
});

describe('createClientIpResolver', () => {
  it('uses the socket address when no proxy is trusted, whatever the headers say', () => {
    const resolver = createClientIpResolver({ trustProxies: [], cdnOnly: false });
    const headers = { 'x-forwarded-for': '1.1.1.1', 'cf-connecting-ip': '2.2.2.2' };
    assert.equal(resolver.resolve('::ffff:203.0.113.9', headers), '203.0.113.9');
    assert.equal(resolver.resolve('2001:db8::9', headers), '2001:db8::9');
    assert.equal(resolver.acceptsPeer('203.0.113.9'), true);
  });

  const resolver = createClientIpResolver({
    trustProxies: ['10.0.0.0/8', '2001:db8:ffff::/48'],
    cdnOnly: false,
  });

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy', () => {
    assert.equal(resolver.resolve('203.0.113.9', { 'x-forwarded-for': '198.51.100.7' }), '203.0.113.9');
  });

  it('walks X-Forwarded-For from the right past trusted proxies, never trusting the left-most', () => {
    const headers = { 'x-forwarded-for': '6.6.6.6, 198.51.100.7, 10.1.1.1, 10.2.2.2' };
    assert.equal(resolver.resolve('10.0.0.1', headers), '198.51.100.7');
    assert.equal(resolver.resolve('::ffff:10.0.0.1', headers), '198.51.100.7');
    assert.equal(
      resolver.resolve('2001:db8:ffff::1', { 'x-forwarded-for': '2001:db8::7, 10.9.9.9' }),
      '2001:db8::7',
    );
  });

  it('combines several X-Forwarded-For headers in order', () => {
    const headers = { 'x-forwarded-for': ['6.6.6.6, 198.51.100.7', '10.1.1.1'] };
    assert.equal(resolver.resolve('10.0.0.1', headers), '198.51.100.7');
  });

  it('stops at the last trusted hop when an entry is not an address', () => {
    assert.equal(
      resolver.resolve('10.0.0.1', { 'x-forwarded-for': '198.51.100.7, garbage, 10.1.1.1' }),
      '10.1.1.1',
    );
    assert.equal(resolver.resolve('10.0.0.1', { 'x-forwarded-for': 'garbage' }), '10.0.0.1');
  });

  it('takes the left-most entry when every hop is trusted, and the peer when there is no header', () => {
    assert.equal(resolver.resolve('10.0.0.1', { 'x-forwarded-for': '10.3.3.3, 10.2.2.2' }), '10.3.3.3');
    assert.equal(resolver.resolve('10.0.0.1', {}), '10.0.0.1');
    assert.equal(resolver.resolve('10.0.0.1', { 'x-forwarded-for': ' , ' }), '10.0.0.1');
  });

  it('accepts entries with ports', () => {
    assert.equal(resolver.resolve('10.0.0.1', { 'x-forwarded-for': '198.51.100.7:4711' }), '198.51.100.7');
  });

  it('refuses bad trustProxies entries with the key named', () => {
    assert.throws(
      () => createClientIpResolver({ trustProxies: ['10.0.0.0/33'], cdnOnly: false }),
      /gate\.trustProxies/,
    );
  });
});

describe('createClientIpResolver: CDN-only', () => {
  const cdnRanges = [...CLOUDFLARE_IPV4, ...CLOUDFLARE_IPV6];
  const resolver = createClientIpResolver({ trustProxies: [], cdnOnly: true, cdnRanges });
  const edge = '173.245.48.10';

  it('accepts only peers in the CDN ranges', () => {
    assert.equal(resolver.acceptsPeer(edge), true);
    assert.equal(resolver.acceptsPeer('::ffff:173.245.48.10'), true);
    assert.equal(resolver.acceptsPeer('2606:4700::1'), true);
    assert.equal(resolver.acceptsPeer('203.0.113.9'), false);
  });

  it('takes CF-Connecting-IP from a CDN peer, validated', () => {
    assert.equal(resolver.resolve(edge, { 'cf-connecting-ip': '198.51.100.7' }), '198.51.100.7');
    assert.equal(resolver.resolve(edge, { 'cf-connecting-ip': ' 2001:DB8::7 ' }), '2001:db8::7');
    assert.equal(resolver.resolve(edge, { 'cf-connecting-ip': 'not-an-ip' }), edge);
    assert.equal(resolver.resolve(edge, { 'cf-connecting-ip': '1.1.1.1, 2.2.2.2' }), edge);
    assert.equal(resolver.resolve(edge, {}), edge);
  });

  it('never believes CF-Connecting-IP from a peer outside the CDN', () => {
    assert.equal(resolver.resolve('203.0.113.9', { 'cf-connecting-ip': '198.51.100.7' }), '203.0.113.9');
  });

  it('behind a trusted load balancer, checks the edge it names and then takes CF-Connecting-IP', () => {
    const behind = createClientIpResolver({ trustProxies: ['10.0.0.0/8'], cdnOnly: true, cdnRanges });
    assert.equal(behind.acceptsPeer('10.0.0.2'), true);
    const headers = { 'x-forwarded-for': `6.6.6.6, ${edge}`, 'cf-connecting-ip': '198.51.100.7' };
    assert.equal(behind.edge('10.0.0.2', headers), edge);
    assert.equal(behind.edgeIsCdn(behind.edge('10.0.0.2', headers)), true);
    assert.equal(behind.resolve('10.0.0.2', headers), '198.51.100.7');
    const direct = { 'x-forwarded-for': '203.0.113.9', 'cf-connecting-ip': '198.51.100.7' };
    assert.equal(behind.edgeIsCdn(behind.edge('10.0.0.2', direct)), false);
    assert.equal(behind.resolve('10.0.0.2', direct), '203.0.113.9');
  });

  it('refuses an empty range list', () => {
    assert.throws(() => createClientIpResolver({ trustProxies: [], cdnOnly: true, cdnRanges: [] }), /empty/);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseIpv4 } from '../core/ip.ts';
import { addressRange, createCidrSet, formatRange, parseRange, widenRange } from './cidr-set.ts';

describe('parseIpv4', () => {
  const cases: [string, number][] = [
    ['0.0.0.0', 0],
    ['1.2.3.4', 0x01020304],
    ['255.255.255.255', 0xffffffff],
    ['203.0.113.7', 0xcb007107],
    ['1.2.3', -1],
    ['1.2.3.4.5', -1],
    ['256.1.1.1', -1],
    ['01.2.3.4', -1],
    ['1..3.4', -1],
    ['1.2.3.4 ', -1],
    ['::1', -1],
    ['', -1],
    ['a.b.c.d', -1],
    ['1.2.3.\u0000', -1],
  ];
  for (const [text, expected] of cases) {
    it(`reads ${JSON.stringify(text)} as ${expected}`, () => assert.equal(parseIpv4(text), expected));
  }
  it('refuses a 1 MB string without scanning it', () => assert.equal(parseIpv4('1'.repeat(1 << 20)), -1));
});

describe('ranges', () => {
  it('parses addresses and CIDRs of both families, masking host bits', () => {
    assert.deepEqual(parseRange('10.1.2.3/8'), { family: 4, start: 0x0a000000, end: 0x0affffff, prefix: 8 });
    const v6 = parseRange('2001:db8::1/64');
    assert.equal(v6?.family, 6);
    assert.equal(v6 && formatRange(v6), '2001:db8::/64');
    assert.equal(parseRange('::ffff:192.0.2.1')?.family, 4, 'IPv4-mapped IPv6 is IPv4');
    assert.equal(formatRange(parseRange('::ffff:10.0.0.0/104')!), '10.0.0.0/8');
  });

  it('refuses malformed ranges', () => {
    for (const text of [
      '10.0.0.0/33',
      '10.0.0.0/x',
      '2001:db8::/129',
      'host.example',
      '10.0.0.0/8/8',
      '',
      '/8',
    ]) {
      assert.equal(parseRange(text), undefined, text);
    }
  });

  it('formats single addresses without a prefix and compresses the longest zero run', () => {
    assert.equal(formatRange(addressRange('203.0.113.7')!), '203.0.113.7');
    assert.equal(formatRange(addressRange('2001:0db8:0000:0000:0001:0000:0000:0001')!), '2001:db8::1:0:0:1');
    assert.equal(formatRange(addressRange('::1')!), '::1');
  });

  it('widens an IPv6 address to its /64 and an IPv4 address to its /24', () => {
    assert.equal(
      formatRange(widenRange(addressRange('2001:db8:1:2:aaaa:bbbb:cccc:dddd')!, 64)),
      '2001:db8:1:2::/64',
    );
    assert.equal(formatRange(widenRange(addressRange('198.51.100.77')!, 24)), '198.51.100.0/24');
  });
});

describe('createCidrSet', () => {
  const set = createCidrSet([
    '10.0.0.0/8',
    '192.168.1.0/25',
    '192.168.1.128/25',
    '2001:db8::/32',
    '198.51.100.7',
    'nonsense',
  ]);

  it('answers membership for IPv4, IPv6 and IPv4-mapped addresses', () => {
    assert.equal(set.has('10.200.3.4'), true);
    assert.equal(set.has('11.0.0.1'), false);
    assert.equal(set.has('192.168.1.200'), true);
    assert.equal(set.has('198.51.100.7'), true);
    assert.equal(set.has('198.51.100.8'), false);
    assert.equal(set.has('2001:db8:ffff::1'), true);
    assert.equal(set.has('2001:db9::1'), false);
    assert.equal(set.has('::ffff:10.1.1.1'), true);
  });

  it('reports invalid entries and merges adjacent ranges', () => {
    assert.deepEqual(set.invalid, ['nonsense']);
    assert.equal(set.size, 4, 'the two /25 halves merge into one range');
  });

  it('tells whether a range touches any entry', () => {
    assert.equal(set.overlaps(parseRange('0.0.0.0/0')!), true);
    assert.equal(
      set.overlaps(parseRange('198.51.100.0/24')!),
      true,
      'contains the single allowlisted address',
    );
    assert.equal(set.overlaps(parseRange('198.51.101.0/24')!), false);
    assert.equal(set.overlaps(parseRange('10.5.0.0/16')!), true, 'inside an entry');
    assert.equal(set.overlaps(parseRange('2001:db8:1::/48')!), true);
    assert.equal(set.overlaps(parseRange('2001:db9::/32')!), false);
  });

  it('treats garbage, NUL bytes and huge strings as "not in the set"', () => {
    for (const text of ['', '\u0000', 'x'.repeat(1 << 20), '10.0.0.1/8', '\ud800', '10.0.0.1\u0000']) {
      assert.equal(set.has(text), false);
    }
  });
});

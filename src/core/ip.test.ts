import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import ipaddr from 'ipaddr.js';
import { cidrContains, leadingZeroProblem, parseAddress, parseCidr, parseIpv4 } from './ip.ts';

describe('parseAddress', () => {
  it('reads canonical dotted quads, IPv6, brackets and zones, and unwraps IPv4-mapped IPv6', () => {
    const cases: [string, string][] = [
      ['203.0.113.7', '203.0.113.7'],
      ['0.0.0.0', '0.0.0.0'],
      ['255.255.255.255', '255.255.255.255'],
      [' 203.0.113.7 ', '203.0.113.7'],
      ['[203.0.113.7]', '203.0.113.7'],
      ['2001:DB8:0::1', '2001:db8::1'],
      ['[2001:db8::1]', '2001:db8::1'],
      ['fe80::1%eth0', 'fe80::1'],
      ['::ffff:198.51.100.4', '198.51.100.4'],
      ['::', '::'],
    ];
    for (const [text, expected] of cases) assert.equal(parseAddress(text)?.toString(), expected, text);
  });

  it('refuses leading zeros instead of reading them as octal or decimal (two readers, two hosts)', () => {
    // ipaddr.js alone reads 010.0.0.1 as 8.0.0.1; inet_aton does too; other parsers say 10.0.0.1.
    assert.equal(ipaddr.parse('010.0.0.1').toString(), '8.0.0.1');
    for (const text of [
      '010.0.0.1',
      '01.2.3.4',
      '1.2.3.04',
      '10.0.0.00',
      '::ffff:010.0.0.1',
      '1:2:3:4:5:6:01.2.3.4',
    ]) {
      assert.equal(parseAddress(text), undefined, text);
      assert.equal(parseCidr(text), undefined, text);
    }
    assert.equal(parseCidr('010.0.0.0/8'), undefined);
  });

  it('says why a leading zero is refused, and what to write instead', () => {
    assert.match(
      leadingZeroProblem('010.0.0.1') ?? '',
      /010\.0\.0\.1 has a leading zero.*write 10\.0\.0\.1 /,
    );
    assert.match(leadingZeroProblem('10.0.0.00/24') ?? '', /write 10\.0\.0\.0 /);
    assert.match(leadingZeroProblem('[::ffff:001.2.3.4]') ?? '', /write 1\.2\.3\.4 /);
    for (const text of ['10.0.0.1', '10.0.0.0/8', '2001:0db8::0001', 'fe80::1', 'office', '10.0.0']) {
      assert.equal(leadingZeroProblem(text), undefined, text);
    }
  });

  it('refuses shorthand and malformed forms', () => {
    for (const text of [
      '10',
      '10.1',
      '1.2.3',
      '0x7f.0.0.1',
      '0x7f000001',
      '256.1.1.1',
      '1.2.3.4.5',
      '1..2.3',
      'gg::1',
      '',
      ' ',
      'a.b.c.d',
      '1.2.3.4\0',
    ]) {
      assert.equal(parseAddress(text), undefined, JSON.stringify(text));
    }
  });

  it('agrees with ipaddr.js on every canonical dotted quad it is given (random sample)', () => {
    let seed = 42;
    const next = () => (seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0);
    for (let i = 0; i < 20_000; i++) {
      const value = next();
      const text = [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
      const fast = parseAddress(text);
      assert.ok(fast);
      assert.equal(fast.kind(), 'ipv4');
      assert.deepEqual(fast.toByteArray(), ipaddr.parse(text).toByteArray());
      assert.equal(fast.toString(), text);
      assert.equal(parseIpv4(text), value);
      assert.equal(parseCidr(text)?.text, `${text}/32`);
    }
  });
});

describe('parseCidr', () => {
  it('masks host bits and normalises both families', () => {
    assert.equal(parseCidr('198.51.100.9/24')?.text, '198.51.100.0/24');
    assert.equal(parseCidr('203.0.113.7')?.text, '203.0.113.7/32');
    assert.equal(parseCidr('2001:db8:1:2::5/64')?.text, '2001:db8:1:2::/64');
    assert.equal(parseCidr('0.0.0.0/0')?.text, '0.0.0.0/0');
  });

  it('refuses bad prefixes', () => {
    for (const text of [
      '10.0.0.0/33',
      '10.0.0.0/',
      '10.0.0.0/-1',
      '10.0.0.0/8/8',
      '2001:db8::/129',
      '10.0.0.0/x',
    ]) {
      assert.equal(parseCidr(text), undefined, text);
    }
  });

  it('contains what it should, across the fast and the general path', () => {
    const range = parseCidr('10.0.0.0/8');
    assert.ok(range);
    assert.ok(cidrContains(range, parseAddress('10.255.0.1')!));
    assert.ok(!cidrContains(range, parseAddress('11.0.0.1')!));
    assert.ok(!cidrContains(range, parseAddress('::1')!));
  });
});

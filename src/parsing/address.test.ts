import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import { describe, it } from 'node:test';
import { ipAt, ipOf, ipVersionAt, splitHostPort } from './address.ts';

describe('address recognition on the hot path', () => {
  const valid4 = ['0.0.0.0', '192.0.2.1', '255.255.255.255', '203.0.113.70', '10.0.0.1'];
  const valid6 = [
    '::',
    '::1',
    '1::',
    '2001:db8::1',
    '2001:db8:85a3::8a2e:370:7334',
    '2001:0db8:0000:0000:0000:ff00:0042:8329',
    'fe80::1:2:3:4',
    '1:2:3:4:5:6:7::',
    '::ffff:192.0.2.1',
    '1:2:3:4:5:6:192.0.2.1',
    '2001:DB8::A',
  ];
  const invalid = [
    '',
    '1.2.3',
    '1.2.3.4.5',
    '256.1.1.1',
    '01.2.3.4',
    '192.030.0.6',
    '1.2.3.',
    '.1.2.3',
    '1..2.3',
    '1.2.3.4:80',
    'a:b',
    ':::',
    '1:::2',
    '1::2::3',
    '12345::1',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7',
    ':1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:',
    'dead',
    'example.com',
    'unix:',
    '::ffff:1.2.3',
    '1:2:3:4:5:6:7:1.2.3.4',
    'g::1',
    '\u0000',
    '１.２.３.４',
  ];

  it('accepts the addresses node:net accepts and rejects the rest (leading-zero IPv4 aside)', () => {
    for (const text of [...valid4, ...valid6]) {
      assert.equal(ipVersionAt(text, 0, text.length), isIP(text), text);
    }
    for (const text of invalid) {
      assert.equal(ipVersionAt(text, 0, text.length), 0, text);
    }
  });

  it('reads an address in place, inside a longer line', () => {
    const line = 'x 203.0.113.7 y';
    assert.equal(ipAt(line, 2, 13), '203.0.113.7');
    assert.equal(ipAt(line, 1, 13), undefined);
  });

  it('unwraps IPv4-mapped IPv6 to the IPv4 address', () => {
    assert.equal(ipOf('::ffff:203.0.113.7'), '203.0.113.7');
    assert.equal(ipOf('::FFFF:203.0.113.7'), '203.0.113.7');
    assert.equal(ipOf('::ffff:0:203.0.113.7'), '::ffff:0:203.0.113.7');
    assert.equal(ipOf('2001:db8::1'), '2001:db8::1');
  });

  it('splits host:port, [v6]:port and the bare v6:port Redis writes', () => {
    assert.deepEqual(splitHostPort('203.0.113.7:51234'), { ip: '203.0.113.7', port: '51234' });
    assert.deepEqual(splitHostPort('[2001:db8::7]:40000'), { ip: '2001:db8::7', port: '40000' });
    assert.deepEqual(splitHostPort('2001:db8::7:40000'), { ip: '2001:db8::7', port: '40000' });
    assert.equal(splitHostPort('/run/redis.sock:0'), undefined);
    assert.equal(splitHostPort('203.0.113.7'), undefined);
    assert.equal(splitHostPort('[2001:db8::7]'), undefined);
  });
});

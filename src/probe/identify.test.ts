import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { classify } from './identify.ts';

describe('classify: what answered PING\\r\\n', () => {
  const cases: [string, Buffer, string | undefined][] = [
    ['an SSH banner', Buffer.from('SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n'), 'ssh'],
    ['Redis +PONG', Buffer.from('+PONG\r\n'), 'redis'],
    ['Redis asking for a password', Buffer.from('-NOAUTH Authentication required.\r\n'), 'redis'],
    ['Redis in protected mode', Buffer.from('-DENIED Redis is running in protected mode\r\n'), 'redis'],
    ['an HTTP 400', Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n'), 'http'],
    ['memcached ERROR', Buffer.from('ERROR\r\n'), 'memcached'],
    ['a TLS alert record', Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32]), 'tls'],
    ['an SMTP greeting', Buffer.from('220 mail.example ESMTP Postfix\r\n'), undefined],
  ];
  for (const [what, reply, protocol] of cases) {
    test(`${what} → ${protocol ?? 'unidentified'}`, () => {
      assert.equal(classify(reply).protocol, protocol);
    });
  }

  test('keeps the first line of a banner, printable and at most 80 characters', () => {
    assert.equal(
      classify(Buffer.from('220 mail.example ESMTP\r\n250 more')).banner,
      '220 mail.example ESMTP',
    );
    assert.equal(classify(Buffer.from('\x00\x01abc')).banner, '..abc');
    assert.equal(classify(Buffer.from('x'.repeat(100))).banner, `${'x'.repeat(80)}…`);
  });

  test('names the MySQL/MariaDB server version from its handshake', () => {
    const version = Buffer.from('10.11.6-MariaDB-0+deb12u1\0');
    const body = Buffer.concat([Buffer.from([10]), version, Buffer.alloc(20)]);
    const header = Buffer.from([body.length & 0xff, 0, 0, 0]);
    assert.equal(
      classify(Buffer.concat([header, body])).banner,
      'MySQL protocol 10, server 10.11.6-MariaDB-0+deb12u1',
    );
  });
});

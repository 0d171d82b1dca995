import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { NotResp, parseInfo, replicaFinding, respCommand, respReply } from './redis.ts';

describe('RESP', () => {
  test('encodes a command as an array of bulk strings', () => {
    assert.equal(respCommand('INFO', 'replication'), '*2\r\n$4\r\nINFO\r\n$11\r\nreplication\r\n');
  });

  test('parses simple strings, errors, bulk strings and arrays, consuming exactly one reply', () => {
    assert.deepEqual(respReply(Buffer.from('+PONG\r\n+OK\r\n')), {
      value: { kind: 'simple', text: 'PONG' },
      consumed: 7,
    });
    assert.deepEqual(respReply(Buffer.from('-NOAUTH Authentication required.\r\n'))?.value, {
      kind: 'error',
      text: 'NOAUTH Authentication required.',
    });
    assert.deepEqual(respReply(Buffer.from('$5\r\nhello\r\n'))?.value, { kind: 'bulk', text: 'hello' });
    assert.deepEqual(respReply(Buffer.from('*2\r\n:1\r\n$-1\r\n'))?.value, {
      kind: 'array',
      items: [
        { kind: 'integer', value: 1 },
        { kind: 'bulk', text: null },
      ],
    });
  });

  test('waits for more bytes when a reply is incomplete', () => {
    assert.equal(respReply(Buffer.from('$10\r\nhello')), undefined);
    assert.equal(respReply(Buffer.from('+PON')), undefined);
  });

  test('throws NotResp on bytes that cannot start a reply (an HTTP or SSH answer)', () => {
    assert.throws(() => respReply(Buffer.from('HTTP/1.1 400 Bad Request\r\n')), NotResp);
    assert.throws(() => respReply(Buffer.from('SSH-2.0-OpenSSH_9.2\r\n')), NotResp);
  });
});

describe('INFO and replicas', () => {
  const info = parseInfo(
    '# Replication\r\nrole:slave\r\nmaster_host:198.51.100.66\r\nmaster_port:24798\r\nmaster_link_status:up\r\n',
  );

  test('reads key:value lines and skips section headers', () => {
    assert.equal(info.get('role'), 'slave');
    assert.equal(info.get('master_port'), '24798');
    assert.equal(info.has('# Replication'), false);
  });

  test('a replica of a public address is critical and named as the REPLICAOF hijack', () => {
    const finding = replicaFinding('203.0.113.5:6379', info);
    assert.equal(finding.severity, 'critical');
    assert.equal(finding.title, 'Redis is a replica of 198.51.100.66:24798 (a public address)');
    assert.match(finding.evidence[0]?.detail ?? '', /the REPLICAOF hijack if it is not yours$/);
  });

  test('a replica of a private master is high, without the hijack wording', () => {
    const finding = replicaFinding(
      '10.0.0.5:6379',
      parseInfo('role:slave\nmaster_host:10.0.0.4\nmaster_port:6379\n'),
    );
    assert.equal(finding.severity, 'high');
    assert.equal(finding.title, 'Redis is a replica of 10.0.0.4:6379');
    assert.doesNotMatch(finding.evidence[0]?.detail ?? '', /hijack/);
  });
});

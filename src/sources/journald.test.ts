import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { journalLine } from './journald.ts';

describe('journald entries', () => {
  it('become syslog-style lines with an RFC 3339 time, identifier and pid', () => {
    const entry = {
      __CURSOR: 's=abc;i=12',
      __REALTIME_TIMESTAMP: '1763892000123456',
      _HOSTNAME: 'web1',
      SYSLOG_IDENTIFIER: 'sshd-session',
      _PID: '4242',
      MESSAGE: 'Failed password for root from 203.0.113.7 port 52311 ssh2',
    };
    assert.deepEqual(journalLine(JSON.stringify(entry)), {
      line: '2025-11-23T10:00:00.123Z web1 sshd-session[4242]: Failed password for root from 203.0.113.7 port 52311 ssh2',
      cursor: 's=abc;i=12',
    });
  });

  it('decode binary MESSAGE arrays and flatten embedded newlines', () => {
    const parsed = journalLine(JSON.stringify({ MESSAGE: [104, 105, 10, 255], __REALTIME_TIMESTAMP: '0' }));
    assert.equal(parsed?.line, '1970-01-01T00:00:00.000Z localhost unknown: hi \ufffd');
  });

  it('skip malformed JSON and entries without a message', () => {
    assert.equal(journalLine('{not json'), undefined);
    assert.equal(journalLine('null'), undefined);
    assert.equal(journalLine(JSON.stringify({ MESSAGE: null })), undefined);
  });
});

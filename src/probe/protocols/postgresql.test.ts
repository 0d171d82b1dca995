import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { backendMessage, errorFields, startupMessage } from './postgresql.ts';

describe('PostgreSQL wire', () => {
  test('the StartupMessage carries length, protocol 3.0 and NUL-separated parameters', () => {
    const message = startupMessage({ user: 'postgres', database: 'postgres' });
    assert.equal(message.readUInt32BE(0), message.length);
    assert.equal(message.readUInt32BE(4), 196_608);
    assert.equal(message.subarray(8).toString('latin1'), 'user\0postgres\0database\0postgres\0\0');
  });

  test('reads a backend message and waits for the rest of a partial one', () => {
    const ok = Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0]);
    assert.deepEqual(backendMessage(ok)?.value, { type: 'R', body: Buffer.from([0, 0, 0, 0]) });
    assert.equal(backendMessage(ok.subarray(0, 6)), undefined);
  });

  test('refuses bytes that are not a backend message (an HTTP answer)', () => {
    assert.throws(() => backendMessage(Buffer.from('HTTP/1.1 400 Bad Request')));
  });

  test('reads severity, SQLSTATE and message from an ErrorResponse body', () => {
    const fields = errorFields(
      Buffer.from('SFATAL\0C28000\0Mno pg_hba.conf entry for host "203.0.113.9"\0\0'),
    );
    assert.equal(fields.get('S'), 'FATAL');
    assert.equal(fields.get('C'), '28000');
    assert.equal(fields.get('M'), 'no pg_hba.conf entry for host "203.0.113.9"');
  });
});

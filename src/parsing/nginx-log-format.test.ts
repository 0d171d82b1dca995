import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { manualClock } from '../core/clock.ts';
import { isMoatError } from '../core/errors.ts';
import { createParser } from './index.ts';
import { COMBINED_FORMAT, compileLogFormat, readLogFormat } from './nginx-log-format.ts';

const isConfigError = (fragment: string) => (error: unknown) =>
  isMoatError(error) && error.code === 'MOAT_CONFIG_INVALID' && error.message.includes(fragment);

describe('reading a pasted log_format', () => {
  it('joins the quoted strings of a multi-line directive', () => {
    const pasted = `log_format  main  '$remote_addr - $remote_user [$time_local] "$request" '
                      '$status $body_bytes_sent "$http_referer" '
                      '"$http_user_agent" "$http_x_forwarded_for"';`;
    assert.deepEqual(readLogFormat(pasted), {
      format:
        '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for"',
      escapes: 'default',
    });
  });

  it('takes escape=json, double quotes with escapes, and a comment', () => {
    const pasted = `log_format j escape=json "{\\"ip\\":\\"$remote_addr\\"}"; # json`;
    assert.deepEqual(readLogFormat(pasted), { format: '{"ip":"$remote_addr"}', escapes: 'json' });
  });

  it('takes just the quoted strings, the bare format text, or the name combined', () => {
    assert.equal(readLogFormat(`'$remote_addr ' '$status'`).format, '$remote_addr $status');
    assert.equal(readLogFormat('$remote_addr $status').format, '$remote_addr $status');
    assert.equal(readLogFormat('combined').format, COMBINED_FORMAT);
  });

  it('refuses what it cannot use, saying what is wrong', () => {
    assert.throws(() => readLogFormat(''), isConfigError('empty'));
    assert.throws(() => readLogFormat(`log_format main '$remote_addr`), isConfigError('unterminated'));
    assert.throws(
      () => readLogFormat(`log_format main escape=xml '$remote_addr'`),
      isConfigError('escape=xml'),
    );
    assert.throws(() => readLogFormat('log_format main ;'), isConfigError('no format string'));
    assert.throws(() => compileLogFormat('no variables here'), isConfigError('no $variables'));
    assert.throws(() => compileLogFormat('$remote_addr$remote_port'), isConfigError('followed directly by'));
    assert.throws(() => compileLogFormat('${remote_addr'), isConfigError('unterminated'));
  });

  it('compiles literals and variables, fixed-width times taken by length', () => {
    const compiled = compileLogFormat('[$time_local]$status ${host}:$uri $$');
    assert.equal(compiled.lead, '[');
    assert.deepEqual(compiled.names, ['time_local', 'status', 'host', 'uri']);
    assert.deepEqual(compiled.after, [']', ' ', ':', ' $$']);
    assert.deepEqual(compiled.widths, [26, 0, 0, 0]);
  });
});

describe('a compiled log_format parser', () => {
  const clock = manualClock(Date.parse('2024-06-01T00:00:00Z'));

  it('maps known variables to event fields and keeps the rest under their nginx names', () => {
    const parser = createParser(
      {
        format: 'nginx-log-format',
        logFormat: `log_format x '$http_host $remote_addr $remote_port [$time_iso8601] "$request" $status $bytes_sent $body_bytes_sent "$http_referer" "$http_user_agent" $ssl_protocol'`,
      },
      clock,
    );
    const event = parser.parse({
      source: 'x',
      text: 'example.com 2001:db8::1 51234 [2024-05-01T12:00:00+00:00] "PUT /a HTTP/2.0" 201 900 700 "https://r/" "ua" TLSv1.3',
      readAtMs: 0,
    });
    assert.ok(event);
    assert.equal(event.host, 'example.com');
    assert.equal(event.ip, '2001:db8::1');
    assert.equal(event.method, 'PUT');
    assert.equal(event.path, '/a');
    assert.equal(event.status, 201);
    assert.equal(event.bytes, 700, 'body_bytes_sent wins over bytes_sent');
    assert.equal(event.referer, 'https://r/');
    assert.equal(event.at, Date.parse('2024-05-01T12:00:00Z'));
    assert.deepEqual(event.fields, { remote_port: '51234', bytes_sent: '900', ssl_protocol: 'TLSv1.3' });
  });

  it('uses the read time when the format has no time variable', () => {
    const parser = createParser({ format: 'nginx-log-format', logFormat: `'$remote_addr $status'` }, clock);
    assert.equal(parser.parse({ source: 'x', text: '192.0.2.1 200', readAtMs: 1234 })?.at, 1234);
  });

  it('rejects a line whose status is not a number (a line of another format)', () => {
    const parser = createParser(
      { format: 'nginx-log-format', logFormat: `'$remote_addr $status $uri'` },
      clock,
    );
    assert.equal(parser.parse({ source: 'x', text: '192.0.2.1 OK /', readAtMs: 0 }), undefined);
    assert.equal(parser.parse({ source: 'x', text: '192.0.2.1 200 /', readAtMs: 0 })?.status, 200);
  });
});

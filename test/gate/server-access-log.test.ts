/**
 * The gate's access log: nginx `combined` lines that moat's own nginx parser reads back unchanged
 * (escapes included), and a file that follows logrotate (moved away, or reopened on SIGHUP).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import {
  type AccessRecord,
  escapeLogValue,
  formatCombined,
  openAccessLog,
} from '../../src/gate/access-log.ts';
import { createNginxCombinedParser } from '../../src/parsing/nginx-combined.ts';
import { until } from '../helpers/until.ts';

const record = (url: string, extra: Partial<AccessRecord> = {}): AccessRecord => ({
  ip: '203.0.113.7',
  timeMs: Date.UTC(2026, 10, 23, 14, 5, 9),
  method: 'GET',
  url,
  httpVersion: '1.1',
  status: 404,
  bytes: 153,
  referer: 'https://example.test/a',
  userAgent: 'Mozilla/5.0 (X11; Linux x86_64)',
  ...extra,
});

describe('gate access log format', () => {
  it('escapes like nginx: quotes, backslashes, control and non-ASCII bytes as \\xHH', () => {
    assert.equal(escapeLogValue('plain /path?q=1'), 'plain /path?q=1');
    assert.equal(escapeLogValue('a"b\\c\x01\x7f\xe9'), 'a\\x22b\\x5Cc\\x01\\x7F\\xE9');
  });

  it('writes lines the nginx combined parser reads back as the same request', () => {
    const parser = createNginxCombinedParser();
    for (const entry of [
      record('/.env'),
      record('/search?q="quoted"&x=\\', { userAgent: 'sqlmap/1.7 "x"' }),
      record('/none', { referer: undefined, userAgent: undefined, status: 200, bytes: 0 }),
      record('/', { ip: '2001:db8::1', method: 'POST', httpVersion: '1.0' }),
    ]) {
      const line = formatCombined(entry);
      assert.ok(line.endsWith('\n'));
      const parsed = parser.parse({ source: 'gate', text: line.slice(0, -1), readAtMs: 0 });
      assert.ok(parsed, line);
      assert.equal(parsed.ip, entry.ip);
      assert.equal(parsed.method, entry.method);
      assert.equal(parsed.status, entry.status);
      assert.equal(parsed.bytes, entry.bytes);
      assert.equal(parsed.at, entry.timeMs);
      assert.equal(parsed.path, entry.url);
      assert.equal(parsed.userAgent, entry.userAgent);
      assert.equal(parsed.referer, entry.referer);
    }
  });

  it('writes the bytes of a non-ASCII header, which the parser reads as UTF-8 like the gate’s event', () => {
    // Node hands header bytes over as latin1 characters: `é` in UTF-8 arrives as `Ã©`.
    const line = formatCombined(record('/', { userAgent: 'Agent-\xc3\xa9' }));
    assert.match(line, /"Agent-\\xC3\\xA9"/);
    const parsed = createNginxCombinedParser().parse({
      source: 'gate',
      text: line.slice(0, -1),
      readAtMs: 0,
    });
    assert.equal(parsed?.userAgent, 'Agent-é');
  });
});

describe('gate access log file', () => {
  it('follows logrotate: a moved file is replaced by a new one, and reopen() starts one at once', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'moat-gate-log-'));
    const file = path.join(dir, 'access.log');
    const errors: unknown[] = [];
    const log = await openAccessLog(file, (error) => errors.push(error));
    try {
      log.write(record('/one'));
      await until(() => readFileSync(file, 'utf8').includes('/one'), 'the first line');

      // Moved away: lines written until the gate notices still land in the moved file (as with
      // nginx before USR1); within about a second a new file takes the next ones.
      renameSync(file, `${file}.1`);
      const moved = Date.now();
      let n = 0;
      await until(
        () => {
          log.write(record(`/two-${n++}`));
          return existsSync(file) && readFileSync(file, 'utf8').includes('/two-');
        },
        'a new file after the move',
        5000,
      );
      assert.ok(Date.now() - moved < 2500, `new file after ${Date.now() - moved} ms`);
      const lines = (f: string) => readFileSync(f, 'utf8').trim().split('\n');
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(lines(`${file}.1`).length + lines(file).length, 1 + n, 'no line lost across the move');

      renameSync(file, `${file}.2`);
      await log.reopen();
      log.write(record('/three'));
      await log.close();
      assert.ok(!readFileSync(`${file}.2`, 'utf8').includes('/three'));
      assert.deepEqual(lines(file), [formatCombined(record('/three')).trim()]);
      assert.match(readFileSync(file, 'utf8'), /"GET \/three HTTP\/1\.1" 404 153/);
      assert.deepEqual(errors, []);
    } finally {
      await log.close();
    }
  });
});

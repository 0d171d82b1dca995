/** The CLI contract: exit codes, `error:` + hint, stacks only with --debug, output formats. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import type { CliContext } from '../../src/cli/context.ts';
import { main } from '../../src/cli/main.ts';

const run = promisify(execFile);
const top = path.join(import.meta.dirname, '..', '..');

function capture(env: Record<string, string> = {}): CliContext & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    env,
    exitCode: 0,
    out: () => out,
    err: () => err,
  };
}

/** A tiny host tree with one Redis instance open to the world. */
function openRedisTree(): string {
  const root = mkdtempSync(path.join(tmpdir(), 'moat-cli-'));
  mkdirSync(path.join(root, 'etc', 'redis'), { recursive: true });
  writeFileSync(
    path.join(root, 'etc', 'redis', 'redis.conf'),
    'bind 0.0.0.0\nprotected-mode no\nport 6379\n',
  );
  return root;
}

describe('moat CLI', () => {
  it('prints error: and a hint, exits 2, and hides the stack without --debug', async () => {
    const context = capture();
    const code = await main(['audit', '--root', '/nonexistent/moat-root'], context);
    assert.equal(code, 2);
    assert.match(
      context.err(),
      /^error: --root: \/nonexistent\/moat-root is not a directory\nhint: .+\n {2}\(code MOAT_ROOT_NOT_FOUND\)\n$/,
    );
    assert.doesNotMatch(context.err(), /at .+\.ts:\d+/);
  });

  it('shows the stack with --debug', async () => {
    const context = capture();
    await main(['--debug', 'audit', '--root', '/nonexistent/moat-root'], context);
    assert.match(context.err(), /at .+\.ts:\d+/);
  });

  it('rejects an unknown flag with exit 2 and MOAT usage hint', async () => {
    const context = capture();
    assert.equal(await main(['audit', '--bogus'], context), 2);
    assert.match(context.err(), /^error: unknown option '--bogus'\nhint: run `moat --help`/);
  });

  it('reports a config error naming the key, with exit 2', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'moat-cfg-'));
    const file = path.join(dir, 'moat.yaml');
    writeFileSync(file, 'probe:\n  timeotMs: 100\n');
    const context = capture();
    assert.equal(await main(['--config', file, 'config', 'check'], context), 2);
    assert.match(
      context.err(),
      /probe\.timeotMs \(.+moat\.yaml:2\): unknown key; did you mean "timeoutMs"\?/,
    );
  });

  it('config check says ok for a valid file', async () => {
    const context = capture();
    const file = path.join(top, 'test', 'fixtures', 'config', 'valid', 'full.yaml');
    assert.equal(await main(['--config', file, 'config', 'check'], context), 0);
    assert.equal(context.out(), `ok: ${file} is valid\n`);
  });

  it('--json prints exactly { findings, skipped } and --fail-on sets exit 1', async () => {
    const context = capture();
    const code = await main(['audit', '--root', openRedisTree(), '--json', '--fail-on', 'high'], context);
    const parsed = JSON.parse(context.out()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(parsed), ['findings', 'skipped']);
    const findings = parsed['findings'] as { id: string; severity: string }[];
    assert.ok(findings.length > 0, 'an open Redis must produce findings');
    assert.equal(code, findings.some((f) => ['critical', 'high'].includes(f.severity)) ? 1 : 0);
  });

  it('--fail-on exits 0 when nothing reaches the threshold', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'moat-empty-'));
    const context = capture();
    assert.equal(await main(['audit', '--root', root, '--json', '--fail-on', 'info'], context), 0);
    assert.deepEqual(JSON.parse(context.out()).findings, []);
  });

  it('--fail-on rejects a word that is not a severity', async () => {
    const context = capture();
    assert.equal(await main(['audit', '--fail-on', 'severe'], context), 2);
    assert.match(context.err(), /severe/);
  });

  it('prints text without colour when not a TTY, with colour under FORCE_COLOR', async () => {
    const root = openRedisTree();
    const plain = capture();
    await main(['audit', '--root', root], plain);
    assert.doesNotMatch(plain.out(), /\u001b\[/);
    assert.match(plain.out(), /^moat: audit of .+ — \d+ findings?/);
    const coloured = capture({ FORCE_COLOR: '1' });
    await main(['audit', '--root', root], coloured);
    assert.match(coloured.out(), /\u001b\[/);
  });

  it('runs as a real process through bin/moat.js with Node 24', async () => {
    const { stdout } = await run(path.join(top, 'node_modules', '.bin', 'node'), [
      path.join(top, 'bin', 'moat.js'),
      '--version',
    ]);
    assert.match(stdout, /^\d+\.\d+\.\d+\n$/);
  });

  it('refuses an old Node with MOAT_RUNTIME_TOO_OLD instead of a syntax error', async (t) => {
    // The machine's system node is older than 22.18 on this project's CI image; skip where it is not.
    const system = await run('/usr/bin/node', ['--version']).catch(() => undefined);
    const major = Number(system?.stdout.slice(1).split('.')[0]);
    if (!system || major >= 22) {
      t.skip('no old system node here');
      return;
    }
    const result = await run('/usr/bin/node', [path.join(top, 'bin', 'moat.js'), 'audit']).catch(
      (e: unknown) => e as { code: number; stderr: string },
    );
    assert.equal((result as { code: number }).code, 2);
    assert.match((result as { stderr: string }).stderr, /MOAT_RUNTIME_TOO_OLD/);
  });
});

describe('moat audit configuration errors', () => {
  it('stops at start-up when cdn.rangesFile cannot be read, naming the key', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'moat-cdn-'));
    const file = path.join(dir, 'moat.yaml');
    writeFileSync(file, `cdn:\n  provider: cloudflare\n  rangesFile: ${path.join(dir, 'missing.txt')}\n`);
    const context = capture();
    assert.equal(await main(['--config', file, 'audit', '--root', dir], context), 2);
    assert.match(context.err(), /cdn\.rangesFile/);
    assert.equal(context.out(), '');
  });
});

describe('moat replay', () => {
  /** A folder for one test, removed after it. */
  const tempDir = (t: TestContext) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'moat-replay-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  };
  /** Writes the lines (each ended by a newline) to access.log in `dir`; returns its path. */
  const writeLog = (dir: string, lines: string[]) => {
    const log = path.join(dir, 'access.log');
    writeFileSync(log, lines.map((line) => `${line}\n`).join(''));
    return log;
  };

  it('prints the documented JSON: decisions and a summary', async (t) => {
    const log = writeLog(tempDir(t), [
      '203.0.113.7 - - [10/Oct/2024:13:55:36 +0000] "GET /.env HTTP/1.1" 404 12 "-" "curl/8.5.0"',
      '198.51.100.2 - - [10/Oct/2024:13:55:37 +0000] "GET / HTTP/1.1" 200 512 "-" "Mozilla/5.0"',
      'not a log line',
    ]);
    const context = capture();
    assert.equal(await main(['replay', log, '--json'], context), 0);
    const out = JSON.parse(context.out());
    assert.deepEqual(Object.keys(out), ['decisions', 'summary']);
    assert.deepEqual(
      out.decisions.map((d: { target: string; scenario: string; at: string }) => [
        d.target,
        d.scenario,
        d.at,
      ]),
      [['203.0.113.7', 'http-sensitive-files', '2024-10-10T13:55:36.000Z']],
    );
    assert.equal(out.decisions[0].durationMs, 4 * 3_600_000);
    assert.deepEqual([out.summary.lines, out.summary.parsed, out.summary.unparsed], [3, 2, 1]);
    assert.equal(out.summary.perScenario['http-sensitive-files'], 1);
  });

  it('counts IPv6 clients per decisions.ipv6Prefix, the prefix it bans', async (t) => {
    const dir = tempDir(t);
    const phpProbe = (ip: string, second: number, file: string) =>
      `${ip} - - [10/Oct/2024:13:55:${second} +0000] "GET /${file} HTTP/1.1" 404 12 "-" "curl/8.5.0"`;
    // Two addresses of one /64, each asking for one .php path (http-php-probe fires on the second).
    const log = writeLog(dir, [
      phpProbe('2001:db8:1:2::1', 36, 'a.php'),
      phpProbe('2001:db8:1:2::2', 37, 'b.php'),
    ]);
    const targets = async (args: string[]) => {
      const context = capture();
      assert.equal(await main([...args, 'replay', log, '--json'], context), 0, context.err());
      return JSON.parse(context.out()).decisions.map((d: { target: string }) => d.target) as string[];
    };
    assert.deepEqual(await targets([]), ['2001:db8:1:2::/64'], 'by default one /64 is one client');
    const perAddress = path.join(dir, 'moat.yaml');
    writeFileSync(perAddress, 'decisions:\n  ipv6Prefix: 128\n');
    assert.deepEqual(await targets(['-c', perAddress]), [], 'with 128 each address counts alone');
    const wider = path.join(dir, 'wider.yaml');
    writeFileSync(wider, 'decisions:\n  ipv6Prefix: 48\n');
    // Two /64s of one /48.
    writeLog(dir, [phpProbe('2001:db8:1:2::1', 36, 'a.php'), phpProbe('2001:db8:1:3::1', 37, 'b.php')]);
    assert.deepEqual(await targets(['-c', wider]), ['2001:db8:1::/48'], 'with 48 two /64s of one /48 add up');
  });
});

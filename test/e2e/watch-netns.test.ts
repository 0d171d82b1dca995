/**
 * moat watch end to end with real nftables, in network namespaces this test creates: a web
 * server in the "host" namespace writes an nginx combined access log; a client namespace scans it
 * for sensitive files; the daemon (a real `moat watch` process) tails the log, decides, and bans
 * in the host namespace's nftables. The scanner's next connection fails, a second client is
 * unaffected, and `moat bans remove` restores access.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { createNetns, httpGetFrom, inNetns, link, writeNetnsWatchConfig } from '../helpers/netns.ts';

const run = promisify(execFile);
const top = path.join(import.meta.dirname, '..', '..');
const moat = [path.join(top, 'bin', 'moat.js')];

/** A web server inside `ns` that writes one nginx combined line per request to `logFile`. */
function serveWithAccessLog(ns: string, port: number, logFile: string): Promise<ChildProcess> {
  const code = `
    const fs = require('node:fs');
    const months = ['Jan','Feb','Mar','Apr','May','Jun','Jul','Aug','Sep','Oct','Nov','Dec'];
    const p = (n) => String(n).padStart(2, '0');
    const stamp = (d) => p(d.getUTCDate()) + '/' + months[d.getUTCMonth()] + '/' + d.getUTCFullYear() + ':' + p(d.getUTCHours()) + ':' + p(d.getUTCMinutes()) + ':' + p(d.getUTCSeconds()) + ' +0000';
    require('node:http').createServer((q, s) => {
      const status = q.url === '/' ? 200 : 404;
      s.statusCode = status; s.end(status === 200 ? 'ok' : 'no');
      fs.appendFileSync(${JSON.stringify(logFile)}, q.socket.remoteAddress + ' - - [' + stamp(new Date()) + '] "' + q.method + ' ' + q.url + ' HTTP/1.1" ' + status + ' 2 "-" "' + (q.headers['user-agent'] || '-') + '"\\n');
    }).listen(${port}, '0.0.0.0', () => console.log('listening'));`;
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', code], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.stdout.once('data', () => resolve(child));
    child.once('exit', (c) => reject(new Error(`web server exited ${c}`)));
  });
}

describe('moat watch bans a scanner in nftables', () => {
  const host = createNetns('moat-wh');
  const scanner = createNetns('moat-ws');
  const bystander = createNetns('moat-wb');
  const dir = mkdtempSync(path.join(tmpdir(), 'moat-watch-'));
  const logFile = path.join(dir, 'access.log');
  const stateDir = path.join(dir, 'state');
  const configFile = path.join(dir, 'moat.yaml');
  let web: ChildProcess | undefined;
  let daemon: ChildProcess | undefined;
  let daemonLog = '';

  before(async () => {
    link(host.name, '10.231.5.1', scanner.name, '10.231.5.2');
    link(host.name, '10.231.6.1', bystander.name, '10.231.6.2');
    writeFileSync(logFile, '');
    writeNetnsWatchConfig(configFile, { netns: host.name, logFile });
    web = await serveWithAccessLog(host.name, 8080, logFile);
    daemon = spawn(process.execPath, [...moat, '--config', configFile, 'watch', '--state-dir', stateDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    daemon.stdout!.on('data', (chunk: Buffer) => (daemonLog += chunk.toString()));
    daemon.stderr!.on('data', (chunk: Buffer) => (daemonLog += chunk.toString()));
    for (let i = 0; i < 100 && !daemonLog.includes('moat watch started'); i++) await sleep(50);
    assert.match(daemonLog, /moat watch started/);
  });

  after(async () => {
    daemon?.kill('SIGTERM');
    web?.kill('SIGKILL');
    await sleep(200);
    for (const ns of [host, scanner, bystander]) ns.remove();
  });

  it('bans the scanner after its probes, leaves the bystander alone, and unbans on request', async () => {
    assert.equal(httpGetFrom(scanner.name, 'http://10.231.5.1:8080/'), 'ok');
    for (const probe of ['/.env', '/.git/config', '/backup.sql', '/wp-config.php.bak', '/.aws/credentials']) {
      httpGetFrom(scanner.name, `http://10.231.5.1:8080${probe}`);
    }
    let banned = '';
    for (let i = 0; i < 100 && !banned.includes('10.231.5.2'); i++) {
      await sleep(50);
      try {
        banned = inNetns(host.name, 'nft', 'list', 'set', 'inet', 'moat', 'addr4');
      } catch (error) {
        assert.fail(`moat's nftables set is missing: ${String(error)}\ndaemon said:\n${daemonLog}`);
      }
    }
    assert.ok(banned.includes('10.231.5.2'), `not banned; daemon said:\n${daemonLog}`);
    assert.match(daemonLog, /"msg":"ban".*"target":"10\.231\.5\.2".*"scenario":"http-sensitive-files"/);

    assert.equal(httpGetFrom(scanner.name, 'http://10.231.5.1:8080/'), 'ETIMEDOUT');
    assert.equal(httpGetFrom(bystander.name, 'http://10.231.6.1:8080/'), 'ok');

    const listed = await run(process.execPath, [
      ...moat,
      '--config',
      configFile,
      'bans',
      '--state-dir',
      stateDir,
      'list',
      '--json',
    ]);
    const bans = (JSON.parse(listed.stdout) as { bans: { target: string; scenario: string }[] }).bans;
    assert.deepEqual(
      bans.map((b) => [b.target, b.scenario]),
      [['10.231.5.2', 'http-sensitive-files']],
    );

    await run(process.execPath, [
      ...moat,
      '--config',
      configFile,
      'bans',
      '--state-dir',
      stateDir,
      'remove',
      '10.231.5.2',
    ]);
    assert.equal(httpGetFrom(scanner.name, 'http://10.231.5.1:8080/'), 'ok');
  });
});

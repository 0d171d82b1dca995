/**
 * Bulk enforcement and restart, with real nftables inside a network namespace this script creates
 * (the host's own ruleset is never touched):
 *  (a) 100,000 bans loaded into nftables in one transaction (`Firewall.blockMany`, what start-up
 *      restore uses) — target ≤ 2 s;
 *  (b) restart with 100,000 stored bans: a state dir whose SQLite store holds 100k active bans, then
 *      a fresh `moat watch` process, timed from spawn to "moat watch started" (logged after every
 *      active ban is back in the firewall) — target ≤ 3 s. The set is then checked to hold them all.
 *
 *   node_modules/.bin/node bench/firewall-restart.ts [bans=100000] [runs=3]
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Decision } from '../src/core/events.ts';
import { createNftablesFirewall } from '../src/enforcement/nftables.ts';
import { openSqliteStore } from '../src/storage/sqlite.ts';
import { createNetns } from '../test/helpers/netns.ts';
import { median } from './lib/stats.ts';

const run = promisify(execFile);
const args = process.argv.slice(2).filter((a) => /^\d+$/.test(a));
const count = Number(args[0] ?? 100_000);
const runs = Number(args[1] ?? 3);
const top = path.join(import.meta.dirname, '..');

/** `count` distinct IPv4 addresses from 198.18.0.0/15 (the benchmarking range: never a real host). */
function addresses(n: number): string[] {
  if (n > 131_070) throw new Error('at most 131,070 addresses fit in 198.18.0.0/15');
  const out: string[] = [];
  for (let i = 1; out.length < n; i++) {
    if ((i & 0xff) === 0 || (i & 0xff) === 0xff) continue;
    out.push(`198.${18 + (i >> 16)}.${(i >> 8) & 0xff}.${i & 0xff}`);
  }
  return out;
}

async function setSize(ns: string): Promise<number> {
  const { stdout } = await run(
    'ip',
    ['netns', 'exec', ns, 'nft', '-j', 'list', 'set', 'inet', 'moat', 'addr4'],
    {
      maxBuffer: 256 * 1024 * 1024,
    },
  );
  const parsed = JSON.parse(stdout) as { nftables: { set?: { elem?: unknown[] } }[] };
  return parsed.nftables.reduce((n, item) => n + (item.set?.elem?.length ?? 0), 0);
}

const ms = (x: number) => `${Math.round(x).toLocaleString('en-US')} ms`;

const hostRules = execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' });
assert.ok(!hostRules.includes('moat'), 'the host already has a moat table: refusing to run');

const targets = addresses(count);
const dir = mkdtempSync(path.join(tmpdir(), 'moat-bench-restart-'));
const namespaces = new Set<string>();
/** A namespace of this run; removed on the way out even when a step fails. */
function netns(prefix: string): { readonly name: string; remove(): void } {
  const ns = createNetns(prefix);
  namespaces.add(ns.name);
  return {
    name: ns.name,
    remove() {
      if (namespaces.delete(ns.name)) ns.remove();
    },
  };
}
const n = count.toLocaleString('en-US');
try {
  // (a) One transaction of `count` bans, into a fresh namespace each run.
  const load: number[] = [];
  for (let i = 0; i < runs; i++) {
    const ns = netns('moat-bl');
    const firewall = createNftablesFirewall({ netns: ns.name });
    await firewall.init();
    const entries = targets.map((target) => ({ target, ttlMs: 4 * 3_600_000 }));
    const started = performance.now();
    await firewall.blockMany(entries);
    load.push(performance.now() - started);
    assert.equal(await setSize(ns.name), count, 'every ban is in the set');
    ns.remove();
  }

  // (b) A state dir with `count` active bans, then `moat watch` from spawn to "started".
  const stateDir = path.join(dir, 'state');
  const now = Date.now();
  const fillStarted = performance.now();
  const decisions = targets.map((target, i): Decision => ({
    target,
    scenario: 'http-sensitive-files',
    reason: 'requested sensitive file GET /.env (404)',
    origin: 'scenario',
    durationMs: 86_400_000,
    at: now - i,
  }));
  const store = openSqliteStore(path.join(stateDir, 'moat.db'));
  await store.addBans(
    decisions.map((decision) => ({ decision, expiresAt: decision.at + decision.durationMs })),
  );
  assert.equal((await store.activeBans(Date.now())).length, count);
  await store.close();
  const fillMs = performance.now() - fillStarted;

  /** Spawns `moat watch`, resolves with ms from spawn to "moat watch started"; stops it with SIGTERM. */
  async function timeStart(ns: string, configFile: string): Promise<number> {
    const started = performance.now();
    const daemon = spawn(
      process.execPath,
      [path.join(top, 'bin', 'moat.js'), '--config', configFile, 'watch', '--state-dir', stateDir],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let output = '';
    const line = await new Promise<string>((resolve, reject) => {
      daemon.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const found = output.split('\n').find((l) => l.includes('"moat watch started"'));
        if (found) resolve(found);
      });
      daemon.once('exit', (code) => reject(new Error(`moat watch exited ${code}:\n${output}`)));
    });
    const elapsed = performance.now() - started;
    assert.equal(
      (JSON.parse(line) as { restoredBans: number }).restoredBans,
      count,
      'every stored ban restored',
    );
    assert.equal(await setSize(ns), count, 'the set holds every stored ban after restart');
    const exited = new Promise((resolve) => daemon.once('exit', resolve));
    daemon.kill('SIGTERM');
    await exited;
    return elapsed;
  }

  // Into an empty namespace (a reboot: nftables lost everything), then again into the same one
  // (the daemon crashed or was upgraded: the set still holds the bans, restore re-adds them).
  const restart: number[] = [];
  const again: number[] = [];
  for (let i = 0; i < runs; i++) {
    const ns = netns('moat-br');
    const configFile = path.join(dir, `moat-${i}.yaml`);
    writeFileSync(
      configFile,
      ['firewall:', '  backend: nftables', `  netns: ${ns.name}`, 'watch:', '  sources: []', ''].join('\n'),
    );
    restart.push(await timeStart(ns.name, configFile));
    again.push(await timeStart(ns.name, configFile));
    ns.remove();
  }

  const verdict = (value: number, target: number) => (value <= target ? 'PASS' : 'FAIL');
  console.log(`bans: ${n} IPv4 addresses, ${runs} runs each, nftables in a namespace`);
  console.log('');
  console.log('| measurement | median | runs | target |');
  console.log('|---|---|---|---|');
  console.log(
    `| (a) ${n} bans into nftables, one transaction | ${ms(median(load))} | ${load.map(ms).join(', ')} | ≤ 2,000 ms ${verdict(median(load), 2000)} |`,
  );
  console.log(
    `| (b) \`moat watch\` spawn → "moat watch started", ${n} stored bans restored into empty nftables (reboot) | ${ms(median(restart))} | ${restart.map(ms).join(', ')} | ≤ 3,000 ms ${verdict(median(restart), 3000)} |`,
  );
  console.log(
    `| (b') same, the set still holding them (daemon crash or upgrade) | ${ms(median(again))} | ${again.map(ms).join(', ')} | ≤ 3,000 ms ${verdict(median(again), 3000)} |`,
  );
  console.log('');
  console.log(`(filling the SQLite store with ${n} bans, Store.addBans, one transaction: ${ms(fillMs)})`);
  if (Math.max(...load) > 2000 || Math.max(...restart, ...again) > 3000) process.exitCode = 1;
} finally {
  for (const name of namespaces) execFileSync('ip', ['netns', 'del', name]);
  rmSync(dir, { recursive: true, force: true });
  const after = execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' });
  if (after.includes('moat')) console.error('warning: a moat table appeared on the host ruleset');
}

/**
 * kill -9 at random moments while banning: every committed ban is back in nftables after restart,
 * and no attacker's line is lost.
 *
 * A writer appends nginx lines continuously: new attackers (one sensitive-file probe each, which
 * bans on one request; some IPv6, banned as their /64 in the interval set) among benign visitors,
 * sometimes a line in two writes. A real `moat watch` process tails the log and bans in nftables
 * inside a namespace this test creates. At moments drawn from a seeded PRNG it is SIGKILLed —
 * mostly while banning, sometimes during start-up restore — and half the time the namespace's
 * table is deleted as well (a reboot: nftables forgets everything). While it is down the store is
 * read; after the restart, once "moat watch started" is logged, every ban the store held must be
 * in the nft sets. At the end every attacker written before the last kill must be banned.
 *
 * Reproduce a run with MOAT_CRASH_SEED=<seed> (printed on failure).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { openSqliteStore } from '../../src/storage/sqlite.ts';
import { createNetns, hasNft, writeNetnsWatchConfig } from '../helpers/netns.ts';

const run = promisify(execFile);
const top = path.join(import.meta.dirname, '..', '..');
const ROUNDS = 24;
const SEED = Number(process.env['MOAT_CRASH_SEED'] ?? 20_251_123);

/** mulberry32: a small seeded PRNG, so a failing sequence of kills can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const p2 = (n: number) => String(n).padStart(2, '0');
function nginxTime(d: Date): string {
  return `${p2(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} +0000`;
}

/**
 * Attacker number i: an IPv4 address in 198.18.0.0/16 (the benchmarking range, never this host's),
 * or every seventh an IPv6 address that moat bans as its /64. Returns the address and the ban target.
 */
function attacker(i: number): { address: string; target: string } {
  if (i % 7 === 6)
    return { address: `2001:db8:c:${i.toString(16)}::1`, target: `2001:db8:c:${i.toString(16)}::/64` };
  const n = i + 1;
  const address = `198.18.${(n >> 8) & 0xff}.${n & 0xff}`;
  return { address, target: address };
}

/** Every element of moat's sets in `ns`, as ban targets (`198.18.0.7`, `2001:db8:c:6::/64`). */
async function nftTargets(ns: string): Promise<Set<string>> {
  const out = new Set<string>();
  for (const set of ['addr4', 'net6']) {
    let stdout: string;
    try {
      ({ stdout } = await run('ip', ['netns', 'exec', ns, 'nft', '-j', 'list', 'set', 'inet', 'moat', set], {
        maxBuffer: 64 * 1024 * 1024,
      }));
    } catch {
      continue; // no table (yet): nothing is enforced
    }
    const parsed = JSON.parse(stdout) as { nftables: { set?: { elem?: unknown[] } }[] };
    for (const item of parsed.nftables) {
      for (const raw of item.set?.elem ?? []) {
        const value = (raw as { elem?: { val: unknown } }).elem?.val ?? raw;
        if (typeof value === 'string') out.add(value);
        const prefix = (value as { prefix?: { addr: string; len: number } }).prefix;
        if (prefix) out.add(`${prefix.addr}/${prefix.len}`);
      }
    }
  }
  return out;
}

describe('moat watch killed with SIGKILL at random moments while banning', () => {
  const skip = process.getuid?.() !== 0 || !hasNft() ? 'needs root and nft (network namespaces)' : false;
  const dir = mkdtempSync(path.join(tmpdir(), 'moat-crash-'));
  const logFile = path.join(dir, 'access.log');
  const stateDir = path.join(dir, 'state');
  const configFile = path.join(dir, 'moat.yaml');
  let ns: { readonly name: string; remove(): void } | undefined;
  let daemon: ChildProcess | undefined;

  before(() => {
    if (skip) return;
    ns = createNetns('moat-cr');
    writeFileSync(logFile, '');
    writeNetnsWatchConfig(configFile, { netns: ns.name, logFile, from: 'start' });
  });

  after(async () => {
    if (daemon && daemon.exitCode === null && daemon.signalCode === null) {
      daemon.kill('SIGKILL');
      await new Promise((resolve) => daemon!.once('exit', resolve));
    }
    await sleep(100); // an nft the killed daemon left running finishes inside the namespace
    ns?.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  it(
    `every committed ban is back in nftables after each of ${ROUNDS} restarts, and no attacker is lost`,
    { skip, timeout: 240_000 },
    async (t) => {
      const nsName = ns!.name;
      const random = prng(SEED); // kill moments
      const writes = prng(SEED + 1); // what the writer writes
      const context = () => `(seed ${SEED}; reproduce with MOAT_CRASH_SEED=${SEED})`;

      // The writer: ~35 new attackers a second among benign visitors, now and then a line split in two writes.
      const attackers: string[] = [];
      const benign = new Set<string>();
      let pending = '';
      let writing = true;
      const writer = (async () => {
        while (writing) {
          const stamp = nginxTime(new Date());
          let chunk = pending;
          pending = '';
          const lines: string[] = [];
          for (let i = 0, n = Math.floor(writes() * 3); i < n; i++) {
            const { address, target } = attacker(attackers.length);
            attackers.push(target);
            lines.push(`${address} - - [${stamp}] "GET /.env HTTP/1.1" 404 162 "-" "Mozilla/5.0 (scanner)"`);
          }
          for (let i = 0, n = Math.floor(writes() * 4); i < n; i++) {
            const address = `198.19.0.${1 + Math.floor(writes() * 200)}`;
            benign.add(address);
            lines.push(`${address} - - [${stamp}] "GET /index.html HTTP/1.1" 200 612 "-" "Mozilla/5.0"`);
          }
          const text = lines.map((line) => `${line}\n`).join('');
          if (text.length > 0 && writes() < 0.2) {
            const cut = Math.floor(writes() * (text.length - 1)) + 1;
            chunk += text.slice(0, cut);
            pending = text.slice(cut);
          } else {
            chunk += text;
          }
          if (chunk.length > 0) appendFileSync(logFile, chunk);
          await sleep(25);
        }
        if (pending.length > 0) appendFileSync(logFile, pending);
      })();

      let output = '';
      let busyKills = 0;
      let startupKills = 0;
      let reboots = 0;
      let restoredMax = 0;
      const spawnDaemon = () => {
        output = '';
        const child = spawn(
          process.execPath,
          [path.join(top, 'bin', 'moat.js'), '--config', configFile, 'watch', '--state-dir', stateDir],
          {
            stdio: ['ignore', 'pipe', 'pipe'],
          },
        );
        child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
        child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
        daemon = child;
        return child;
      };
      const kill9 = async (child: ChildProcess) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      };
      const started = async (): Promise<{ restoredBans: number }> => {
        for (let i = 0; i < 400; i++) {
          const line = output.split('\n').find((l) => l.includes('"msg":"moat watch started"'));
          if (line) return JSON.parse(line) as { restoredBans: number };
          if (daemon!.exitCode !== null || daemon!.signalCode !== null) break;
          await sleep(25);
        }
        assert.fail(`moat watch did not start ${context()}; it said:\n${output}`);
      };
      /** The store's active bans, read while the daemon is down (the committed truth). */
      const committed = async (): Promise<string[]> => {
        const store = openSqliteStore(path.join(stateDir, 'moat.db'));
        try {
          return (await store.activeBans(Date.now())).map((ban) => ban.target);
        } finally {
          await store.close();
        }
      };

      /** Up again: every ban committed while it was down is restored and in the nft sets. */
      let snapshot: string[] = [];
      const up = async (round: number | string) => {
        const { restoredBans } = await started();
        assert.equal(restoredBans, snapshot.length, `round ${round}: restored every stored ban ${context()}`);
        restoredMax = Math.max(restoredMax, restoredBans);
        const enforced = await nftTargets(nsName);
        const missing = snapshot.filter((target) => !enforced.has(target));
        assert.deepEqual(
          missing,
          [],
          `round ${round}: committed bans missing from nftables after restart ${context()}`,
        );
        assert.doesNotMatch(output, /"msg":"ban failed"/, `round ${round} ${context()}`);
      };
      /** SIGKILL, half the time a reboot too; then what the store holds, none of it lost. */
      const down = async (child: ChildProcess, round: number) => {
        await kill9(child);
        if (random() < 0.5) {
          await sleep(50); // let an nft the daemon left behind finish first
          await run('ip', ['netns', 'exec', nsName, 'nft', 'delete', 'table', 'inet', 'moat']).catch(
            () => undefined,
          );
          reboots++;
        }
        const next = await committed();
        const lost = snapshot.filter((target) => !next.includes(target));
        assert.deepEqual(lost, [], `round ${round}: bans the store had committed are gone ${context()}`);
        snapshot = next;
      };

      try {
        let child = spawnDaemon();
        for (let round = 1; round <= ROUNDS; round++) {
          await up(round);
          await sleep(50 + random() * 650);
          if (round === ROUNDS) {
            // The last kill: the writer stops just before it, so everything written precedes it.
            writing = false;
            await writer;
          }
          await down(child, round);
          if (snapshot.length < attackers.length) busyKills++; // it died with attackers still to ban
          child = spawnDaemon();
          if (round < ROUNDS && random() < 0.25) {
            // Killed again during start-up, possibly in the middle of restoring the bans.
            await sleep(random() * 400);
            await down(child, round);
            startupKills++;
            child = spawnDaemon();
          }
        }

        // The final start catches up on whatever the last daemon had not committed.
        await up('final');
        let stored = new Set<string>();
        let enforced = new Set<string>();
        for (let i = 0; i < 400; i++) {
          stored = new Set(await committed());
          enforced = await nftTargets(nsName);
          if (attackers.every((target) => stored.has(target) && enforced.has(target))) break;
          await sleep(50);
        }
        const notStored = attackers.filter((target) => !stored.has(target));
        assert.deepEqual(notStored, [], `attackers never banned in the store ${context()}`);
        const notEnforced = attackers.filter((target) => !enforced.has(target));
        assert.deepEqual(notEnforced, [], `attackers never banned in nftables ${context()}`);
        const listed = await run(process.execPath, [
          path.join(top, 'bin', 'moat.js'),
          '--config',
          configFile,
          'bans',
          '--state-dir',
          stateDir,
          'list',
          '--json',
        ]);
        const bans = (JSON.parse(listed.stdout) as { bans: { target: string; scenario: string }[] }).bans;
        assert.equal(
          bans.length,
          attackers.length,
          `\`moat bans list --json\` shows each attacker once ${context()}`,
        );
        const attackerSet = new Set(attackers);
        assert.deepEqual(
          bans.filter((ban) => !attackerSet.has(ban.target) || ban.scenario !== 'http-sensitive-files'),
          [],
          `only attackers are banned, for their probe ${context()}`,
        );
        assert.ok(attackers.length >= 500, `the writer kept the daemon busy (${attackers.length} attackers)`);
        assert.ok(benign.size > 0);

        // And a clean stop still works after all that.
        const stopped = new Promise((resolve) => daemon!.once('exit', resolve));
        daemon!.kill('SIGTERM');
        await stopped;
        assert.match(output, /"msg":"moat watch stopped"/);
        t.diagnostic(
          `seed ${SEED}: ${ROUNDS} SIGKILLs (${busyKills} with attackers still to ban), ${startupKills} more during start-up, ${reboots} reboots (table deleted); ${attackers.length} attackers written, all banned; up to ${restoredMax} bans restored per start`,
        );
      } finally {
        writing = false;
        await writer;
      }
    },
  );
});

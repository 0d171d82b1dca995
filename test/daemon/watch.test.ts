/**
 * The daemon in-process, with the dry-run firewall and a real file source: bans reach the store
 * and the firewall, survive a restart, and a reload (SIGHUP) swaps scenarios without losing bans.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseConfig } from '../../src/config/load.ts';
import { systemClock } from '../../src/core/clock.ts';
import type { Logger } from '../../src/daemon/log.ts';
import { startWatch } from '../../src/daemon/watch.ts';
import { createDryRunFirewall } from '../../src/enforcement/dry-run.ts';
import { openSqliteStore } from '../../src/storage/sqlite.ts';

function capture(): Logger & { lines: { msg: string; [key: string]: unknown }[] } {
  const lines: { msg: string }[] = [];
  return { lines, log: (level, msg, fields) => lines.push({ level, msg, ...fields } as never) };
}

const stamp = () => {
  const d = new Date();
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${months[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
};
const probe = (ip: string, target: string) =>
  `${ip} - - [${stamp()}] "GET ${target} HTTP/1.1" 404 12 "-" "Mozilla/5.0"\n`;

async function until(check: () => Promise<boolean> | boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await sleep(20);
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('moat watch (in-process, dry-run firewall)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'moat-daemon-'));
  const log = path.join(dir, 'access.log');
  writeFileSync(log, '');
  const config = parseConfig({ watch: { sources: [{ path: log, format: 'nginx-combined', name: 'web' }] } });

  it('bans from the log, keeps bans across a restart, and reloads scenarios without losing them', async () => {
    const firewall = createDryRunFirewall();
    const logger = capture();
    const first = await startWatch({
      config,
      stateDir: dir,
      logger,
      clock: systemClock,
      firewall,
      pollMs: 20,
    });
    appendFileSync(log, probe('203.0.113.77', '/.env'));
    await until(async () => (await first.store.activeBans(Date.now())).length === 1, 'the ban');
    assert.deepEqual(
      (await firewall.list()).map((e) => e.target),
      ['203.0.113.77'],
    );
    assert.ok(logger.lines.some((l) => l.msg === 'ban' && l['target'] === '203.0.113.77'));

    // SIGHUP: disable the scenario that fired; the ban stays, the scenario is gone.
    await first.reload(
      parseConfig({
        watch: {
          sources: [{ path: log, format: 'nginx-combined', name: 'web' }],
          scenarios: { disabled: ['http-sensitive-files'] },
        },
      }),
    );
    assert.ok(!first.pipeline.engine.scenarios.some((s) => s.name === 'http-sensitive-files'));
    appendFileSync(log, probe('198.51.100.88', '/.env'));
    await sleep(200);
    assert.equal((await first.store.activeBans(Date.now())).length, 1, 'the disabled scenario must not ban');
    await first.stop();

    // A restart restores the stored ban into a fresh firewall and resumes after the last line read.
    const fresh = createDryRunFirewall();
    const second = capture();
    const again = await startWatch({
      config,
      stateDir: dir,
      logger: second,
      clock: systemClock,
      firewall: fresh,
      pollMs: 20,
    });
    assert.deepEqual(
      (await fresh.list()).map((e) => e.target),
      ['203.0.113.77'],
    );
    assert.ok(second.lines.some((l) => l.msg === 'moat watch started' && l['restoredBans'] === 1));
    await sleep(200);
    // 198.51.100.88's line was read before the restart: it is not re-read (so, with the scenario back, still no ban).
    assert.equal((await again.store.activeBans(Date.now())).length, 1);
    await again.stop();
  });

  it('learns of bans removed and added by another process within a second, and bans an unbanned prober again', async () => {
    const state = mkdtempSync(path.join(tmpdir(), 'moat-sync-'));
    const access = path.join(state, 'access.log');
    writeFileSync(access, '');
    const firewall = createDryRunFirewall();
    const daemon = await startWatch({
      config: parseConfig({ watch: { sources: [{ path: access, format: 'nginx-combined', name: 'web' }] } }),
      stateDir: state,
      logger: capture(),
      clock: systemClock,
      firewall,
      pollMs: 20,
      storePollMs: 100,
    });
    // The CLI's own connection to the same store, as `moat bans remove|add` opens it.
    const cli = openSqliteStore(path.join(state, 'moat.db'));
    try {
      appendFileSync(access, probe('203.0.113.90', '/.env'));
      await until(async () => daemon.services.bans.isBanned('203.0.113.90'), 'the first ban');

      assert.equal(await cli.removeBan('203.0.113.90', Date.now()), true);
      const removedAt = Date.now();
      await until(() => !daemon.services.bans.isBanned('203.0.113.90'), 'the daemon to see the unban');
      assert.ok(Date.now() - removedAt < 1000, 'within a second');
      assert.deepEqual(await firewall.list(), [], 'released from the firewall too');

      // The same prober probes again: it is a new offence, not a repeat held back by a cool-down.
      appendFileSync(access, probe('203.0.113.90', '/.git/config'));
      await until(async () => daemon.services.bans.isBanned('203.0.113.90'), 'the second ban');
      assert.equal((await cli.activeBans(Date.now())).length, 1);

      // A ban added by another process reaches the live set and the firewall.
      const manual = {
        target: '198.51.100.0/24',
        scenario: 'manual',
        reason: 'added by hand',
        origin: 'manual' as const,
        durationMs: 3_600_000,
        at: Date.now(),
      };
      await cli.addBan(manual, manual.at + manual.durationMs);
      await until(() => daemon.services.bans.isBanned('198.51.100.7'), 'the added range');
      assert.ok((await firewall.list()).some((e) => e.target === '198.51.100.0/24'));
    } finally {
      await cli.close();
      await daemon.stop();
    }
  });

  it('blocks a ban again before a backend with capped timeouts (ipset) lets it lapse', async () => {
    const state = mkdtempSync(path.join(tmpdir(), 'moat-long-'));
    const access = path.join(state, 'access.log');
    writeFileSync(access, '');
    // A backend that holds a timeout for at most 300 ms, standing in for ipset's 24.8 days.
    const firewall = createDryRunFirewall({ maxTtlMs: 300 });
    const daemon = await startWatch({
      config: parseConfig({ watch: { sources: [{ path: access, format: 'nginx-combined', name: 'web' }] } }),
      stateDir: state,
      logger: capture(),
      clock: systemClock,
      firewall,
      pollMs: 20,
      sweepMs: 40,
    });
    try {
      appendFileSync(access, probe('203.0.113.91', '/.env'));
      await until(async () => (await firewall.list()).length === 1, 'the ban in the firewall');
      for (let i = 0; i < 10; i++) {
        await sleep(100);
        assert.deepEqual(
          (await firewall.list()).map((e) => e.target),
          ['203.0.113.91'],
          `still blocked after ${(i + 1) * 100} ms of a 4 h ban`,
        );
      }
    } finally {
      await daemon.stop();
    }
  });

  it('refuses to start on a scenario name that does not exist, naming the key', async () => {
    const bad = parseConfig({ watch: { scenarios: { disabled: ['http-sensitive-file'] } } });
    await assert.rejects(
      startWatch({
        config: bad,
        stateDir: mkdtempSync(path.join(tmpdir(), 'moat-bad-')),
        logger: capture(),
        clock: systemClock,
        firewall: createDryRunFirewall(),
      }),
      /watch\.scenarios\.disabled: no scenario is named "http-sensitive-file"/,
    );
  });
});

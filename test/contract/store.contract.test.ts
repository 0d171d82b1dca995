/** One contract suite, every Store: SQLite (node:sqlite, on disk) and memory. */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Decision } from '../../src/core/events.ts';
import { createMemoryData, createMemoryStore } from '../../src/storage/memory.ts';
import { openSqliteStore } from '../../src/storage/sqlite.ts';
import type { Store } from '../../src/storage/types.ts';

const T0 = 1_700_000_000_000;
const HOUR = 3_600_000;

function decision(target: string, at: number, scenario = 'ssh-bruteforce'): Decision {
  return { target, scenario, reason: `${scenario} by ${target}`, origin: 'scenario', durationMs: HOUR, at };
}

const implementations: { name: string; open: () => Store; openPair: () => [Store, Store] }[] = [
  {
    name: 'sqlite',
    open: () => openSqliteStore(path.join(mkdtempSync(path.join(tmpdir(), 'moat-store-')), 'state.db')),
    openPair: () => {
      const file = path.join(mkdtempSync(path.join(tmpdir(), 'moat-store-')), 'state.db');
      return [openSqliteStore(file), openSqliteStore(file)];
    },
  },
  {
    name: 'memory',
    open: () => createMemoryStore(),
    openPair: () => {
      const data = createMemoryData();
      return [createMemoryStore(data), createMemoryStore(data)];
    },
  },
];

for (const implementation of implementations) {
  describe(`Store contract: ${implementation.name}`, () => {
    let store: Store;
    beforeEach(() => {
      store = implementation.open();
    });
    afterEach(async () => {
      await store.close();
    });

    it('tells a handle when another handle changed the store, never for its own writes', async () => {
      const [daemon, cli] = implementation.openPair();
      try {
        assert.equal(await daemon.changedElsewhere(), false, 'nothing happened yet');
        await daemon.addBan(decision('203.0.113.7', T0), T0 + HOUR);
        assert.equal(await daemon.changedElsewhere(), false, 'its own write');
        assert.equal(await cli.changedElsewhere(), true, 'the other handle sees it');
        assert.equal(await cli.removeBan('203.0.113.7', T0 + 1), true);
        assert.equal(await daemon.changedElsewhere(), true, 'an unban from the CLI');
        assert.equal(await daemon.changedElsewhere(), false, 'answered once per change');
        assert.deepEqual(await daemon.activeBans(T0 + 1), []);
        await daemon.addBan(decision('198.51.100.1', T0), T0 + HOUR);
        await cli.addBan(decision('198.51.100.2', T0), T0 + HOUR);
        await daemon.addBan(decision('198.51.100.3', T0), T0 + HOUR);
        assert.equal(await daemon.changedElsewhere(), true, 'a write of the other between two of its own');
      } finally {
        await daemon.close();
        await cli.close();
      }
    });

    it('returns active bans oldest first and drops expired ones', async () => {
      await store.addBan(decision('203.0.113.7', T0), T0 + HOUR);
      await store.addBan(decision('2001:db8::/64', T0 + 1000), T0 + 2 * HOUR);
      await store.addBan(decision('198.51.100.1', T0 + 2000), T0 + 10_000);
      assert.deepEqual(
        (await store.activeBans(T0 + 5000)).map((b) => b.target),
        ['203.0.113.7', '2001:db8::/64', '198.51.100.1'],
      );
      assert.deepEqual(
        (await store.activeBans(T0 + 20_000)).map((b) => b.target),
        ['203.0.113.7', '2001:db8::/64'],
      );
    });

    it('keeps one active ban per target, with the later expiry', async () => {
      await store.addBan(decision('203.0.113.7', T0), T0 + 2 * HOUR);
      const second = await store.addBan(decision('203.0.113.7', T0 + 1000, 'http-probing'), T0 + HOUR);
      const active = await store.activeBans(T0 + 2000);
      assert.equal(active.length, 1);
      assert.equal(active[0]!.scenario, 'http-probing');
      assert.equal(active[0]!.expiresAt, T0 + 2 * HOUR);
      assert.equal(second.expiresAt, T0 + 2 * HOUR);
    });

    it('removes an active ban and says whether it did', async () => {
      await store.addBan(decision('203.0.113.7', T0), T0 + HOUR);
      assert.equal(await store.removeBan('203.0.113.7', T0 + 1), true);
      assert.equal(await store.removeBan('203.0.113.7', T0 + 1), false);
      assert.deepEqual(await store.activeBans(T0 + 1), []);
    });

    it('counts offences since a time, including removed and expired bans', async () => {
      await store.addBan(decision('203.0.113.7', T0), T0 + 1000);
      await store.addBan(decision('203.0.113.7', T0 + HOUR), T0 + 2 * HOUR);
      await store.removeBan('203.0.113.7', T0 + HOUR + 1);
      await store.addBan(decision('203.0.113.7', T0 + 3 * HOUR), T0 + 4 * HOUR);
      assert.equal(await store.offences('203.0.113.7', T0), 3);
      assert.equal(await store.offences('203.0.113.7', T0 + HOUR), 2);
      assert.equal(await store.offences('198.51.100.1', T0), 0);
    });

    it('adds many bans at once', async () => {
      const items = Array.from({ length: 500 }, (_, i) => ({
        decision: decision(`10.0.${i >> 8}.${i & 255}`, T0),
        expiresAt: T0 + HOUR,
      }));
      const stored = await store.addBans(items);
      assert.deepEqual(
        stored.map((ban) => ban.target),
        items.map((item) => item.decision.target),
      );
      assert.equal((await store.activeBans(T0)).length, 500);
    });

    it('in a batch, a target already banned for longer keeps the later expiry', async () => {
      await store.addBan(decision('203.0.113.7', T0), T0 + 3 * HOUR);
      const [ban] = await store.addBans([
        { decision: decision('203.0.113.7', T0 + 1), expiresAt: T0 + HOUR },
      ]);
      assert.equal(ban?.expiresAt, T0 + 3 * HOUR);
      assert.equal((await store.activeBans(T0 + 1)).length, 1);
    });

    it('stores and replaces read positions per source', async () => {
      assert.equal(await store.getPosition('nginx'), undefined);
      await store.setPosition('nginx', { fileId: '2049:12', offset: 100 });
      await store.setPosition('nginx', { fileId: '2049:13', offset: 7 });
      await store.setPosition('journal', { fileId: 'journal', offset: 0, cursor: 's=abc;i=1' });
      assert.deepEqual(await store.getPosition('nginx'), { fileId: '2049:13', offset: 7 });
      assert.deepEqual(await store.getPosition('journal'), {
        fileId: 'journal',
        offset: 0,
        cursor: 's=abc;i=1',
      });
    });
  });
}

describe('SQLite store durability', () => {
  it('has every committed ban after reopening the same file', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'moat-store-')), 'state.db');
    const first = openSqliteStore(file);
    await first.addBan(decision('203.0.113.7', T0), T0 + HOUR);
    await first.close();
    const second = openSqliteStore(file);
    assert.deepEqual(
      (await second.activeBans(T0)).map((b) => b.target),
      ['203.0.113.7'],
    );
    await second.close();
  });
});

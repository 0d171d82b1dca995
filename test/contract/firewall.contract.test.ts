/**
 * One contract suite, every Firewall backend: nftables, iptables+ipset and ufw (real, each inside a
 * network namespace this test creates; ufw also with a private /etc/ufw) and dry-run (in memory).
 * See src/enforcement/types.ts for the contract.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { manualClock } from '../../src/core/clock.ts';
import { createDryRunFirewall } from '../../src/enforcement/dry-run.ts';
import { createIptablesIpsetFirewall } from '../../src/enforcement/iptables-ipset.ts';
import { createNftablesFirewall } from '../../src/enforcement/nftables.ts';
import type { Firewall } from '../../src/enforcement/types.ts';
import { createUfwFirewall } from '../../src/enforcement/ufw.ts';
import { createNetns } from '../helpers/netns.ts';
import { unlessInCi } from '../helpers/requirement.ts';
import { createUfwNetns, hasUfw } from '../helpers/ufw-netns.ts';

interface Backend {
  readonly name: string;
  /** Why this backend cannot run here (a missing tool); CI fails instead of skipping. */
  readonly skip?: string | undefined;
  setup(): Firewall;
  cleanup(): void;
}

const hasCommand = (command: string) => {
  try {
    execFileSync(command, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

const netns = createNetns('moat-fw');
const backends: Backend[] = [
  {
    name: 'nftables',
    setup: () => createNftablesFirewall({ netns: netns.name }),
    cleanup: () => {},
  },
  {
    // What kernels before 6.10 need (an add leaves an existing element's timeout alone), forced here.
    name: 'nftables, timeouts refreshed by delete and re-add',
    setup: () => createNftablesFirewall({ netns: netns.name, table: 'moat_readd', timeoutRefresh: 'readd' }),
    cleanup: () => netns.remove(),
  },
  ((): Backend => {
    let ns: { remove(): void } | undefined;
    return {
      name: 'iptables-ipset',
      skip: unlessInCi(
        hasCommand('ipset') && hasCommand('iptables') ? undefined : 'ipset and iptables are not installed',
      ),
      setup: () => {
        const created = createNetns('moat-ipset');
        ns = created;
        return createIptablesIpsetFirewall({ netns: created.name });
      },
      cleanup: () => ns?.remove(),
    };
  })(),
  ((): Backend => {
    let ns: { remove(): void } | undefined;
    return {
      name: 'ufw',
      skip: unlessInCi(hasUfw() && hasCommand('iptables') ? undefined : 'ufw is not installed'),
      setup: () => {
        const created = createUfwNetns('moat-ufw');
        ns = created;
        return createUfwFirewall({ netns: created.name });
      },
      cleanup: () => ns?.remove(),
    };
  })(),
  {
    name: 'dry-run',
    setup: () => createDryRunFirewall({ clock: manualClock(1_700_000_000_000) }),
    cleanup: () => {},
  },
];

const targets = (entries: { target: string }[]) => entries.map((e) => e.target).sort();

for (const backend of backends) {
  describe(`Firewall contract: ${backend.name}`, { skip: backend.skip ?? false }, () => {
    let firewall: Firewall;
    before(async () => {
      firewall = backend.setup();
      await firewall.init();
    });
    after(async () => {
      await firewall.teardown();
      backend.cleanup();
    });

    it('blocks IPv4 and IPv6 addresses and ranges, normalised', async () => {
      await firewall.block('203.0.113.7', 60_000);
      await firewall.block('2001:DB8:0::1', 60_000);
      await firewall.block('198.51.100.9/24', 60_000);
      await firewall.block('2001:db8:1:2::5/64');
      assert.deepEqual(targets(await firewall.list()), [
        '198.51.100.0/24',
        '2001:db8:1:2::/64',
        '2001:db8::1',
        '203.0.113.7',
      ]);
    });

    it('refreshes the timeout when an address is blocked again', async () => {
      await firewall.block('192.0.2.10', 10_000);
      await firewall.block('192.0.2.10', 3_600_000);
      const entry = (await firewall.list()).find((e) => e.target === '192.0.2.10');
      assert.ok(entry?.expiresInMs !== undefined && entry.expiresInMs > 3_000_000, JSON.stringify(entry));
    });

    it('blockMany refreshes the timeouts of addresses already blocked, longer and shorter', async () => {
      await firewall.blockMany([
        { target: '192.0.2.40', ttlMs: 10_000 },
        { target: '192.0.2.41', ttlMs: 7_200_000 },
      ]);
      await firewall.blockMany([
        { target: '192.0.2.40', ttlMs: 3_600_000 },
        { target: '192.0.2.41', ttlMs: 60_000 },
      ]);
      const listed = await firewall.list();
      const left = (target: string) => listed.find((e) => e.target === target)?.expiresInMs;
      assert.ok((left('192.0.2.40') ?? 0) > 3_000_000, `192.0.2.40: ${left('192.0.2.40')}`);
      assert.ok((left('192.0.2.41') ?? Infinity) <= 60_000, `192.0.2.41: ${left('192.0.2.41')}`);
    });

    it('keeps a block without ttl until released', async () => {
      const entry = (await firewall.list()).find((e) => e.target === '2001:db8:1:2::/64');
      assert.ok(entry);
      assert.equal(entry.expiresInMs, undefined);
    });

    it('releases, and releasing what is not blocked is no error', async () => {
      await firewall.release('203.0.113.7');
      await firewall.release('203.0.113.7');
      await firewall.release('192.0.2.99');
      assert.ok(!targets(await firewall.list()).includes('203.0.113.7'));
    });

    it('init again keeps existing bans (a restart does not open the gates)', async () => {
      await firewall.init();
      assert.ok(targets(await firewall.list()).includes('2001:db8::1'));
    });

    it('blockMany applies a batch, and a batch with a bad target changes nothing', async () => {
      await firewall.blockMany([{ target: '192.0.2.20', ttlMs: 60_000 }, { target: '192.0.2.21' }]);
      const listed = targets(await firewall.list());
      assert.ok(listed.includes('192.0.2.20') && listed.includes('192.0.2.21'));
      await assert.rejects(firewall.blockMany([{ target: '192.0.2.30' }, { target: 'not-an-ip' }]));
      assert.ok(!targets(await firewall.list()).includes('192.0.2.30'));
    });

    it('teardown removes everything it made', async () => {
      await firewall.teardown();
      await firewall.init();
      assert.deepEqual(await firewall.list(), []);
    });
  });
}

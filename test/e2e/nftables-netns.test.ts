/**
 * Real nftables in network namespaces this test creates (never the host's ruleset, never an
 * outside address): a ban drops a client's traffic on the input hook, and on the forward hook —
 * the path Docker-published ports take, which ufw's INPUT rules never see.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createNftablesFirewall } from '../../src/enforcement/nftables.ts';
import { createNetns, httpGetFrom, ip, link, serveHttpIn } from '../helpers/netns.ts';

describe('nftables bans in network namespaces', () => {
  const host = createNetns('moat-host');
  const client1 = createNetns('moat-c1');
  const client2 = createNetns('moat-c2');
  let server: { stop(): void };
  const firewall = createNftablesFirewall({ netns: host.name });

  before(async () => {
    link(host.name, '10.231.1.1', client1.name, '10.231.1.2');
    link(host.name, '10.231.2.1', client2.name, '10.231.2.2');
    server = await serveHttpIn(host.name, 8080);
    await firewall.init();
  });
  after(() => {
    server?.stop();
    for (const ns of [host, client1, client2]) ns.remove();
  });

  it('drops a banned client on the input hook while another client is unaffected, until released', async () => {
    assert.equal(httpGetFrom(client1.name, 'http://10.231.1.1:8080/'), 'ok');
    await firewall.block('10.231.1.2', 60_000);
    assert.equal(httpGetFrom(client1.name, 'http://10.231.1.1:8080/'), 'ETIMEDOUT');
    assert.equal(httpGetFrom(client2.name, 'http://10.231.2.1:8080/'), 'ok');
    await firewall.release('10.231.1.2');
    assert.equal(httpGetFrom(client1.name, 'http://10.231.1.1:8080/'), 'ok');
  });

  for (const timeoutRefresh of ['probe', 'readd'] as const) {
    it(`bulk-loads 20,000 bans, a batch far past a pipe's 64 KiB (timeouts refreshed by ${timeoutRefresh}), and drops a client among them`, async () => {
      const bulk = createNftablesFirewall({
        netns: host.name,
        table: `moat_bulk_${timeoutRefresh}`,
        timeoutRefresh,
      });
      await bulk.init();
      // 198.18.0.0/15 (benchmarking addresses) and client1: a script of ~0.6 MB, far past a pipe's 64 KiB.
      const targets = ['10.231.1.2'];
      for (let i = 0; targets.length < 20_000; i++) targets.push(`198.18.${i >> 8}.${i & 255}`);
      const tempBefore = readdirSync(tmpdir()).filter((name) => name.startsWith('moat-nft-'));
      await bulk.blockMany(targets.map((target) => ({ target, ttlMs: 600_000 })));
      let listed = await bulk.list();
      assert.equal(listed.length, 20_000);
      assert.ok(
        listed.every(
          (e) => e.expiresInMs !== undefined && e.expiresInMs > 500_000 && e.expiresInMs <= 600_000,
        ),
      );
      assert.equal(httpGetFrom(client1.name, 'http://10.231.1.1:8080/'), 'ETIMEDOUT');
      assert.equal(httpGetFrom(client2.name, 'http://10.231.2.1:8080/'), 'ok');
      // Loaded again with a shorter ban (a restart after the store changed): every timeout follows.
      await bulk.blockMany(targets.map((target) => ({ target, ttlMs: 120_000 })));
      listed = await bulk.list();
      assert.equal(listed.length, 20_000);
      assert.ok(listed.every((e) => e.expiresInMs !== undefined && e.expiresInMs <= 120_000));
      assert.deepEqual(
        readdirSync(tmpdir()).filter((name) => name.startsWith('moat-nft-')),
        tempBefore,
        'the batch file and its folder are gone',
      );
      await bulk.teardown();
      assert.equal(httpGetFrom(client1.name, 'http://10.231.1.1:8080/'), 'ok');
    });
  }

  it('starts, and refreshes timeouts the way every kernel supports, when the probe cannot read nft JSON', async (t) => {
    // An nft that refuses `-j` (as one built without JSON support does).
    const dir = mkdtempSync(path.join(tmpdir(), 'moat-test-nojson-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const wrapper = path.join(dir, 'nft');
    writeFileSync(
      wrapper,
      '#!/bin/sh\n[ "$1" = "-j" ] && { echo "JSON support not compiled-in" >&2; exit 1; }\nexec nft "$@"\n',
      {
        mode: 0o755,
      },
    );
    const plain = createNftablesFirewall({ netns: host.name, table: 'moat_nojson', nftPath: wrapper });
    await plain.init();
    await plain.block('192.0.2.50', 10_000);
    await plain.block('192.0.2.50', 3_600_000);
    await plain.blockMany([{ target: '192.0.2.51', ttlMs: 7_200_000 }]);
    await plain.blockMany([{ target: '192.0.2.51', ttlMs: 60_000 }]);
    const listed = JSON.parse(
      ip('netns', 'exec', host.name, 'nft', '-j', 'list', 'table', 'inet', 'moat_nojson'),
    ) as { nftables: { set?: { name: string; elem?: { elem: { val: string; expires: number } }[] } }[] };
    const expires = new Map(
      listed.nftables.flatMap((item) =>
        (item.set?.elem ?? []).map((e) => [e.elem.val, e.elem.expires] as const),
      ),
    );
    assert.ok((expires.get('192.0.2.50') ?? 0) > 3_000, `192.0.2.50: ${expires.get('192.0.2.50')} s`);
    assert.ok((expires.get('192.0.2.51') ?? Infinity) <= 60, `192.0.2.51: ${expires.get('192.0.2.51')} s`);
    assert.ok(!listed.nftables.some((item) => item.set?.name === 'timeout_probe'), 'the probe set is gone');
    await plain.teardown();
  });

  it('bulk-loads through the pipe when no private file can be made (unwritable temporary folder)', async () => {
    const bulk = createNftablesFirewall({ netns: host.name, table: 'moat_bulk_pipe' });
    await bulk.init();
    const targets: string[] = [];
    for (let i = 0; targets.length < 5_000; i++) targets.push(`198.18.${i >> 8}.${i & 255}`);
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = '/nonexistent/moat-test-tmp';
    try {
      await bulk.blockMany(targets.map((target) => ({ target, ttlMs: 600_000 })));
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    }
    assert.equal((await bulk.list()).length, 5_000);
    await bulk.teardown();
  });
});

describe('nftables bans on the forward hook (Docker-style published ports)', () => {
  const client = createNetns('moat-fc');
  const router = createNetns('moat-fr');
  const backend = createNetns('moat-fs');
  let server: { stop(): void };
  const firewall = createNftablesFirewall({ netns: router.name });

  before(async () => {
    link(client.name, '10.231.3.2', router.name, '10.231.3.1');
    link(router.name, '10.231.4.1', backend.name, '10.231.4.2');
    ip('netns', 'exec', router.name, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1');
    ip('-n', client.name, 'route', 'add', 'default', 'via', '10.231.3.1');
    ip('-n', backend.name, 'route', 'add', 'default', 'via', '10.231.4.1');
    server = await serveHttpIn(backend.name, 8080);
    await firewall.init();
  });
  after(() => {
    server?.stop();
    for (const ns of [client, router, backend]) ns.remove();
  });

  it('drops forwarded traffic from a banned client', async () => {
    assert.equal(httpGetFrom(client.name, 'http://10.231.4.2:8080/'), 'ok');
    await firewall.block('10.231.3.0/24', 60_000);
    assert.equal(httpGetFrom(client.name, 'http://10.231.4.2:8080/'), 'ETIMEDOUT');
    await firewall.release('10.231.3.0/24');
    assert.equal(httpGetFrom(client.name, 'http://10.231.4.2:8080/'), 'ok');
  });
});

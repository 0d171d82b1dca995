/**
 * Firewall bulk-load benchmark: how long a start-up restore of N bans takes through each backend's
 * blockMany(), side by side in one run — nftables and iptables+ipset with 100k bans, addresses only
 * and then with 14 % ranges (a fresh load into empty sets, then a reload over the same bans as after
 * a restart), ufw with a few hundred addresses (one rule and one ufw run per ban: it cannot go
 * further in reasonable time). Every backend runs
 * inside a network namespace this script creates (ufw also with a private /etc/ufw): the host's
 * firewall is never touched. Needs root, nft, ipset, iptables; ufw is optional.
 *
 *   node bench/firewall-load.ts [--bans 100000] [--ufw-bans 200] [--runs 3] [--ufw-runs 1] [--seed 42]
 */
import { parseArgs } from 'node:util';
import { createIptablesIpsetFirewall } from '../src/enforcement/iptables-ipset.ts';
import { createNftablesFirewall } from '../src/enforcement/nftables.ts';
import type { BlockEntry, Firewall } from '../src/enforcement/types.ts';
import { createUfwFirewall } from '../src/enforcement/ufw.ts';
import { createNetns } from '../test/helpers/netns.ts';
import { createUfwNetns, hasUfw } from '../test/helpers/ufw-netns.ts';
import { median } from './lib/stats.ts';

const { values: args } = parseArgs({
  options: {
    bans: { type: 'string', default: '100000' },
    'ufw-bans': { type: 'string', default: '200' },
    runs: { type: 'string', default: '3' },
    'ufw-runs': { type: 'string', default: '1' },
    seed: { type: 'string', default: '42' },
  },
});
const bans = Number(args.bans);
const ufwBans = Number(args['ufw-bans']);
const runs = Number(args.runs);

/** mulberry32: small, fast, seeded. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Distinct bans. `rangeShare` of them are ranges (IPv6 /64s and IPv4 /24s, 5:2), the rest addresses
 * (IPv4, and IPv6 for one in ten).
 */
function makeBans(count: number, rangeShare: number, seed: number): BlockEntry[] {
  const random = rng(seed);
  const byte = () => Math.floor(random() * 256);
  const hex = () => Math.floor(random() * 65536).toString(16);
  const v4 = () => `${1 + Math.floor(random() * 222)}.${byte()}.${byte()}`;
  const seen = new Set<string>();
  const out: BlockEntry[] = [];
  while (out.length < count) {
    const range = random() < rangeShare;
    const six = random() < (range ? 5 / 7 : 0.1);
    const target = range
      ? six
        ? `2001:db8:${hex()}:${hex()}::/64`
        : `${v4()}.0/24`
      : six
        ? `2001:db8:${hex()}::${hex()}`
        : `${v4()}.${byte()}`;
    if (seen.has(target)) continue;
    seen.add(target);
    out.push({ target, ttlMs: 3_600_000 + Math.floor(random() * 86_400_000) });
  }
  return out;
}

const ms = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6;

interface Row {
  readonly backend: string;
  readonly workload: string;
  readonly bans: number;
  readonly fresh?: number;
  readonly reload?: number;
  readonly single?: number;
  readonly listed?: number;
  readonly failed?: string;
}

interface Workload {
  readonly name: string;
  readonly rangeShare: number;
}

const workloads: Workload[] = [
  { name: 'addresses', rangeShare: 0 },
  { name: '14 % ranges', rangeShare: 0.14 },
];

async function measure(
  backend: string,
  workload: Workload,
  count: number,
  runs: number,
  make: () => Firewall,
): Promise<Row> {
  const entries = makeBans(count, workload.rangeShare, Number(args.seed));
  const fresh: number[] = [];
  const reload: number[] = [];
  const single: number[] = [];
  let listed = 0;
  for (let run = 0; run < runs; run++) {
    const firewall = make();
    await firewall.init();
    try {
      let start = process.hrtime.bigint();
      await firewall.blockMany(entries);
      fresh.push(ms(start));
      start = process.hrtime.bigint();
      await firewall.blockMany(entries); // a restart: every ban is already there
      reload.push(ms(start));
      start = process.hrtime.bigint();
      await firewall.block('192.0.2.77', 60_000); // one more ban into the full set
      single.push(ms(start));
      listed = (await firewall.list()).length;
    } catch (error) {
      const message = (error as Error).message.split('\n')[0] ?? '';
      console.error(`  ${backend}, ${workload.name}: ${message}`);
      return {
        backend,
        workload: workload.name,
        bans: count,
        failed: message.includes('SIGTERM') ? 'timed out (30 s)' : 'failed',
      };
    } finally {
      await firewall.teardown();
    }
    console.error(
      `  ${backend}, ${workload.name}, run ${run + 1}/${runs}: fresh ${fresh.at(-1)?.toFixed(0)} ms`,
    );
  }
  return {
    backend,
    workload: workload.name,
    bans: count,
    fresh: median(fresh),
    reload: median(reload),
    single: median(single),
    listed,
  };
}

const rows: Row[] = [];
const nftNs = createNetns('moat-bench-nft');
const ipsetNs = createNetns('moat-bench-ipset');
try {
  for (const workload of workloads) {
    rows.push(
      await measure('nftables', workload, bans, runs, () => createNftablesFirewall({ netns: nftNs.name })),
    );
    rows.push(
      await measure('iptables-ipset', workload, bans, runs, () =>
        createIptablesIpsetFirewall({ netns: ipsetNs.name }),
      ),
    );
  }
} finally {
  nftNs.remove();
  ipsetNs.remove();
}
if (hasUfw() && ufwBans > 0) {
  const ufwNs = createUfwNetns('moat-bench-ufw');
  try {
    rows.push(
      await measure('ufw', workloads[0] as Workload, ufwBans, Number(args['ufw-runs']), () =>
        createUfwFirewall({ netns: ufwNs.name }),
      ),
    );
  } finally {
    ufwNs.remove();
  }
}

const f = (value: number | undefined, digits = 0) =>
  value === undefined ? '—' : `${value.toFixed(digits)} ms`;
console.log(
  '| backend | bans | blockMany, fresh | blockMany, reload (all present) | per ban (fresh) | one more block | listed after |',
);
console.log('|---|---|---|---|---|---|---|');
for (const row of rows) {
  const perBan =
    row.fresh === undefined ? (row.failed ?? '—') : `${((row.fresh * 1000) / row.bans).toFixed(1)} µs`;
  console.log(
    `| ${row.backend} | ${row.bans.toLocaleString('en')} ${row.workload} | ${f(row.fresh)} | ${f(row.reload)} | ${perBan} | ${f(row.single, 1)} | ${row.listed?.toLocaleString('en') ?? '—'} |`,
  );
}

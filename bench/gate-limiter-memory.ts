/**
 * The gate's limiter: memory per tracked client with 1,000,000 distinct addresses, and time per
 * check — side by side with the two obvious alternatives in the same run:
 *
 *   moat      createLimiter (typed-array hash table), one zone, 1M distinct IPv4 clients;
 *   moat v6   the same with half the clients IPv6 (distinct /64s);
 *   Map       a plain Map<string, { excess, last }> doing the same nginx arithmetic;
 *   erl       express-rate-limit's MemoryStore (`increment(key)`), the usual Node choice.
 *
 * Each case runs in a fresh Node process (with --expose-gc) so that RSS belongs to it alone:
 * RSS and heap are read after a full GC before and after the clients are added; bytes per client
 * = RSS growth / clients. Time per check is measured for new clients (insertions) and for 1M
 * checks of 10,000 clients already tracked, picked at random from the million (so the table is not
 * walked in cache order), with time moving on so that most are admitted.
 *
 *   node bench/gate-limiter-memory.ts                # all cases, 1M clients
 *   node bench/gate-limiter-memory.ts --clients 200000
 */
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import type { ZoneConfig } from '../src/config/gate.ts';
import { createLimiter } from '../src/gate/limiter.ts';
import { seededRandom } from './lib/random.ts';

const CASES = ['moat', 'moat-v6', 'map', 'erl'] as const;
type Case = (typeof CASES)[number];

const argument = (name: string): string | undefined => {
  const at = process.argv.indexOf(name);
  return at < 0 ? undefined : process.argv[at + 1];
};
const clients = Number(argument('--clients') ?? 1_000_000);
const only = argument('--case') as Case | undefined;

interface Result {
  readonly case: Case;
  readonly clients: number;
  readonly tracked: number;
  readonly rssBytes: number;
  readonly heapBytes: number;
  readonly arrayBufferBytes: number;
  readonly insertNs: number;
  readonly hitNs: number;
}

/** The i-th client: a distinct IPv4 address, or (v6 mix, odd i) a distinct IPv6 /64. */
function address(i: number, mixed: boolean): string {
  if (mixed && i % 2 === 1) {
    const n = i >>> 1;
    return `2001:db8:${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}::1`;
  }
  const n = 0x0b000000 + i; // from 11.0.0.0: public-looking, never loopback
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 3; i++) collect?.();
}

async function measure(which: Case): Promise<Result> {
  const mixed = which === 'moat-v6';
  const zone: ZoneConfig = {
    name: 'z',
    rate: 10,
    burst: 5,
    nodelay: true,
    status: 429,
    dryRun: false,
    maxKeys: Math.max(1000, clients),
  };
  const now = 1_700_000_000_000;

  let check: (key: string, nowMs: number) => unknown;
  let tracked: () => number;
  if (which === 'moat' || which === 'moat-v6') {
    const limiter = createLimiter([zone]);
    const zones = ['z'];
    check = (key, nowMs) => limiter.check(zones, key, nowMs);
    tracked = () => limiter.size;
  } else if (which === 'map') {
    const rate = 10_000;
    const burst = 5000;
    const map = new Map<string, { excess: number; last: number }>();
    check = (key, nowMs) => {
      const node = map.get(key);
      if (node === undefined) {
        map.set(key, { excess: 0, last: nowMs });
        return true;
      }
      const excess = Math.max(0, node.excess - Math.floor((rate * (nowMs - node.last)) / 1000) + 1000);
      if (excess > burst) return false;
      node.excess = excess;
      node.last = nowMs;
      return true;
    };
    tracked = () => map.size;
  } else {
    const { MemoryStore } = await import('express-rate-limit');
    const store = new MemoryStore();
    store.init({ windowMs: 60_000 } as Parameters<InstanceType<typeof MemoryStore>['init']>[0]);
    check = (key) => store.increment(key);
    tracked = () => (store as unknown as { current: Map<string, unknown> }).current.size;
  }

  // Warm the code paths on throwaway keys, then start from a clean heap.
  for (let i = 0; i < 1000; i++) check(`warm-${i}`, now);
  gc();
  const before = process.memoryUsage();

  let started = performance.now();
  for (let i = 0; i < clients; i++) check(address(i, mixed), now);
  const insertNs = ((performance.now() - started) * 1e6) / clients;
  await new Promise((resolve) => setImmediate(resolve)); // let MemoryStore's promises settle

  gc();
  const after = process.memoryUsage();

  const random = seededRandom(7);
  const probes = 1_000_000;
  const keys = Array.from({ length: 10_000 }, () => address(Math.floor(random() * clients), mixed));
  started = performance.now();
  // Time moves 1 ms every 16 checks: each client comes back every 625 ms, mostly admitted.
  for (let i = 0; i < probes; i++) check(keys[i % keys.length]!, now + (i >> 4));
  const hitNs = ((performance.now() - started) * 1e6) / probes;

  return {
    case: which,
    clients,
    tracked: tracked(),
    rssBytes: after.rss - before.rss,
    heapBytes: after.heapUsed - before.heapUsed,
    arrayBufferBytes: after.arrayBuffers - before.arrayBuffers,
    insertNs,
    hitNs,
  };
}

if (only !== undefined) {
  process.stdout.write(`${JSON.stringify(await measure(only))}\n`);
} else {
  const results: Result[] = [];
  for (const which of CASES) {
    const child = spawnSync(
      process.execPath,
      ['--expose-gc', import.meta.filename, '--case', which, '--clients', String(clients)],
      { encoding: 'utf8', maxBuffer: 1 << 20 },
    );
    if (child.status !== 0) {
      process.stderr.write(child.stderr);
      throw new Error(`case ${which} failed with status ${child.status}`);
    }
    results.push(JSON.parse(child.stdout.trim().split('\n').at(-1)!) as Result);
  }
  const mb = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);
  console.log(`${clients.toLocaleString('en')} distinct clients, one zone (10r/s burst=5 nodelay)\n`);
  console.log(
    '| case | tracked | RSS growth | heap growth | typed arrays | bytes/client (RSS) | ns/check new | ns/check tracked |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    console.log(
      `| ${r.case} | ${r.tracked.toLocaleString('en')} | ${mb(r.rssBytes)} MB | ${mb(r.heapBytes)} MB | ${mb(r.arrayBufferBytes)} MB | ${(
        r.rssBytes / r.clients
      ).toFixed(0)} | ${r.insertNs.toFixed(0)} | ${r.hitNs.toFixed(0)} |`,
    );
  }
  const moat = results.find((r) => r.case === 'moat')!;
  const perClient = moat.rssBytes / moat.clients;
  console.log(
    `\ntarget ≤ 100 bytes per tracked client (RSS): ${perClient.toFixed(0)} — ${perClient <= 100 ? 'met' : 'NOT met'}`,
  );
}

/**
 * Detection stage benchmark: events/s through the engine with every built-in scenario loaded, on
 * 1M seeded synthetic http-request events (~20k benign clients incl. IPv6, ~4 % attack events from
 * a few hundred clients of every HTTP class); detection quality per class on the same events; and
 * memory with 1M distinct client IPs in flight (measured in a child process for a clean RSS).
 *
 *   node bench/detect.ts [--events 1000000] [--seed 42] [--runs 5]
 *   node bench/detect.ts --memory [--ips 1000000]     (the child; prints JSON)
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { ParsedEvent } from '../src/core/events.ts';
import { createEngine } from '../src/detection/engine.ts';
import { loadBuiltinScenarios } from '../src/detection/load.ts';
import { seededRandom } from './lib/random.ts';

const readText = (path: string): string => readFileSync(path, 'utf8');

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    seed: { type: 'string', default: '42' },
    runs: { type: 'string', default: '5' },
    memory: { type: 'boolean', default: false },
    ips: { type: 'string', default: '1000000' },
    breakdown: { type: 'boolean', default: false },
    only: { type: 'string' },
  },
});

const T0 = Date.parse('2024-10-10T00:00:00Z');
const SPAN_MS = 8 * 3_600_000;

type Clazz =
  | 'benign'
  | 'crawler'
  | 'nat'
  | 'probing'
  | 'sensitive-files'
  | 'php-probe'
  | 'bad-user-agent'
  | 'flood'
  | 'slow-scan';

interface Generated {
  readonly events: ParsedEvent[];
  readonly classOf: Map<string, Clazz>;
}

const BROWSERS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15',
  'Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1',
];
const CRAWLERS = [
  'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
  'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)',
];
const TOOLS = [
  'sqlmap/1.7.2#stable (https://sqlmap.org)',
  'Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:000003)',
  'Mozilla/5.0 zgrab/0.x',
  'masscan/1.3 (https://github.com/robertdavidgraham/masscan)',
  'Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Nuclei - Open-source project (github.com/projectdiscovery/nuclei)',
  'gobuster/3.6',
  'WPScan v3.8.25 (https://wpscan.com/wordpress-security-scanner)',
  'DirBuster-1.0-RC1 (http://www.owasp.org/index.php/Category:OWASP_DirBuster_Project)',
  'Fuzz Faster U Fool v2.1.0-dev',
];
const SECRETS = [
  '/.env',
  '/.env.production',
  '/.git/config',
  '/.git/HEAD',
  '/wp-config.php.bak',
  '/.aws/credentials',
  '/backup.sql',
  '/db.sql.gz',
  '/.ssh/id_rsa',
  '/server-status',
  '/.DS_Store',
  '/config.php.bak',
  '/backup.zip',
  '/site.tar.gz',
  '/.htpasswd',
  '/docker-compose.yml',
];
const PHP = [
  '/wp-login.php',
  '/xmlrpc.php',
  '/admin.php',
  '/shell.php',
  '/wp-admin/setup-config.php',
  '/index.php',
  '/phpinfo.php',
  '/upload.php',
  '/config.php',
  '/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php',
  '/alfa.php',
  '/wso.php',
  '/cgi-bin/login.php',
  '/administrator/index.php',
];
const WORDS = [
  'admin',
  'login',
  'api',
  'v1',
  'v2',
  'old',
  'test',
  'backup',
  'cgi-bin',
  'manager',
  'console',
  'actuator',
  'solr',
  'jenkins',
  'phpmyadmin',
  'pma',
  'mysql',
  'webdav',
  'owa',
  'ecp',
  'remote',
  'portal',
  'debug',
  'status',
  'metrics',
  'graphql',
  'swagger',
  'druid',
  'boaform',
  'hudson',
  'struts',
  'jmx-console',
  'invoker',
  'HNAP1',
  'geoserver',
  'telescope',
  'vpn',
  'sslvpn',
  'global-protect',
  'nifi',
];
const PAGES = [
  '/',
  '/about',
  '/blog',
  '/blog/post-1',
  '/blog/post-2',
  '/pricing',
  '/docs',
  '/docs/getting-started',
  '/contact',
  '/app',
  '/search?q=x',
  '/login',
  '/account',
];

function generate(total: number, seed: number): Generated {
  const random = seededRandom(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const events: ParsedEvent[] = [];
  const classOf = new Map<string, Clazz>();
  let ipCounter = 0;
  const newIp = (v6: boolean): string => {
    ipCounter++;
    if (v6) {
      const a = (ipCounter * 2654435761) >>> 0;
      return `2a02:${(a >>> 16).toString(16)}:${(a & 0xffff).toString(16)}:${(ipCounter & 0xfff).toString(16)}:${Math.floor(random() * 0xffff).toString(16)}:${Math.floor(random() * 0xffff).toString(16)}:1:${(ipCounter % 97).toString(16)}`;
    }
    const a = (ipCounter * 2654435761 + seed) >>> 0;
    return `${(a >>> 24) % 223 || 1}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255 || 1}`;
  };
  // Raw tuples first; the ParsedEvents are built after sorting, in time order, so that (as in the
  // real pipeline, where the line was just parsed) consecutive events sit next to each other in memory.
  const raw: [number, string, string, number, string, string][] = [];
  const push = (
    ip: string,
    at: number,
    path: string,
    status: number,
    userAgent: string,
    method = 'GET',
  ): void => {
    if (at < T0 + SPAN_MS) raw.push([Math.floor(at), ip, path, status, userAgent, method]);
  };
  const start = (): number => T0 + random() * (SPAN_MS - 3_600_000);

  // Attack classes (a few hundred clients).
  const attackers: [Clazz, number, (ip: string) => void][] = [
    [
      'probing',
      60,
      (ip) => {
        let t = start();
        const n = 80 + Math.floor(random() * 200);
        for (let i = 0; i < n; i++, t += 50 + random() * 2000)
          push(ip, t, `/${pick(WORDS)}/${pick(WORDS)}${i}`, random() < 0.9 ? 404 : 403, pick(BROWSERS));
      },
    ],
    [
      'sensitive-files',
      40,
      (ip) => {
        let t = start();
        for (let i = 0; i < 3 + Math.floor(random() * 10); i++, t += 200 + random() * 5000)
          push(ip, t, pick(SECRETS), 404, pick(BROWSERS));
      },
    ],
    [
      'php-probe',
      40,
      (ip) => {
        let t = start();
        for (let i = 0; i < 4 + Math.floor(random() * 20); i++, t += 100 + random() * 3000)
          push(ip, t, pick(PHP), 404, pick(BROWSERS));
      },
    ],
    [
      'bad-user-agent',
      40,
      (ip) => {
        let t = start();
        const ua = pick(TOOLS);
        for (let i = 0; i < 5 + Math.floor(random() * 60); i++, t += 20 + random() * 500)
          push(ip, t, pick(PAGES), 200, ua);
      },
    ],
    [
      'flood',
      20,
      (ip) => {
        let t = start();
        const perSecond = 40 + random() * 200;
        const n = 800 + Math.floor(random() * 600);
        for (let i = 0; i < n; i++, t += (1000 / perSecond) * (0.5 + random()))
          push(ip, t, pick(PAGES), 200, pick(BROWSERS));
      },
    ],
    [
      'slow-scan',
      40,
      (ip) => {
        let t = T0 + random() * 3_600_000;
        for (let i = 0; i < 40 + Math.floor(random() * 20); i++, t += 3 * 60_000 + random() * 9 * 60_000)
          push(ip, t, `/${pick(WORDS)}-${i}/`, 404, pick(BROWSERS));
      },
    ],
  ];
  for (const [clazz, count, run] of attackers) {
    for (let i = 0; i < count; i++) {
      const ip = newIp(random() < 0.15);
      classOf.set(ip, clazz);
      run(ip);
    }
  }
  const attackEvents = raw.length;

  // Crawlers: steady, a few requests per second, some stale links (404 on distinct paths, old .php URLs).
  for (let c = 0; c < 30; c++) {
    const ip = newIp(false);
    classOf.set(ip, 'crawler');
    const ua = pick(CRAWLERS);
    let t = T0 + random() * 600_000;
    const rate = 0.2 + random() * 2.5;
    for (let i = 0; i < 4000 && t < T0 + SPAN_MS; i++, t += (1000 / rate) * (0.2 + random() * 1.6)) {
      const r = random();
      if (r < 0.05) push(ip, t, `/old/article-${Math.floor(random() * 10000)}`, 404, ua);
      else if (r < 0.06) push(ip, t, `/old/page-${Math.floor(random() * 500)}.php`, 404, ua);
      else push(ip, t, `${pick(PAGES)}?p=${i}`, 200, ua);
    }
  }
  // Offices behind NAT: many people, one address.
  for (let c = 0; c < 8; c++) {
    const ip = newIp(false);
    classOf.set(ip, 'nat');
    for (let user = 0; user < 25; user++) browse(ip, 6 + Math.floor(random() * 10));
  }
  // Ordinary visitors until the benign budget is used.
  const benignBudget = total - attackEvents;
  while (raw.length < attackEvents + benignBudget) {
    const ip = newIp(random() < 0.15);
    classOf.set(ip, 'benign');
    browse(ip, 1 + Math.floor(-Math.log(1 - random()) * 1.2));
  }
  function browse(ip: string, pages: number): void {
    const ua = pick(BROWSERS);
    let t = start();
    for (let p = 0; p < pages; p++) {
      const page = random() < 0.01 ? `/blgo/pots-${Math.floor(random() * 99)}` : pick(PAGES); // a typo now and then
      push(ip, t, page, page.startsWith('/blgo') ? 404 : 200, ua);
      const assets = 5 + Math.floor(random() * 35);
      for (let a = 0; a < assets; a++) {
        const broken = random() < 0.02;
        push(
          ip,
          t + 50 + random() * 1500,
          `/static/${broken ? 'missing' : 'asset'}-${a}.${pick(['js', 'css', 'png', 'woff2', 'svg'])}`,
          broken ? 404 : random() < 0.3 ? 304 : 200,
          ua,
        );
      }
      if (p === 0) push(ip, t + 100, '/favicon.ico', 404, ua);
      if (random() < 0.05) push(ip, t + 300, '/api/session', 401, ua); // an expired session
      t += 3000 + -Math.log(1 - random()) * 40_000;
    }
  }
  raw.sort((a, b) => a[0] - b[0]);
  if (raw.length > total) raw.length = total;
  for (const [at, ip, path, status, userAgent, method] of raw) {
    // Fields are cut from one line, as a parser's are: fresh strings with no cached hash.
    const line = `${ip} - - [10/Oct/2024:13:55:36 +0000] "${method} ${path} HTTP/1.1" ${status} 512 "-" "${userAgent}"`;
    const pathStart = ip.length + 35 + method.length + 1;
    const uaStart = line.length - userAgent.length - 1;
    events.push({
      at,
      source: 'nginx',
      service: 'http',
      kind: 'http-request',
      ip: line.slice(0, ip.length),
      method,
      path: line.slice(pathStart, pathStart + path.length),
      status,
      bytes: 512,
      userAgent: line.slice(uaStart, uaStart + userAgent.length),
      referer: '-',
      host: 'example.com',
    });
  }
  return { events, classOf };
}

function benchThroughput(): void {
  const total = Number(args.events);
  const seed = Number(args.seed);
  const t0 = performance.now();
  const { events, classOf } = generate(total, seed);
  const genMs = performance.now() - t0;
  const scenarios = loadBuiltinScenarios(readText).filter(
    (d) => args.only === undefined || args.only.split(',').includes(d.name),
  );
  const attackIps = [...classOf.values()].filter((c) => !['benign', 'crawler', 'nat'].includes(c)).length;
  const v6 = [...classOf.keys()].filter((ip) => ip.includes(':')).length;
  const attackEvents = events.filter(
    (e) => !['benign', 'crawler', 'nat'].includes(classOf.get(e.ip as string) as string),
  ).length;
  console.log(
    `detection bench: ${events.length.toLocaleString('en')} events (generated in ${Math.round(genMs)} ms), ${classOf.size.toLocaleString('en')} clients (${v6.toLocaleString('en')} IPv6), ${attackIps} attackers sending ${((attackEvents / events.length) * 100).toFixed(1)} % of events; ${scenarios.length} scenarios`,
  );

  const rates: number[] = [];
  let fired = new Map<string, Set<string>>();
  for (let run = 0; run < Number(args.runs); run++) {
    const engine = createEngine(scenarios);
    const hits = new Map<string, Set<string>>();
    const start = performance.now();
    for (let i = 0; i < events.length; i++) {
      const out = engine.ingest(events[i] as ParsedEvent);
      if (out !== undefined) {
        for (const o of out) {
          const ip = o.ip ?? o.key;
          let set = hits.get(ip);
          if (set === undefined) hits.set(ip, (set = new Set()));
          set.add(o.scenario);
        }
      }
    }
    const ms = performance.now() - start;
    rates.push(events.length / (ms / 1000));
    fired = hits;
  }
  if (args.breakdown) {
    // ns per event each scenario adds on its own (engine alone with that one scenario).
    const timeWith = (defs: typeof scenarios): number => {
      let best = Number.POSITIVE_INFINITY;
      for (let run = 0; run < 3; run++) {
        const engine = createEngine(defs);
        const start = performance.now();
        for (let i = 0; i < events.length; i++) engine.ingest(events[i] as ParsedEvent);
        best = Math.min(best, ((performance.now() - start) * 1e6) / events.length);
      }
      return best;
    };
    const empty = timeWith([]);
    console.log(`  engine with no scenario: ${empty.toFixed(0)} ns/event`);
    for (const def of scenarios.filter((d) => d.kinds.includes('http-request'))) {
      console.log(`  + ${def.name.padEnd(22)} ${(timeWith([def]) - empty).toFixed(0)} ns/event`);
    }
  }
  rates.sort((a, b) => a - b);
  const median = rates[Math.floor(rates.length / 2)] as number;
  console.log(
    `throughput: median ${fmt(median)} events/s (best ${fmt(rates[rates.length - 1] as number)}, worst ${fmt(rates[0] as number)}; ${rates.length} runs, one core)`,
  );

  // Quality: an attacker is caught when any scenario fired for it; a benign client must never be.
  const perClass = new Map<Clazz, { total: number; caught: number; by: Map<string, number> }>();
  for (const [ip, clazz] of classOf) {
    const entry = perClass.get(clazz) ?? { total: 0, caught: 0, by: new Map() };
    perClass.set(clazz, entry);
    entry.total++;
    const hit = fired.get(ip);
    if (hit !== undefined) {
      entry.caught++;
      for (const s of hit) entry.by.set(s, (entry.by.get(s) ?? 0) + 1);
    }
  }
  console.log('quality (fired for the client, any scenario):');
  for (const [clazz, { total: n, caught, by }] of perClass) {
    const benign = clazz === 'benign' || clazz === 'crawler' || clazz === 'nat';
    const figure = benign
      ? `false positives ${caught}/${n} (${((caught / n) * 100).toFixed(3)} %)`
      : `recall ${(caught / n).toFixed(3)} (${caught}/${n})`;
    const scenarios = [...by].map(([s, c]) => `${s}:${c}`).join(' ');
    console.log(`  ${clazz.padEnd(16)} ${figure}${scenarios ? `  [${scenarios}]` : ''}`);
  }

  const child = execFileSync(
    process.execPath,
    ['--expose-gc', fileURLToPath(import.meta.url), '--memory', '--ips', args.ips],
    { encoding: 'utf8' },
  );
  const memory = JSON.parse(child) as {
    ips: number;
    buckets: number;
    rssMb: number;
    baseRssMb: number;
    heapBytesPerBucket: number;
    rssBytesPerBucket: number;
    ms: number;
    sweepMs: number;
  };
  console.log(
    `memory: ${fmt(memory.ips)} distinct clients in flight → ${fmt(memory.buckets)} buckets; RSS ${memory.rssMb} MB (process baseline ${memory.baseRssMb} MB); ` +
      `${memory.heapBytesPerBucket} heap bytes/bucket, ${memory.rssBytesPerBucket} RSS bytes/bucket; ingest ${fmt(memory.ips / (memory.ms / 1000))} new clients/s; full sweep ${memory.sweepMs} ms`,
  );
}

/** Child: 1M distinct clients (10 % IPv6, 10 % with a 404) in flight, then RSS. */
function benchMemory(): void {
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
  const ips = Number(args.ips);
  const scenarios = loadBuiltinScenarios(readText);
  gc();
  const base = process.memoryUsage();
  const engine = createEngine(scenarios, { maxBuckets: 2 * ips });
  const random = seededRandom(7);
  const at = T0;
  const start = performance.now();
  for (let i = 0; i < ips; i++) {
    // Build the address inside a longer line, as a parser's substring would be.
    const a = (i * 2654435761) >>> 0;
    const line =
      random() < 0.1
        ? `2a0${i & 7}:${(a >>> 16).toString(16)}:${(a & 0xffff).toString(16)}:${(i & 0xffff).toString(16)}:1:2:3:4 - - [10/Oct/2024:00:00:00 +0000] "GET / HTTP/1.1"`
        : `${(a >>> 24) % 223 || 1}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255} - - [10/Oct/2024:00:00:00 +0000] "GET / HTTP/1.1"`;
    const ip = line.slice(0, line.indexOf(' '));
    const notFound = random() < 0.1;
    engine.ingest({
      at: at + i,
      source: 'nginx',
      service: 'http',
      kind: 'http-request',
      ip,
      method: 'GET',
      path: notFound ? `/missing-${i & 1023}` : '/',
      status: notFound ? 404 : 200,
      userAgent: 'Mozilla/5.0',
    });
  }
  const ms = performance.now() - start;
  gc();
  const after = process.memoryUsage();
  const buckets = engine.stats().buckets;
  const sweepStart = performance.now();
  engine.sweep(at + ips - 60_000);
  const sweepMs = Math.round(performance.now() - sweepStart);
  process.stdout.write(
    JSON.stringify({
      ips,
      buckets,
      rssMb: Math.round(after.rss / 1e6),
      baseRssMb: Math.round(base.rss / 1e6),
      heapBytesPerBucket: Math.round((after.heapUsed - base.heapUsed) / buckets),
      rssBytesPerBucket: Math.round((after.rss - base.rss) / buckets),
      ms: Math.round(ms),
      sweepMs,
    }),
  );
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en');
}

if (args.memory) benchMemory();
else benchThroughput();

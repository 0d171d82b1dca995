/**
 * Probe of 1,000 loopback ports: 50 listeners (half send a banner, half stay silent), the rest closed.
 * Budget: the whole `runProbe` (scan + protocol probes on the open ports) under 3 s.
 * Side by side in the same run: the scan alone, and `nmap -sT` over the same ports when nmap is
 * installed (as root the script tries `apt-get install -y nmap` first; set MOAT_BENCH_NO_INSTALL=1
 * to skip that).
 *
 *   node_modules/.bin/node bench/probe-ports.ts
 */
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { runProbe } from '../src/probe/index.ts';
import { scanPorts } from '../src/probe/scanner.ts';

const HOST = '127.0.0.1';
const PORT_COUNT = 1000;
const LISTENERS = 50;
const BUDGET_MS = 3000;
const config = { timeoutMs: 1500, concurrency: 256, maxTargets: 256 };

function listen(port: number, banner: boolean): Promise<net.Server | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer((socket) => {
      socket.on('error', () => {});
      if (banner) socket.write('220 bench.local ESMTP ready\r\n');
    });
    server.once('error', () => resolve(undefined));
    server.listen(port, HOST, () => resolve(server));
  });
}

/** A block of 1,000 ports where our listeners could bind, away from the usual services. */
async function chooseRange(): Promise<{ first: number; servers: net.Server[] }> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const first = 20_000 + Math.floor(Math.random() * 20) * 1000;
    const step = Math.floor(PORT_COUNT / LISTENERS);
    const servers = (
      await Promise.all(
        Array.from({ length: LISTENERS }, (_, index) => listen(first + index * step + 7, index % 2 === 0)),
      )
    ).filter((server): server is net.Server => server !== undefined);
    if (servers.length === LISTENERS) return { first, servers };
    for (const server of servers) server.close();
  }
  throw new Error('could not bind 50 listeners in any block of 1,000 ports');
}

function nmapAvailable(): boolean {
  if (spawnSync('nmap', ['--version']).status === 0) return true;
  if (process.env['MOAT_BENCH_NO_INSTALL'] === '1' || process.getuid?.() !== 0) return false;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (spawnSync('apt-get', ['install', '-y', '-qq', 'nmap'], { stdio: 'ignore', env }).status !== 0) {
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'ignore', env });
    spawnSync('apt-get', ['install', '-y', '-qq', 'nmap'], { stdio: 'ignore', env });
  }
  return spawnSync('nmap', ['--version']).status === 0;
}

function runNmap(
  first: number,
  last: number,
  extra: readonly string[],
): { ms: number; open: number } | string {
  const started = performance.now();
  const result = spawnSync(
    'nmap',
    ['-sT', '-Pn', '-n', ...extra, '-p', `${first}-${last}`, '-oG', '-', HOST],
    {
      encoding: 'utf8',
    },
  );
  const ms = performance.now() - started;
  if (result.status !== 0) return `nmap failed: ${result.stderr.trim()}`;
  const open = (result.stdout.match(/\d+\/open\/tcp/g) ?? []).length;
  return { ms, open };
}

const { first, servers } = await chooseRange();
const last = first + PORT_COUNT - 1;
const ports = Array.from({ length: PORT_COUNT }, (_, index) => first + index);
try {
  const scanStarted = performance.now();
  const scan = await scanPorts({
    hosts: [HOST],
    ports,
    concurrency: config.concurrency,
    timeoutMs: config.timeoutMs,
  });
  const scanMs = performance.now() - scanStarted;

  const probeStarted = performance.now();
  const report = await runProbe({ targets: [HOST], ports, config });
  const probeMs = performance.now() - probeStarted;
  const openFound = report.findings.filter((finding) => finding.id === 'probe-port-open').length;

  const rows: [string, string, string][] = [
    [
      'moat scan only (scanPorts)',
      `${scanMs.toFixed(0)} ms`,
      `${scan.open.length} open, ${scan.closed} closed`,
    ],
    [
      'moat probe (scan + protocol probes)',
      `${probeMs.toFixed(0)} ms`,
      `${openFound} open (${LISTENERS / 2} silent: each waits the ${config.timeoutMs} ms read timeout)`,
    ],
  ];
  if (nmapAvailable()) {
    for (const [label, extra] of [
      ['nmap -sT (default timing)', []],
      ['nmap -sT -T4', ['-T4']],
    ] as const) {
      const result = runNmap(first, last, extra);
      rows.push(
        typeof result === 'string'
          ? [label, '-', result]
          : [label, `${result.ms.toFixed(0)} ms`, `${result.open} open`],
      );
    }
  } else {
    rows.push(['nmap -sT', '-', 'nmap is not installed']);
  }

  console.log(
    `probe of ${PORT_COUNT} ports on ${HOST} (${first}-${last}), ${LISTENERS} listening; budget ${BUDGET_MS} ms`,
  );
  const width = Math.max(...rows.map(([label]) => label.length));
  for (const [label, time, detail] of rows)
    console.log(`  ${label.padEnd(width)}  ${time.padStart(8)}  ${detail}`);

  if (scan.open.length < LISTENERS || openFound < LISTENERS) {
    console.error(
      `FAIL: expected at least ${LISTENERS} open ports, scan saw ${scan.open.length}, probe ${openFound}`,
    );
    process.exitCode = 1;
  } else if (probeMs > BUDGET_MS) {
    console.error(`FAIL: moat probe took ${probeMs.toFixed(0)} ms, over the ${BUDGET_MS} ms budget`);
    process.exitCode = 1;
  } else {
    console.log(`ok: moat probe ${probeMs.toFixed(0)} ms < ${BUDGET_MS} ms`);
  }
} finally {
  for (const server of servers) server.close();
}

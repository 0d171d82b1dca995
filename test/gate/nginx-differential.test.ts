/**
 * The gate's limiter against real nginx: the same limit_req settings, the same timed request
 * sequences from the same source address, the same accept/reject pattern.
 *
 * nginx runs from a temp prefix of its own (`-p DIR -c FILE`, not daemonised, one process) on a
 * free loopback port, one location per scenario with `limit_req` over `$binary_remote_addr`,
 * answering 429 from a static file (`return` would answer in the rewrite phase, before limit_req
 * runs). The gate side is a node:http server behind `withGate` with the same zones as routes.
 *
 * Timing: requests are sent in groups at fixed offsets; a group's requests are identical, so the
 * pattern compared is the number admitted per group. The offsets sit mid-way between the rate's
 * boundaries, and the test first proves that with the limiter itself: the expected pattern holds
 * for every one of 500 draws of ±35 ms jitter on every request. Then, for each side, the limiter
 * driven by the recorded send times must give the pattern that side gave, and delayed requests
 * (no nodelay, delay=N) must arrive no earlier than the delay the limiter computes.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, chmodSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { gateSchema, type ZoneConfig } from '../../src/config/gate.ts';
import { createLimiter } from '../../src/gate/limiter.ts';
import { withGate } from '../../src/gate/middleware.ts';
import { createGatePolicy } from '../../src/gate/policy.ts';
import { unlessInCi } from '../helpers/requirement.ts';

const NGINX = '/usr/sbin/nginx';
const JITTER_MS = 35;

interface Zone {
  readonly name: string;
  /** nginx's spelling: `5r/s`, `60r/m`. */
  readonly rate: string;
  readonly burst?: number;
  readonly nodelay?: boolean;
  readonly delay?: number;
}

interface Scenario {
  readonly name: string;
  readonly zones: readonly Zone[];
  /** [offset ms, requests sent at that offset]. */
  readonly groups: readonly (readonly [number, number])[];
}

const scenarios: readonly Scenario[] = [
  {
    name: 'nodelay',
    zones: [{ name: 'nodelay', rate: '5r/s', burst: 5, nodelay: true }],
    groups: [
      [0, 7],
      [300, 2],
      [500, 1],
      [1100, 4],
      [1300, 1],
    ],
  },
  {
    name: 'spaced',
    zones: [{ name: 'spaced', rate: '5r/s', burst: 3 }],
    groups: [
      [0, 5],
      [300, 2],
      [700, 2],
    ],
  },
  {
    name: 'delay2',
    zones: [{ name: 'delay2', rate: '5r/s', burst: 4, delay: 2 }],
    groups: [
      [0, 6],
      [500, 3],
    ],
  },
  {
    name: 'perminute',
    zones: [{ name: 'perminute', rate: '60r/m', burst: 1, nodelay: true }],
    groups: [
      [0, 3],
      [500, 1],
      [1500, 2],
      [2500, 1],
      [3500, 3],
    ],
  },
  {
    name: 'noburst',
    zones: [{ name: 'noburst', rate: '5r/s' }],
    groups: [
      [0, 2],
      [100, 1],
      [300, 1],
      [400, 1],
      [700, 2],
    ],
  },
  {
    name: 'twozones',
    zones: [
      { name: 'twozones-fast', rate: '10r/s', burst: 5, nodelay: true },
      { name: 'twozones-slow', rate: '2r/s', burst: 2, nodelay: true },
    ],
    groups: [
      [0, 4],
      [250, 2],
      [750, 2],
      [1250, 3],
    ],
  },
];

function zoneConfig(zone: Zone): ZoneConfig {
  return gateSchema.parse({ zones: [zone] }).zones[0]!;
}

interface Sent {
  readonly group: number;
  /** ms after the scenario's start when the request was handed to the socket layer. */
  readonly sentMs: number;
  readonly status: number;
  /** ms from sending to the end of the answer. */
  readonly latencyMs: number;
}

/** The limiter's verdicts for requests at the given times: admitted per group, and each one's delay. */
function model(scenario: Scenario, requests: readonly { group: number; atMs: number }[]) {
  const zones = scenario.zones.map(zoneConfig);
  const limiter = createLimiter(zones);
  const admitted = scenario.groups.map(() => 0);
  const delays = new Map<number, number>();
  [...requests.entries()]
    .sort((a, b) => a[1].atMs - b[1].atMs)
    .forEach(([index, request]) => {
      const decision = limiter.check(
        zones.map((z) => z.name),
        '192.0.2.1',
        1_000_000 + request.atMs,
      );
      if (decision.allowed) {
        admitted[request.group]!++;
        delays.set(index, decision.delayMs);
      }
    });
  return { admitted, delays };
}

function nominal(scenario: Scenario): { group: number; atMs: number }[] {
  return scenario.groups.flatMap(([atMs, count], group) =>
    Array.from({ length: count }, () => ({ group, atMs })),
  );
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitForPort(port: number, child: ChildProcess, errorLog: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const log = existsSync(errorLog) ? readFileSync(errorLog, 'utf8') : '(no error log)';
  throw new Error(`nginx did not start on 127.0.0.1:${port}: ${log}`);
}

function nginxConfig(dir: string, port: number): string {
  const zones = scenarios.flatMap((s) => s.zones);
  const limitReq = (zone: Zone): string =>
    `limit_req zone=${zone.name}${zone.burst ? ` burst=${zone.burst}` : ''}${zone.nodelay ? ' nodelay' : ''}${
      zone.delay ? ` delay=${zone.delay}` : ''
    };`;
  return `
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  keepalive_timeout 0;
  limit_req_status 429;
${zones.map((z) => `  limit_req_zone $binary_remote_addr zone=${z.name}:1m rate=${z.rate};`).join('\n')}
  server {
    listen 127.0.0.1:${port};
    root ${dir}/www;
${scenarios.map((s) => `    location /${s.name}/ { ${s.zones.map(limitReq).join(' ')} }`).join('\n')}
  }
}
`;
}

/** Sends a scenario's groups at their offsets from `localAddress`; resolves when every answer is in. */
async function play(port: number, scenario: Scenario, localAddress: string): Promise<Sent[]> {
  const start = performance.now() + 100;
  const pending: Promise<Sent>[] = [];
  for (const [group, [atMs, count]] of scenario.groups.entries()) {
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, start + atMs - performance.now())));
    for (let i = 0; i < count; i++) {
      const sentAt = performance.now();
      pending.push(
        new Promise<Sent>((resolve, reject) => {
          const req = http.get(
            { host: '127.0.0.1', port, path: `/${scenario.name}/ok`, agent: false, localAddress },
            (res) => {
              res.resume();
              res.on('end', () =>
                resolve({
                  group,
                  sentMs: sentAt - start,
                  status: res.statusCode ?? 0,
                  latencyMs: performance.now() - sentAt,
                }),
              );
            },
          );
          req.on('error', reject);
        }),
      );
    }
  }
  return Promise.all(pending);
}

function admittedPerGroup(scenario: Scenario, sent: readonly Sent[]): number[] {
  const counts = scenario.groups.map(() => 0);
  for (const s of sent) {
    assert.ok(s.status === 200 || s.status === 429, `unexpected status ${s.status}`);
    if (s.status === 200) counts[s.group]!++;
  }
  return counts;
}

describe(
  'limit_req: moat gate vs nginx',
  { skip: unlessInCi(existsSync(NGINX) ? undefined : 'nginx is not installed') },
  () => {
    let dir: string;
    let nginx: ChildProcess;
    let nginxPort: number;
    let gate: http.Server;
    let gatePort: number;

    before(async () => {
      dir = mkdtempSync(path.join(tmpdir(), 'moat-nginx-diff-'));
      chmodSync(dir, 0o755);
      for (const sub of ['tmp', 'logs', ...scenarios.map((s) => `www/${s.name}`)]) {
        mkdirSync(path.join(dir, sub), { recursive: true, mode: 0o755 });
      }
      for (const s of scenarios) writeFileSync(path.join(dir, 'www', s.name, 'ok'), 'ok\n', { mode: 0o644 });
      nginxPort = await freePort();
      const conf = path.join(dir, 'nginx.conf');
      writeFileSync(conf, nginxConfig(dir, nginxPort));
      const errorLog = path.join(dir, 'logs', 'error.log');
      nginx = spawn(
        NGINX,
        [
          '-p',
          dir,
          '-c',
          conf,
          '-e',
          errorLog,
          '-g',
          `daemon off; master_process off; pid ${dir}/nginx.pid; error_log ${errorLog} warn;`,
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      nginx.stderr?.resume();
      await waitForPort(nginxPort, nginx, errorLog);

      const config = gateSchema.parse({
        upstream: 'http://127.0.0.1:9',
        zones: scenarios.flatMap((s) => s.zones),
        routes: scenarios.map((s) => ({
          path: `/${s.name}`,
          upstream: 'http://127.0.0.1:9',
          limit: s.zones.map((z) => z.name),
        })),
      });
      const policy = createGatePolicy(config, { bans: { isBanned: () => false } });
      gate = http.createServer(withGate(policy, (_req, res) => res.end('ok\n')));
      await new Promise<void>((resolve) => gate.listen(0, '127.0.0.1', resolve));
      gatePort = (gate.address() as AddressInfo).port;
    });

    after(async () => {
      nginx?.kill('SIGTERM');
      if (nginx && nginx.exitCode === null) await new Promise((resolve) => nginx.once('exit', resolve));
      gate?.closeAllConnections();
      await new Promise((resolve) => gate?.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    });

    for (const scenario of scenarios) {
      it(`the sequence for ${scenario.name} is robust to ±${JITTER_MS} ms of jitter`, () => {
        const expected = model(scenario, nominal(scenario)).admitted;
        let seed = 20260101;
        const random = (): number => {
          seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
          return seed / 4294967296;
        };
        for (let draw = 0; draw < 500; draw++) {
          const jittered = nominal(scenario).map((r) => ({
            ...r,
            atMs: r.atMs + (random() * 2 - 1) * JITTER_MS,
          }));
          assert.deepEqual(model(scenario, jittered).admitted, expected, `draw ${draw}`);
        }
        // Every scenario both admits and rejects.
        const total = scenario.groups.reduce((sum, [, count]) => sum + count, 0);
        const admitted = expected.reduce((sum, n) => sum + n, 0);
        assert.ok(admitted > 0 && admitted < total, JSON.stringify(expected));
      });
    }

    it('nginx and the gate give the same accept/reject pattern, and the one the limiter predicts', async () => {
      const runs = await Promise.all(
        scenarios.flatMap((scenario, i) => [
          play(nginxPort, scenario, `127.0.0.${30 + i}`).then((sent) => ({ scenario, side: 'nginx', sent })),
          play(gatePort, scenario, `127.0.0.${30 + i}`).then((sent) => ({ scenario, side: 'gate', sent })),
        ]),
      );
      const report: string[] = [];
      for (const scenario of scenarios) {
        const expected = model(scenario, nominal(scenario)).admitted;
        const patterns: Record<string, number[]> = {};
        for (const run of runs.filter((r) => r.scenario === scenario)) {
          const got = admittedPerGroup(scenario, run.sent);
          patterns[run.side] = got;
          // The limiter fed the recorded send times agrees with what this side answered.
          const replay = model(
            scenario,
            run.sent.map((s) => ({ group: s.group, atMs: s.sentMs })),
          );
          assert.deepEqual(
            replay.admitted,
            got,
            `${scenario.name} on ${run.side}: replay of the recorded times`,
          );
          // Delayed requests were held at least as long as the limiter says (minus clock granularity).
          run.sent.forEach((s, index) => {
            const delay = replay.delays.get(index);
            if (s.status !== 200 || delay === undefined) return;
            assert.ok(
              s.latencyMs >= delay - 10,
              `${scenario.name} on ${run.side}: request ${index} answered after ${s.latencyMs.toFixed(1)} ms, delay ${delay}`,
            );
            assert.ok(
              s.latencyMs <= delay + 500,
              `${scenario.name} on ${run.side}: request ${index} held ${s.latencyMs.toFixed(1)} ms for a ${delay} ms delay`,
            );
          });
        }
        report.push(
          `${scenario.name}: expected ${expected} nginx ${patterns['nginx']} gate ${patterns['gate']}`,
        );
        assert.deepEqual(patterns['nginx'], expected, `nginx, ${scenario.name}`);
        assert.deepEqual(patterns['gate'], expected, `gate, ${scenario.name}`);
      }
      assert.equal(report.length, scenarios.length);
    });
  },
);

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
 * boundaries, and the test first proves that with the limiter itself: the planned pattern holds
 * for every one of 500 draws of ±100 ms jitter on every request. Each side also records when it
 * decided each request — nginx in its access log (`$msec` − `$request_time`), the gate through its
 * clock — and
 *   - the limiter driven by those times must reproduce that side's verdicts exactly, and the time
 *     each admitted request was held (no nodelay, delay=N);
 *   - a second gate whose clock is set to nginx's decision time before each request must give
 *     nginx's verdicts and delays, over real sockets;
 *   - each side must give the planned pattern whenever its decisions kept within the ±100 ms the
 *     plan is proven against (a machine too busy for that is reported, and then only the two
 *     replays decide — they do not depend on timing).
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
import type { Verdict } from '../../src/gate/types.ts';
import { unlessInCi } from '../helpers/requirement.ts';

const NGINX = '/usr/sbin/nginx';
const JITTER_MS = 100;

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
    zones: [{ name: 'nodelay', rate: '2r/s', burst: 5, nodelay: true }],
    groups: [
      [0, 7],
      [750, 2],
      [1250, 1],
      [2750, 4],
      [3250, 1],
    ],
  },
  {
    name: 'spaced',
    zones: [{ name: 'spaced', rate: '2r/s', burst: 3 }],
    groups: [
      [0, 5],
      [750, 2],
      [1750, 2],
    ],
  },
  {
    name: 'delay2',
    zones: [{ name: 'delay2', rate: '2r/s', burst: 4, delay: 2 }],
    groups: [
      [0, 6],
      [1250, 3],
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
    zones: [{ name: 'noburst', rate: '2r/s' }],
    groups: [
      [0, 2],
      [250, 1],
      [750, 1],
      [1000, 1],
      [1750, 2],
    ],
  },
  {
    name: 'twozones',
    zones: [
      { name: 'twozones-fast', rate: '4r/s', burst: 5, nodelay: true },
      { name: 'twozones-slow', rate: '48r/m', burst: 2, nodelay: true },
    ],
    groups: [
      [0, 4],
      [625, 2],
      [1875, 2],
      [3125, 3],
    ],
  },
];

function zoneConfig(zone: Zone): ZoneConfig {
  return gateSchema.parse({ zones: [zone] }).zones[0]!;
}

/** One request as the client saw it and as the server decided it. */
interface Sent {
  readonly id: string;
  readonly group: number;
  readonly status: number;
}

/** When a server decided a request (its own clock, ms) and how long it held it before answering. */
interface Decided {
  readonly id: string;
  readonly group: number;
  readonly atMs: number;
  readonly heldMs: number;
  readonly admitted: boolean;
}

/** The limiter's verdicts for requests at the given times: admitted per group, each group's delays. */
function model(scenario: Scenario, requests: readonly { group: number; atMs: number }[]) {
  const zones = scenario.zones.map(zoneConfig);
  const limiter = createLimiter(zones);
  const admitted = scenario.groups.map(() => 0);
  const delays = scenario.groups.map((): number[] => []);
  [...requests]
    .sort((a, b) => a.atMs - b.atMs)
    .forEach((request) => {
      const decision = limiter.check(
        zones.map((z) => z.name),
        '192.0.2.1',
        1_000_000 + request.atMs,
      );
      if (decision.allowed) {
        admitted[request.group]!++;
        delays[request.group]!.push(decision.delayMs);
      }
    });
  return { admitted, delays: delays.map((d) => d.sort((a, b) => a - b)) };
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
  log_format decided '$msec $request_time $status $arg_id';
  access_log ${dir}/logs/access.log decided;
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

/** The gate's side: one route per scenario with the scenario's zones. */
function gatePolicy() {
  const config = gateSchema.parse({
    upstream: 'http://127.0.0.1:9',
    zones: scenarios.flatMap((s) => s.zones),
    routes: scenarios.map((s) => ({
      path: `/${s.name}`,
      upstream: 'http://127.0.0.1:9',
      limit: s.zones.map((z) => z.name),
    })),
  });
  return createGatePolicy(config, { bans: { isBanned: () => false } });
}

function idOf(url: string | undefined): string {
  return new URL(url ?? '/', 'http://x').searchParams.get('id') ?? '';
}

function get(port: number, path: string, localAddress: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, localAddress }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
  });
}

/**
 * How far a side's decision times strayed from the planned offsets, in ms: the plan does not care
 * when it starts, so this is half the spread of (decided − planned) over the requests.
 */
function drift(scenario: Scenario, decided: readonly Decided[]): number {
  const late = decided.map((d) => d.atMs - scenario.groups[d.group]![0]);
  return (Math.max(...late) - Math.min(...late)) / 2;
}

/**
 * Sends a scenario's groups at their offsets from `localAddress`, the first `startInMs` from now;
 * resolves when every answer is in.
 */
async function play(
  port: number,
  scenario: Scenario,
  localAddress: string,
  startInMs: number,
): Promise<Sent[]> {
  const start = performance.now() + startInMs;
  const pending: Promise<Sent>[] = [];
  for (const [group, [atMs, count]] of scenario.groups.entries()) {
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, start + atMs - performance.now())));
    for (let i = 0; i < count; i++) {
      const id = `${scenario.name}.${group}.${i}`;
      pending.push(
        new Promise<Sent>((resolve, reject) => {
          const req = http.get(
            { host: '127.0.0.1', port, path: `/${scenario.name}/ok?id=${id}`, agent: false, localAddress },
            (res) => {
              res.resume();
              res.on('end', () => resolve({ id, group, status: res.statusCode ?? 0 }));
            },
          );
          req.on('error', reject);
        }),
      );
    }
  }
  return Promise.all(pending);
}

/** nginx's decisions from its access log: `$msec $request_time $status $arg_id`. */
function nginxDecisions(logFile: string): Map<string, Decided> {
  const decided = new Map<string, Decided>();
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    const [msec, requestTime, status, id] = line.split(' ');
    if (id === undefined || id === '-') continue;
    const heldMs = Math.round(Number(requestTime) * 1000);
    decided.set(id, {
      id,
      group: Number(id.split('.')[1]),
      atMs: Math.round(Number(msec) * 1000) - heldMs,
      heldMs,
      admitted: status === '200',
    });
  }
  return decided;
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
    /** nginx's decisions, read from its access log after the live run. */
    let nginxDecided = new Map<string, Decided>();
    /** The gate's decisions, recorded through its clock and handler. */
    const gateDecided = new Map<string, { -readonly [K in keyof Decided]: Decided[K] }>();

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

      const policy = gatePolicy();
      let lastNow = 0;
      gate = http.createServer(
        withGate(
          policy,
          (req, res) => {
            const decided = gateDecided.get(idOf(req.url));
            if (decided !== undefined) decided.heldMs = Date.now() - decided.atMs;
            res.end('ok\n');
          },
          {
            clock: { now: () => (lastNow = Date.now()) },
            onVerdict: (verdict, req) => {
              const id = idOf(req.url);
              const group = Number(id.split('.')[1]);
              gateDecided.set(id, {
                id,
                group,
                atMs: lastNow,
                heldMs: 0,
                admitted: verdict.action === 'pass',
              });
            },
          },
        ),
      );
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

    it('nginx and the gate give the same accept/reject pattern, and the limiter reproduces both', async (t) => {
      // Warm both sides up (connections, code paths) on a path no zone covers.
      for (let i = 0; i < 20; i++) {
        await Promise.all([get(nginxPort, '/', '127.0.0.29'), get(gatePort, '/', '127.0.0.29')]);
      }
      // Staggered starts, so that the first groups do not all open their connections at once.
      const runs = await Promise.all(
        scenarios.flatMap((scenario, i) => [
          play(nginxPort, scenario, `127.0.0.${30 + i}`, 100 + i * 40).then((sent) => ({
            scenario,
            side: 'nginx',
            sent,
          })),
          play(gatePort, scenario, `127.0.0.${30 + i}`, 120 + i * 40).then((sent) => ({
            scenario,
            side: 'gate',
            sent,
          })),
        ]),
      );
      // nginx writes the log line when the answer is done; every answer is in by now.
      nginxDecided = nginxDecisions(path.join(dir, 'logs', 'access.log'));
      let compared = 0;
      for (const scenario of scenarios) {
        const expected = model(scenario, nominal(scenario)).admitted;
        for (const run of runs.filter((r) => r.scenario === scenario)) {
          const where = `${scenario.name} on ${run.side}`;
          const got = admittedPerGroup(scenario, run.sent);
          const decided = run.sent.map((sent) => {
            const d = (run.side === 'nginx' ? nginxDecided : gateDecided).get(sent.id);
            assert.ok(d, `${where}: ${sent.id} was not recorded`);
            assert.equal(d.admitted, sent.status === 200, `${where}: ${sent.id}`);
            return d;
          });
          // The limiter fed the times this side decided at gives exactly this side's verdicts...
          const replay = model(scenario, decided);
          assert.deepEqual(replay.admitted, got, `${where}: the limiter replaying its decision times`);
          // ...and the admitted requests were held as long as it computes (nodelay: not at all).
          scenario.groups.forEach((_, group) => {
            const held = decided
              .filter((d) => d.group === group && d.admitted)
              .map((d) => d.heldMs)
              .sort((a, b) => a - b);
            const delays = replay.delays[group]!;
            held.forEach((ms, k) => {
              const delay = delays[k]!;
              assert.ok(
                ms >= delay - 5 && ms <= delay + 400,
                `${where}: group ${group} held ${held.join(', ')} ms, the limiter says ${delays.join(', ')} ms`,
              );
            });
          });
          // The planned pattern, whenever this side decided within the jitter it is proven against.
          const strayed = drift(scenario, decided);
          if (strayed <= JITTER_MS) {
            assert.deepEqual(got, expected, `${where}: the planned pattern (drift ${strayed} ms)`);
            compared++;
          } else {
            t.diagnostic(
              `${where}: decisions drifted ${strayed} ms from the plan (machine busy); checked by replay only`,
            );
          }
        }
      }
      t.diagnostic(`${compared} of ${runs.length} runs kept to the plan and gave the planned pattern`);
    });

    it('the gate, given the times nginx decided at, gives nginx’s verdicts and delays', async () => {
      assert.ok(nginxDecided.size > 0, 'the live run recorded nginx’s decisions');
      // A second gate on a clock the test sets to nginx's time before each request.
      let nowMs = 0;
      const verdicts = new Map<string, Verdict>();
      let checked: (() => void) | undefined;
      const replayGate = http.createServer(
        withGate(gatePolicy(), (_req, res) => res.end('ok\n'), {
          clock: { now: () => nowMs },
          onVerdict: (verdict, req) => {
            verdicts.set(idOf(req.url), verdict);
            checked?.();
          },
        }),
      );
      await new Promise<void>((resolve) => replayGate.listen(0, '127.0.0.1', resolve));
      const port = (replayGate.address() as AddressInfo).port;
      try {
        const answers: Promise<number>[] = [];
        for (const [i, scenario] of scenarios.entries()) {
          const decided = [...nginxDecided.values()]
            .filter((d) => d.id.startsWith(`${scenario.name}.`))
            .sort((a, b) => a.atMs - b.atMs);
          for (const d of decided) {
            nowMs = d.atMs;
            const seen = new Promise<void>((resolve) => (checked = resolve));
            answers.push(get(port, `/${scenario.name}/ok?id=${d.id}`, `127.0.0.${50 + i}`));
            await seen;
          }
          const nginxAdmitted = scenario.groups.map(
            (_, g) => decided.filter((d) => d.group === g && d.admitted).length,
          );
          const gateAdmitted = scenario.groups.map(
            (_, g) => decided.filter((d) => d.group === g && verdicts.get(d.id)?.action === 'pass').length,
          );
          // Per group: which of a group's identical requests came first is not observable.
          assert.deepEqual(gateAdmitted, nginxAdmitted, `${scenario.name}: admitted per group`);
          scenario.groups.forEach((_, g) => {
            const held = decided
              .filter((d) => d.group === g && d.admitted)
              .map((d) => d.heldMs)
              .sort((a, b) => a - b);
            const delays = decided
              .filter((d) => d.group === g)
              .flatMap((d) => {
                const verdict = verdicts.get(d.id);
                return verdict?.action === 'pass' ? [verdict.delayMs] : [];
              })
              .sort((a, b) => a - b);
            held.forEach((ms, k) => {
              assert.ok(
                ms >= delays[k]! - 5 && ms <= delays[k]! + 400,
                `${scenario.name}: group ${g}: nginx held ${held.join(', ')} ms, the gate ${delays.join(', ')} ms`,
              );
            });
          });
        }
        const statuses = await Promise.all(answers);
        assert.equal(
          statuses.filter((s) => s === 200).length,
          [...nginxDecided.values()].filter((d) => d.admitted).length,
        );
      } finally {
        replayGate.closeAllConnections();
        await new Promise((resolve) => replayGate.close(resolve));
      }
    });
  },
);

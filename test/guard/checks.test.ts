/**
 * Service and host checks against real parts: an HTTP server on loopback that fails in each way a
 * check looks for, an HTTPS server with a certificate expiring in 5 days (openssl), a TCP port
 * that closes, and this machine's real disk usage compared with `df`.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { Alert } from '../../src/alerts/types.ts';
import { parseConfig } from '../../src/config/load.ts';
import { systemClock } from '../../src/core/clock.ts';
import type { ParsedEvent } from '../../src/core/events.ts';
import { createCheckRunner } from '../../src/guard/checks.ts';
import { guardComponent, type GuardComponent } from '../../src/guard/component.ts';
import { unlessInCi } from '../helpers/requirement.ts';
import { captureLogger } from '../helpers/log.ts';
import { until } from '../helpers/until.ts';
import { selfSignedCertificate } from '../helpers/tls.ts';

function services() {
  const alerts: Alert[] = [];
  const events: ParsedEvent[] = [];
  return {
    alerts,
    events,
    services: {
      clock: systemClock,
      logger: captureLogger(),
      alerts: { send: (alert: Alert) => alerts.push(alert) },
      ingest: (event: ParsedEvent) => events.push(event),
      storeHealthy: () => true,
      ban: async () => ({ banned: false as const, code: 'unused', reason: 'unused' }),
      bans: { isBanned: () => false },
    },
  };
}

const listen = (server: net.Server) =>
  new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)),
  );
const close = (server: net.Server) => new Promise<void>((resolve) => server.close(() => resolve()));

describe('service checks against real servers', () => {
  it('HTTP: down on a bad status, a missing text or a slow answer (after failAfter), up again once', async () => {
    let behaviour: 'ok' | 'error' | 'wrong-body' | 'slow' = 'ok';
    const server = http.createServer((_request, response) => {
      if (behaviour === 'error') return void response.writeHead(502).end('bad gateway');
      if (behaviour === 'wrong-body') return void response.writeHead(200).end('maintenance');
      if (behaviour === 'slow') return void setTimeout(() => response.writeHead(200).end('status: ok'), 1200);
      response.writeHead(200).end('status: ok');
    });
    const port = await listen(server);
    const config = parseConfig({
      guard: {
        checks: [
          {
            name: 'api',
            http: `http://127.0.0.1:${port}/health`,
            bodyContains: 'status: ok',
            maxLatency: 600,
            failAfter: 2,
            recoverAfter: 1,
          },
        ],
      },
    });
    const { alerts, events, services: s } = services();
    const runner = createCheckRunner({ checks: config.guard.checks, system: config.guard.system }, s);
    try {
      await runner.runAll();
      assert.equal(alerts.length, 0);
      behaviour = 'error';
      await runner.runAll();
      assert.equal(alerts.length, 0, 'one failure is not down yet (failAfter 2)');
      await runner.runAll();
      assert.equal(alerts.length, 1);
      assert.equal(alerts[0]?.kind, 'check-down');
      assert.equal(
        alerts[0]?.title,
        'api is down: status 502 (expected 2xx, 3xx); the body does not contain "status: ok"',
      );
      await runner.runAll();
      assert.equal(alerts.length, 1, 'still down: no repeat');
      behaviour = 'ok';
      await runner.runAll();
      assert.deepEqual(
        alerts.map((a) => [a.kind, a.incident]),
        [
          ['check-down', 'check:api'],
          ['check-up', 'check:api'],
        ],
      );
      for (const [bad, reason] of [
        ['wrong-body', /the body does not contain "status: ok"/],
        ['slow', /answered in \d+ ms \(limit 600 ms\)/],
      ] as const) {
        behaviour = bad;
        await runner.runAll();
        await runner.runAll();
        assert.match(alerts.at(-1)?.title ?? '', reason);
        behaviour = 'ok';
        await runner.runAll();
        assert.equal(alerts.at(-1)?.kind, 'check-up');
      }
      assert.equal(alerts.length, 6);
      assert.deepEqual(
        events.map((e) => e.kind),
        ['check-down', 'check-up', 'check-down', 'check-up', 'check-down', 'check-up'],
      );
    } finally {
      await close(server);
    }
  });

  const opensslMissing = unlessInCi(
    spawnSync('openssl', ['version']).status === 0
      ? undefined
      : 'openssl is not installed (.ci/run installs it)',
  );

  it(
    'HTTPS: a certificate with 5 days left is down for minCertDays 14 and fine for 3',
    { skip: opensslMissing },
    async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'moat-cert-'));
      const { cert, key } = selfSignedCertificate(dir, 5);
      const server = https.createServer(
        { key: readFileSync(key), cert: readFileSync(cert) },
        (_request, response) => response.writeHead(200).end('ok'),
      );
      const port = await listen(server);
      const url = `https://127.0.0.1:${port}/`;
      const config = parseConfig({
        guard: {
          checks: [
            { name: 'soon', http: url, ca: cert, minCertDays: 14, failAfter: 1 },
            { name: 'fine', http: url, ca: cert, minCertDays: 3, failAfter: 1 },
            { name: 'untrusted', http: url, failAfter: 1 },
          ],
        },
      });
      const { alerts, services: s } = services();
      const runner = createCheckRunner({ checks: config.guard.checks, system: config.guard.system }, s);
      try {
        await runner.runAll();
        const byCheck = new Map(alerts.map((a) => [a.fields?.['check'], a]));
        assert.equal(
          byCheck.get('soon')?.title,
          'soon is down: the certificate expires in 4 days (limit 14)',
        );
        assert.equal(byCheck.get('soon')?.fields?.['certDaysLeft'], '4');
        assert.equal(byCheck.has('fine'), false);
        // Without the CA the chain does not verify: that is a failure too, named.
        assert.match(
          byCheck.get('untrusted')?.title ?? '',
          /^untrusted is down: (DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN)/,
        );
      } finally {
        await close(server);
      }
    },
  );

  it('TCP: down when the port closes, up when it listens again (the guard component, on its own timers)', async () => {
    const server = net.createServer((socket) => socket.end());
    const port = await listen(server);
    const config = parseConfig({
      guard: {
        checks: [{ name: 'db', tcp: `127.0.0.1:${port}`, interval: 100, failAfter: 2, recoverAfter: 1 }],
      },
    });
    const { alerts, services: s } = services();
    const guard = (await guardComponent(config.guard)(s)) as GuardComponent;
    try {
      await close(server);
      await until(() => alerts.length === 1, 'check-down');
      assert.match(alerts[0]?.title ?? '', /^db is down: ECONNREFUSED/);
      const again = net.createServer((socket) => socket.end());
      await new Promise<void>((resolve) => again.listen(port, '127.0.0.1', resolve));
      try {
        await until(() => alerts.length === 2, 'check-up');
        assert.equal(alerts[1]?.kind, 'check-up');
        assert.equal(alerts[1]?.incident, 'check:db');
      } finally {
        await close(again);
      }
    } finally {
      await guard.stop();
    }
  });
});

describe('host checks on this machine', () => {
  it('disk usage read with statfs matches df, and a threshold at that usage alerts once', async () => {
    const dir = tmpdir();
    const df =
      execFileSync('df', ['--output=used,avail', dir], { encoding: 'utf8' }).trim().split('\n')[1] ?? '';
    const [used, avail] = df.trim().split(/\s+/).map(Number) as [number, number];
    const dfPercent = (used / (used + avail)) * 100;
    const alertAbove = Math.max(1, Math.floor(dfPercent));
    const config = parseConfig({
      guard: { system: { disks: [{ path: dir, alertAbove, recoverBelow: alertAbove }] } },
    });
    const { alerts, services: s } = services();
    const runner = createCheckRunner({ checks: [], system: config.guard.system }, s);
    await runner.runAll();
    await runner.runAll();
    assert.equal(alerts.length, 1);
    assert.equal(alerts[0]?.incident, `check:disk:${dir}`);
    const percent = Number(alerts[0]?.fields?.['percent']);
    assert.ok(Math.abs(percent - dfPercent) < 0.5, `statfs ${percent} % vs df ${dfPercent.toFixed(2)} %`);
  });

  it('CPU and memory from the real /proc: a busy core shows as busy, memory matches `free`', async () => {
    const config = parseConfig({
      guard: {
        system: {
          cpu: { alertAbove: 10, recoverBelow: 5, window: 200 },
          memory: { alertAbove: 1, recoverBelow: 1 },
        },
      },
    });
    const { alerts, services: s } = services();
    const runner = createCheckRunner({ checks: [], system: config.guard.system }, s);
    await runner.runAll();
    // Keep one core busy for the whole window: at least 100 / cores percent of the machine.
    const end = Date.now() + 250;
    while (Date.now() < end) Math.sqrt(Math.random());
    await runner.runAll();
    const free = execFileSync('free', ['-b'], { encoding: 'utf8' }).split('\n')[1]?.trim().split(/\s+/) ?? [];
    const freePercent = (1 - Number(free[6]) / Number(free[1])) * 100;
    assert.equal(s.logger.lines.filter((l) => l.msg === 'check cannot read').length, 0);
    const byCheck = new Map(alerts.map((a) => [a.fields?.['check'], a]));
    const cpu = Number(byCheck.get('cpu')?.fields?.['percent']);
    assert.ok(cpu >= 100 / availableParallelism() - 5 && cpu <= 100, `cpu ${cpu} %`);
    const memory = Number(byCheck.get('memory')?.fields?.['percent']);
    assert.ok(Math.abs(memory - freePercent) < 2, `memory ${memory} % vs free ${freePercent.toFixed(1)} %`);
  });
});

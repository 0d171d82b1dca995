/**
 * `moat gate`: flags composed over the config file's gate section and checked by its schema (an
 * error names the flag), and the real command as a process: it proxies, rate-limits, denies, and
 * stops cleanly on SIGTERM.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { composeGateConfig, type GateFlags } from '../../src/cli/gate.ts';
import { parseConfig } from '../../src/config/load.ts';
import { isMoatError } from '../../src/core/errors.ts';
import { request, startRecordingUpstream, statusOf } from '../helpers/gate-http.ts';
import { spawnMoat, startMoatGate } from '../helpers/moat-process.ts';

const base = parseConfig({});

function composeError(flags: GateFlags, config = base): string {
  try {
    composeGateConfig(config, flags);
  } catch (error) {
    assert.ok(isMoatError(error), String(error));
    assert.equal(error.code, 'MOAT_USAGE');
    return error.message;
  }
  assert.fail('expected an error');
}

describe('moat gate flags', () => {
  it('compose a gate section in nginx’s terms', () => {
    const config = composeGateConfig(base, {
      listen: '127.0.0.1:8081',
      upstream: 'http://127.0.0.1:3000',
      rate: '10r/s',
      burst: '5',
      nodelay: true,
      deny: ['*.php', '/.env'],
      trustProxy: ['10.0.0.0/8'],
      cdn: 'cloudflare',
      metrics: '9464',
    });
    assert.deepEqual(config.gate.listen, { host: '127.0.0.1', port: 8081 });
    assert.equal(config.gate.upstream, 'http://127.0.0.1:3000');
    assert.deepEqual(config.gate.zones, [
      { name: 'cli', rate: 10, burst: 5, nodelay: true, status: 429, dryRun: false, maxKeys: 1_000_000 },
    ]);
    assert.deepEqual(config.gate.limit, ['cli']);
    assert.deepEqual(config.gate.deny, [
      { paths: ['*.php', '/.env'], methods: [], userAgents: [], action: 404 },
    ]);
    assert.deepEqual(config.gate.trustProxies, ['10.0.0.0/8']);
    assert.equal(config.gate.cdnOnly, true);
    assert.equal(config.cdn.provider, 'cloudflare');
    assert.deepEqual(
      config.gate.metrics,
      { host: '127.0.0.1', port: 9464 },
      'a bare metrics port binds loopback',
    );
  });

  it('add to what the config file lists, and apply --rate to every route', () => {
    const file = parseConfig({
      gate: {
        upstream: 'http://127.0.0.1:3000',
        zones: [{ name: 'api', rate: '5r/s' }],
        limit: ['api'],
        routes: [
          { path: '/api', upstream: 'http://127.0.0.1:3001', limit: ['api'] },
          { path: '/static', upstream: 'http://127.0.0.1:3002' },
        ],
        deny: [{ paths: ['/.git/**'] }],
        trustProxies: ['192.0.2.1'],
      },
    });
    const config = composeGateConfig(file, { rate: '60r/m', deny: ['*.php'], trustProxy: ['10.0.0.0/8'] });
    assert.deepEqual(
      config.gate.zones.map((z) => [z.name, z.rate]),
      [
        ['api', 5],
        ['cli', 1],
      ],
    );
    assert.deepEqual(config.gate.limit, ['api', 'cli']);
    assert.deepEqual(config.gate.routes[0]!.limit, ['api', 'cli']);
    assert.equal(config.gate.routes[1]!.limit, undefined, 'a route without its own list uses gate.limit');
    assert.deepEqual(
      config.gate.deny.map((d) => d.paths),
      [['/.git/**'], ['*.php']],
    );
    assert.deepEqual(config.gate.trustProxies, ['192.0.2.1', '10.0.0.0/8']);
    assert.equal(config.gate.upstream, 'http://127.0.0.1:3000', 'the file’s upstream stays');
  });

  it('name the flag in each error', () => {
    const upstream = 'http://127.0.0.1:3000';
    assert.match(composeError({ upstream, rate: '10/s' }), /^--rate: .*10r\/s/);
    assert.match(composeError({ upstream, rate: '10r/s', burst: 'many' }), /^--burst: /);
    assert.match(composeError({ upstream, listen: 'localhost' }), /^--listen: /);
    assert.match(composeError({ upstream: 'ftp://x' }), /^--upstream: /);
    assert.match(composeError({ upstream: 'http://127.0.0.1:3000/app' }), /^--upstream: .*no path/);
    assert.match(composeError({ upstream, trustProxy: ['300.1.1.1'] }), /^--trust-proxy: /);
    assert.match(composeError({ upstream, burst: '5' }), /--burst needs --rate/);
    assert.match(composeError({ upstream, nodelay: true }), /--nodelay needs --rate/);
    assert.match(composeError({ upstream, cdn: 'akamai' }), /^--cdn "akamai"/);
    assert.match(composeError({ upstream, tlsCert: 'cert.pem' }), /--tls-cert and --tls-key go together/);
    assert.match(composeError({ rate: '1r/s' }), /--upstream is required/);
    const withCli = parseConfig({ gate: { upstream, zones: [{ name: 'cli', rate: '1r/s' }] } });
    assert.match(composeError({ rate: '1r/s' }, withCli), /already has a zone named cli/);
  });
});

describe('moat gate (the command, as a process)', () => {
  it('proxies with --rate/--burst/--nodelay and --deny, logs JSON, and stops on SIGTERM', async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'moat-gate-cli-'));
    const configFile = path.join(dir, 'moat.yaml');
    writeFileSync(configFile, `stateDir: ${dir}\n`);
    const upstream = await startRecordingUpstream();
    t.after(() => upstream.close());
    const gate = await startMoatGate([
      '-c',
      configFile,
      'gate',
      '--listen',
      '127.0.0.1:0',
      '--upstream',
      upstream.origin,
      // One slot per 2 s: "back to back" holds on a loaded machine too (the 10r/s arithmetic is
      // tested with the limiter's clock stopped in server-policy.test.ts).
      '--rate',
      '30r/m',
      '--burst',
      '5',
      '--nodelay',
      '--deny',
      '*.php',
    ]);
    t.after(() => gate.stop());
    // A first request from another address warms the process up.
    assert.equal((await request(gate.port, { path: '/warm', localAddress: '127.0.0.3' })).status, 200);
    // Seven connections opened first, then seven requests written at once: back to back even on
    // a slow machine (sent one after another they could be spread over more than 100 ms, a slot).
    const sockets = await Promise.all(
      Array.from(
        { length: 7 },
        () =>
          new Promise<net.Socket>((resolve, reject) => {
            const socket = net.connect(gate.port, '127.0.0.1', () => resolve(socket));
            socket.on('error', reject);
          }),
      ),
    );
    const answers = sockets.map(
      (socket) =>
        new Promise<number>((resolve) => {
          let text = '';
          socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
          socket.on('close', () => resolve(statusOf(text)));
        }),
    );
    sockets.forEach((socket, i) =>
      socket.write(`GET /r${i} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`),
    );
    const statuses = (await Promise.all(answers)).sort();
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200, 429]);
    // A denied path from another client, which still has its whole burst.
    const denied = await request(gate.port, { path: '/x.php', localAddress: '127.0.0.2' });
    assert.equal(denied.status, 404);
    assert.ok(!upstream.seen.some((r) => r.url === '/x.php'));
    assert.equal(await gate.stop(), 0, gate.stderr());
    assert.equal(gate.logs('gate stopped').length, 1);
  });

  it('exits 2 naming the flag when a flag is invalid', async () => {
    const gate = spawnMoat(['gate', '--upstream', 'http://127.0.0.1:1', '--rate', 'fast']);
    assert.equal(await gate.exited, 2);
    assert.match(gate.stderr(), /^error: --rate: /m);
    assert.match(gate.stderr(), /MOAT_USAGE/);
  });
});

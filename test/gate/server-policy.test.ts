/**
 * The gate's request policy through the real server: nginx limit_req arithmetic, per-client
 * isolation with distinct loopback source addresses, X-Forwarded-For from trusted proxies only,
 * CDN-only mode, deny rules against encoded spellings, and bans.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { manualClock } from '../../src/core/clock.ts';
import {
  rawExchange,
  type RecordingUpstream,
  request,
  startRecordingUpstream,
  statusOf,
} from '../helpers/gate-http.ts';
import { gateInFrontOfUpstream, startTestGate, type TestGate } from '../helpers/gate-server.ts';

describe('gate policy: rate limits (nginx limit_req)', () => {
  let upstream: RecordingUpstream;
  let gate: TestGate;
  // Time stands still for the limiter, so "back to back" holds however slow the machine is.
  const clock = manualClock(Date.now());
  before(async () => {
    upstream = await startRecordingUpstream();
    gate = await startTestGate(
      {
        upstream: upstream.origin,
        zones: [{ name: 'api', rate: '10r/s', burst: 5, nodelay: true }],
        limit: ['api'],
        metrics: '127.0.0.1:0',
      },
      { clock },
    );
  });
  after(async () => {
    await gate.close();
    await upstream.close();
  });

  it('rate=10r/s burst=5 nodelay admits 6 back to back and answers the 7th 429 with Retry-After', async () => {
    const statuses: number[] = [];
    let rejected: Awaited<ReturnType<typeof request>> | undefined;
    let admitted: Awaited<ReturnType<typeof request>> | undefined;
    for (let i = 0; i < 7; i++) {
      const response = await request(gate.port, { path: `/burst/${i}`, localAddress: '127.0.0.2' });
      statuses.push(response.status);
      if (response.status === 429) rejected ??= response;
      else admitted ??= response;
    }
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200, 429]);
    assert.ok(rejected);
    const retryAfter = Number(rejected.headers['retry-after']);
    assert.ok(
      Number.isInteger(retryAfter) && retryAfter >= 1,
      `Retry-After ${rejected.headers['retry-after']}`,
    );
    assert.equal(admitted!.headers['ratelimit-limit'], '6', 'RateLimit headers on an admitted response');
    assert.equal(admitted!.headers['ratelimit-remaining'], '5');
    assert.equal(admitted!.headers['x-upstream'], 'yes', 'next to the upstream’s own headers');
    assert.equal(rejected.headers['ratelimit-remaining'], '0');
    assert.deepEqual(
      upstream.seen.filter((r) => r.url.startsWith('/burst/')).map((r) => r.url),
      ['/burst/0', '/burst/1', '/burst/2', '/burst/3', '/burst/4', '/burst/5'],
      'the rejected request never reached the upstream',
    );
    const event = gate.events.find((e) => e.path === '/burst/6');
    assert.equal(event?.status, 429);
    assert.equal(event?.fields?.['gate'], 'rate');
  });

  it('admits the client again once the excess has leaked (100 ms per request at 10r/s)', async () => {
    assert.equal((await request(gate.port, { path: '/later', localAddress: '127.0.0.2' })).status, 429);
    clock.advance(100);
    assert.equal((await request(gate.port, { path: '/later', localAddress: '127.0.0.2' })).status, 200);
    assert.equal((await request(gate.port, { path: '/later', localAddress: '127.0.0.2' })).status, 429);
  });

  it('keeps a separate limit per client address', async () => {
    for (let i = 0; i < 7; i++) await request(gate.port, { path: '/iso', localAddress: '127.0.0.3' });
    assert.equal((await request(gate.port, { path: '/iso', localAddress: '127.0.0.3' })).status, 429);
    const other = await request(gate.port, { path: '/iso', localAddress: '127.0.0.4' });
    assert.equal(other.status, 200, 'another address starts with its own full burst');
  });

  it('counts rejections and tracked clients in the metrics', async () => {
    const metrics = (await request(gate.server.metricsAddress!.port, { path: '/metrics' })).body;
    const value = (pattern: RegExp) => Number(pattern.exec(metrics)?.[1] ?? Number.NaN);
    assert.ok(value(/^moat_gate_requests_total\{outcome="rate"\} (\d+)$/m) >= 2, metrics);
    assert.equal(value(/^moat_gate_limiter_keys (\d+)$/m), 3, 'three client addresses tracked');
  });
});

describe('gate policy: a dry-run zone', () => {
  it('passes everything, and counts and marks what it would have rejected', async () => {
    const upstream = await startRecordingUpstream();
    const gate = await startTestGate(
      {
        upstream: upstream.origin,
        zones: [{ name: 'trial', rate: '1r/s', burst: 1, nodelay: true, dryRun: true }],
        limit: ['trial'],
        metrics: '127.0.0.1:0',
      },
      { clock: manualClock(Date.now()) },
    );
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) {
        statuses.push((await request(gate.port, { path: `/try/${i}`, localAddress: '127.0.0.4' })).status);
      }
      assert.deepEqual(statuses, [200, 200, 200, 200, 200], 'a dry-run zone rejects nothing');
      const metrics = (await request(gate.server.metricsAddress!.port, { path: '/metrics' })).body;
      assert.match(metrics, /^moat_gate_dry_run_rejections_total\{zone="trial"\} 3$/m, metrics);
      const marked = gate.events.filter((e) => e.fields?.['gate'] === 'would-reject');
      assert.equal(marked.length, 3);
      assert.equal(marked[0]?.fields?.['detail'], 'dry-run zone trial');
    } finally {
      await gate.close();
      await upstream.close();
    }
  });
});

describe('gate policy: delay without nodelay', () => {
  it('spaces burst requests out at the zone’s rate instead of rejecting them', async () => {
    const upstream = await startRecordingUpstream();
    const gate = await startTestGate({
      upstream: upstream.origin,
      zones: [{ name: 'slow', rate: '10r/s', burst: 3 }],
      limit: ['slow'],
    });
    try {
      const started = Date.now();
      const done: number[] = [];
      const responses = await Promise.all(
        [0, 1, 2].map((i) =>
          request(gate.port, { path: `/d${i}`, localAddress: '127.0.0.9' }).then((r) => {
            done.push(Date.now() - started);
            return r.status;
          }),
        ),
      );
      assert.deepEqual(responses, [200, 200, 200]);
      done.sort((a, b) => a - b);
      // nginx: 100 ms apart at 10r/s; the third waits about 200 ms.
      assert.ok(done[2]! >= 180, `the last admitted after ${done[2]} ms`);
      assert.ok(done[2]! < 1500, `the last admitted after ${done[2]} ms`);
    } finally {
      await gate.close();
      await upstream.close();
    }
  });
});

describe('gate policy: client address behind proxies', () => {
  const fx = gateInFrontOfUpstream((origin) => ({
    upstream: origin,
    trustProxies: ['127.0.0.7/32', '10.0.0.0/8'],
    zones: [{ name: 'ip', rate: '1r/s', burst: 0, nodelay: true }],
    limit: ['ip'],
  }));

  it('ignores X-Forwarded-For from an untrusted peer', async () => {
    await request(fx.gate.port, {
      path: '/untrusted',
      localAddress: '127.0.0.8',
      headers: { 'X-Forwarded-For': '203.0.113.9' },
    });
    const seen = fx.upstream.seen.at(-1)!;
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.8');
    assert.equal(fx.gate.events.at(-1)?.ip, '127.0.0.8');
  });

  it('walks X-Forwarded-For from the right past trusted proxies, never trusting the left-most', async () => {
    await request(fx.gate.port, {
      path: '/trusted',
      localAddress: '127.0.0.7',
      headers: { 'X-Forwarded-For': '6.6.6.6, 203.0.113.10, 10.1.2.3' },
    });
    const seen = fx.upstream.seen.at(-1)!;
    assert.equal(seen.url, '/trusted');
    assert.equal(seen.headers['x-forwarded-for'], '203.0.113.10');
    assert.equal(seen.headers['x-real-ip'], '203.0.113.10');
    assert.equal(fx.gate.events.at(-1)?.ip, '203.0.113.10');
  });

  it('limits each client behind the proxy on its own', async () => {
    const via = (client: string) =>
      request(fx.gate.port, {
        path: '/per-client',
        localAddress: '127.0.0.7',
        headers: { 'X-Forwarded-For': client },
      });
    assert.equal((await via('198.51.100.1')).status, 200);
    assert.equal((await via('198.51.100.1')).status, 429);
    assert.equal((await via('198.51.100.2')).status, 200, 'another client through the same proxy');
  });
});

describe('gate policy: CDN-only mode', () => {
  let upstream: RecordingUpstream;
  let gate: TestGate;
  before(async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'moat-gate-cdn-'));
    const rangesFile = path.join(dir, 'cdn-ranges.txt');
    writeFileSync(rangesFile, '# the "CDN" for this test\n127.0.0.2/32\n');
    upstream = await startRecordingUpstream();
    gate = await startTestGate(
      { upstream: upstream.origin, cdnOnly: true },
      { cdn: { provider: 'cloudflare', rangesFile } },
    );
  });
  after(async () => {
    await gate.close();
    await upstream.close();
  });

  it('takes the client from CF-Connecting-IP when the peer is the CDN', async () => {
    const response = await request(gate.port, {
      path: '/via-cdn',
      localAddress: '127.0.0.2',
      headers: { 'CF-Connecting-IP': '203.0.113.5', 'X-Forwarded-For': '6.6.6.6, 203.0.113.5' },
    });
    assert.equal(response.status, 200);
    const seen = upstream.seen.at(-1)!;
    assert.equal(seen.url, '/via-cdn');
    assert.equal(seen.headers['x-forwarded-for'], '203.0.113.5');
    assert.equal(seen.headers['cf-connecting-ip'], '203.0.113.5');
    assert.equal(gate.events.at(-1)?.ip, '203.0.113.5');
  });

  it('refuses a source outside the CDN’s ranges, whatever headers it sends', async () => {
    const before = upstream.seen.length;
    const answer = await rawExchange(
      gate.port,
      'GET /direct HTTP/1.1\r\nHost: a\r\nCF-Connecting-IP: 203.0.113.5\r\nConnection: close\r\n\r\n',
      { localAddress: '127.0.0.3', waitMs: 1000 },
    );
    assert.notEqual(statusOf(answer.text), 200);
    assert.equal(upstream.seen.length, before, 'the upstream saw nothing');
    const event = gate.events.findLast((e) => e.path === '/direct');
    assert.equal(event?.fields?.['gate'], 'cdn');
    assert.equal(event?.ip, '127.0.0.3');
  });
});

describe('gate policy: deny rules through the real server', () => {
  const fx = gateInFrontOfUpstream((origin) => ({
    upstream: origin,
    deny: [
      { paths: ['*.php', '/.env', '/.git/**'], action: 404 },
      { paths: ['/admin/**'], action: 'close' },
      { methods: ['TRACE'], action: 403 },
    ],
  }));

  const denied = [
    '/.env',
    '/%2eenv',
    '/%2Eenv',
    '/static/../.env',
    '/static/%2e%2e/.env',
    '//.env',
    '/./.env',
    '/.env;jsessionid=1',
    '/static/..;/.env',
    '/static\\..\\.env',
    '/.git/config',
    '/.git//config',
    '/%2egit/config',
    '/.git/./objects/../HEAD',
    '/index.php',
    '/wp/xmlrpc.php?x=1',
    '/shell%2ephp',
    '/shell.php;.jpg',
  ];
  for (const target of denied) {
    it(`refuses ${target} and passes nothing upstream`, async () => {
      const before = fx.upstream.seen.length;
      const answer = await rawExchange(
        fx.gate.port,
        `GET ${target} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`,
        {
          waitMs: 1000,
        },
      );
      const status = statusOf(answer.text);
      assert.ok(status === 404 || status === 400, `${target} answered ${status || 'nothing'}`);
      assert.equal(fx.upstream.seen.length, before, `${target} reached the upstream`);
    });
  }

  it('closes the connection without an answer for a `close` rule', async () => {
    const before = fx.upstream.seen.length;
    const answer = await rawExchange(fx.gate.port, 'GET /admin/users HTTP/1.1\r\nHost: a\r\n\r\n', {
      waitMs: 1000,
    });
    assert.equal(answer.text, '');
    assert.ok(answer.closedByPeer);
    assert.equal(fx.upstream.seen.length, before);
    assert.equal(fx.gate.events.findLast((e) => e.path === '/admin/users')?.status, 444);
  });

  it('answers `Expect: 100-continue` only once the request passed, so a refused body is never invited', async () => {
    const before = fx.upstream.seen.length;
    const refused = await rawExchange(
      fx.gate.port,
      'POST /upload.php HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n',
      { waitMs: 1000 },
    );
    assert.equal(statusOf(refused.text), 404, 'no 100 Continue first');
    assert.equal(fx.upstream.seen.length, before);
    const socket = net.connect(fx.gate.port, '127.0.0.1');
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (text.startsWith('HTTP/1.1 100 Continue\r\n\r\n') && !text.includes('200')) socket.write('hello');
    });
    socket.write(
      'POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n',
    );
    await new Promise((resolve) => socket.on('close', resolve));
    assert.match(text, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK/);
    assert.equal(fx.upstream.seen.at(-1)?.body.toString(), 'hello');
    assert.equal(
      fx.upstream.seen.at(-1)?.headers.expect,
      undefined,
      'the gate answered the expectation itself',
    );
  });

  it('refuses a denied method', async () => {
    const response = await request(fx.gate.port, { method: 'TRACE', path: '/' });
    assert.equal(response.status, 403);
  });

  it('lets the lookalikes through', async () => {
    for (const target of ['/env', '/.environment', '/static/app.js', '/php/info', '/git/config']) {
      const response = await request(fx.gate.port, { path: target });
      assert.equal(response.status, 200, target);
      assert.equal(fx.upstream.seen.at(-1)?.url, target);
    }
  });

  it('reports a denied request with its status, so the probing scenarios count it', () => {
    const event = fx.gate.events.find((e) => e.path === '/index.php');
    assert.equal(event?.status, 404);
    assert.equal(event?.kind, 'http-request');
    assert.equal(event?.fields?.['gate'], 'denied');
  });
});

describe('gate policy: bans', () => {
  it('refuses a banned address, and serves it again once the ban is lifted', async () => {
    const banned = new Set<string>(['127.0.0.12']);
    const upstream = await startRecordingUpstream();
    const gate = await startTestGate(
      { upstream: upstream.origin },
      { bans: { isBanned: (ip) => banned.has(ip) } },
    );
    try {
      const refused = await request(gate.port, { path: '/b', localAddress: '127.0.0.12' });
      assert.equal(refused.status, 403);
      assert.equal(upstream.seen.length, 0);
      assert.equal((await request(gate.port, { path: '/b', localAddress: '127.0.0.13' })).status, 200);
      banned.delete('127.0.0.12');
      assert.equal((await request(gate.port, { path: '/b', localAddress: '127.0.0.12' })).status, 200);
    } finally {
      await gate.close();
      await upstream.close();
    }
  });
});

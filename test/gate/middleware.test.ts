/**
 * The gate's policy as middleware in front of real Express, Fastify and node:http servers on
 * loopback, with requests from distinct source addresses (127.0.0.x): nginx burst arithmetic,
 * per-client isolation, delays, deny rules against encoded spellings, X-Forwarded-For from trusted
 * proxies only, bans. The limiter runs on a frozen clock so that the arithmetic cannot drift with
 * the machine's load; the delay test uses real time.
 */
import assert from 'node:assert/strict';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import Fastify from 'fastify';
import { gateSchema } from '../../src/config/gate.ts';
import { manualClock } from '../../src/core/clock.ts';
import {
  expressGate,
  fastifyGate,
  gateVerdict,
  type GateMiddlewareOptions,
  withGate,
} from '../../src/gate/middleware.ts';
import { createGatePolicy } from '../../src/gate/policy.ts';
import type { GatePolicy } from '../../src/gate/types.ts';
import { rawExchange, request, statusOf } from '../helpers/gate-http.ts';

interface App {
  readonly port: number;
  /** Paths the app itself served (requests the gate let through). */
  readonly served: string[];
  close(): Promise<void>;
}

/** The app answers 200 with the client address the gate resolved. */
function respond(req: IncomingMessage, res: ServerResponse, served: string[]): void {
  served.push(req.url ?? '');
  const verdict = gateVerdict(req);
  res.setHeader('Content-Type', 'text/plain');
  res.end(verdict?.clientIp ?? 'no verdict');
}

const frameworks: Record<string, (policy: GatePolicy, options: GateMiddlewareOptions) => Promise<App>> = {
  async express(policy, options) {
    const served: string[] = [];
    const app = express();
    app.use(expressGate(policy, options));
    app.use((req, res) => respond(req, res, served));
    const server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      port: (server.address() as AddressInfo).port,
      served,
      close: () => new Promise((resolve) => server.close(() => resolve())),
    };
  },
  async fastify(policy, options) {
    const served: string[] = [];
    const app = Fastify();
    await app.register(fastifyGate(policy, options));
    app.all('/*', (request, reply) => {
      served.push(request.raw.url ?? '');
      reply.type('text/plain').send(gateVerdict(request.raw)?.clientIp ?? 'no verdict');
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    return { port: (app.server.address() as AddressInfo).port, served, close: () => app.close() };
  },
  async 'node:http'(policy, options) {
    const served: string[] = [];
    const server = http.createServer(withGate(policy, (req, res) => respond(req, res, served), options));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      port: (server.address() as AddressInfo).port,
      served,
      close: () =>
        new Promise((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    };
  },
};

const gateConfig = gateSchema.parse({
  upstream: 'http://127.0.0.1:9',
  zones: [
    { name: 'api', rate: '10r/s', burst: 5, nodelay: true },
    { name: 'slow', rate: '5r/s', burst: 2 },
  ],
  limit: ['api'],
  routes: [
    { path: '/slow', upstream: 'http://127.0.0.1:9', limit: ['slow'] },
    { path: '/open', upstream: 'http://127.0.0.1:9', limit: [], deny: false },
  ],
  deny: [
    { paths: ['*.php', '/.env', '/.git/**'], action: 404 },
    { paths: ['/admin/**'], action: 'close' },
    { methods: ['TRACE'], userAgents: ['sqlmap'], action: 403 },
  ],
  trustProxies: ['127.0.0.9/32'],
});

for (const [name, start] of Object.entries(frameworks)) {
  describe(`gate middleware on ${name}`, () => {
    const banned = new Set(['127.0.0.12']);
    const clock = manualClock(1_000_000);
    let app: App;
    before(async () => {
      const policy = createGatePolicy(gateConfig, { bans: { isBanned: (ip) => banned.has(ip) } });
      app = await start(policy, { clock });
    });
    after(() => app.close());

    const get = (path: string, localAddress: string, headers: Record<string, string> = {}) =>
      request(app.port, { path, localAddress, headers });

    it('rate=10r/s burst=5 nodelay admits 6 back to back; the 7th gets 429 with Retry-After', async () => {
      const responses = [];
      for (let i = 0; i < 7; i++) responses.push(await get(`/burst/${i}`, '127.0.0.2'));
      assert.deepEqual(
        responses.map((r) => r.status),
        [200, 200, 200, 200, 200, 200, 429],
      );
      assert.deepEqual(
        responses.slice(0, 6).map((r) => r.headers['ratelimit-remaining']),
        ['5', '4', '3', '2', '1', '0'],
      );
      assert.equal(responses[0]!.headers['ratelimit-limit'], '6');
      const last = responses[6]!;
      assert.equal(last.headers['retry-after'], '1');
      assert.equal(last.body, 'Too Many Requests\n');
      assert.deepEqual(
        app.served.filter((p) => p.startsWith('/burst/')),
        ['/burst/0', '/burst/1', '/burst/2', '/burst/3', '/burst/4', '/burst/5'],
        'the rejected request never reached the app',
      );
      // 100 ms later one request's worth has drained: exactly one more passes.
      clock.advance(100);
      assert.equal((await get('/burst/7', '127.0.0.2')).status, 200);
      assert.equal((await get('/burst/8', '127.0.0.2')).status, 429);
    });

    it('keeps a separate limit per client address', async () => {
      for (let i = 0; i < 6; i++) assert.equal((await get('/iso', '127.0.0.3')).status, 200);
      assert.equal((await get('/iso', '127.0.0.3')).status, 429);
      const other = await get('/iso', '127.0.0.4');
      assert.equal(other.status, 200);
      assert.equal(other.body, '127.0.0.4');
    });

    it('holds a burst request without nodelay for excess / rate, then serves it', async () => {
      // 5r/s burst=2 on a frozen clock: the second and third requests wait 200 and 400 ms.
      const started = performance.now();
      const timings = await Promise.all(
        [0, 1, 2].map(async (i) => {
          // Fire them in order: each waits for the previous to have been checked.
          await new Promise((resolve) => setTimeout(resolve, i * 30));
          const response = await get(`/slow/${i}`, '127.0.0.5');
          return { status: response.status, ms: performance.now() - started };
        }),
      );
      assert.deepEqual(
        timings.map((t) => t.status),
        [200, 200, 200],
      );
      assert.ok(timings[1]!.ms >= 200 + 30 - 5, `second after ${timings[1]!.ms} ms`);
      assert.ok(timings[2]!.ms >= 400 + 60 - 5, `third after ${timings[2]!.ms} ms`);
      assert.ok(timings[0]!.ms < timings[1]!.ms);
      assert.equal((await get('/slow/3', '127.0.0.5')).status, 429);
    });

    const denied: [string, number][] = [
      ['/.env', 404],
      ['/%2e%2e/.env', 404],
      ['/a/..%2f.env', 404],
      ['/.%65nv', 404],
      ['/x.PHP', 404],
      ['/index.php/info', 404],
      ['/static/..;/.env', 404],
      ['/static\\..\\.env', 404],
      ['/.git//config', 404],
      ['/%252e%252e/.env', 400],
      ['/a%00.txt', 400],
    ];
    for (const [target, status] of denied) {
      it(`refuses ${target} with ${status} before the app`, async () => {
        const answer = await rawExchange(
          app.port,
          `GET ${target} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`,
          {
            localAddress: '127.0.0.6',
          },
        );
        assert.equal(statusOf(answer.text), status, answer.text.slice(0, 80));
        assert.ok(!app.served.includes(target));
      });
    }

    it('closes the connection without an answer for a `close` rule', async () => {
      const answer = await rawExchange(app.port, 'GET /admin/x HTTP/1.1\r\nHost: a\r\n\r\n', {
        localAddress: '127.0.0.6',
        waitMs: 2000,
      });
      assert.equal(answer.text, '');
      assert.ok(answer.closedByPeer);
      assert.ok(answer.elapsedMs < 2000);
    });

    it('refuses a denied method or user agent with 403, and skips deny rules where the route says so', async () => {
      assert.equal(
        (await request(app.port, { method: 'TRACE', path: '/', localAddress: '127.0.0.6' })).status,
        403,
      );
      assert.equal((await get('/', '127.0.0.6', { 'User-Agent': 'sqlmap/1.8#stable' })).status, 403);
      assert.equal((await get('/open/x.php', '127.0.0.6')).status, 200);
      assert.equal((await get('/env', '127.0.0.6')).status, 200);
    });

    it('ignores X-Forwarded-For from a peer that is not a trusted proxy', async () => {
      for (let i = 0; i < 6; i++) {
        const response = await get('/xff', '127.0.0.8', { 'X-Forwarded-For': `198.51.100.${i}` });
        assert.equal(response.status, 200);
        assert.equal(response.body, '127.0.0.8');
      }
      assert.equal((await get('/xff', '127.0.0.8', { 'X-Forwarded-For': '198.51.100.99' })).status, 429);
    });

    it('behind a trusted proxy, limits the right-most untrusted client, never the spoofable left-most', async () => {
      const via = (xff: string) => get('/xff', '127.0.0.9', { 'X-Forwarded-For': xff });
      for (let i = 0; i < 6; i++) {
        const response = await via(`6.6.6.${i}, 198.51.100.1`);
        assert.equal(response.status, 200);
        assert.equal(response.body, '198.51.100.1');
      }
      assert.equal((await via('7.7.7.7, 198.51.100.1')).status, 429);
      const other = await via('6.6.6.6, 198.51.100.2');
      assert.equal(other.status, 200, 'another client through the same proxy');
      assert.equal(other.body, '198.51.100.2');
    });

    it('refuses a banned address with 403 and serves it once the ban is lifted', async () => {
      assert.equal((await get('/b', '127.0.0.12')).status, 403);
      assert.equal((await get('/b', '127.0.0.13')).status, 200);
      banned.delete('127.0.0.12');
      assert.equal((await get('/b', '127.0.0.12')).status, 200);
      banned.add('127.0.0.12');
    });
  });
}

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gateSchema } from '../config/gate.ts';
import { createGatePolicy, type GatePolicyDeps } from './policy.ts';
import type { GateRequest, Verdict } from './types.ts';

const noBans = { isBanned: () => false };

function policy(gate: Record<string, unknown>, deps: Partial<GatePolicyDeps> = {}) {
  return createGatePolicy(gateSchema.parse(gate), { bans: noBans, ...deps });
}

function request(url: string, extra: Partial<GateRequest> = {}): GateRequest {
  return { socketIp: '203.0.113.9', method: 'GET', url, headers: {}, ...extra };
}

function rejected(verdict: Verdict): Extract<Verdict, { action: 'reject' }> {
  assert.equal(verdict.action, 'reject', JSON.stringify(verdict));
  return verdict as Extract<Verdict, { action: 'reject' }>;
}

function passed(verdict: Verdict): Extract<Verdict, { action: 'pass' }> {
  assert.equal(verdict.action, 'pass', JSON.stringify(verdict));
  return verdict as Extract<Verdict, { action: 'pass' }>;
}

describe('gate policy', () => {
  it('passes with the normalised path, the client and the default route when nothing applies', () => {
    const verdict = passed(policy({}).check(request('/a/../b?x=1', { socketIp: '::ffff:203.0.113.9' }), 0));
    assert.deepEqual(verdict, {
      action: 'pass',
      clientIp: '203.0.113.9',
      path: '/b',
      delayMs: 0,
      headers: {},
      route: -1,
    });
  });

  it('rate limits with nginx arithmetic, RateLimit headers and Retry-After', () => {
    const gate = policy({ zones: [{ name: 'api', rate: '10r/s', burst: 5, nodelay: true }], limit: ['api'] });
    const verdicts = Array.from({ length: 7 }, () => gate.check(request('/x'), 5000));
    assert.deepEqual(
      verdicts.slice(0, 6).map((v) => passed(v).headers),
      [5, 4, 3, 2, 1, 0].map((remaining, i) => ({
        'RateLimit-Limit': '6',
        'RateLimit-Remaining': String(remaining),
        'RateLimit-Reset': String(Math.ceil((i * 100) / 1000)),
      })),
    );
    const last = rejected(verdicts[6]!);
    assert.equal(last.status, 429);
    assert.equal(last.reason, 'rate');
    assert.equal(last.headers['Retry-After'], '1');
    assert.equal(last.headers['RateLimit-Remaining'], '0');
    assert.match(last.detail, /zone api/);
    // Another client has its own bucket.
    assert.equal(gate.check(request('/x', { socketIp: '203.0.113.10' }), 5000).action, 'pass');
  });

  it('uses the zone status and turns delays into delayMs', () => {
    const gate = policy({ zones: [{ name: 'slow', rate: '2r/s', burst: 2, status: 503 }], limit: ['slow'] });
    assert.deepEqual(
      [0, 1, 2].map((n) => passed(gate.check(request(`/${n}`), 0)).delayMs),
      [0, 500, 1000],
    );
    const verdict = rejected(gate.check(request('/3'), 0));
    assert.equal(verdict.status, 503);
    assert.equal(verdict.headers['Retry-After'], '1');
  });

  it('rounds Retry-After up to whole seconds', () => {
    const gate = policy({ zones: [{ name: 'm', rate: '30r/m' }], limit: ['m'] });
    gate.check(request('/'), 0);
    assert.equal(rejected(gate.check(request('/'), 1700)).headers['Retry-After'], '1', '300 ms');
    // 20r/m is 333 thousandths a second in nginx's integers: the next request is due after 3004 ms.
    const twenty = policy({ zones: [{ name: 'm', rate: '20r/m' }], limit: ['m'] });
    twenty.check(request('/'), 0);
    assert.equal(rejected(twenty.check(request('/'), 1)).headers['Retry-After'], '4', '3003 ms');
    assert.equal(rejected(twenty.check(request('/'), 3003)).headers['Retry-After'], '1', '1 ms');
    assert.equal(twenty.check(request('/'), 3004).action, 'pass');
  });

  it('dry-run zones pass, say which zone would have rejected, and add no headers', () => {
    const gate = policy({ zones: [{ name: 'trial', rate: '1r/s', dryRun: true }], limit: ['trial'] });
    assert.deepEqual(passed(gate.check(request('/'), 0)).headers, {});
    const second = passed(gate.check(request('/'), 0));
    assert.equal(second.wouldReject, 'trial');
    assert.deepEqual(second.headers, {});
  });

  it('routes by the longest prefix at a segment boundary, on the normalised path', () => {
    const gate = policy({
      upstream: 'http://127.0.0.1:3000',
      routes: [
        { path: '/api', upstream: 'http://127.0.0.1:3001' },
        { path: '/api/admin', upstream: 'http://127.0.0.1:3002' },
        { path: '/static/', upstream: 'http://127.0.0.1:3003' },
      ],
    });
    const routeOf = (url: string) => passed(gate.check(request(url), 0)).route;
    assert.equal(routeOf('/api'), 0);
    assert.equal(routeOf('/api/users'), 0);
    assert.equal(routeOf('/api/admin/x'), 1);
    assert.equal(routeOf('/apix'), -1);
    assert.equal(routeOf('/%61pi/admin'), 1);
    assert.equal(routeOf('/api/../api/admin'), 1);
    assert.equal(routeOf('/static/app.js'), 2);
    assert.equal(routeOf('/static'), -1);
    assert.equal(routeOf('/'), -1);
  });

  it('applies a route’s own zones and skips deny rules where the route says so', () => {
    const gate = policy({
      upstream: 'http://127.0.0.1:3000',
      zones: [
        { name: 'site', rate: '100r/s', burst: 100, nodelay: true },
        { name: 'login', rate: '1r/m' },
      ],
      limit: ['site'],
      deny: [{ paths: ['*.php'] }],
      routes: [
        { path: '/login', upstream: 'http://127.0.0.1:3001', limit: ['login', 'site'] },
        { path: '/legacy', upstream: 'http://127.0.0.1:3002', deny: false },
      ],
    });
    assert.equal(gate.check(request('/login'), 0).action, 'pass');
    assert.equal(rejected(gate.check(request('/login'), 0)).detail.startsWith('zone login'), true);
    assert.equal(gate.check(request('/other'), 0).action, 'pass');
    assert.equal(rejected(gate.check(request('/x.php'), 0)).reason, 'denied');
    assert.equal(passed(gate.check(request('/legacy/x.php'), 0)).route, 1);
  });

  it('refuses denied requests with the rule and its action', () => {
    const gate = policy({
      deny: [
        { paths: ['/.env'], action: 403 },
        { userAgents: ['sqlmap'], action: 'close' },
      ],
    });
    const env = rejected(gate.check(request('/%2e%2e/.%65nv'), 0));
    assert.deepEqual([env.reason, env.status, env.detail], ['denied', 403, 'path /.env']);
    const agent = rejected(gate.check(request('/', { headers: { 'user-agent': 'sqlmap/1.8' } }), 0));
    assert.deepEqual([agent.status, agent.detail], ['close', 'user-agent sqlmap']);
  });

  it('answers 400 for a malformed target', () => {
    const verdict = rejected(policy({}).check(request('/%zz'), 0));
    assert.deepEqual([verdict.reason, verdict.status], ['bad-target', 400]);
  });

  it('refuses banned clients with 403, checked on the resolved client, before anything else counts', () => {
    const banned = new Set(['198.51.100.7']);
    const gate = policy(
      { trustProxies: ['10.0.0.0/8'], zones: [{ name: 'z', rate: '1r/s' }], limit: ['z'] },
      { bans: { isBanned: (ip) => banned.has(ip) } },
    );
    const headers = { 'x-forwarded-for': '198.51.100.7' };
    const verdict = rejected(gate.check(request('/', { socketIp: '10.0.0.1', headers }), 0));
    assert.deepEqual([verdict.reason, verdict.status, verdict.clientIp], ['banned', 403, '198.51.100.7']);
    // The refused requests were not charged to the rate limit.
    banned.clear();
    assert.equal(gate.check(request('/', { socketIp: '10.0.0.1', headers }), 0).action, 'pass');
    // And the proxy itself is not the client.
    assert.equal(gate.check(request('/', { socketIp: '10.0.0.1' }), 0).action, 'pass');
  });

  it('with onStoreError closed, answers 503 while the store is unreadable; open serves on', () => {
    let healthy = false;
    const closed = policy({ bans: { onStoreError: 'closed' } }, { storeHealthy: () => healthy });
    const verdict = rejected(closed.check(request('/'), 0));
    assert.deepEqual([verdict.reason, verdict.status], ['store-unavailable', 503]);
    healthy = true;
    assert.equal(closed.check(request('/'), 0).action, 'pass');
    const open = policy({ bans: { onStoreError: 'open' } }, { storeHealthy: () => false });
    assert.equal(open.check(request('/'), 0).action, 'pass');
  });

  it('in CDN-only mode refuses other sources and takes the client from CF-Connecting-IP', () => {
    const gate = policy({ cdnOnly: true }, { cdnRanges: ['173.245.48.0/20'] });
    const refused = rejected(
      gate.check(request('/', { headers: { 'cf-connecting-ip': '198.51.100.7' } }), 0),
    );
    assert.deepEqual([refused.reason, refused.status, refused.clientIp], ['cdn', 403, '203.0.113.9']);
    const via = passed(
      gate.check(
        request('/', { socketIp: '173.245.48.1', headers: { 'cf-connecting-ip': '198.51.100.7' } }),
        0,
      ),
    );
    assert.equal(via.clientIp, '198.51.100.7');
  });

  it('refuses configs that name zones that do not exist, with the key', () => {
    assert.throws(() => policy({ limit: ['nope'] }), /gate\.limit\[0\]: no zone is named "nope"/);
    assert.throws(
      () => policy({ routes: [{ path: '/a', upstream: 'http://127.0.0.1:1', limit: ['x'] }] }),
      /gate\.routes\[0\]\.limit\[0\]/,
    );
    assert.throws(
      () => policy({ zones: [{ name: 'z', rate: '1r/s' }], limit: ['z', 'z'] }),
      /gate\.limit\[1\]: zone "z" is listed twice/,
    );
  });
});

/**
 * The gate's proxy over real sockets with a real upstream (node:http on loopback): what goes
 * through, what is stripped or replaced on the way, what the gate answers itself when the upstream
 * fails, and what it reports (events the engine reads, the access log, metrics).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket, WebSocketServer } from 'ws';
import { createNginxCombinedParser } from '../../src/parsing/nginx-combined.ts';
import {
  rawExchange,
  type RecordingUpstream,
  request,
  startRecordingUpstream,
  statusOf,
} from '../helpers/gate-http.ts';
import { until } from '../helpers/until.ts';
import { gateInFrontOfUpstream, startTestGate, type TestGate } from '../helpers/gate-server.ts';
import { type CertificateFiles, selfSignedCertificate } from '../helpers/tls.ts';

describe('gate proxy: what passes through', () => {
  let upstream: RecordingUpstream;
  let gate: TestGate;
  const dir = mkdtempSync(path.join(tmpdir(), 'moat-gate-'));
  const accessLog = path.join(dir, 'access.log');

  before(async () => {
    upstream = await startRecordingUpstream((req, res, body) => {
      if (req.url === '/cookies') {
        res.setHeader('Set-Cookie', ['a=1; Path=/', 'b=2; Path=/']);
        res.end('two cookies');
        return;
      }
      if (req.url === '/hop') {
        res.writeHead(201, {
          Connection: 'X-Internal',
          'X-Internal': 'secret',
          'Keep-Alive': 'timeout=99',
          'Proxy-Authenticate': 'Basic',
          Trailer: 'X-Checksum',
          'X-App': 'kept',
        });
        res.end('created');
        return;
      }
      res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Upstream': 'yes' });
      res.end(`${req.method} ${req.url} ${body.length}`);
    });
    gate = await startTestGate({ upstream: upstream.origin, accessLog, metrics: '127.0.0.1:0' });
  });
  after(async () => {
    await gate.close();
    await upstream.close();
  });

  it('passes method, path with query, body, status and headers', async () => {
    const response = await request(gate.port, {
      method: 'PUT',
      path: '/items/7?full=1&x=%2F',
      headers: { 'Content-Type': 'application/json', 'X-App-Header': 'v1' },
      body: '{"a":1}',
    });
    assert.equal(response.status, 200);
    assert.equal(response.body, 'PUT /items/7?full=1&x=%2F 7');
    assert.equal(response.headers['x-upstream'], 'yes');
    const seen = upstream.seen.at(-1)!;
    assert.equal(seen.method, 'PUT');
    assert.equal(seen.url, '/items/7?full=1&x=%2F');
    assert.equal(seen.headers['content-type'], 'application/json');
    assert.equal(seen.headers['x-app-header'], 'v1');
    assert.equal(seen.body.toString(), '{"a":1}');
    assert.equal(seen.headers.host, `127.0.0.1:${gate.port}`, 'the client’s Host is kept');
  });

  it('keeps repeated response headers (Set-Cookie) separate', async () => {
    const response = await request(gate.port, { path: '/cookies' });
    assert.deepEqual(response.headers['set-cookie'], ['a=1; Path=/', 'b=2; Path=/']);
  });

  it('strips hop-by-hop headers in both directions', async () => {
    const response = await request(gate.port, {
      path: '/hop',
      headers: {
        Connection: 'keep-alive, X-Hop',
        'X-Hop': 'named in Connection',
        'Keep-Alive': 'timeout=30',
        TE: 'trailers',
        'Proxy-Authorization': 'Basic Zm9vOmJhcg==',
        'Proxy-Connection': 'keep-alive',
        Expect: '100-continue',
        'X-End-To-End': 'kept',
      },
    });
    assert.equal(response.status, 201);
    const seen = upstream.seen.at(-1)!;
    for (const name of ['x-hop', 'keep-alive', 'te', 'proxy-authorization', 'proxy-connection', 'expect']) {
      assert.equal(seen.headers[name], undefined, `${name} must not reach the upstream`);
    }
    assert.equal(seen.headers['x-end-to-end'], 'kept');
    for (const name of ['x-internal', 'proxy-authenticate', 'trailer']) {
      assert.equal(response.headers[name], undefined, `${name} must not reach the client`);
    }
    assert.notEqual(response.headers['keep-alive'], 'timeout=99', 'the upstream’s Keep-Alive is its own');
    assert.equal(response.headers['x-app'], 'kept');
  });

  it('overwrites forwarding headers a client forged, in every spelling', async () => {
    await request(gate.port, {
      path: '/spoof',
      localAddress: '127.0.0.2',
      headers: {
        'X-Forwarded-For': '6.6.6.6',
        'X-Real-IP': '6.6.6.6',
        'X-Forwarded-Proto': 'https',
        'X-Forwarded-Host': 'evil.example',
        Forwarded: 'for=6.6.6.6;proto=https',
        'CF-Connecting-IP': '6.6.6.6',
        'True-Client-IP': '6.6.6.6',
        'X-Cluster-Client-IP': '6.6.6.6',
        X_Forwarded_For: '6.6.6.6',
      },
    });
    const seen = upstream.seen.at(-1)!;
    assert.equal(seen.url, '/spoof');
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.2');
    assert.equal(seen.headers['x-real-ip'], '127.0.0.2');
    assert.equal(seen.headers['x-forwarded-proto'], 'http');
    assert.equal(seen.headers['x-forwarded-host'], `127.0.0.1:${gate.port}`);
    for (const name of [
      'forwarded',
      'cf-connecting-ip',
      'true-client-ip',
      'x-cluster-client-ip',
      'x_forwarded_for',
    ]) {
      assert.equal(seen.headers[name], undefined, `${name} must not reach the upstream`);
    }
    assert.ok(!JSON.stringify(seen.rawHeaders).includes('6.6.6.6'), 'no forged address passes in any header');
  });

  it('streams request and response bodies instead of buffering them', async () => {
    // The upstream answers with a first chunk, then waits for the client's whole upload, which the
    // client only finishes after it has seen that first chunk: a buffering proxy would deadlock here.
    const streaming = await startRecordingUpstream(
      (req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.write('first;');
        let received = 0;
        req.on('data', (chunk: Buffer) => (received += chunk.length));
        req.on('end', () => res.end(`received ${received}`));
      },
      { streaming: true },
    );
    const streamingGate = await startTestGate({ upstream: streaming.origin });
    try {
      const body = await new Promise<string>((resolve, reject) => {
        const req = http.request(
          { host: '127.0.0.1', port: streamingGate.port, method: 'POST', path: '/upload', agent: false },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              text += chunk;
              if (text === 'first;') {
                req.write(Buffer.alloc(100_000, 1));
                req.end(Buffer.alloc(50_000, 2));
              }
            });
            res.on('end', () => resolve(text));
          },
        );
        req.on('error', reject);
        req.flushHeaders();
        req.write(Buffer.alloc(10, 0));
      });
      assert.equal(body, 'first;received 150010');
      assert.equal(streaming.seen[0]!.headers['transfer-encoding'], 'chunked');
    } finally {
      await streamingGate.close();
      await streaming.close();
    }
  });

  it('reuses pooled upstream connections across requests', async () => {
    const before = upstream.connections();
    for (let i = 0; i < 10; i++) assert.equal((await request(gate.port, { path: `/pool/${i}` })).status, 200);
    assert.ok(
      upstream.connections() - before <= 1,
      `10 requests opened ${upstream.connections() - before} upstream connections`,
    );
  });

  it('reports each request as the event the nginx access-log parser would produce, and logs it in combined format', async () => {
    await request(gate.port, {
      path: '/report?q="x"',
      localAddress: '127.0.0.3',
      headers: { 'User-Agent': 'sqlmap/1.7', Referer: 'http://example.test/' },
    });
    const event = gate.events.findLast((e) => e.path === '/report?q=%22x%22' || e.path === '/report?q="x"');
    assert.ok(event, 'an event for the request');
    assert.equal(event.service, 'http');
    assert.equal(event.kind, 'http-request');
    assert.equal(event.ip, '127.0.0.3');
    assert.equal(event.method, 'GET');
    assert.equal(event.status, 200);
    assert.equal(event.userAgent, 'sqlmap/1.7');
    assert.equal(event.referer, 'http://example.test/');
    // The access log line, read back by moat's own nginx parser, gives the same event.
    await until(() => readFileSync(accessLog, 'utf8').includes('/report'), 'the access log line');
    const line = readFileSync(accessLog, 'utf8')
      .split('\n')
      .find((l) => l.includes('/report'))!;
    const parsed = createNginxCombinedParser().parse({ source: 'gate', text: line, readAtMs: Date.now() });
    assert.ok(parsed, `the nginx parser reads ${line}`);
    for (const key of ['ip', 'method', 'path', 'status', 'bytes', 'userAgent', 'referer'] as const) {
      assert.equal(parsed[key], event[key], key);
    }
    assert.ok(Math.abs(parsed.at - event.at) < 2000);
  });

  it('serves Prometheus metrics on its own listener', async () => {
    const address = gate.server.metricsAddress!;
    assert.notEqual(address.port, gate.port);
    const response = await request(address.port, { path: '/metrics' });
    assert.equal(response.status, 200);
    const proxied = /^moat_gate_requests_total\{outcome="proxied"\} (\d+)$/m.exec(response.body);
    assert.ok(proxied && Number(proxied[1]) >= 5, 'proxied requests counted');
    assert.match(
      response.body,
      /^moat_gate_request_duration_seconds_bucket\{le="0\.1",outcome="proxied"\} \d+$/m,
    );
    assert.match(response.body, /^moat_gate_open_connections \d+$/m);
    assert.equal(
      (await request(gate.port, { path: '/metrics' })).body,
      'GET /metrics 0',
      'the gate port proxies /metrics',
    );
  });
});

describe('gate proxy: routes', () => {
  it('sends each request to the upstream of the longest matching prefix, others to the default', async () => {
    const [main, api, v2] = await Promise.all([1, 2, 3].map(() => startRecordingUpstream()));
    const gate = await startTestGate({
      upstream: main!.origin,
      routes: [
        { path: '/api', upstream: api!.origin },
        { path: '/api/v2', upstream: v2!.origin },
      ],
    });
    try {
      await request(gate.port, { path: '/api/users' });
      await request(gate.port, { path: '/api/v2/users' });
      await request(gate.port, { path: '/home' });
      assert.deepEqual(
        main!.seen.map((r) => r.url),
        ['/home'],
      );
      assert.deepEqual(
        api!.seen.map((r) => r.url),
        ['/api/users'],
      );
      assert.deepEqual(
        v2!.seen.map((r) => r.url),
        ['/api/v2/users'],
      );
    } finally {
      await gate.close();
      await Promise.all([main, api, v2].map((u) => u!.close()));
    }
  });
});

describe('gate proxy: upstream failures', () => {
  it('answers 502 when the upstream refuses connections', async () => {
    const gone = await startRecordingUpstream();
    await gone.close();
    const gate = await startTestGate({ upstream: gone.origin });
    try {
      const response = await request(gate.port, { path: '/down' });
      assert.equal(response.status, 502);
      assert.equal(gate.events.at(-1)?.status, 502);
      assert.ok(gate.logger.lines.some((l) => l.msg === 'upstream failed' && l['failure'] === 'refused'));
    } finally {
      await gate.close();
    }
  });

  it('answers 504 when the upstream does not answer within limits.upstreamTimeout', async () => {
    const silent = await startRecordingUpstream(() => {}, { streaming: true });
    const gate = await startTestGate({ upstream: silent.origin, limits: { upstreamTimeout: 300 } });
    try {
      const started = Date.now();
      const response = await request(gate.port, { path: '/slow' });
      assert.equal(response.status, 504);
      assert.ok(Date.now() - started >= 280, 'not before the timeout');
      assert.ok(Date.now() - started < 3000, 'soon after the timeout');
    } finally {
      await gate.close();
      await silent.close();
    }
  });

  it('cuts the client connection when the upstream dies mid-answer', async () => {
    const dying = await startRecordingUpstream(
      (_req, res) => {
        res.writeHead(200, { 'Content-Length': '1000' });
        res.write('partial');
        setTimeout(() => res.socket?.destroy(), 50);
      },
      { streaming: true },
    );
    const gate = await startTestGate({ upstream: dying.origin });
    try {
      await assert.rejects(request(gate.port, { path: '/die' }), /aborted|socket hang up|ECONNRESET/);
    } finally {
      await gate.close();
      await dying.close();
    }
  });
});

describe('gate proxy: upgrades', () => {
  const fx = gateInFrontOfUpstream((origin) => ({ upstream: origin }));

  it('refuses h2c upgrades with 400 and passes nothing upstream', async () => {
    const before = fx.upstream.seen.length;
    const answer = await rawExchange(
      fx.gate.port,
      'GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n',
    );
    assert.equal(statusOf(answer.text), 400);
    const smuggled = await rawExchange(
      fx.gate.port,
      'GET / HTTP/1.1\r\nHost: a\r\nHTTP2-Settings: AAMAAABk\r\n\r\n',
    );
    assert.equal(statusOf(smuggled.text), 400);
    assert.equal(fx.upstream.seen.length, before);
  });

  it('answers 501 to an upgrade to anything but WebSocket', async () => {
    const before = fx.upstream.seen.length;
    const answer = await rawExchange(
      fx.gate.port,
      'GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: TLS/1.2\r\n\r\n',
    );
    assert.equal(statusOf(answer.text), 501);
    assert.equal(fx.upstream.seen.length, before);
  });
});

describe('gate proxy: WebSocket hand-off', () => {
  it('proxies a WebSocket with the gate’s forwarding headers and none of the client’s', async () => {
    const http1 = http.createServer();
    const wss = new WebSocketServer({ server: http1 });
    const handshakes: http.IncomingHttpHeaders[] = [];
    wss.on('connection', (socket, req) => {
      handshakes.push(req.headers);
      socket.on('message', (data, binary) => socket.send(data, { binary }));
    });
    await new Promise<void>((resolve) => http1.listen(0, '127.0.0.1', resolve));
    const gate = await startTestGate({
      upstream: `http://127.0.0.1:${(http1.address() as AddressInfo).port}`,
    });
    try {
      const client = new WebSocket(`ws://127.0.0.1:${gate.port}/socket?room=1`, {
        localAddress: '127.0.0.4',
        headers: { 'X-Forwarded-For': '6.6.6.6', 'X-Cluster-Client-IP': '6.6.6.6', X_Real_IP: '6.6.6.6' },
      });
      await new Promise((resolve, reject) => {
        client.once('open', resolve);
        client.once('error', reject);
      });
      const echoed = new Promise<string>((resolve) =>
        client.once('message', (data) => resolve(String(data))),
      );
      client.send('hello through the gate');
      assert.equal(await echoed, 'hello through the gate');
      const seen = handshakes[0]!;
      assert.equal(seen['x-forwarded-for'], '127.0.0.4');
      assert.equal(seen['x-real-ip'], '127.0.0.4');
      assert.equal(seen['x-cluster-client-ip'], undefined);
      assert.equal(seen['x_real_ip'], undefined);
      client.close();
      const event = gate.events.find((e) => e.path === '/socket?room=1');
      assert.equal(event?.status, 101);
      assert.equal(event?.ip, '127.0.0.4');
    } finally {
      await gate.close();
      wss.close();
      http1.close();
    }
  });
});

describe('gate proxy: HTTPS listener', () => {
  it('serves HTTPS with the configured certificate and proxies to a plain upstream', async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'moat-gate-tls-'));
    let files: CertificateFiles;
    try {
      files = selfSignedCertificate(dir, 1, 'localhost');
    } catch (error) {
      if (process.env['CI']) throw error;
      t.skip('openssl is not installed');
      return;
    }
    const { cert, key } = files;
    const upstream = await startRecordingUpstream();
    const gate = await startTestGate({ upstream: upstream.origin, tls: { cert, key } });
    try {
      const body = await new Promise<string>((resolve, reject) => {
        https
          .get(
            { host: '127.0.0.1', port: gate.port, path: '/secure', ca: readFileSync(cert), agent: false },
            (res) => {
              let text = '';
              res.on('data', (chunk: Buffer) => (text += chunk));
              res.on('end', () => resolve(text));
            },
          )
          .on('error', reject);
      });
      assert.equal(body, 'GET /secure 0');
      assert.equal(upstream.seen[0]!.headers['x-forwarded-proto'], 'https');
    } finally {
      await gate.close();
      await upstream.close();
    }
  });
});

describe('gate proxy: graceful stop', () => {
  it('lets a request in flight finish, then refuses new connections', async () => {
    const slow = await startRecordingUpstream(
      (_req, res) => {
        setTimeout(() => res.end('finished'), 300);
      },
      { streaming: true },
    );
    const gate = await startTestGate({ upstream: slow.origin }, { drainMs: 5000 });
    const inFlight = request(gate.port, { path: '/slow' });
    await until(() => slow.seen.length === 1, 'the request to reach the upstream');
    const closing = gate.close();
    await sleep(50);
    await assert.rejects(request(gate.port, { path: '/late' }), /ECONNREFUSED/);
    const response = await inFlight;
    assert.equal(response.status, 200);
    assert.equal(response.body, 'finished');
    await closing;
    await slow.close();
  });
});

/**
 * The WebSocket proxy over real sockets: a real `ws` upstream on loopback, a plain node:http server
 * whose 'upgrade' handler hands the socket to the proxy (as the gate's server does once the policy
 * passed), and real `ws` clients.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http, { type IncomingHttpHeaders } from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket, WebSocketServer } from 'ws';
import { type Logger } from '../../src/daemon/log.ts';
import {
  createWebSocketProxy,
  type WebSocketProxy,
  type WebSocketProxyOptions,
} from '../../src/gate/websocket.ts';
import { startTestGate } from '../helpers/gate-server.ts';

interface LogLine {
  level: string;
  message: string;
  fields: Readonly<Record<string, unknown>> | undefined;
}

interface Fixture {
  /** ws://127.0.0.1:port of the front server. */
  readonly url: string;
  /** http://127.0.0.1:port of the upstream. */
  readonly upstreamOrigin: string;
  readonly proxy: WebSocketProxy;
  readonly logs: LogLine[];
  /** Server-side WebSockets the upstream accepted, in order. */
  readonly upstreamSockets: WebSocket[];
  /** Request headers of every upgrade the upstream saw. */
  readonly upstreamHeaders: IncomingHttpHeaders[];
  /** Raw TCP connections the upstream has accepted and not yet seen close. */
  readonly upstreamTcp: Set<Socket>;
  nextUpstreamSocket(): Promise<WebSocket>;
  stop(): Promise<void>;
}

async function listen(server: http.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/**
 * The upstream: echoes every message with its type; `close:<code>:<reason>` makes it close; paths
 * `/forbidden` answer 403 with a body, `/slow` never answers the handshake. It picks the last
 * subprotocol offered among `chat.v1`/`chat.v2`.
 */
async function startFixture(options: Partial<WebSocketProxyOptions> = {}): Promise<Fixture> {
  const upstreamSockets: WebSocket[] = [];
  const upstreamHeaders: IncomingHttpHeaders[] = [];
  const upstreamTcp = new Set<Socket>();
  const waiting: Array<(ws: WebSocket) => void> = [];
  const upstreamWss = new WebSocketServer({
    noServer: true,
    handleProtocols: (offered) => {
      const known = [...offered].filter((p) => p === 'chat.v1' || p === 'chat.v2');
      return known.at(-1) ?? false;
    },
  });
  upstreamWss.on('headers', (headers) => headers.push('Set-Cookie: session=abc; HttpOnly'));
  const upstream = http.createServer((_req, res) => res.end('plain http\n'));
  upstream.on('connection', (socket: Socket) => {
    upstreamTcp.add(socket);
    socket.on('close', () => upstreamTcp.delete(socket));
  });
  upstream.on('upgrade', (req, socket, head) => {
    upstreamHeaders.push(req.headers);
    if (req.url === '/forbidden' || req.url === '/slow') {
      // Read on, to see the gate hang up (the server is half-open: close on the peer's FIN).
      socket.resume();
      socket.on('end', () => socket.destroy());
    }
    if (req.url === '/forbidden') {
      const body = 'no entry here\n';
      socket.end(
        `HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nX-Reason: test\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      );
      return;
    }
    if (req.url === '/slow') return; // never answers
    setTimeout(() => accept(req, socket, head), req.url === '/delayed' ? 200 : 0);
  });
  const accept = (req: http.IncomingMessage, socket: Duplex, head: Buffer) =>
    upstreamWss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (data, isBinary) => {
        const text = isBinary ? '' : data.toString();
        if (text.startsWith('close:')) {
          const [, code, reason] = text.split(':');
          ws.close(Number(code), reason);
          return;
        }
        ws.send(data, { binary: isBinary });
      });
      upstreamSockets.push(ws);
      const next = waiting.shift();
      if (next !== undefined) next(ws);
    });
  const upstreamPort = await listen(upstream);

  const logs: LogLine[] = [];
  const logger: Logger = { log: (level, message, fields) => logs.push({ level, message, fields }) };
  const proxy = createWebSocketProxy({
    idleTimeoutMs: 3_600_000,
    pingIntervalMs: 30_000,
    logger,
    ...options,
  });
  // requestTimeout/headersTimeout as the gate sets them: they must not cut an upgraded connection.
  const front = http.createServer({ requestTimeout: 10_000, headersTimeout: 5_000 }, (_req, res) =>
    res.end('front\n'),
  );
  const frontSockets = new Set<Socket>();
  front.on('connection', (socket: Socket) => {
    frontSockets.add(socket);
    socket.on('close', () => frontSockets.delete(socket));
  });
  front.on('upgrade', (req, socket, head) => {
    const clientIp = req.socket.remoteAddress ?? '';
    proxy.handleUpgrade(req, socket, head, {
      upstream: new URL(`http://127.0.0.1:${upstreamPort}`),
      clientIp,
      headers: { 'X-Forwarded-For': clientIp, 'X-Real-IP': clientIp, 'X-Forwarded-Proto': 'http' },
    });
  });
  const frontPort = await listen(front);

  return {
    url: `ws://127.0.0.1:${frontPort}`,
    upstreamOrigin: `http://127.0.0.1:${upstreamPort}`,
    proxy,
    logs,
    upstreamSockets,
    upstreamHeaders,
    upstreamTcp,
    nextUpstreamSocket: () => new Promise((resolve) => waiting.push(resolve)),
    async stop() {
      await proxy.close();
      for (const socket of frontSockets) socket.destroy();
      for (const socket of upstreamTcp) socket.destroy();
      front.close();
      upstream.close();
      upstreamWss.close();
    },
  };
}

async function connect(
  url: string,
  protocols: string[] = [],
  options: ConstructorParameters<typeof WebSocket>[2] = {},
): Promise<WebSocket> {
  const ws = new WebSocket(url, protocols, options);
  await once(ws, 'open');
  return ws;
}

async function nextMessage(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  const [data, isBinary] = (await once(ws, 'message')) as [Buffer, boolean];
  return { data, isBinary };
}

async function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  if (ws.readyState === WebSocket.CLOSED) throw new Error('already closed: listen before it happens');
  const [code, reason] = (await once(ws, 'close')) as [number, Buffer];
  return { code, reason: reason.toString() };
}

async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** An opening handshake by hand: the 101 answer and the socket. */
async function rawHandshake(
  port: string,
  path: string,
  headers: Record<string, string>,
): Promise<[http.IncomingMessage, Socket]> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      path,
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
        ...headers,
      },
    });
    req.on('upgrade', (res, socket) => resolve([res, socket]));
    req.on('response', (res) => reject(new Error(`answered ${res.statusCode}`)));
    req.on('error', reject);
    req.end();
  });
}

/** The HTTP answer to a WebSocket handshake that did not upgrade. */
async function refusedWith(
  url: string,
  options: ConstructorParameters<typeof WebSocket>[2] = {},
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  const ws = new WebSocket(url, options);
  ws.on('error', () => {});
  const [, res] = (await once(ws, 'unexpected-response')) as [http.ClientRequest, http.IncomingMessage];
  let body = '';
  for await (const chunk of res) body += String(chunk);
  return { status: res.statusCode ?? 0, headers: res.headers, body };
}

describe('WebSocket proxy', { concurrency: true }, () => {
  describe('relaying', () => {
    test('echoes text and binary messages, keeping their type', async () => {
      const fx = await startFixture();
      try {
        const ws = await connect(`${fx.url}/echo`);
        ws.send('hello, gate');
        const text = await nextMessage(ws);
        assert.equal(text.isBinary, false);
        assert.equal(text.data.toString(), 'hello, gate');
        const bytes = Buffer.from([0, 1, 2, 253, 254, 255]);
        ws.send(bytes);
        const binary = await nextMessage(ws);
        assert.equal(binary.isBinary, true);
        assert.deepEqual(binary.data, bytes);
        // A large message, fragmented by the client, arrives whole.
        const big = Buffer.alloc(3 * 1024 * 1024, 7);
        ws.send(big, { fin: false });
        ws.send(Buffer.from([9]), { fin: true });
        const whole = await nextMessage(ws);
        assert.equal(whole.data.length, big.length + 1);
        assert.equal(whole.data.at(-1), 9);
        assert.equal(fx.proxy.open, 1);
        const gone = closed(ws);
        ws.close(1000);
        await gone;
        await until(() => fx.proxy.open === 0, 'open back to 0');
      } finally {
        await fx.stop();
      }
    });

    test('forwards the path, origin, cookies and auth, replaces forwarding headers, drops hop-by-hop ones', async () => {
      const fx = await startFixture();
      try {
        const ws = await connect(`${fx.url}/room/42?user=a%20b`, [], {
          origin: 'https://app.example',
          headers: {
            Cookie: 'sid=1',
            Authorization: 'Bearer t0ken',
            'X-Forwarded-For': '203.0.113.66',
            'X-Real-IP': '203.0.113.66',
            Forwarded: 'for=203.0.113.66',
            'Proxy-Authorization': 'Basic Zm9vOmJhcg==',
            'X-App': 'kept',
          },
          perMessageDeflate: true,
        });
        const upstreamWs = fx.upstreamSockets[0];
        assert.ok(upstreamWs !== undefined);
        const seen = fx.upstreamHeaders[0]!;
        assert.equal(seen['origin'], 'https://app.example');
        assert.equal(seen['cookie'], 'sid=1');
        assert.equal(seen['authorization'], 'Bearer t0ken');
        assert.equal(seen['x-app'], 'kept');
        assert.equal(seen['x-forwarded-for'], '127.0.0.1');
        assert.equal(seen['x-real-ip'], '127.0.0.1');
        assert.equal(seen['x-forwarded-proto'], 'http');
        assert.equal(seen['forwarded'], undefined);
        assert.equal(seen['proxy-authorization'], undefined);
        assert.equal(seen['sec-websocket-extensions'], undefined, 'no permessage-deflate offered upstream');
        assert.equal(ws.extensions, '', 'no permessage-deflate accepted from the client');
        ws.send('path check');
        assert.equal((await nextMessage(ws)).data.toString(), 'path check');
        ws.close();
        await until(() => fx.proxy.open === 0, 'open back to 0');
      } finally {
        await fx.stop();
      }
    });

    test('frames a client sends before its handshake completes are not lost', async () => {
      const fx = await startFixture();
      try {
        await earlyFrame(fx, '/echo', false); // in the same packet as the handshake
        await earlyFrame(fx, '/delayed', true); // while the upstream takes 200 ms to answer
      } finally {
        await fx.stop();
      }
    });

    async function earlyFrame(fx: Fixture, path: string, separately: boolean): Promise<void> {
      const port = Number(new URL(fx.url).port);
      const socket = net.connect(port, '127.0.0.1');
      await once(socket, 'connect');
      const mask = Buffer.from([1, 2, 3, 4]);
      const payload = Buffer.from('early bird');
      const masked = Buffer.from(payload.map((byte, i) => byte ^ mask[i % 4]!));
      const frame = Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]);
      const handshake =
        `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';
      if (separately) {
        socket.write(handshake);
        await sleep(50);
        socket.write(frame);
      } else {
        socket.write(Buffer.concat([Buffer.from(handshake), frame]));
      }
      let received = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
      await until(() => received.includes(payload), 'the echo of the early frame');
      assert.match(received.toString('latin1'), /^HTTP\/1\.1 101 /);
      // Unmasked text frame from the server: 0x81, length, payload.
      assert.ok(received.includes(Buffer.concat([Buffer.from([0x81, payload.length]), payload])));
      socket.destroy();
      await until(() => fx.proxy.open === 0, 'open back to 0');
    }

    test('passes the upstream 101 headers (Set-Cookie) to the client', async () => {
      const fx = await startFixture();
      try {
        const ws = new WebSocket(`${fx.url}/echo`);
        const opened = once(ws, 'open');
        const [res] = (await once(ws, 'upgrade')) as [http.IncomingMessage];
        assert.equal(res.headers['set-cookie']?.[0], 'session=abc; HttpOnly');
        await opened;
        ws.close();
        await until(() => fx.proxy.open === 0, 'open back to 0');
      } finally {
        await fx.stop();
      }
    });

    test('negotiates the subprotocol the upstream chose, or none', async () => {
      const fx = await startFixture();
      try {
        const both = await connect(`${fx.url}/echo`, ['chat.v1', 'chat.v2', 'other']);
        assert.equal(both.protocol, 'chat.v2');
        assert.equal(
          fx.upstreamHeaders[0]!['sec-websocket-protocol']?.replace(/\s/g, ''),
          'chat.v1,chat.v2,other',
        );
        const one = await connect(`${fx.url}/echo`, ['other', 'chat.v1']);
        assert.equal(one.protocol, 'chat.v1');
        // The upstream declines every offer: the client gets a 101 without a subprotocol, as it would
        // from the upstream itself (RFC 6455 leaves it to the client; ws's client and browsers then fail).
        const [res, socket] = await rawHandshake(new URL(fx.url).port, '/echo', {
          'Sec-WebSocket-Protocol': 'other',
        });
        assert.equal(res.statusCode, 101);
        assert.equal(res.headers['sec-websocket-protocol'], undefined);
        assert.equal(fx.upstreamHeaders[2]!['sec-websocket-protocol'], 'other');
        socket.destroy();
        for (const ws of [both, one]) ws.close();
        await until(() => fx.proxy.open === 0, 'open back to 0');
      } finally {
        await fx.stop();
      }
    });
  });

  describe('refusals', () => {
    test("relays the upstream's non-101 answer: status, headers and body", async () => {
      const fx = await startFixture();
      try {
        const answer = await refusedWith(`${fx.url}/forbidden`);
        assert.equal(answer.status, 403);
        assert.equal(answer.headers['x-reason'], 'test');
        assert.equal(answer.body, 'no entry here\n');
        await until(() => fx.proxy.open === 0, 'open back to 0');
        await until(() => fx.upstreamTcp.size === 0, 'the upstream connection closed');
      } finally {
        await fx.stop();
      }
    });

    test('answers 502 when the upstream is down, 504 when it does not answer in time', async () => {
      const down = http.createServer();
      const downPort = await listen(down);
      down.close();
      await once(down, 'close');
      const logs: LogLine[] = [];
      const logger: Logger = { log: (level, message, fields) => logs.push({ level, message, fields }) };
      const fx = await startFixture({ upstreamTimeoutMs: 300 });
      const proxy = createWebSocketProxy({ idleTimeoutMs: 60_000, pingIntervalMs: 0, logger });
      const front = http.createServer();
      front.on('upgrade', (req, socket, head) =>
        proxy.handleUpgrade(req, socket, head, {
          upstream: new URL(`http://127.0.0.1:${downPort}`),
          clientIp: '127.0.0.1',
          headers: {},
        }),
      );
      const frontPort = await listen(front);
      try {
        const refused = await refusedWith(`ws://127.0.0.1:${frontPort}/x`);
        assert.equal(refused.status, 502);
        assert.ok(logs.some((l) => l.level === 'warn' && l.message === 'websocket upstream unavailable'));
        await until(() => proxy.open === 0, 'open back to 0');

        const started = Date.now();
        const slow = await refusedWith(`${fx.url}/slow`);
        assert.equal(slow.status, 504);
        assert.ok(Date.now() - started >= 250, 'waited for the upstream timeout');
        await until(() => fx.proxy.open === 0, 'open back to 0');
        await until(() => fx.upstreamTcp.size === 0, 'upstream connection closed');
      } finally {
        await proxy.close();
        front.close();
        await fx.stop();
      }
    });

    test('refuses a malformed handshake without dialling the upstream', async () => {
      const fx = await startFixture();
      try {
        const port = new URL(fx.url).port;
        const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
          const req = http.request({
            host: '127.0.0.1',
            port,
            path: '/echo',
            headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13' },
          });
          req.on('response', resolve);
          req.on('upgrade', () => reject(new Error('upgraded')));
          req.on('error', reject);
          req.end();
        });
        assert.equal(res.statusCode, 400);
        res.resume();
        assert.equal(fx.upstreamHeaders.length, 0);
        assert.equal(fx.proxy.open, 0);
      } finally {
        await fx.stop();
      }
    });

    test('a client that leaves before the upstream answers takes the upstream connection with it', async () => {
      const fx = await startFixture();
      try {
        const ws = new WebSocket(`${fx.url}/slow`);
        ws.on('error', () => {});
        await until(() => fx.upstreamTcp.size === 1 && fx.proxy.open === 1, 'the upstream dialled');
        ws.terminate();
        await until(() => fx.upstreamTcp.size === 0, 'the upstream connection closed');
        await until(() => fx.proxy.open === 0, 'open back to 0');
      } finally {
        await fx.stop();
      }
    });
  });

  describe('closing', () => {
    test('close codes and reasons propagate both ways', async () => {
      const fx = await startFixture();
      try {
        const a = await connect(`${fx.url}/echo`);
        const upstreamA = fx.upstreamSockets[0]!;
        const upstreamClosed = closed(upstreamA);
        const clientClosed = closed(a);
        a.close(4001, 'client done');
        assert.deepEqual(await upstreamClosed, { code: 4001, reason: 'client done' });
        await clientClosed;

        const b = await connect(`${fx.url}/echo`);
        const bClosed = closed(b);
        b.send('close:4002:upstream done');
        assert.deepEqual(await bClosed, { code: 4002, reason: 'upstream done' });

        const c = await connect(`${fx.url}/echo`);
        const cClosed = closed(c);
        c.send('close:1000:');
        assert.deepEqual(await cClosed, { code: 1000, reason: '' });
        await until(() => fx.proxy.open === 0, 'open back to 0');
      } finally {
        await fx.stop();
      }
    });

    test('upstream dies: the client is closed with 1011; client dies: the upstream is closed with 1001', async () => {
      const fx = await startFixture();
      try {
        const a = await connect(`${fx.url}/echo`);
        const aClosed = closed(a);
        fx.upstreamSockets[0]!.terminate();
        assert.deepEqual(await aClosed, { code: 1011, reason: 'upstream connection lost' });

        const b = await connect(`${fx.url}/echo`);
        const upstreamB = fx.upstreamSockets[1]!;
        const upstreamBClosed = closed(upstreamB);
        b.terminate();
        assert.deepEqual(await upstreamBClosed, { code: 1001, reason: 'client went away' });
        await until(() => fx.proxy.open === 0 && fx.upstreamTcp.size === 0, 'everything closed');
      } finally {
        await fx.stop();
      }
    });

    test('close() closes every connection with 1001 and refuses new ones with 503', async () => {
      const fx = await startFixture();
      try {
        const clients = await Promise.all([1, 2, 3].map(() => connect(`${fx.url}/echo`)));
        const codes = Promise.all(clients.map((ws) => closed(ws)));
        const upstreamCodes = Promise.all(fx.upstreamSockets.map((ws) => closed(ws)));
        assert.equal(fx.proxy.open, 3);
        await fx.proxy.close();
        assert.equal(fx.proxy.open, 0);
        for (const c of await codes) assert.deepEqual(c, { code: 1001, reason: 'gate shutting down' });
        for (const c of await upstreamCodes)
          assert.deepEqual(c, { code: 1001, reason: 'gate shutting down' });
        assert.equal((await refusedWith(`${fx.url}/echo`)).status, 503);
      } finally {
        await fx.stop();
      }
    });
  });

  describe('keepalive, idle and flow control', () => {
    test('pings both sides every interval; a side that stops answering is cut', async () => {
      // 250 ms, not less: the answering client lives in this same busy test process, and on a
      // loaded machine it missed two 100 ms intervals once and was cut like the mute one.
      const fx = await startFixture({ pingIntervalMs: 250 });
      try {
        const ws = await connect(`${fx.url}/echo`);
        const upstreamWs = fx.upstreamSockets[0]!;
        let clientPings = 0;
        let upstreamPings = 0;
        ws.on('ping', () => clientPings++);
        upstreamWs.on('ping', () => upstreamPings++);
        await sleep(1_300);
        assert.ok(clientPings >= 3, `client pinged ${clientPings} times`);
        assert.ok(upstreamPings >= 3, `upstream pinged ${upstreamPings} times`);
        assert.equal(ws.readyState, WebSocket.OPEN);

        // A client that never answers pings: cut after two intervals, and the upstream is told.
        const mute = await connect(`${fx.url}/echo`, [], { autoPong: false });
        mute.on('error', () => {});
        const upstreamMute = fx.upstreamSockets[1]!;
        const upstreamClosed = closed(upstreamMute);
        const started = Date.now();
        assert.equal((await upstreamClosed).code, 1001);
        assert.ok(Date.now() - started >= 375, 'not before two intervals');
        assert.ok(
          fx.logs.some((l) => l.message.includes('missed two pings') && l.fields?.['side'] === 'client'),
        );
        assert.equal(ws.readyState, WebSocket.OPEN, 'the answering client is untouched');
        ws.close();
        await until(() => fx.proxy.open === 0, 'open back to 0');
      } finally {
        await fx.stop();
      }
    });

    test('closes a connection idle in both directions with 1001, and messages either way keep it open', async () => {
      const fx = await startFixture({ idleTimeoutMs: 1000, pingIntervalMs: 250 });
      try {
        const ws = await connect(`${fx.url}/echo`);
        const upstreamWs = fx.upstreamSockets[0]!;
        // Messages from the client for 2 s: twice the idle limit, still open. (Pings come every 250 ms:
        // slow enough that a loaded machine answers them in time, fast enough to fall in the idle window.)
        for (let i = 0; i < 8; i++) {
          await sleep(250);
          ws.send(`tick ${i}`);
        }
        assert.equal(ws.readyState, WebSocket.OPEN);
        // Messages from the upstream only keep it open too.
        for (let i = 0; i < 8; i++) {
          await sleep(250);
          upstreamWs.send(`push ${i}`);
        }
        assert.equal(ws.readyState, WebSocket.OPEN);
        const clientClosed = closed(ws);
        const upstreamClosed = closed(upstreamWs);
        const quietFrom = Date.now();
        assert.deepEqual(await clientClosed, { code: 1001, reason: 'idle timeout' });
        assert.deepEqual(await upstreamClosed, { code: 1001, reason: 'idle timeout' });
        assert.ok(Date.now() - quietFrom >= 800, 'pings do not count as traffic, but the limit is kept');
        await until(() => fx.proxy.open === 0, 'open back to 0');
      } finally {
        await fx.stop();
      }
    });

    test('stops reading the upstream while the client cannot keep up, and loses nothing', async () => {
      const fx = await startFixture({ pingIntervalMs: 0 });
      try {
        const ws = await connect(`${fx.url}/echo`);
        const upstreamWs = fx.upstreamSockets[0]!;
        ws.pause(); // the client stops reading
        const chunk = Buffer.alloc(64 * 1024, 1);
        const total = 1024; // 64 MiB
        for (let i = 0; i < total; i++) upstreamWs.send(chunk);
        await sleep(1000);
        // Kernel buffers hold a few MiB and the gate at most ~1 MiB more: the rest waits upstream.
        assert.ok(
          upstreamWs.bufferedAmount > 32 * 1024 * 1024,
          `upstream still holds ${upstreamWs.bufferedAmount} bytes`,
        );
        let received = 0;
        ws.on('message', (data: Buffer) => {
          received += data.length;
        });
        ws.resume();
        await until(() => received === total * chunk.length, 'every byte delivered', 20_000);
        assert.equal(upstreamWs.bufferedAmount, 0);
        ws.close();
        await until(() => fx.proxy.open === 0, 'open back to 0');
      } finally {
        await fx.stop();
      }
    });
  });

  test(
    'through the real gate: idle for 65 s with its default timeouts, pinged, still open; non-101 and close codes relayed',
    { timeout: 120_000 },
    async () => {
      const fx = await startFixture();
      const gate = await startTestGate({ upstream: fx.upstreamOrigin, websocket: { pingInterval: '20s' } });
      try {
        const gateUrl = `ws://127.0.0.1:${gate.port}`;
        const refused = await refusedWith(`${gateUrl}/forbidden`);
        assert.equal(refused.status, 403);
        assert.equal(refused.body, 'no entry here\n');

        const ws = await connect(`${gateUrl}/echo`, ['chat.v1']);
        assert.equal(ws.protocol, 'chat.v1');
        const upstreamWs = fx.upstreamSockets.at(-1)!;
        const clientPings: number[] = [];
        const upstreamPings: number[] = [];
        const started = Date.now();
        ws.on('ping', () => clientPings.push(Date.now() - started));
        upstreamWs.on('ping', () => upstreamPings.push(Date.now() - started));
        let closedEarly = false;
        ws.on('close', () => (closedEarly = true));
        await sleep(65_000);
        assert.equal(closedEarly, false, 'no cut at 60 s (requestTimeout, proxy timeouts)');
        assert.equal(ws.readyState, WebSocket.OPEN);
        assert.ok(clientPings.length >= 3, `client pings at ${clientPings.join(', ')} ms`);
        assert.ok(upstreamPings.length >= 3, `upstream pings at ${upstreamPings.join(', ')} ms`);
        ws.send('still here');
        assert.equal((await nextMessage(ws)).data.toString(), 'still here');
        const closing = closed(ws);
        const upstreamClosing = closed(upstreamWs);
        ws.send('close:4100:done for today');
        assert.deepEqual(await closing, { code: 4100, reason: 'done for today' });
        await upstreamClosing;
      } finally {
        await gate.close();
        await fx.stop();
      }
    },
  );

  test(
    'a WebSocket idle for 65 s stays open, both sides receive pings, and it works afterwards',
    { timeout: 120_000 },
    async () => {
      const fx = await startFixture({ pingIntervalMs: 20_000 });
      try {
        const ws = await connect(`${fx.url}/echo`);
        const upstreamWs = fx.upstreamSockets[0]!;
        const clientPings: number[] = [];
        const upstreamPings: number[] = [];
        const started = Date.now();
        ws.on('ping', () => clientPings.push(Date.now() - started));
        upstreamWs.on('ping', () => upstreamPings.push(Date.now() - started));
        let closedEarly = false;
        ws.on('close', () => (closedEarly = true));
        await sleep(65_000);
        assert.equal(closedEarly, false);
        assert.equal(ws.readyState, WebSocket.OPEN);
        assert.equal(upstreamWs.readyState, WebSocket.OPEN);
        assert.ok(clientPings.length >= 3, `client pings at ${clientPings.join(', ')} ms`);
        assert.ok(upstreamPings.length >= 3, `upstream pings at ${upstreamPings.join(', ')} ms`);
        assert.ok(clientPings.at(-1)! > 55_000, 'pinged past the 60 s mark');
        ws.send('still here');
        assert.equal((await nextMessage(ws)).data.toString(), 'still here');
        ws.close();
        await until(() => fx.proxy.open === 0, 'open back to 0');
      } finally {
        await fx.stop();
      }
    },
  );
});

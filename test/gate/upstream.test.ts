/**
 * The gate's upstream client (src/gate/proxy.ts) over real sockets: scripted upstreams on loopback
 * that answer with exact bytes and record what they received, and real node:http upstreams where a
 * real parser is the judge. What goes out, what comes back, when connections are reused, and how
 * every way an upstream can fail is reported.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  createUpstreamPool,
  forward,
  type ForwardRequest,
  UnsafeHeadError,
  type Upstream,
  type UpstreamExchange,
  type UpstreamFailure,
  type UpstreamPool,
} from '../../src/gate/proxy.ts';
import type { ResponseHead } from '../../src/gate/response-reader.ts';
import { until } from '../helpers/until.ts';
import { selfSignedCertificate } from '../helpers/tls.ts';

// ----------------------------------------------------------------------------------------------
// Upstreams

interface ReceivedRequest {
  /** The head as received, blank line included. */
  readonly head: string;
  /** The body bytes as framed on the wire (chunk sizes included), latin1. */
  readonly body: string;
  /** Which accepted connection it came on (0, 1, …). */
  readonly connection: number;
}

interface ScriptedUpstream {
  readonly port: number;
  readonly origin: string;
  /** Every byte received, per connection, latin1. */
  readonly received: string[];
  readonly requests: ReceivedRequest[];
  /** The upstream side of each accepted connection. */
  readonly sockets: net.Socket[];
  accepted(): number;
  /** Connections that have closed. */
  closed(): number;
  close(): Promise<void>;
}

/** Called for each complete request (head, and the body its framing announced). */
type Script = (socket: net.Socket, request: ReceivedRequest, index: number) => void;

/** A raw TCP upstream on 127.0.0.1 that answers each complete request through `script`. */
async function startScripted(script: Script): Promise<ScriptedUpstream> {
  const received: string[] = [];
  const requests: ReceivedRequest[] = [];
  const sockets: net.Socket[] = [];
  let closed = 0;
  const server = net.createServer((socket) => {
    const connection = sockets.length;
    sockets.push(socket);
    received.push('');
    let buffer = '';
    socket.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1');
      received[connection] += text;
      buffer += text;
      for (;;) {
        const headEnd = buffer.indexOf('\r\n\r\n');
        if (headEnd < 0) return;
        const head = buffer.slice(0, headEnd + 4);
        let end = headEnd + 4;
        if (/\r\ntransfer-encoding: *chunked\r\n/i.test(head)) {
          const last = buffer.indexOf('\r\n0\r\n\r\n', headEnd + 2);
          if (last < 0) return;
          end = last + 7;
        } else {
          const length = /\r\ncontent-length: *(\d+)\r\n/i.exec(head);
          end += length === null ? 0 : Number(length[1]);
          if (buffer.length < end) return;
        }
        const request = { head, body: buffer.slice(headEnd + 4, end), connection };
        buffer = buffer.slice(end);
        requests.push(request);
        script(socket, request, requests.length - 1);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => closed++);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    received,
    requests,
    sockets,
    accepted: () => sockets.length,
    closed: () => closed,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

const ok = (body: string, headers = ''): string =>
  `HTTP/1.1 200 OK\r\n${headers}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

interface HttpUpstream {
  readonly origin: string;
  readonly server: http.Server;
  accepted(): number;
  close(): Promise<void>;
}

/** A real node:http upstream on 127.0.0.1. */
async function startHttp(handler: http.RequestListener): Promise<HttpUpstream> {
  const server = http.createServer(handler);
  let accepted = 0;
  server.on('connection', () => accepted++);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    accepted: () => accepted,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

// ----------------------------------------------------------------------------------------------
// Exchanges

/** One forwarded request, and everything its handlers were told (late callbacks included). */
class Run {
  head: ResponseHead | undefined = undefined;
  readonly chunks: Buffer[] = [];
  /** Callbacks in order; runs of data collapsed into one `data`. */
  readonly events: string[] = [];
  failure: UpstreamFailure | undefined = undefined;
  error: Error | undefined = undefined;
  retryable: boolean | undefined = undefined;
  readonly started = Date.now();
  settledAt = 0;
  exchange!: UpstreamExchange;
  settle!: () => void;
  readonly done = new Promise<void>((resolve) => (this.settle = resolve));

  get body(): Buffer {
    return Buffer.concat(this.chunks);
  }

  record(event: string): void {
    if (event !== 'data' || this.events.at(-1) !== 'data') this.events.push(event);
  }
}

const request = (overrides: Partial<ForwardRequest> = {}): ForwardRequest => ({
  method: 'GET',
  path: '/',
  headers: ['Host', 'app.test'],
  body: 'none',
  timeoutMs: 5000,
  ...overrides,
});

/** Forwards a request; `onData` decides back-pressure (default: never pause). */
function send(
  upstream: Upstream,
  overrides: Partial<ForwardRequest> = {},
  onData?: (chunk: Buffer, run: Run) => boolean,
): Run {
  const run = new Run();
  const settled = (event: string) => {
    run.record(event);
    run.settledAt = Date.now();
    run.settle();
  };
  run.exchange = forward(upstream, request(overrides), {
    onResponse(head) {
      run.record('response');
      run.head = head;
    },
    onData(chunk) {
      run.record('data');
      run.chunks.push(chunk);
      return onData === undefined ? true : onData(chunk, run);
    },
    onEnd: () => settled('end'),
    onBroken(error) {
      run.error = error;
      settled('broken');
    },
    onFailure(kind, error, retryable) {
      run.failure = kind;
      run.error = error;
      run.retryable = retryable;
      settled(`failure ${kind}`);
    },
  });
  return run;
}

/** Forwards a request and waits for its outcome. */
async function exchange(upstream: Upstream, overrides: Partial<ForwardRequest> = {}): Promise<Run> {
  const run = send(upstream, overrides);
  await run.done;
  return run;
}

/** Writes a request body, waiting for onDrain whenever write() says so, then ends it. */
async function writeBody(exchange: UpstreamExchange, pieces: Iterable<Buffer>): Promise<void> {
  let wake: (() => void) | undefined;
  exchange.onDrain = () => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  for (const piece of pieces) {
    if (!exchange.write(piece)) await new Promise<void>((resolve) => (wake = resolve));
  }
  exchange.end();
}

function* slices(data: Buffer, sizes: readonly number[]): Generator<Buffer> {
  let at = 0;
  for (let i = 0; at < data.length; i++) {
    const size = sizes[i % sizes.length] as number;
    yield data.subarray(at, at + size);
    at += size;
  }
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  server.close();
  await once(server, 'close');
  return port;
}

const pools: UpstreamPool[] = [];
function newPool(): UpstreamPool {
  const pool = createUpstreamPool();
  pools.push(pool);
  return pool;
}
after(() => {
  for (const pool of pools) pool.destroy();
});

// ----------------------------------------------------------------------------------------------

describe('upstream client: what goes out and what comes back', () => {
  it('sends the exact head (method, target, headers in order, Host from the list) and relays the answer', async () => {
    const upstream = await startScripted((socket) =>
      socket.write(
        'HTTP/1.1 200 Fine\r\nX-Upstream: yes\r\nset-cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 5\r\n\r\nhello',
      ),
    );
    try {
      const run = await exchange(newPool().get(upstream.origin), {
        path: '/items/7?x=%2F&y',
        headers: [
          'Host',
          'app.example:8080',
          'X-Forwarded-For',
          '127.0.0.9',
          'accept',
          '*/*',
          'X-Dup',
          'a',
          'X-Dup',
          'b',
          'X-Empty',
          '',
        ],
      });
      assert.equal(
        upstream.received[0],
        'GET /items/7?x=%2F&y HTTP/1.1\r\nHost: app.example:8080\r\nX-Forwarded-For: 127.0.0.9\r\n' +
          'accept: */*\r\nX-Dup: a\r\nX-Dup: b\r\nX-Empty: \r\n\r\n',
      );
      assert.deepEqual(run.head, {
        status: 200,
        statusMessage: 'Fine',
        rawHeaders: ['X-Upstream', 'yes', 'set-cookie', 'a=1', 'Set-Cookie', 'b=2', 'Content-Length', '5'],
      });
      assert.equal(run.body.toString(), 'hello');
      assert.deepEqual(run.events, ['response', 'data', 'end']);
    } finally {
      await upstream.close();
    }
  });

  it('relays a chunked answer de-chunked, and a close-delimited one until the upstream closes', async () => {
    const upstream = await startHttp((req, res) => {
      if (req.url === '/chunked') {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.write('one,');
        setTimeout(() => res.end('two'), 20);
        return;
      }
      res.end('ok');
    });
    const closing = await startScripted((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil ');
      setTimeout(() => socket.end('the end'), 20);
    });
    try {
      const pool = newPool();
      const chunked = await exchange(pool.get(upstream.origin), { path: '/chunked' });
      assert.equal(chunked.body.toString(), 'one,two');
      assert.ok(chunked.head?.rawHeaders.includes('Transfer-Encoding'));
      assert.deepEqual(chunked.events, ['response', 'data', 'end']);
      assert.equal(
        pool.get(upstream.origin).idleSockets,
        1,
        'a chunked answer leaves the connection reusable',
      );
      assert.equal((await exchange(pool.get(upstream.origin))).body.toString(), 'ok');
      assert.equal(upstream.accepted(), 1);

      const closed = await exchange(pool.get(closing.origin));
      assert.equal(closed.body.toString(), 'until the end');
      assert.deepEqual(closed.events, ['response', 'data', 'end']);
      assert.equal(pool.get(closing.origin).sockets, 0);
    } finally {
      await upstream.close();
      await closing.close();
    }
  });

  it('reads no body after HEAD, and reuses the connection', async () => {
    const upstream = await startScripted((socket, request) =>
      socket.write(
        request.head.startsWith('HEAD ')
          ? 'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n'
          : 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nget',
      ),
    );
    try {
      const pool = newPool();
      const head = await exchange(pool.get(upstream.origin), { method: 'HEAD' });
      assert.deepEqual(head.events, ['response', 'end']);
      assert.deepEqual(head.head?.rawHeaders, ['Content-Length', '1000']);
      const get = await exchange(pool.get(upstream.origin));
      assert.equal(get.body.toString(), 'get');
      assert.equal(upstream.accepted(), 1);
    } finally {
      await upstream.close();
    }
  });
});

describe('upstream client: keep-alive', () => {
  it('carries sequential requests over one connection, and keeps it idle in between', async () => {
    const upstream = await startHttp((req, res) => res.end(`answer to ${req.url}`));
    try {
      const pool = newPool();
      const target = pool.get(upstream.origin);
      assert.equal(pool.get(upstream.origin), target, 'one upstream per origin');
      assert.equal(target.url.href, `${upstream.origin}/`);
      for (let i = 0; i < 10; i++) {
        const run = await exchange(target, { path: `/r/${i}` });
        assert.equal(run.body.toString(), `answer to /r/${i}`);
        assert.equal(target.sockets, 1);
        assert.equal(target.idleSockets, 1);
      }
      assert.equal(upstream.accepted(), 1);
    } finally {
      await upstream.close();
    }
  });

  it('opens a new connection after an answer that said Connection: close, was HTTP/1.0, or was close-delimited', async () => {
    for (const answer of [
      ok('bye', 'Connection: close\r\n'),
      'HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nbye',
      'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nbye\r\n0\r\n\r\n',
    ]) {
      const upstream = await startScripted((socket, request) => {
        // The upstream keeps its side open: only the client decides to close.
        if (request.head.startsWith('GET /first ')) socket.write(answer);
        else socket.write(ok('second'));
      });
      try {
        const target = newPool().get(upstream.origin);
        const first = await exchange(target, { path: '/first' });
        assert.equal(first.body.toString(), 'bye');
        assert.equal(target.sockets, 0, `${JSON.stringify(answer)}: the connection is closed`);
        await until(() => upstream.closed() === 1, 'the upstream to see the connection close');
        assert.equal((await exchange(target)).body.toString(), 'second');
        assert.equal(upstream.accepted(), 2);
      } finally {
        await upstream.close();
      }
    }
  });

  it('does not reuse a connection whose answer came before the request body ended', async () => {
    const upstream = await startScripted(() => undefined);
    try {
      const target = newPool().get(upstream.origin);
      const run = send(target, {
        method: 'POST',
        headers: ['Host', 'app.test', 'Content-Length', '100'],
        body: 'length',
      });
      run.exchange.write(Buffer.alloc(10, 'a'));
      await until(() => (upstream.received[0] ?? '').includes('aaaaaaaaaa'), 'the first body bytes');
      upstream.sockets[0]?.write('HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n');
      await run.done;
      assert.equal(run.head?.status, 413);
      assert.deepEqual(run.events, ['response', 'end']);
      assert.equal(target.sockets, 0);
      await until(() => upstream.closed() === 1, 'the upstream to see the connection close');
    } finally {
      await upstream.close();
    }
  });
});

describe('upstream client: request bodies', () => {
  it('sends a 5 MB Content-Length body intact, honouring back-pressure', async () => {
    const upstream = await startHttp((req, res) => {
      const hash = createHash('sha256');
      let length = 0;
      req.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        length += chunk.length;
      });
      req.on('end', () => res.end(`${req.headers['content-length']} ${length} ${hash.digest('hex')}`));
    });
    try {
      const body = randomBytes(5 * 1024 * 1024);
      const run = send(newPool().get(upstream.origin), {
        method: 'PUT',
        path: '/upload',
        headers: ['Host', 'app.test', 'Content-Length', String(body.length)],
        body: 'length',
      });
      await writeBody(run.exchange, slices(body, [65536, 1000, 300_000]));
      await run.done;
      assert.equal(run.body.toString(), `${body.length} ${body.length} ${sha256(body)}`);
    } finally {
      await upstream.close();
    }
  });

  it('frames a chunked body so a real HTTP parser reads it back exactly, ending with 0 CRLF CRLF', async () => {
    const upstream = await startHttp((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const data = Buffer.concat(chunks);
        res.end(`${req.headers['transfer-encoding']} ${data.length} ${sha256(data)}`);
      });
    });
    const raw = await startScripted((socket) => socket.write(ok('got it')));
    try {
      const pool = newPool();
      const body = randomBytes(1024 * 1024 + 17);
      const run = send(pool.get(upstream.origin), {
        method: 'POST',
        headers: ['Host', 'app.test', 'Transfer-Encoding', 'chunked'],
        body: 'chunked',
      });
      await writeBody(run.exchange, slices(body, [1, 16, 4095, 65536, 200_000]));
      await run.done;
      assert.equal(run.body.toString(), `chunked ${body.length} ${sha256(body)}`);

      // The exact bytes on the wire: hex sizes, CRLFs, the last chunk; empty writes send nothing.
      const wire = send(pool.get(raw.origin), {
        method: 'POST',
        headers: ['Host', 'app.test', 'Transfer-Encoding', 'chunked'],
        body: 'chunked',
      });
      await writeBody(wire.exchange, [Buffer.from('abc'), Buffer.alloc(0), Buffer.from('0123456789abcdef!')]);
      await wire.done;
      assert.equal(wire.body.toString(), 'got it');
      assert.equal(
        raw.received[0],
        'POST / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n' +
          '3\r\nabc\r\n11\r\n0123456789abcdef!\r\n0\r\n\r\n',
      );
      assert.equal(
        pool.get(raw.origin).idleSockets,
        1,
        'the connection is reusable after a complete exchange',
      );
    } finally {
      await upstream.close();
      await raw.close();
    }
  });
});

describe('upstream client: response back-pressure', () => {
  it('pauses the upstream while onData says false, resumes on resume(), and relays 20 MB intact', async () => {
    const body = randomBytes(20 * 1024 * 1024);
    const upstream = await startScripted((socket) => {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`);
      for (let at = 0; at < body.length; at += 1024 * 1024) socket.write(body.subarray(at, at + 1024 * 1024));
    });
    try {
      let paused = false;
      let dataWhilePaused = 0;
      let longPauseDone = false;
      let upstreamBacklog = -1;
      let receivedAtPause = 0;
      let receivedAfterPause = 0;
      let received = 0;
      const run = send(newPool().get(upstream.origin), {}, (chunk, current) => {
        if (paused) dataWhilePaused++;
        received += chunk.length;
        paused = true;
        if (!longPauseDone && received > 2 * 1024 * 1024) {
          // One long pause: nothing more may arrive, and the upstream's writes must back up.
          longPauseDone = true;
          receivedAtPause = received;
          setTimeout(() => {
            receivedAfterPause = received;
            upstreamBacklog = upstream.sockets[0]?.writableLength ?? -1;
            paused = false;
            current.exchange.resume();
          }, 200);
        } else {
          setImmediate(() => {
            paused = false;
            current.exchange.resume();
          });
        }
        return false;
      });
      await run.done;
      assert.deepEqual(run.events, ['response', 'data', 'end']);
      assert.equal(dataWhilePaused, 0, 'no data while paused');
      assert.equal(receivedAfterPause, receivedAtPause, 'nothing read during the long pause');
      assert.ok(
        upstreamBacklog > 0,
        `the upstream's writes backed up during the pause (${upstreamBacklog} bytes queued)`,
      );
      assert.equal(run.body.length, body.length);
      assert.equal(sha256(run.body), sha256(body));
    } finally {
      await upstream.close();
    }
  });
});

describe('upstream client: failures', () => {
  it('reports a refused connection as refused', async () => {
    const target = newPool().get(`http://127.0.0.1:${await closedPort()}`);
    const run = await exchange(target);
    assert.equal(run.failure, 'refused');
    assert.equal((run.error as NodeJS.ErrnoException).code, 'ECONNREFUSED');
    assert.equal(run.retryable, false);
    assert.deepEqual(run.events, ['failure refused']);
    assert.equal(target.sockets, 0);
  });

  it('reports an upstream that does not answer within timeoutMs as a timeout, and closes the connection', async () => {
    const upstream = await startScripted(() => undefined);
    try {
      const target = newPool().get(upstream.origin);
      const run = await exchange(target, { timeoutMs: 200 });
      assert.equal(run.failure, 'timeout');
      assert.equal(run.retryable, false);
      const elapsed = run.settledAt - run.started;
      assert.ok(elapsed >= 190 && elapsed < 2000, `timed out after ${elapsed} ms`);
      assert.equal(upstream.requests.length, 1, 'the request went out');
      assert.equal(target.sockets, 0);
      await until(() => upstream.closed() === 1, 'the upstream to see the connection close');
    } finally {
      await upstream.close();
    }
  });

  it('reports a body that stalls longer than timeoutMs as broken', async () => {
    const upstream = await startScripted((socket) =>
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf'),
    );
    try {
      const run = await exchange(newPool().get(upstream.origin), { timeoutMs: 200 });
      assert.deepEqual(run.events, ['response', 'data', 'broken']);
      assert.equal(run.body.toString(), 'half');
    } finally {
      await upstream.close();
    }
  });

  it('reports an upstream that closes mid-body as broken, after the head and the bytes that came', async () => {
    const upstream = await startScripted((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial');
      setTimeout(() => socket.end(), 20);
    });
    try {
      const target = newPool().get(upstream.origin);
      const run = await exchange(target);
      assert.deepEqual(run.events, ['response', 'data', 'broken']);
      assert.equal(run.head?.status, 200);
      assert.equal(run.body.toString(), 'partial');
      assert.match(run.error?.message ?? '', /mid-body/);
      assert.equal(target.sockets, 0);
    } finally {
      await upstream.close();
    }
  });

  it('reports a malformed answer as an error, and never reuses its connection', async () => {
    const upstream = await startScripted((socket, request) =>
      socket.write(
        request.head.startsWith('GET /bad ')
          ? 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!'
          : ok('fine'),
      ),
    );
    try {
      const target = newPool().get(upstream.origin);
      const bad = await exchange(target, { path: '/bad' });
      assert.deepEqual(bad.events, ['failure error']);
      assert.match(bad.error?.message ?? '', /Content-Length/);
      assert.equal(bad.retryable, false);
      assert.equal(bad.head, undefined);
      assert.equal(target.sockets, 0);
      await until(() => upstream.closed() === 1, 'the upstream to see the connection close');
      assert.equal((await exchange(target)).body.toString(), 'fine');
      assert.equal(upstream.accepted(), 2);
    } finally {
      await upstream.close();
    }
  });

  it('verifies the certificate of an HTTPS upstream', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'moat-upstream-'));
    const files = selfSignedCertificate(dir, 2);
    let requests = 0;
    const server = https.createServer(
      { cert: readFileSync(files.cert), key: readFileSync(files.key) },
      (_req, res) => {
        requests++;
        res.end('secret');
      },
    );
    server.on('tlsClientError', () => undefined);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const target = newPool().get(`https://127.0.0.1:${(server.address() as AddressInfo).port}`);
      const run = await exchange(target);
      assert.equal(run.failure, 'error');
      assert.match((run.error as NodeJS.ErrnoException).code ?? '', /SELF_SIGNED|UNABLE_TO_VERIFY/);
      assert.equal(run.body.length, 0);
      assert.equal(requests, 0, 'no request reached an upstream whose certificate is not trusted');
      assert.equal(target.sockets, 0);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

describe('upstream client: stale pooled connections', () => {
  it('reports a reused connection reset as the request went out as retryable, when the request had no body', async () => {
    const upstream = await startScripted((socket, request) => {
      if (request.head.startsWith('GET /first ')) socket.write(ok('first'));
      else socket.resetAndDestroy();
    });
    try {
      const target = newPool().get(upstream.origin);
      await exchange(target, { path: '/first' });
      const run = await exchange(target, { path: '/second' });
      assert.equal(upstream.accepted(), 1, 'the second request went out on the pooled connection');
      assert.deepEqual(run.events, ['failure error']);
      assert.equal(run.retryable, true);
    } finally {
      await upstream.close();
    }
  });

  it('reports a reused connection closed (FIN) before answering as retryable, when the request had no body', async () => {
    const upstream = await startScripted((socket, request) => {
      if (request.head.startsWith('GET /first ')) socket.write(ok('first'));
      else socket.end();
    });
    try {
      const target = newPool().get(upstream.origin);
      await exchange(target, { path: '/first' });
      const run = await exchange(target, { path: '/second' });
      assert.equal(upstream.accepted(), 1, 'the second request went out on the pooled connection');
      assert.equal(run.failure, 'error');
      assert.equal(run.retryable, true, `retryable after: ${run.error?.message}`);
    } finally {
      await upstream.close();
    }
  });

  it('never calls a failure retryable on a fresh connection, or after a request body was sent', async () => {
    const upstream = await startScripted((socket, request) => {
      if (request.head.startsWith('GET /first ')) socket.write(ok('first'));
      else socket.resetAndDestroy();
    });
    try {
      const fresh = await exchange(newPool().get(upstream.origin), { path: '/fresh' });
      assert.equal(fresh.failure, 'error');
      assert.equal(fresh.retryable, false, 'a fresh connection');

      const target = newPool().get(upstream.origin);
      await exchange(target, { path: '/first' });
      const run = send(target, {
        method: 'POST',
        headers: ['Host', 'app.test', 'Content-Length', '4'],
        body: 'length',
      });
      await writeBody(run.exchange, [Buffer.from('body')]);
      await run.done;
      assert.equal(run.failure, 'error');
      assert.equal(run.retryable, false, 'a request whose body was sent');
    } finally {
      await upstream.close();
    }
  });

  it('either answers on a new connection or fails retryable when the upstream closes idle connections at once', async () => {
    const upstream = await startScripted((socket) => {
      socket.write(ok('answer'));
      socket.end();
    });
    try {
      const target = newPool().get(upstream.origin);
      for (let i = 0; i < 20; i++) {
        const run = await exchange(target, { path: `/r/${i}` });
        if (run.failure === undefined) {
          assert.equal(run.body.toString(), 'answer');
        } else {
          assert.equal(run.retryable, true, `request ${i}: ${run.failure} ${run.error?.message}`);
          assert.equal((await exchange(target, { path: `/retry/${i}` })).body.toString(), 'answer');
        }
      }
    } finally {
      await upstream.close();
    }
  });
});

describe('upstream client: abort, unsafe heads, destroy', () => {
  it('abort() mid-response closes the upstream connection and no callback follows', async () => {
    const upstream = await startScripted((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\nfirst piece');
      const more = setInterval(() => socket.write('more'), 10);
      socket.on('close', () => clearInterval(more));
    });
    try {
      const target = newPool().get(upstream.origin);
      const run = send(target, {}, (_chunk, current) => {
        current.exchange.abort();
        return true;
      });
      await until(() => upstream.closed() === 1, 'the upstream to see the connection close');
      await sleep(100);
      assert.deepEqual(run.events, ['response', 'data'], 'nothing after abort()');
      assert.equal(run.body.toString(), 'first piece');
      assert.equal(target.sockets, 0);
      run.exchange.abort();
      run.exchange.resume();
      assert.equal(run.exchange.write(Buffer.from('late')), true);
      assert.deepEqual(run.events, ['response', 'data']);
    } finally {
      await upstream.close();
    }
  });

  it('abort() before the answer closes the connection and reports nothing', async () => {
    const upstream = await startScripted(() => undefined);
    try {
      const target = newPool().get(upstream.origin);
      const run = send(target, { timeoutMs: 300 });
      await until(() => upstream.requests.length === 1, 'the request to arrive');
      run.exchange.abort();
      await until(() => upstream.closed() === 1, 'the upstream to see the connection close');
      upstream.sockets[0]?.write(ok('too late'));
      await sleep(400);
      assert.deepEqual(run.events, [], 'no answer, no timeout after abort()');
    } finally {
      await upstream.close();
    }
  });

  it('throws UnsafeHeadError for a head that would break the framing, before anything is sent', async () => {
    const upstream = await startScripted((socket) => socket.write(ok('no')));
    try {
      const target = newPool().get(upstream.origin);
      const unsafe: Partial<ForwardRequest>[] = [
        { headers: ['Host', 'app.test', 'X-A', 'a\r\nX-Injected: 1'] },
        { headers: ['Host', 'app.test', 'X-A', 'a\nb'] },
        { headers: ['Host', 'app.test', 'X-A', 'a\rb'] },
        { headers: ['Host', 'app.test', 'X-A', 'a\0b'] },
        { headers: ['Host', 'app.test\r\nX-Injected: 1'] },
        { headers: ['X-A\r\nX-B', 'v'] },
        { headers: ['X-A: b', 'v'] },
        { path: '/a b' },
        { path: '/a HTTP/1.1\r\nX: y' },
        { path: '/a\tb' },
        { path: '/a\x7f' },
        { path: '' },
        { method: 'GET /x' },
        { method: 'G\r\nET' },
        { method: '' },
      ];
      for (const overrides of unsafe) {
        let called = false;
        assert.throws(
          () =>
            forward(target, request(overrides), {
              onResponse: () => (called = true),
              onData: () => (called = true),
              onEnd: () => (called = true),
              onBroken: () => (called = true),
              onFailure: () => (called = true),
            }),
          UnsafeHeadError,
          JSON.stringify(overrides),
        );
        assert.equal(called, false);
      }
      assert.equal(target.sockets, 0);
      await sleep(50);
      assert.equal(upstream.accepted(), 0, 'nothing was sent');
    } finally {
      await upstream.close();
    }
  });

  it('destroy() closes idle connections, and the pool refuses work afterwards', async () => {
    const upstream = await startScripted((socket) => socket.write(ok('fine')));
    try {
      const pool = newPool();
      const target = pool.get(upstream.origin);
      await Promise.all([exchange(target), exchange(target)]);
      assert.equal(target.idleSockets, 2);
      pool.destroy();
      assert.equal(target.sockets, 0);
      assert.equal(target.idleSockets, 0);
      await until(() => upstream.closed() === 2, 'the upstream to see both connections close');
      const run = await exchange(target);
      assert.deepEqual(run.events, ['failure error']);
      assert.match(run.error?.message ?? '', /closed/);
      assert.equal(upstream.accepted(), 2, 'no connection after destroy()');
    } finally {
      await upstream.close();
    }
  });
});

describe('upstream client: the connection ceiling', () => {
  /** An upstream that holds every request whose path starts with /hold until release(). */
  async function startHolding(): Promise<ScriptedUpstream & { release(): void }> {
    const held: net.Socket[] = [];
    let releasing = false;
    const upstream = await startScripted((socket, request) => {
      if (request.head.startsWith('GET /hold') && !releasing) held.push(socket);
      else socket.write(ok(request.head.split(' ')[1] ?? ''));
    });
    return Object.assign(upstream, {
      release() {
        releasing = true;
        for (const socket of held.splice(0)) socket.write(ok('held'));
      },
    });
  }

  it('queues exchanges beyond 512 sockets instead of opening more, and serves them as connections free up', async () => {
    const upstream = await startHolding();
    try {
      const target = newPool().get(upstream.origin);
      const runs = Array.from({ length: 600 }, (_, i) => send(target, { path: `/hold/${i}` }));
      await until(() => upstream.requests.length === 512, '512 requests to arrive');
      await sleep(100);
      assert.equal(upstream.accepted(), 512);
      assert.equal(target.sockets, 512);
      assert.equal(upstream.requests.length, 512, 'the other 88 wait in the queue');

      // While the pool is full: a queued exchange times out, an aborted one is never sent.
      const late = await exchange(target, { path: '/late', timeoutMs: 100 });
      assert.deepEqual(late.events, ['failure timeout']);
      assert.match(late.error?.message ?? '', /no upstream connection free/);
      const aborted = send(target, { path: '/aborted' });
      aborted.exchange.abort();

      upstream.release();
      await Promise.all(runs.map((run) => run.done));
      runs.forEach((run, i) => {
        assert.deepEqual(run.events, ['response', 'data', 'end']);
        assert.equal(
          run.body.toString(),
          i < 512 ? 'held' : `/hold/${i}`,
          'the first 512 were held, the rest queued',
        );
      });
      assert.equal(upstream.accepted(), 512, 'queued exchanges went out on the freed connections');
      assert.equal(upstream.requests.length, 600);
      assert.ok(!upstream.requests.some((r) => /\/late|\/aborted/.test(r.head)));
      assert.deepEqual(aborted.events, []);
      assert.equal(target.idleSockets, 128, 'idle connections beyond 128 are closed');
      assert.equal(target.sockets, 128);
      await until(() => upstream.closed() === 512 - 128, 'the surplus connections to close');
    } finally {
      await upstream.close();
    }
  });

  it('never reads bytes after a bodiless answer as the answer to the next queued request', async () => {
    const upstream = await startHolding();
    try {
      const target = newPool().get(upstream.origin);
      const runs = Array.from({ length: 512 }, (_, i) => send(target, { path: `/hold/${i}` }));
      await until(() => upstream.requests.length === 512, '512 requests to arrive');
      const queued = send(target, { path: '/queued' });
      await sleep(50);
      // The first connection answers 204 and, in the same write, a second answer nobody asked for.
      upstream.sockets[0]?.write(
        'HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nforged!',
      );
      await runs[0]?.done;
      await queued.done;
      assert.equal(queued.body.toString(), '/queued', 'the queued request got its own answer');
      upstream.release();
      await Promise.all(runs.map((run) => run.done));
    } finally {
      await upstream.close();
    }
  });
});

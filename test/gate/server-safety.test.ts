/**
 * The gate against hostile bytes, over raw sockets: request smuggling shapes never reach the
 * upstream, oversized and slow heads are cut, bodies are capped, connections per client are capped,
 * and no input crashes it.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { rawExchange, request, statusOf } from '../helpers/gate-http.ts';
import { until } from '../helpers/until.ts';
import { gateInFrontOfUpstream } from '../helpers/gate-server.ts';

describe('gate safety: request smuggling never reaches the upstream', () => {
  const fx = gateInFrontOfUpstream((origin) => ({ upstream: origin }));

  // Each is refused before any byte goes upstream: with 400, or by Node's parser (which answers 400).
  const attempts: [string, string][] = [
    [
      'Content-Length with Transfer-Encoding (CL.TE)',
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG',
    ],
    [
      'Transfer-Encoding with Content-Length (TE.CL)',
      'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n',
    ],
    [
      'duplicate Content-Length',
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde',
    ],
    [
      'duplicate equal Content-Length',
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd',
    ],
    ['duplicate Host', 'GET / HTTP/1.1\r\nHost: app.example\r\nHost: admin.internal\r\n\r\n'],
    ['no Host', 'GET / HTTP/1.1\r\n\r\n'],
    ['Host with a space', 'GET / HTTP/1.1\r\nHost: a b\r\n\r\n'],
    [
      'obs-fold (a header continued on the next line)',
      'GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n Transfer-Encoding: chunked\r\n\r\n',
    ],
    ['bare LF line ends', 'GET / HTTP/1.1\nHost: a\n\n'],
    ['a bare LF inside the head', 'GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n'],
    [
      'Transfer-Encoding other than chunked',
      'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\nabc',
    ],
    ['chunked not last', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n'],
    ['gzip, chunked', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n'],
    [
      'duplicate Transfer-Encoding',
      'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    ],
    ['space before the colon', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 4\r\n\r\nabcd'],
    ['NUL in a header value', 'GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n'],
    ['Content-Length with a sign', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +4\r\n\r\nabcd'],
    ['absolute-form target', 'GET http://internal.example/admin HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['HTTP/0.9', 'GET /\r\n\r\n'],
    ['HTTP/2.0 over text', 'GET / HTTP/2.0\r\nHost: a\r\n\r\n'],
  ];

  for (const [name, bytes] of attempts) {
    it(`refuses ${name}`, async () => {
      const before = fx.upstream.seen.length;
      const answer = await rawExchange(fx.gate.port, bytes, { waitMs: 1000 });
      const status = statusOf(answer.text);
      assert.ok(
        status === 400 || status === 505,
        `answered ${status || 'nothing'}: ${JSON.stringify(answer.text.slice(0, 60))}`,
      );
      assert.ok(answer.closedByPeer, 'the connection is closed after the refusal');
      await sleep(20);
      assert.equal(fx.upstream.seen.length, before, 'the upstream saw nothing');
    });
  }

  it('frames a GET’s chunked body upstream so a request hidden in it stays a body', async () => {
    const hidden = 'GET /admin HTTP/1.1\r\nHost: a\r\n\r\n';
    const chunk = `${hidden.length.toString(16)}\r\n${hidden}\r\n0\r\n\r\n`;
    const before = fx.upstream.seen.length;
    const answer = await rawExchange(
      fx.gate.port,
      `GET /public HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunk}`,
      { waitMs: 1000 },
    );
    assert.equal(statusOf(answer.text), 200);
    await sleep(50);
    const seen = fx.upstream.seen.slice(before);
    assert.deepEqual(
      seen.map((r) => r.url),
      ['/public'],
      'one request upstream, never /admin',
    );
    assert.equal(seen[0]!.body.toString(), hidden);
  });

  it('answers 400 to binary garbage and stays up for the next client', async () => {
    for (let i = 0; i < 50; i++) {
      const answer = await rawExchange(fx.gate.port, randomBytes(1 + ((i * 37) % 400)), { waitMs: 300 });
      const status = statusOf(answer.text);
      assert.ok(status === 0 || status === 400 || status === 431 || status === 505, `answered ${status}`);
    }
    // TLS spoken to the plain port, half a request and a reset, a pipelined pair with garbage after.
    await rawExchange(fx.gate.port, Buffer.from('160301020001000000000000', 'hex'), { waitMs: 300 });
    const half = net.connect(fx.gate.port, '127.0.0.1', () => {
      half.write('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc');
      setTimeout(() => half.resetAndDestroy(), 20);
    });
    half.on('error', () => {});
    await rawExchange(
      fx.gate.port,
      'GET /p1 HTTP/1.1\r\nHost: a\r\n\r\nGET /p2 HTTP/1.1\r\nHost: a\r\n\r\n\x00\x01\x02garbage',
      {
        waitMs: 500,
      },
    );
    await sleep(50);
    assert.equal((await request(fx.gate.port, { path: '/still-up' })).status, 200);
  });
});

describe('gate safety: limits', () => {
  const fx = gateInFrontOfUpstream((origin) => ({
    upstream: origin,
    limits: {
      maxHeaderBytes: 2048,
      maxHeaders: 20,
      headersTimeout: 500,
      requestTimeout: 1500,
      maxBodyBytes: 1000,
      maxConnectionsPerIp: 3,
    },
  }));

  it('answers 431 to a head larger than maxHeaderBytes', async () => {
    const before = fx.upstream.seen.length;
    const answer = await rawExchange(
      fx.gate.port,
      `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(4000)}\r\n\r\n`,
    );
    assert.equal(statusOf(answer.text), 431);
    assert.equal(fx.upstream.seen.length, before);
  });

  it('answers 431 to more headers than maxHeaders', async () => {
    const before = fx.upstream.seen.length;
    const many = Array.from({ length: 25 }, (_, i) => `X-H${i}: v\r\n`).join('');
    const answer = await rawExchange(fx.gate.port, `GET / HTTP/1.1\r\nHost: a\r\n${many}\r\n`);
    assert.equal(statusOf(answer.text), 431);
    // One over the limit: Node's parser takes it (its own cap is one higher), the gate refuses it.
    const oneOver = Array.from({ length: 20 }, (_, i) => `X-H${i}: v\r\n`).join('');
    assert.equal(
      statusOf((await rawExchange(fx.gate.port, `GET / HTTP/1.1\r\nHost: a\r\n${oneOver}\r\n`)).text),
      431,
    );
    const justBelow = Array.from({ length: 18 }, (_, i) => `X-H${i}: v\r\n`).join('');
    const fine = await rawExchange(
      fx.gate.port,
      `GET /ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\n${justBelow}\r\n`,
    );
    assert.equal(statusOf(fine.text), 200);
    assert.deepEqual(
      fx.upstream.seen.slice(before).map((r) => r.url),
      ['/ok'],
    );
  });

  it('closes a connection whose head arrives too slowly (slowloris)', async () => {
    const before = fx.upstream.seen.length;
    const socket = net.connect(fx.gate.port, '127.0.0.1');
    socket.on('error', () => {});
    let received = '';
    socket.on('data', (chunk) => (received += chunk.toString('latin1')));
    const closed = new Promise<number>((resolve) => {
      const started = Date.now();
      socket.on('close', () => resolve(Date.now() - started));
    });
    socket.write('GET / HTTP/1.1\r\nHost: a\r\n');
    const drip = setInterval(() => socket.writable && socket.write('X-Drip: 1\r\n'), 100);
    const elapsedMs = await closed;
    clearInterval(drip);
    assert.ok(elapsedMs >= 450, `closed after ${elapsedMs} ms, before the headers timeout`);
    assert.ok(elapsedMs < 2500, `closed after ${elapsedMs} ms`);
    assert.equal(statusOf(received), 408);
    assert.equal(fx.upstream.seen.length, before);
  });

  it('answers 413 to a declared body over maxBodyBytes without passing it on', async () => {
    const before = fx.upstream.seen.length;
    const response = await request(fx.gate.port, { method: 'POST', path: '/big', body: 'x'.repeat(1001) });
    assert.equal(response.status, 413);
    const exact = await request(fx.gate.port, { method: 'POST', path: '/exact', body: 'x'.repeat(1000) });
    assert.equal(exact.status, 200);
    assert.deepEqual(
      fx.upstream.seen.slice(before).map((r) => r.url),
      ['/exact'],
    );
  });

  it('answers 413 to a chunked body that grows past maxBodyBytes, and the upstream never gets all of it', async () => {
    const before = fx.upstream.seen.length;
    async function* chunks() {
      for (let i = 0; i < 10; i++) {
        yield Buffer.alloc(300, 120);
        await sleep(10);
      }
    }
    const response = await request(fx.gate.port, { method: 'POST', path: '/stream', body: chunks() }).catch(
      (error: Error) => ({ status: -1, error }),
    );
    // The 413 may race the client's own writes: the client then sees the connection close instead.
    assert.ok(response.status === 413 || response.status === -1, `status ${response.status}`);
    await sleep(100);
    for (const seen of fx.upstream.seen.slice(before)) {
      assert.ok(seen.body.length <= 1000, `the upstream got ${seen.body.length} bytes`);
    }
    assert.equal(fx.gate.events.findLast((e) => e.path === '/stream')?.status, 413);
  });

  it('caps open connections per client address, not for others', async () => {
    const open: net.Socket[] = [];
    for (let i = 0; i < 3; i++) {
      const socket = net.connect({ port: fx.gate.port, host: '127.0.0.1', localAddress: '127.0.0.5' });
      socket.on('error', () => {});
      await new Promise((resolve) => socket.once('connect', resolve));
      open.push(socket);
    }
    await sleep(50);
    try {
      const fourth = await rawExchange(fx.gate.port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n', {
        localAddress: '127.0.0.5',
        waitMs: 1000,
      });
      assert.equal(fourth.text, '', 'no answer past the cap');
      assert.ok(fourth.closedByPeer, 'the fourth connection is closed');
      const other = await request(fx.gate.port, { path: '/other', localAddress: '127.0.0.6' });
      assert.equal(other.status, 200);
    } finally {
      for (const socket of open) socket.destroy();
    }
    await until(
      async () =>
        (await request(fx.gate.port, { path: '/again', localAddress: '127.0.0.5' }).catch(() => undefined))
          ?.status === 200,
      'the cap to free up',
    );
  });
});

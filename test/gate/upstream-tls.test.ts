/**
 * `moat gate` in front of an HTTPS upstream, as a process: a real node:https upstream on loopback
 * with a self-signed certificate that the gate trusts through NODE_EXTRA_CA_CERTS. The gate speaks
 * plain HTTP to its clients and TLS to the upstream: answers whole (chunked and 1 MB bodies
 * included), one TLS connection reused across requests, SNI and ALPN as sent, and a 502 when the
 * certificate is not trusted or does not name the upstream's host.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ClientResponse, request } from '../helpers/gate-http.ts';
import { until } from '../helpers/until.ts';
import { startMoatGate } from '../helpers/moat-process.ts';
import { type CertificateFiles, selfSignedCertificate } from '../helpers/tls.ts';

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

// ----------------------------------------------------------------------------------------------
// The HTTPS upstream

interface TlsHandshake {
  /** The SNI name the client sent; false without one. */
  readonly servername: string | false;
  readonly alpn: string | false;
}

interface SeenRequest {
  readonly method: string;
  readonly url: string;
  /** Which TLS connection it came on (0, 1, …, in handshake order). */
  readonly connection: number;
}

interface HttpsUpstream {
  readonly port: number;
  /** One entry per completed TLS handshake ('secureConnection'). */
  readonly handshakes: TlsHandshake[];
  readonly seen: SeenRequest[];
  close(): Promise<void>;
}

/** What GET answers: the request as the upstream received it. */
interface Echo {
  readonly method: string;
  readonly url: string;
  readonly xForwardedFor: string | null;
  readonly connection: number;
}

const CHUNK_TAIL = randomBytes(96 * 1024);

/**
 * A node:https upstream on 127.0.0.1. `/chunked` answers in two writes 30 ms apart (no
 * Content-Length), `/echo` sends a request body back with its SHA-256 in a header, anything else
 * answers an Echo as JSON.
 */
async function startHttpsUpstream(certificate: CertificateFiles): Promise<HttpsUpstream> {
  const handshakes: TlsHandshake[] = [];
  const seen: SeenRequest[] = [];
  const connectionOf = new WeakMap<TLSSocket, number>();
  const server = https.createServer(
    { cert: readFileSync(certificate.cert), key: readFileSync(certificate.key) },
    (req, res) => {
      const connection = connectionOf.get(req.socket as TLSSocket) ?? -1;
      seen.push({ method: req.method ?? '', url: req.url ?? '', connection });
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        if (req.url === '/chunked') {
          res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
          res.write('first piece\n');
          setTimeout(() => res.end(CHUNK_TAIL), 30);
          return;
        }
        if (req.url === '/echo') {
          res.writeHead(200, {
            'Content-Type': 'application/octet-stream',
            'Content-Length': body.length,
            'X-Body-Sha256': sha256(body),
          });
          res.end(body);
          return;
        }
        const echo: Echo = {
          method: req.method ?? '',
          url: req.url ?? '',
          xForwardedFor: req.headers['x-forwarded-for']?.toString() ?? null,
          connection,
        };
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(echo));
      });
    },
  );
  server.on('secureConnection', (socket: TLSSocket) => {
    connectionOf.set(socket, handshakes.length);
    // On the server side, servername is the SNI name the client sent (false without one).
    handshakes.push({ servername: socket.servername ?? false, alpn: socket.alpnProtocol ?? false });
  });
  // A client that refuses the certificate ends the handshake: not the upstream's problem.
  server.on('tlsClientError', () => undefined);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    handshakes,
    seen,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

// ----------------------------------------------------------------------------------------------
// The gate, as a process

type GateProcess = Awaited<ReturnType<typeof startMoatGate>>;

interface Route {
  readonly path: string;
  readonly upstream: string;
}

/**
 * `moat gate --upstream <upstream>` on a free loopback port, with `routes` in its config file; `ca`:
 * the NODE_EXTRA_CA_CERTS file.
 */
function startGate(
  upstream: string,
  ca: string | undefined,
  routes: readonly Route[] = [],
): Promise<GateProcess> {
  const dir = mkdtempSync(path.join(tmpdir(), 'moat-gate-tls-'));
  const configFile = path.join(dir, 'moat.yaml');
  // JSON is YAML.
  writeFileSync(configFile, JSON.stringify({ stateDir: dir, gate: { routes } }));
  const env = { ...process.env };
  // Only what the test sets decides what the gate trusts.
  delete env['NODE_EXTRA_CA_CERTS'];
  delete env['NODE_TLS_REJECT_UNAUTHORIZED'];
  delete env['NODE_OPTIONS'];
  if (ca !== undefined) env['NODE_EXTRA_CA_CERTS'] = ca;
  return startMoatGate(['-c', configFile, 'gate', '--listen', '127.0.0.1:0', '--upstream', upstream], {
    env,
  });
}

// ----------------------------------------------------------------------------------------------
// A plain HTTP client

/** One request to the gate, its body (when any) sent with Content-Length or, in 64 KB writes, chunked. */
function send(
  port: number,
  options: { method?: string; path?: string; body?: Buffer; chunkedBody?: boolean; localAddress?: string },
): Promise<ClientResponse> {
  const { body, chunkedBody, ...rest } = options;
  return request(port, {
    ...rest,
    ...(body === undefined ? {} : { body: chunkedBody === true ? inPieces(body, 65_536) : body }),
  });
}

/** A body written piece by piece, so it goes out chunked: the gate forwards a chunked body as it arrives. */
async function* inPieces(body: Buffer, size: number): AsyncIterable<Buffer> {
  for (let at = 0; at < body.length; at += size) yield body.subarray(at, at + size);
}

const json = (answer: ClientResponse): Echo => JSON.parse(answer.body) as Echo;

// ----------------------------------------------------------------------------------------------

/** The first 'upstream failed' log line about `origin`, once it is written. */
async function failureLogged(gate: GateProcess, origin: string): Promise<Record<string, unknown>> {
  const find = () =>
    gate.logs().find((line) => line['msg'] === 'upstream failed' && line['upstream'] === origin);
  await until(() => find() !== undefined, `the failure for ${origin} in the log`);
  return find() as Record<string, unknown>;
}

describe('moat gate to an HTTPS upstream (NODE_EXTRA_CA_CERTS, real processes)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'moat-upstream-tls-'));
  // CN=localhost (and an IP SAN for 127.0.0.1): an upstream reached as https://localhost.
  const forLocalhost = selfSignedCertificate(mkdtempSync(path.join(dir, 'localhost-')), 2, 'localhost');
  // CN=127.0.0.1, IP SAN 127.0.0.1: reached as https://127.0.0.1, and it does not name localhost.
  const forIp = selfSignedCertificate(mkdtempSync(path.join(dir, 'ip-')), 2);
  const bundle = path.join(dir, 'trusted.pem');
  writeFileSync(bundle, readFileSync(forLocalhost.cert, 'utf8') + readFileSync(forIp.cert, 'utf8'));

  let byName: HttpsUpstream;
  let byIp: HttpsUpstream;
  /**
   * Trusts both certificates. Upstream https://localhost:<byName>; /by-ip goes to
   * https://127.0.0.1:<byIp>, /wrong-name to https://localhost:<byIp> (a trusted certificate that
   * does not name localhost).
   */
  let gate: GateProcess;
  /** Trusts nothing extra; upstream https://localhost:<byName>. */
  let untrustingGate: GateProcess;
  const gates: GateProcess[] = [];

  before(async () => {
    [byName, byIp] = await Promise.all([startHttpsUpstream(forLocalhost), startHttpsUpstream(forIp)]);
    const started = await Promise.allSettled([
      startGate(`https://localhost:${byName.port}`, bundle, [
        { path: '/by-ip', upstream: `https://127.0.0.1:${byIp.port}` },
        { path: '/wrong-name', upstream: `https://localhost:${byIp.port}` },
      ]),
      startGate(`https://localhost:${byName.port}`, undefined),
    ]);
    for (const result of started) if (result.status === 'fulfilled') gates.push(result.value);
    for (const result of started) if (result.status === 'rejected') throw result.reason;
    [gate, untrustingGate] = gates as [GateProcess, GateProcess];
  });

  after(async () => {
    await Promise.all(gates.map((g) => g.stop()));
    await Promise.all([byName?.close(), byIp?.close()]);
  });

  it('passes a GET through and returns the upstream’s answer, over TLS with SNI and ALPN http/1.1', async () => {
    const answer = await send(gate.port, { path: '/hello?x=1', localAddress: '127.0.0.7' });
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['content-type'], 'application/json');
    const echo = json(answer);
    assert.equal(echo.method, 'GET');
    assert.equal(echo.url, '/hello?x=1');
    assert.equal(echo.xForwardedFor, '127.0.0.7', 'the upstream sees the client the gate saw');
    const handshake = byName.handshakes[echo.connection];
    assert.deepEqual(handshake, { servername: 'localhost', alpn: 'http/1.1' });
  });

  it('delivers a chunked answer whole', async () => {
    const answer = await send(gate.port, { path: '/chunked' });
    assert.equal(answer.status, 200);
    const expected = Buffer.concat([Buffer.from('first piece\n'), CHUNK_TAIL]);
    assert.equal(answer.bytes.length, expected.length);
    assert.equal(sha256(answer.bytes), sha256(expected));
  });

  it('carries a 1 MB POST body to the upstream intact, and its echo back, with Content-Length and chunked', async () => {
    for (const chunkedBody of [false, true]) {
      const body = randomBytes(1024 * 1024 + 17);
      const answer = await send(gate.port, { method: 'POST', path: '/echo', body, chunkedBody });
      assert.equal(answer.status, 200, `chunked: ${chunkedBody}`);
      assert.equal(answer.headers['x-body-sha256'], sha256(body), 'what the upstream received');
      assert.equal(answer.bytes.length, body.length);
      assert.ok(answer.bytes.equals(body), 'what came back through the gate');
    }
  });

  it('reuses one TLS connection for sequential requests', async () => {
    const handshakesBefore = byName.handshakes.length;
    const connections: number[] = [];
    for (let i = 0; i < 6; i++) {
      const answer = await send(gate.port, { path: `/seq/${i}` });
      assert.equal(answer.status, 200);
      assert.equal(json(answer).url, `/seq/${i}`);
      connections.push(json(answer).connection);
    }
    assert.equal(new Set(connections).size, 1, `connections used: ${connections.join(', ')}`);
    assert.ok(
      byName.handshakes.length - handshakesBefore <= 1,
      `${byName.handshakes.length - handshakesBefore} TLS handshakes for six requests`,
    );
    // Everything this gate sent so far (GET, chunked, two POSTs, six GETs) came on one connection.
    assert.deepEqual(new Set(byName.seen.map((r) => r.connection)), new Set([connections[0]]));
    assert.equal(byName.handshakes.length, 1);
  });

  it('reaches an upstream by IP literal: verified against the IP SAN, without SNI', async () => {
    const answer = await send(gate.port, { path: '/by-ip' });
    assert.equal(answer.status, 200);
    const echo = json(answer);
    assert.equal(echo.url, '/by-ip');
    assert.deepEqual(byIp.handshakes[echo.connection], { servername: false, alpn: 'http/1.1' });
  });

  it('answers 502 when the upstream’s certificate is not trusted', async () => {
    const seenBefore = byName.seen.length;
    const answer = await send(untrustingGate.port, { path: '/untrusted' });
    assert.equal(answer.status, 502);
    assert.equal(byName.seen.length, seenBefore, 'no request reached the upstream');
    const failure = await failureLogged(untrustingGate, `https://localhost:${byName.port}`);
    assert.match(String(failure['error']), /self[- ]signed certificate/i);
  });

  it('answers 502 when a trusted certificate does not name the upstream’s host', async () => {
    const seenBefore = byIp.seen.length;
    const answer = await send(gate.port, { path: '/wrong-name' });
    assert.equal(answer.status, 502);
    // The client may finish the handshake before it checks the name: give a request time to land.
    await sleep(50);
    assert.equal(byIp.seen.length, seenBefore, 'no request reached the upstream');
    const failure = await failureLogged(gate, `https://localhost:${byIp.port}`);
    assert.match(String(failure['error']), /does not match certificate/i);
  });
});

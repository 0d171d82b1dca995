/**
 * The gate's WebSocket proxy. The server calls `handleUpgrade` for an upgrade request that passed
 * the policy; from there:
 *
 *   client upgrade ──▶ connect upstream (ws/wss + same path, same subprotocols, forwarded headers)
 *                        ├─ non-101 answer ──▶ relayed to the client as is (status, headers, body), closed
 *                        ├─ error/timeout  ──▶ 502 / 504 to the client
 *                        └─ 101 ──▶ complete the client handshake with the subprotocol the upstream chose
 *                                   ──▶ relay messages both ways (text/binary kept, close code and reason kept)
 *
 * Both sides are WebSocket endpoints of their own (the `ws` package), so the gate sees messages, not
 * bytes: it pings each side every `pingIntervalMs` (a side that leaves a ping unanswered for two
 * intervals is cut), closes a connection that carried no message either way for `idleTimeoutMs`,
 * and pauses one side while the other cannot keep up. One interval timer serves every connection;
 * it runs only while connections exist. Whatever way a connection ends, both sockets are closed and
 * `open` counts it out.
 *
 * Not negotiated: permessage-deflate (each side would need a zlib context per connection; loopback
 * upstreams gain nothing from it). Extensions offered by the client are dropped.
 */
import { type IncomingHttpHeaders, type IncomingMessage, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import type { Logger } from '../daemon/log.ts';
import { isForwardingHeader } from './headers.ts';

export interface WebSocketProxyOptions {
  /** Close a connection that carried no message in either direction for this long. */
  readonly idleTimeoutMs: number;
  /** Ping both sides this often; 0 = never. A side silent to two pings in a row is cut. */
  readonly pingIntervalMs: number;
  readonly logger: Logger;
  /** How long the upstream may take to answer the opening handshake (default 60 s), then 504. */
  readonly upstreamTimeoutMs?: number;
  /** Largest message accepted from either side (default 100 MiB, ws's own); larger closes with 1009. */
  readonly maxPayloadBytes?: number;
}

export interface WebSocketTarget {
  /** The upstream's origin (`http://127.0.0.1:3000`); `https:` connects with wss. */
  readonly upstream: URL;
  readonly clientIp: string;
  /**
   * Headers to set upstream (X-Forwarded-For, X-Real-IP, …). They replace any the client sent under
   * the same names; the client's spoofable forwarding headers are dropped in any case.
   */
  readonly headers: Readonly<Record<string, string>>;
}

export interface WebSocketProxy {
  /** Takes over the socket of an upgrade request that passed the gate's checks. Never throws. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, target: WebSocketTarget): void;
  /** Closes every connection (1001 to both sides; 503 to handshakes in flight); resolves when all are gone. */
  close(): Promise<void>;
  /** Connections held: handshakes in flight and open WebSockets. */
  readonly open: number;
}

/** Pause the sending side when the receiving side has more than this queued… */
const HIGH_WATER_BYTES = 1024 * 1024;
/** …and resume it once the queue is below this. */
const LOW_WATER_BYTES = 256 * 1024;
/** A non-101 answer being relayed, or a close handshake, gets this long before its socket is destroyed. */
const LINGER_MS = 10_000;
/** Bytes a client may send before its handshake completes (it should send none). */
const EARLY_DATA_LIMIT_BYTES = 64 * 1024;
/** On close(): how long both sides get for the closing handshake before being cut. */
const SHUTDOWN_GRACE_MS = 2_000;

/**
 * Headers that describe one hop, never forwarded (RFC 9110 §7.6.1; `proxy-*` by prefix), plus those
 * named in Connection.
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);
const isHopByHop = (lower: string) => HOP_BY_HOP.has(lower) || lower.startsWith('proxy-');
/** The opening handshake's own headers: each side negotiates its own. */
const HANDSHAKE = new Set([
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-extensions',
  'sec-websocket-protocol',
  'sec-websocket-accept',
  'content-length',
  'expect',
]);

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const KEY = /^[+/0-9A-Za-z]{22}==$/;

export type UpgradeCheck =
  | { readonly ok: true; readonly protocols: readonly string[] }
  | {
      readonly ok: false;
      readonly status: number;
      readonly message: string;
      readonly headers?: Readonly<Record<string, string>>;
    };

/**
 * Whether a request is a well-formed WebSocket opening handshake (RFC 6455 §4.2.1), checked before
 * the upstream is dialled, and the subprotocols it offers in order.
 */
export function checkUpgradeRequest(method: string | undefined, headers: IncomingHttpHeaders): UpgradeCheck {
  if (method !== 'GET') return { ok: false, status: 405, message: 'WebSocket handshakes use GET' };
  if (headers.upgrade?.toLowerCase() !== 'websocket') {
    return { ok: false, status: 400, message: 'Upgrade must be websocket' };
  }
  const key = headers['sec-websocket-key'];
  if (key === undefined || !KEY.test(key)) {
    return { ok: false, status: 400, message: 'missing or invalid Sec-WebSocket-Key' };
  }
  const version = headers['sec-websocket-version'];
  if (version !== '13' && version !== '8') {
    return {
      ok: false,
      status: 400,
      message: 'missing or invalid Sec-WebSocket-Version',
      headers: { 'Sec-WebSocket-Version': '13, 8' },
    };
  }
  const offered = headers['sec-websocket-protocol'];
  if (offered === undefined) return { ok: true, protocols: [] };
  const protocols = parseProtocols(offered);
  if (protocols === undefined) return { ok: false, status: 400, message: 'invalid Sec-WebSocket-Protocol' };
  return { ok: true, protocols };
}

/** `chat, superchat` → ['chat', 'superchat']; undefined when malformed or duplicated. */
export function parseProtocols(header: string): string[] | undefined {
  const protocols = header.split(',').map((p) => p.trim());
  if (protocols.some((p) => !TOKEN.test(p))) return undefined;
  if (new Set(protocols).size !== protocols.length) return undefined;
  return protocols;
}

/**
 * The headers of the upstream handshake: the client's, less hop-by-hop, handshake and spoofable
 * forwarding headers, plus the gate's forwarding headers. Host, Origin, Cookie, Authorization and
 * the application's own headers pass unchanged.
 */
export function upstreamHandshakeHeaders(
  client: IncomingHttpHeaders,
  forwarding: Readonly<Record<string, string>>,
): Record<string, string | string[]> {
  const named = new Set<string>();
  for (const token of (client.connection ?? '').split(',')) named.add(token.trim().toLowerCase());
  const replaced = new Set(Object.keys(forwarding).map((name) => name.toLowerCase()));
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(client)) {
    if (value === undefined) continue;
    // Forwarding headers a client could forge: only the gate's own (target.headers) go upstream.
    if (isHopByHop(name) || HANDSHAKE.has(name) || isForwardingHeader(name)) continue;
    if (named.has(name) || replaced.has(name)) continue;
    out[name] = value;
  }
  for (const [name, value] of Object.entries(forwarding)) out[name.toLowerCase()] = value;
  return out;
}

/**
 * Headers of the upstream's 101 answer worth passing to the client (Set-Cookie and the like): all
 * but hop-by-hop and handshake headers, which the gate's own handshake with the client sets.
 */
export function relayedUpgradeHeaders(rawHeaders: readonly string[]): string[] {
  const lines: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const lower = name.toLowerCase();
    if (isHopByHop(lower) || HANDSHAKE.has(lower)) continue;
    lines.push(`${name}: ${rawHeaders[i + 1]!}`);
  }
  return lines;
}

/**
 * The close to pass on when one side's connection ended with `code`: the same code and reason when
 * the peer sent one; none when it sent a close frame without a code (1005); 1001 (going away) when
 * the client vanished without a close frame; 1011 when the upstream did.
 */
export function relayedClose(
  code: number,
  reason: Buffer,
  from: 'client' | 'upstream',
): { code?: number; reason?: Buffer } {
  if (code === 1005) return {};
  if (code === 1006 || code === 1015 || !sendableCode(code)) {
    return from === 'client'
      ? { code: 1001, reason: Buffer.from('client went away') }
      : { code: 1011, reason: Buffer.from('upstream connection lost') };
  }
  return { code, reason };
}

function sendableCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
    (code >= 3000 && code <= 4999)
  );
}

/** The upstream URL of a request target: same path and query on the upstream's origin, ws or wss. */
export function upstreamUrl(upstream: URL, requestTarget: string | undefined): string | undefined {
  let pathAndQuery: string;
  if (requestTarget === undefined || requestTarget === '') return undefined;
  if (requestTarget.startsWith('/')) pathAndQuery = requestTarget;
  else {
    // absolute-form (`GET http://host/path HTTP/1.1`): keep the path and query.
    try {
      const parsed = new URL(requestTarget);
      pathAndQuery = parsed.pathname + parsed.search;
    } catch {
      return undefined;
    }
  }
  if (pathAndQuery.includes('#')) return undefined;
  const scheme = upstream.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${upstream.host}${pathAndQuery}`;
}

interface Side {
  readonly ws: WebSocket;
  /** When the oldest ping still unanswered went out. */
  awaitingPongSince: number | undefined;
  /** Reading paused because the other side cannot keep up. */
  paused: boolean;
  closed: boolean;
  closeCode: number;
}

interface Connection {
  state: 'connecting' | 'upgrading' | 'open' | 'closing' | 'rejecting' | 'done';
  readonly clientIp: string;
  readonly upstreamHost: string;
  readonly socket: Duplex;
  readonly upstream: Side;
  client: Side | undefined;
  lastDataAt: number;
  nextPingAt: number;
  /** Destroy whatever is left of the connection at this time (relaying a refusal, closing). */
  deadline: number;
  readonly openedAt: number;
}

export function createWebSocketProxy(options: WebSocketProxyOptions): WebSocketProxy {
  const { idleTimeoutMs, pingIntervalMs, logger } = options;
  const upstreamTimeoutMs = options.upstreamTimeoutMs ?? 60_000;
  const maxPayload = options.maxPayloadBytes ?? 100 * 1024 * 1024;
  const never = Number.POSITIVE_INFINITY;
  const tickMs = Math.max(
    10,
    Math.min(1000, idleTimeoutMs > 0 ? idleTimeoutMs : never, pingIntervalMs > 0 ? pingIntervalMs : never),
  );

  const connections = new Set<Connection>();
  /** The subprotocol and extra 101 headers of the upstream, per client request, for the client handshake. */
  const accepted = new WeakMap<IncomingMessage, { protocol: string; headers: string[] }>();
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload,
    handleProtocols: (_offered, req) => {
      const protocol = accepted.get(req)?.protocol ?? '';
      return protocol === '' ? false : protocol;
    },
  });
  wss.on('headers', (headers, req) => {
    const extra = accepted.get(req)?.headers;
    if (extra !== undefined) headers.push(...extra);
  });

  let timer: NodeJS.Timeout | undefined;
  let closing = false;
  const drained: Array<() => void> = [];

  function track(conn: Connection): void {
    connections.add(conn);
    if (timer === undefined) {
      timer = setInterval(tick, tickMs);
      timer.unref();
    }
  }

  function untrack(conn: Connection): void {
    if (conn.state === 'done') return;
    conn.state = 'done';
    connections.delete(conn);
    if (connections.size === 0) {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      for (const resolve of drained.splice(0)) resolve();
    }
  }

  /** Once both sides of an upgraded connection have closed, it is gone. */
  function settle(conn: Connection): void {
    if (conn.upstream.closed && (conn.client === undefined || conn.client.closed) && conn.socket.destroyed) {
      if (conn.state === 'open' || conn.state === 'closing') {
        logger.log('debug', 'websocket closed', {
          clientIp: conn.clientIp,
          upstream: conn.upstreamHost,
          durationMs: Date.now() - conn.openedAt,
          clientCode: conn.client?.closeCode,
          upstreamCode: conn.upstream.closeCode,
        });
      }
      untrack(conn);
    }
  }

  function tick(): void {
    const now = Date.now();
    for (const conn of connections) {
      if (now >= conn.deadline) {
        conn.socket.destroy();
        conn.upstream.ws.terminate();
        conn.client?.ws.terminate();
        continue;
      }
      if (conn.state !== 'open' || conn.client === undefined) continue;
      if (idleTimeoutMs > 0 && now - conn.lastDataAt >= idleTimeoutMs) {
        logger.log('info', 'websocket idle, closing', {
          clientIp: conn.clientIp,
          upstream: conn.upstreamHost,
          idleMs: now - conn.lastDataAt,
        });
        closeBoth(conn, 1001, 'idle timeout');
        continue;
      }
      if (pingIntervalMs > 0 && now >= conn.nextPingAt) {
        conn.nextPingAt = now + pingIntervalMs;
        ping(conn, conn.client, 'client', now);
        ping(conn, conn.upstream, 'upstream', now);
      }
    }
  }

  function ping(conn: Connection, side: Side, name: 'client' | 'upstream', now: number): void {
    if (side.closed || side.ws.readyState !== WebSocket.OPEN) return;
    if (side.paused) {
      // Not reading it, so its pongs sit unread: not a sign of death.
      side.awaitingPongSince = undefined;
      return;
    }
    if (side.awaitingPongSince !== undefined && now - side.awaitingPongSince >= 2 * pingIntervalMs) {
      logger.log('info', 'websocket peer missed two pings, cutting it', {
        clientIp: conn.clientIp,
        upstream: conn.upstreamHost,
        side: name,
      });
      side.ws.terminate();
      return;
    }
    side.awaitingPongSince ??= now;
    side.ws.ping();
  }

  function closeBoth(conn: Connection, code: number, reason: string): void {
    if (conn.state === 'open') conn.state = 'closing';
    conn.deadline = Math.min(conn.deadline, Date.now() + LINGER_MS);
    conn.client?.ws.close(code, reason);
    conn.upstream.ws.close(code, reason);
  }

  /** Answers the client's handshake with an HTTP error and closes its socket. */
  function refuse(
    conn: Connection | undefined,
    socket: Duplex,
    status: number,
    message: string,
    headers: Readonly<Record<string, string>> = {},
  ): void {
    if (conn !== undefined) {
      conn.state = 'rejecting';
      conn.deadline = Date.now() + LINGER_MS;
    }
    if (socket.destroyed || !socket.writable) {
      socket.destroy();
      return;
    }
    const body = `${message}\n`;
    const lines = [
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
      'Connection: close',
      'Content-Type: text/plain; charset=utf-8',
      `Content-Length: ${Buffer.byteLength(body)}`,
      ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    ];
    socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
    socket.once('finish', () => socket.destroy());
  }

  function relayRefusal(conn: Connection, res: IncomingMessage): void {
    conn.state = 'rejecting';
    conn.deadline = Date.now() + LINGER_MS;
    const { socket } = conn;
    logger.log('info', 'websocket refused by upstream', {
      clientIp: conn.clientIp,
      upstream: conn.upstreamHost,
      status: res.statusCode,
    });
    if (socket.destroyed || !socket.writable) {
      res.destroy();
      socket.destroy();
      return;
    }
    const status = res.statusCode ?? 502;
    const lines = [`HTTP/1.1 ${status} ${res.statusMessage || STATUS_CODES[status] || ''}`];
    for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
      const name = res.rawHeaders[i]!;
      if (isHopByHop(name.toLowerCase())) continue;
      lines.push(`${name}: ${res.rawHeaders[i + 1]!}`);
    }
    // The body ends where the connection does: content-length kept, chunked bodies arrive decoded.
    lines.push('Connection: close');
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    res.on('error', () => socket.destroy());
    socket.once('close', () => res.destroy());
    res.pipe(socket);
    socket.once('finish', () => socket.destroy());
  }

  function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, target: WebSocketTarget): void {
    socket.on('error', (error) => {
      logger.log('debug', 'websocket client socket error', {
        clientIp: target.clientIp,
        error: error.message,
      });
    });
    if (closing) {
      refuse(undefined, socket, 503, 'the gate is shutting down');
      return;
    }
    const check = checkUpgradeRequest(req.method, req.headers);
    if (!check.ok) {
      refuse(undefined, socket, check.status, check.message, check.headers);
      return;
    }
    const url = upstreamUrl(target.upstream, req.url);
    if (url === undefined) {
      refuse(undefined, socket, 400, 'invalid request target');
      return;
    }
    let upstreamWs: WebSocket;
    try {
      upstreamWs = new WebSocket(url, [...check.protocols], {
        headers: upstreamHandshakeHeaders(req.headers, target.headers),
        perMessageDeflate: false,
        handshakeTimeout: upstreamTimeoutMs,
        followRedirects: false,
        maxPayload,
      });
    } catch (error) {
      refuse(undefined, socket, 400, `cannot forward this handshake: ${(error as Error).message}`);
      return;
    }

    const now = Date.now();
    const upstream: Side = {
      ws: upstreamWs,
      awaitingPongSince: undefined,
      paused: false,
      closed: false,
      closeCode: 0,
    };
    const conn: Connection = {
      state: 'connecting',
      clientIp: target.clientIp,
      upstreamHost: target.upstream.host,
      socket,
      upstream,
      client: undefined,
      lastDataAt: now,
      nextPingAt: now + pingIntervalMs,
      deadline: Number.POSITIVE_INFINITY,
      openedAt: now,
    };
    track(conn);

    // Until the handshake completes, read the client socket (allowHalfOpen: a client's FIN is only
    // seen by reading), keeping anything it sends early for the WebSocket that takes over.
    const early: Buffer[] = [head];
    let earlyBytes = head.length;
    const onEarlyData = (chunk: Buffer) => {
      early.push(chunk);
      earlyBytes += chunk.length;
      if (earlyBytes > EARLY_DATA_LIMIT_BYTES) socket.destroy();
    };
    const onEarlyEnd = () => socket.destroy();
    socket.on('data', onEarlyData);
    socket.on('end', onEarlyEnd);

    socket.once('close', () => {
      if (conn.state === 'connecting' || conn.state === 'upgrading') {
        // The client left before its handshake completed: drop the upstream too.
        conn.state = 'rejecting';
        upstreamWs.terminate();
      }
      settle(conn);
    });

    upstreamWs.on('error', (error) => {
      if (conn.state === 'connecting') {
        const timedOut = error.message.includes('timed out');
        logger.log('warn', 'websocket upstream unavailable', {
          clientIp: conn.clientIp,
          upstream: conn.upstreamHost,
          error: error.message,
        });
        refuse(conn, socket, timedOut ? 504 : 502, timedOut ? 'upstream timed out' : 'upstream unavailable');
      } else {
        logger.log('debug', 'websocket upstream error', {
          clientIp: conn.clientIp,
          upstream: conn.upstreamHost,
          error: error.message,
        });
      }
    });

    upstreamWs.on('unexpected-response', (_request, res) => {
      if (conn.state !== 'connecting') {
        res.destroy();
        return;
      }
      relayRefusal(conn, res);
      // ws leaves the request to us: once the answer is relayed, the upstream socket goes too.
      res.once('close', () => upstreamWs.terminate());
    });

    upstreamWs.on('upgrade', (res) => {
      const chosen = res.headers['sec-websocket-protocol'];
      accepted.set(req, { protocol: chosen ?? '', headers: relayedUpgradeHeaders(res.rawHeaders) });
      const first = check.protocols[0];
      if (chosen === undefined && first !== undefined) {
        // The upstream declined every subprotocol offered: RFC 6455 allows that (the client then
        // decides), ws's client does not. ws reads the header after this event: give it an offered
        // one so the handshake goes on; the client is told the truth (no subprotocol) above.
        res.headers['sec-websocket-protocol'] = first;
      }
    });

    upstreamWs.on('close', (code, reason) => {
      upstream.closed = true;
      upstream.closeCode = code;
      if (conn.state === 'connecting') {
        // Failed before any answer we could relay (error already answered the client).
        if (!socket.destroyed && socket.writable) refuse(conn, socket, 502, 'upstream unavailable');
      } else if (conn.client !== undefined && !conn.client.closed) {
        const relay = relayedClose(code, reason, 'upstream');
        if (conn.state === 'open') conn.state = 'closing';
        conn.deadline = Math.min(conn.deadline, Date.now() + LINGER_MS);
        conn.client.ws.close(relay.code, relay.reason);
      } else if (conn.state === 'upgrading') {
        socket.destroy();
      }
      settle(conn);
    });

    upstreamWs.on('open', () => {
      if (conn.state !== 'connecting') {
        upstreamWs.terminate();
        return;
      }
      if (socket.destroyed) {
        upstreamWs.close(1001, 'client went away');
        return;
      }
      conn.state = 'upgrading';
      socket.off('data', onEarlyData);
      socket.off('end', onEarlyEnd);
      socket.pause();
      wss.handleUpgrade(req, socket, Buffer.concat(early, earlyBytes), (clientWs) => {
        accepted.delete(req);
        startRelay(conn, clientWs);
        socket.resume();
      });
    });
  }

  function startRelay(conn: Connection, clientWs: WebSocket): void {
    const client: Side = {
      ws: clientWs,
      awaitingPongSince: undefined,
      paused: false,
      closed: false,
      closeCode: 0,
    };
    conn.client = client;
    if (conn.state === 'upgrading') conn.state = 'open';
    conn.lastDataAt = Date.now();
    logger.log('debug', 'websocket open', {
      clientIp: conn.clientIp,
      upstream: conn.upstreamHost,
      protocol: clientWs.protocol,
    });
    const { upstream } = conn;

    clientWs.on('error', (error) => {
      logger.log('debug', 'websocket client error', { clientIp: conn.clientIp, error: error.message });
    });
    clientWs.on('pong', () => {
      client.awaitingPongSince = undefined;
    });
    upstream.ws.on('pong', () => {
      upstream.awaitingPongSince = undefined;
    });
    clientWs.on('message', (data, isBinary) => forward(conn, data, isBinary, client, upstream));
    upstream.ws.on('message', (data, isBinary) => forward(conn, data, isBinary, upstream, client));
    clientWs.on('close', (code, reason) => {
      client.closed = true;
      client.closeCode = code;
      if (!upstream.closed) {
        const relay = relayedClose(code, reason, 'client');
        if (conn.state === 'open') conn.state = 'closing';
        conn.deadline = Math.min(conn.deadline, Date.now() + LINGER_MS);
        upstream.ws.close(relay.code, relay.reason);
      }
      settle(conn);
    });
  }

  function forward(conn: Connection, data: RawData, isBinary: boolean, from: Side, to: Side): void {
    conn.lastDataAt = Date.now();
    if (to.closed || to.ws.readyState !== WebSocket.OPEN) return;
    to.ws.send(data, { binary: isBinary }, () => {
      // Written out (or failed): data is moving, and a paused sender may go on.
      conn.lastDataAt = Date.now();
      if (from.paused && to.ws.bufferedAmount <= LOW_WATER_BYTES) {
        from.paused = false;
        from.ws.resume();
      }
    });
    if (!from.paused && to.ws.bufferedAmount > HIGH_WATER_BYTES) {
      from.paused = true;
      from.ws.pause();
    }
  }

  return {
    handleUpgrade(req, socket, head, target) {
      try {
        handleUpgrade(req, socket, head, target);
      } catch (error) {
        logger.log('error', 'websocket proxy failed on an upgrade', {
          clientIp: target.clientIp,
          error: (error as Error).message,
        });
        socket.destroy();
      }
    },
    async close() {
      closing = true;
      if (connections.size > 0) {
        const gone = new Promise<void>((resolve) => drained.push(resolve));
        const cutAt = Date.now() + SHUTDOWN_GRACE_MS;
        for (const conn of connections) {
          if (conn.state === 'open' || conn.state === 'upgrading') {
            closeBoth(conn, 1001, 'gate shutting down');
          } else if (conn.state === 'connecting') {
            refuse(conn, conn.socket, 503, 'the gate is shutting down');
            conn.upstream.ws.terminate();
          }
          conn.deadline = Math.min(conn.deadline, cutAt);
        }
        await gone;
      }
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      wss.close();
    },
    get open() {
      return connections.size;
    },
  };
}

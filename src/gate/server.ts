/**
 * The gate's proxy server: an HTTP or HTTPS listener in front of one or more upstreams.
 *
 *   connection ──▶ per-IP connection cap
 *   request    ──▶ head checks (smuggling shapes, h2c, Host, version, target form)
 *              ──▶ policy.check (client IP, CDN-only, bans, deny rules, rate limits)
 *              ──▶ body cap ──▶ delay (limit_req without nodelay) ──▶ upstream (keep-alive pool)
 *              ──▶ response streamed back with RateLimit headers ──▶ event + access log + metrics
 *   upgrade    ──▶ the same checks ──▶ the WebSocket proxy (src/gate/websocket.ts)
 *
 * Node's strict HTTP parser is the only parser (never insecureHTTPParser): it refuses CL+TE,
 * duplicate Content-Length, obs-fold, bare LF and bad characters before a request exists; the head
 * checks here refuse what it lets through (see headers.ts), so none of those shapes reaches an
 * upstream. Slow heads and bodies are cut by Node's headersTimeout/requestTimeout (checked every
 * 250 ms–1 s); a parser error is answered 400/408/431 by the clientError handler, never a crash.
 *
 * WebSocket hand-off (the contract with src/gate/websocket.ts, `WebSocketProxy`): an upgrade
 * request with `Upgrade: websocket` that passed every check above is handed over with
 *
 *   handleUpgrade(req, socket, head, { upstream: URL, clientIp: string, headers: Record<string, string> })
 *
 * where `upstream` is the route's origin, `clientIp` the client the policy determined, and `headers`
 * the gate's forwarding headers (x-forwarded-for, x-real-ip, x-forwarded-proto, x-forwarded-host,
 * and cf-connecting-ip in CDN-only mode), lower case. Before the hand-off every forwarding header the
 * client sent (headers.ts `isForwardingHeader`, underscore spellings included) is deleted from
 * `req.headers`, so the proxy passes none of them on whatever its own list holds. The proxy owns
 * the socket from then on; `close()` is awaited when the gate stops.
 */
import { readFile } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { GateConfig } from '../config/gate.ts';
import type { CdnRanges } from '../core/cdn.ts';
import type { Clock } from '../core/clock.ts';
import { MoatError } from '../core/errors.ts';
import type { ParsedEvent } from '../core/events.ts';
import type { Logger } from '../daemon/log.ts';
import { addressRange, type CidrSet, createCidrSet, formatRange, widenRange } from '../decisions/cidr-set.ts';
import { makeEvent } from '../parsing/event.ts';
import { type AccessLog, openAccessLog } from './access-log.ts';
import {
  checkRequestHead,
  clientResponseHeaders,
  connectionTokens,
  type ForwardedFor,
  hasBody,
  isForwardingHeader,
  isWebSocketUpgrade,
  upstreamRequestHeaders,
} from './headers.ts';
import {
  createGateMetrics,
  type GateMetrics,
  type MetricsListener,
  type Outcome,
  serveMetrics,
} from './metrics.ts';
import { createUpstreamPool, forward, type Upstream, type UpstreamExchange } from './proxy.ts';
import type { GatePolicy, RejectReason, Verdict } from './types.ts';
import { createWebSocketProxy, type WebSocketTarget } from './websocket.ts';

/** What the server needs of the WebSocket proxy (src/gate/websocket.ts `WebSocketProxy` fits). */
export interface WebSocketHandoff {
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, target: WebSocketTarget): void;
  close(): Promise<void>;
  readonly open: number;
}

export interface GateServerOptions {
  readonly config: GateConfig;
  readonly policy: GatePolicy;
  readonly logger: Logger;
  readonly clock: Clock;
  /** Every request as an `http-request` event (what the nginx access-log parser produces). */
  readonly onEvent?: (event: ParsedEvent) => void;
  /** CDN-only mode: the CDN's ranges (their X-Forwarded-Proto is believed; no per-IP connection cap). */
  readonly cdnRanges?: CdnRanges;
  /** Clients tracked by the limiter, for the metrics. */
  readonly limiterKeys?: () => number;
  /** Default: createWebSocketProxy over `config.websocket`. */
  readonly websocket?: WebSocketHandoff;
  /** How long close() lets in-flight requests finish before cutting them. Default 10 s. */
  readonly drainMs?: number;
}

export interface GateServer {
  readonly address: AddressInfo;
  /** Where metrics are served, when `config.metrics` is set. */
  readonly metricsAddress: AddressInfo | undefined;
  readonly metrics: GateMetrics;
  /** Reopens the access log file (after logrotate; SIGHUP). */
  reopenAccessLog(): Promise<void>;
  /**
   * Applies a new configuration and policy (SIGHUP) to requests from now on: the policy (deny rules,
   * zones, limits, trusted proxies, CDN mode), upstreams and routes, the per-request limits, and the
   * TLS certificate and key, read again from their files. Keys only a restart applies are left as
   * they were and named in the result (`gate.listen`, …). Rejects, changing nothing, when the new
   * certificate or key cannot be read or there is no upstream.
   */
  reload(config: GateConfig, policy: GatePolicy, cdnRanges?: CdnRanges): Promise<string[]>;
  /**
   * Graceful stop: stops accepting, lets requests in flight finish (at most `drainMs`), closes idle
   * keep-alive connections as they become idle, closes WebSockets (1001), the upstream pool, the
   * metrics listener and the access log.
   */
  close(): Promise<void>;
}

/** Policy rejections map to outcomes one to one. */
const REJECT_OUTCOME: Record<RejectReason, Outcome> = {
  cdn: 'cdn',
  banned: 'banned',
  denied: 'denied',
  rate: 'rate',
  'bad-target': 'bad-target',
  'store-unavailable': 'store-unavailable',
};

/** nginx's status for "closed without an answer" and "the client closed first", in events and logs. */
const CLOSED_BY_GATE = 444;
const CLOSED_BY_CLIENT = 499;

interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly started: number;
  clientIp: string;
  outcome: Outcome;
  /** Logged status when no response head was written. */
  status: number;
  /** Response body bytes sent. */
  bytes: number;
  fields: Record<string, string> | undefined;
  /** An answer (upstream's or the gate's) has been started. */
  answered: boolean;
  timer: NodeJS.Timeout | undefined;
  exchange: UpstreamExchange | undefined;
}

const NON_ASCII = /[^\x00-\x7f]/;

/** Marks a client socket with a response in progress (a property, cheaper than a WeakSet per request). */
const BUSY = Symbol('moat.gate.busy');
type Flagged = Socket & { [BUSY]?: boolean };
/** The exchange a response belongs to, for the shared 'close' listener. */
const EXCHANGE = Symbol('moat.gate.exchange');
type WithExchange = ServerResponse & { [EXCHANGE]?: Exchange };

function ignore(): void {}

/**
 * A header value as text: Node hands header bytes over as latin1 characters; the nginx parser reads
 * the same bytes (escaped in the log) as UTF-8, so the event does too.
 */
function headerText(value: string | undefined): string | undefined {
  return value !== undefined && NON_ASCII.test(value) ? Buffer.from(value, 'latin1').toString('utf8') : value;
}

/** `::ffff:127.0.0.1` → `127.0.0.1`. */
function unmapped(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

/** The per-IP connection key: the address, IPv6 grouped to `ipv6Prefix`. */
function connectionKey(ip: string, ipv6Prefix: number): string {
  const bare = unmapped(ip);
  if (!bare.includes(':')) return bare;
  const range = addressRange(bare);
  return range === undefined ? bare : formatRange(widenRange(range, ipv6Prefix));
}

async function readTls(config: NonNullable<GateConfig['tls']>): Promise<{ cert: Buffer; key: Buffer }> {
  const read = async (file: string, key: string) => {
    try {
      return await readFile(file);
    } catch (error) {
      throw new MoatError(
        'MOAT_GATE_TLS',
        `gate.tls.${key}: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      );
    }
  };
  return { cert: await read(config.cert, 'cert'), key: await read(config.key, 'key') };
}

/** Keys of the gate section a running server cannot change: a reload names them when they differ. */
function restartOnly(config: GateConfig): Record<string, unknown> {
  return {
    'gate.listen': config.listen,
    'gate.tls': config.tls !== undefined,
    'gate.metrics': config.metrics,
    'gate.accessLog': config.accessLog,
    'gate.websocket': config.websocket,
    'gate.limits.maxHeaderBytes': config.limits.maxHeaderBytes,
    'gate.limits.headersTimeout': config.limits.headersTimeout,
    'gate.limits.requestTimeout': config.limits.requestTimeout,
  };
}

function checkUpstream(config: GateConfig): void {
  if (config.upstream === undefined && config.routes.length === 0) {
    throw new MoatError(
      'MOAT_CONFIG_INVALID',
      'gate.upstream: not set; the gate has nowhere to send requests',
      {
        hint: 'Set gate.upstream (or --upstream http://127.0.0.1:3000), or list gate.routes.',
      },
    );
  }
}

/** Starts the gate: listeners, upstream pool, access log, metrics. Rejects with a MoatError on bad setup. */
export async function startGateServer(options: GateServerOptions): Promise<GateServer> {
  const { logger, clock } = options;
  // What a reload replaces (read by every request through these bindings).
  let config = options.config;
  let policy = options.policy;
  let limits = config.limits;
  const onEvent = options.onEvent;
  checkUpstream(config);
  const tls = config.tls === undefined ? undefined : await readTls(config.tls);
  const proto = tls === undefined ? 'http' : 'https';

  const pool = createUpstreamPool();
  let defaultUpstream: Upstream | undefined;
  let routeUpstreams: Upstream[] = [];
  // Peers whose X-Forwarded-Proto is believed, and who are not held to the per-IP connection cap.
  let trustedPeers: CidrSet;
  const applyRoutes = (next: GateConfig, cdnRanges: CdnRanges | undefined) => {
    defaultUpstream = next.upstream === undefined ? undefined : pool.get(next.upstream);
    routeUpstreams = next.routes.map((r) => pool.get(r.upstream));
    trustedPeers = createCidrSet([
      ...next.trustProxies,
      ...(next.cdnOnly && cdnRanges !== undefined ? cdnRanges.cidrs.map((c) => c.text) : []),
    ]);
  };
  applyRoutes(config, options.cdnRanges);
  const upstreamFor = (index: number): Upstream | undefined =>
    index < 0 ? defaultUpstream : (routeUpstreams[index] ?? defaultUpstream);

  const websocket =
    options.websocket ??
    createWebSocketProxy({
      idleTimeoutMs: config.websocket.idleTimeout,
      pingIntervalMs: config.websocket.pingInterval,
      logger,
      upstreamTimeoutMs: limits.upstreamTimeout,
    });

  let openConnections = 0;
  const perIp = new Map<string, number>();
  /** Sockets with a response in progress (a parser error on them cannot be answered in between). */
  const busy = (socket: Duplex): boolean => (socket as Flagged)[BUSY] === true;
  /** Requests whose client waits for 100 Continue before sending the body. */
  const awaitingContinue = new WeakSet<IncomingMessage>();
  /** Sockets handed to the WebSocket proxy or answering an upgrade, cut at the end of close(). */
  const upgraded = new Set<Duplex>();
  let stopping = false;

  const metrics = createGateMetrics({
    openConnections: () => openConnections,
    limiterKeys: options.limiterKeys,
    websockets: () => websocket.open,
  });

  let accessLog: AccessLog | undefined;
  if (config.accessLog !== undefined) {
    const file = config.accessLog;
    let lastComplaint = 0;
    try {
      accessLog = await openAccessLog(file, (error) => {
        const now = Date.now();
        if (now - lastComplaint < 60_000) return;
        lastComplaint = now;
        logger.log('warn', 'access log write failed', { file, error: String(error) });
      });
    } catch (error) {
      throw new MoatError(
        'MOAT_CONFIG_INVALID',
        `gate.accessLog: cannot open ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
        { hint: 'Point gate.accessLog at a writable file (its folder must exist), or remove the key.' },
      );
    }
  }

  // Timeouts: Node checks them every connectionsCheckingInterval, so the interval bounds how late a
  // slow client is cut; a quarter of the shorter timeout, between 250 ms and 1 s.
  const headersTimeout =
    limits.requestTimeout > 0 && limits.headersTimeout > limits.requestTimeout
      ? limits.requestTimeout
      : limits.headersTimeout;
  const shortest = Math.min(...[headersTimeout, limits.requestTimeout].filter((ms) => ms > 0), 4000);
  const serverOptions: http.ServerOptions = {
    maxHeaderSize: limits.maxHeaderBytes,
    headersTimeout,
    requestTimeout: limits.requestTimeout,
    connectionsCheckingInterval: Math.max(250, Math.min(1000, Math.floor(shortest / 4))),
    keepAliveTimeout: 5000,
    insecureHTTPParser: false,
    requireHostHeader: true,
    joinDuplicateHeaders: false,
    // Only `Upgrade: websocket` becomes an 'upgrade' event; any other upgrade is an ordinary request,
    // refused below (h2c 400, others 501).
    shouldUpgradeCallback: (req: IncomingMessage) => isWebSocketUpgrade(req.headers),
  };
  const server = tls
    ? https.createServer({ ...serverOptions, cert: tls.cert, key: tls.key })
    : http.createServer(serverOptions);
  // Parsed past this many headers is a 431 (HPE_HEADER_OVERFLOW), not a silent truncation.
  server.maxHeadersCount = limits.maxHeaders + 1;

  function forwardedFor(req: IncomingMessage, clientIp: string): ForwardedFor {
    const peer = req.socket.remoteAddress ?? '';
    let scheme: string = proto;
    if (trustedPeers.size > 0 && trustedPeers.has(peer)) {
      const sent = req.headers['x-forwarded-proto'];
      if (sent === 'https' || sent === 'http') scheme = sent;
    }
    return { clientIp, proto: scheme, host: req.headers.host ?? '', cdn: config.cdnOnly };
  }

  function record(
    req: IncomingMessage,
    clientIp: string,
    outcome: Outcome,
    status: number,
    bytes: number,
    started: number,
    fields: Record<string, string> | undefined,
  ): void {
    metrics.request(outcome, (performance.now() - started) / 1000);
    const at = clock.now();
    const userAgent = req.headers['user-agent'];
    const referer = req.headers.referer;
    if (onEvent !== undefined) {
      try {
        onEvent(
          makeEvent(
            at,
            'gate',
            'http',
            'http-request',
            clientIp,
            req.method,
            req.url,
            status,
            bytes,
            headerText(userAgent),
            headerText(referer),
            req.headers.host,
            undefined,
            fields,
          ),
        );
      } catch (error) {
        logger.log('error', 'gate event not ingested', { error: String(error) });
      }
    }
    accessLog?.write({
      ip: clientIp,
      timeMs: at,
      method: req.method ?? '-',
      url: req.url ?? '-',
      httpVersion: req.httpVersion,
      status,
      bytes,
      referer,
      userAgent,
    });
  }

  /** Answers a request from the gate itself. `close`: end the connection afterwards. */
  function refuse(
    ex: Exchange,
    status: number,
    outcome: Outcome,
    message: string,
    headers: Readonly<Record<string, string>> = {},
    close = false,
  ): void {
    ex.outcome = outcome;
    ex.answered = true;
    const { req, res } = ex;
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    const body = `${message}\n`;
    if (close || stopping) res.shouldKeepAlive = false;
    res.writeHead(status, {
      ...headers,
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      'Cache-Control': 'no-store',
    });
    if (req.method === 'HEAD') {
      res.end();
    } else {
      ex.bytes = Buffer.byteLength(body);
      res.end(body);
    }
  }

  function onRequest(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket as Flagged;
    socket[BUSY] = true;
    const ex: Exchange = {
      req,
      res,
      started: performance.now(),
      clientIp: unmapped(socket.remoteAddress ?? ''),
      outcome: 'client-closed',
      status: CLOSED_BY_CLIENT,
      bytes: 0,
      fields: undefined,
      answered: false,
      timer: undefined,
      exchange: undefined,
    };
    // Shared listeners: the exchange rides on the response ('close' is emitted once).
    (res as WithExchange)[EXCHANGE] = ex;
    res.on('error', ignore);
    res.on('close', onResponseClose);
    try {
      handle(ex);
    } catch (error) {
      logger.log('error', 'gate request failed', { error: String(error), clientIp: ex.clientIp });
      if (!ex.answered) refuse(ex, 500, 'invalid', 'internal error', {}, true);
      else res.destroy();
    }
  }

  function handle(ex: Exchange): void {
    const { req, res } = ex;
    if (stopping) res.shouldKeepAlive = false;
    const method = req.method ?? '';
    const url = req.url ?? '';
    const problem = checkRequestHead(method, url, req.httpVersion, req.rawHeaders, limits.maxHeaders);
    if (problem !== undefined) {
      ex.fields = { gate: 'invalid', detail: problem.reason };
      refuse(ex, problem.status, 'invalid', STATUS_CODES[problem.status] ?? 'Bad Request', {}, true);
      return;
    }
    if (req.headers.upgrade !== undefined && connectionTokens(req.headers.connection).has('upgrade')) {
      ex.fields = { gate: 'upgrade-refused', detail: `upgrade to ${req.headers.upgrade}` };
      refuse(ex, 501, 'upgrade-refused', 'only WebSocket upgrades are proxied', {}, true);
      return;
    }
    const verdict = policy.check(
      { socketIp: req.socket.remoteAddress ?? '', method, url, headers: req.headers },
      clock.now(),
    );
    ex.clientIp = verdict.clientIp;
    if (verdict.action === 'reject') {
      const outcome = REJECT_OUTCOME[verdict.reason];
      ex.fields = { gate: verdict.reason, detail: verdict.detail };
      if (verdict.status === 'close') {
        ex.outcome = outcome;
        ex.answered = true;
        ex.status = CLOSED_BY_GATE;
        req.socket.destroy();
        return;
      }
      refuse(
        ex,
        verdict.status,
        outcome,
        STATUS_CODES[verdict.status] ?? 'Refused',
        verdict.headers,
        hasBody(req.headers),
      );
      return;
    }
    if (verdict.wouldReject !== undefined) {
      // A dry-run zone: counted in the metrics, and marked on the request's event for the engine.
      metrics.wouldReject(verdict.wouldReject);
      ex.fields = { gate: 'would-reject', detail: `dry-run zone ${verdict.wouldReject}` };
    }
    if (verdict.route >= 0 && verdict.route >= routeUpstreams.length) {
      // Contract guard: a route index the config does not have is a policy bug, not the client's.
      throw new Error(`policy chose route ${verdict.route} of ${routeUpstreams.length}`);
    }
    const upstream = upstreamFor(verdict.route);
    if (upstream === undefined) {
      ex.fields = { gate: 'no-route', detail: 'no route matches and gate.upstream is not set' };
      refuse(ex, 404, 'no-route', 'Not Found', verdict.headers, hasBody(req.headers));
      return;
    }
    const length = req.headers['content-length'];
    if (length !== undefined && Number(length) > limits.maxBodyBytes) {
      ex.fields = { gate: 'body-too-large', detail: `Content-Length ${length}` };
      refuse(ex, 413, 'body-too-large', 'Content Too Large', verdict.headers, true);
      return;
    }
    if (verdict.delayMs > 0) {
      // One timer per delayed request, cleared if the client leaves first (complete()).
      ex.timer = setTimeout(proxy, verdict.delayMs, ex, upstream, verdict, 0);
      return;
    }
    proxy(ex, upstream, verdict, 0);
  }

  function proxy(
    ex: Exchange,
    upstream: Upstream,
    verdict: Extract<Verdict, { action: 'pass' }>,
    attempt: number,
  ): void {
    ex.timer = undefined;
    const { req, res } = ex;
    if (res.destroyed || ex.answered) return;
    const chunked = req.headers['transfer-encoding'] !== undefined;
    const withBody = hasBody(req.headers);
    const headers = upstreamRequestHeaders(req.rawHeaders, forwardedFor(req, ex.clientIp), chunked);
    const resume = () => exchange.resume();
    let exchange: UpstreamExchange;
    try {
      exchange = forward(
        upstream,
        {
          method: req.method ?? 'GET',
          path: req.url ?? '/',
          headers,
          body: withBody ? (chunked ? 'chunked' : 'length') : 'none',
          timeoutMs: limits.upstreamTimeout,
        },
        {
          onResponse: (head) => {
            if (ex.answered || res.destroyed) {
              exchange.abort();
              return;
            }
            ex.answered = true;
            ex.outcome = 'proxied';
            if (stopping) res.shouldKeepAlive = false;
            try {
              res.writeHead(
                head.status,
                head.statusMessage === '' ? undefined : head.statusMessage,
                clientResponseHeaders(head.rawHeaders, verdict.headers),
              );
            } catch (error) {
              // A head Node will not write (the reader lets through only what it accepts).
              exchange.abort();
              ex.answered = false;
              ex.fields = { gate: 'upstream-error', detail: String(error) };
              refuse(ex, 502, 'upstream-error', 'Bad Gateway', {}, true);
            }
          },
          onData: (chunk, last) => {
            ex.bytes += chunk.length;
            if (last) {
              // The common small answer: head and body leave in one write.
              res.end(chunk);
              return true;
            }
            if (res.write(chunk)) return true;
            res.once('drain', resume);
            return false;
          },
          onEnd: () => {
            if (!res.writableEnded) res.end();
          },
          // The upstream died mid-body: cut the client too, so it sees a truncated answer.
          onBroken: () => res.destroy(),
          onFailure: (kind, error: NodeJS.ErrnoException, retryable) => {
            if (ex.answered || res.destroyed) return;
            // A pooled connection the upstream had just closed: retry once when nothing was streamed.
            if (attempt === 0 && !withBody && retryable) {
              proxy(ex, upstream, verdict, 1);
              return;
            }
            ex.fields = {
              gate: kind === 'timeout' ? 'upstream-timeout' : 'upstream-error',
              detail: error.message,
            };
            logger.log('warn', 'upstream failed', {
              upstream: upstream.url.origin,
              failure: kind,
              error: error.message,
              clientIp: ex.clientIp,
            });
            refuse(
              ex,
              kind === 'timeout' ? 504 : 502,
              kind === 'timeout' ? 'upstream-timeout' : 'upstream-error',
              kind === 'timeout' ? 'Gateway Timeout' : 'Bad Gateway',
              {},
              withBody && !req.complete,
            );
          },
        },
      );
    } catch (error) {
      // A head value that would break the request's framing: the client's fault.
      ex.fields = { gate: 'invalid', detail: String(error) };
      refuse(ex, 400, 'invalid', 'Bad Request', {}, true);
      return;
    }
    ex.exchange = exchange;
    if (!withBody) return;
    if (awaitingContinue.has(req)) res.writeContinue();
    let received = 0;
    let tooLarge = false;
    exchange.onDrain = () => req.resume();
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > limits.maxBodyBytes && !tooLarge) {
        tooLarge = true;
        ex.fields = { gate: 'body-too-large', detail: `body over ${limits.maxBodyBytes} bytes` };
        exchange.abort();
        // Answered 413 unless the upstream already answered; then the answer is cut short.
        if (ex.answered) res.destroy();
        else refuse(ex, 413, 'body-too-large', 'Content Too Large', verdict.headers, true);
        return;
      }
      if (!tooLarge && !exchange.write(chunk)) req.pause();
    });
    req.on('end', () => exchange.end());
    req.on('error', () => exchange.abort());
  }

  function onResponseClose(this: ServerResponse): void {
    const ex = (this as WithExchange)[EXCHANGE];
    if (ex !== undefined) complete(ex);
  }

  function complete(ex: Exchange): void {
    const { req, res } = ex;
    (req.socket as Flagged)[BUSY] = false;
    if (ex.timer !== undefined) clearTimeout(ex.timer);
    // The client left, or the answer ended before the request body did: the upstream request goes.
    if (!res.writableFinished || !req.complete) ex.exchange?.abort();
    const status = res.headersSent ? res.statusCode : ex.status;
    record(req, ex.clientIp, ex.outcome, status, ex.bytes, ex.started, ex.fields);
  }

  /** Answers on a raw socket (upgrade requests, parser errors) and closes it. */
  function rawReply(socket: Duplex, status: number, headers: Readonly<Record<string, string>> = {}): number {
    if (socket.destroyed || !socket.writable) {
      socket.destroy();
      return 0;
    }
    const body = `${STATUS_CODES[status] ?? 'Error'}\n`;
    let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n`;
    for (const name in headers) head += `${name}: ${headers[name]}\r\n`;
    head +=
      'Content-Type: text/plain; charset=utf-8\r\nCache-Control: no-store\r\nConnection: close\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
    socket.once('finish', () => socket.destroy());
    socket.end(head + body);
    return Buffer.byteLength(body);
  }

  function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const started = performance.now();
    socket.on('error', () => {});
    upgraded.add(socket);
    socket.once('close', () => upgraded.delete(socket));
    const peer = (socket as Socket).remoteAddress ?? '';
    let clientIp = unmapped(peer);
    const done = (outcome: Outcome, status: number, bytes: number, fields?: Record<string, string>) =>
      record(req, clientIp, outcome, status, bytes, started, fields);
    try {
      const method = req.method ?? '';
      const url = req.url ?? '';
      const problem = checkRequestHead(method, url, req.httpVersion, req.rawHeaders, limits.maxHeaders);
      if (problem !== undefined) {
        done('invalid', problem.status, rawReply(socket, problem.status), {
          gate: 'invalid',
          detail: problem.reason,
        });
        return;
      }
      const verdict = policy.check({ socketIp: peer, method, url, headers: req.headers }, clock.now());
      clientIp = verdict.clientIp;
      if (verdict.action === 'reject') {
        const fields = { gate: verdict.reason, detail: verdict.detail };
        const outcome = REJECT_OUTCOME[verdict.reason];
        if (verdict.status === 'close') {
          socket.destroy();
          done(outcome, CLOSED_BY_GATE, 0, fields);
        } else {
          done(outcome, verdict.status, rawReply(socket, verdict.status, verdict.headers), fields);
        }
        return;
      }
      const upstream = upstreamFor(verdict.route);
      if (upstream === undefined || stopping) {
        const status = stopping ? 503 : 404;
        done('no-route', status, rawReply(socket, status), { gate: 'no-route', detail: 'no upstream' });
        return;
      }
      const handOff = () => {
        if (socket.destroyed) {
          done('client-closed', CLOSED_BY_CLIENT, 0);
          return;
        }
        const forwarded = forwardedFor(req, clientIp);
        for (const name of Object.keys(req.headers)) {
          if (isForwardingHeader(name)) delete req.headers[name];
        }
        const headers: Record<string, string> = {
          'x-forwarded-for': forwarded.clientIp,
          'x-real-ip': forwarded.clientIp,
          'x-forwarded-proto': forwarded.proto,
          'x-forwarded-host': forwarded.host,
        };
        if (forwarded.cdn) headers['cf-connecting-ip'] = forwarded.clientIp;
        websocket.handleUpgrade(req, socket, head, { upstream: upstream.url, clientIp, headers });
        done('websocket', 101, 0);
      };
      if (verdict.delayMs > 0) {
        const timer = setTimeout(handOff, verdict.delayMs);
        socket.once('close', () => clearTimeout(timer));
      } else {
        handOff();
      }
    } catch (error) {
      logger.log('error', 'gate upgrade failed', { error: String(error), clientIp });
      socket.destroy();
    }
  }

  function onConnection(socket: Socket): void {
    const peer = socket.remoteAddress;
    if (peer === undefined) {
      socket.destroy();
      return;
    }
    const key = connectionKey(peer, config.ipv6Prefix);
    const exempt = trustedPeers.size > 0 && trustedPeers.has(peer);
    const count = (perIp.get(key) ?? 0) + 1;
    if (count > limits.maxConnectionsPerIp && !exempt) {
      metrics.connectionRefused('per-ip-cap');
      socket.destroy();
      return;
    }
    perIp.set(key, count);
    openConnections++;
    socket.once('close', () => {
      openConnections--;
      const left = (perIp.get(key) ?? 1) - 1;
      if (left <= 0) perIp.delete(key);
      else perIp.set(key, left);
    });
  }

  function onClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
    const code = error.code ?? 'unknown';
    metrics.clientError(code);
    if (code === 'ECONNRESET' || code === 'EPIPE' || busy(socket) || !socket.writable) {
      socket.destroy();
      return;
    }
    const status = code === 'HPE_HEADER_OVERFLOW' ? 431 : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const bytes = rawReply(socket, status);
    const peer = unmapped((socket as Socket).remoteAddress ?? '');
    if (peer === '') return;
    metrics.request('invalid', 0);
    const at = clock.now();
    try {
      onEvent?.(
        makeEvent(
          at,
          'gate',
          'http',
          'http-request',
          peer,
          undefined,
          undefined,
          status,
          bytes,
          undefined,
          undefined,
          undefined,
          undefined,
          { gate: 'invalid', detail: code },
        ),
      );
    } catch (eventError) {
      logger.log('error', 'gate event not ingested', { error: String(eventError) });
    }
    accessLog?.write({ ip: peer, timeMs: at, method: '', url: '', httpVersion: '', status, bytes });
  }

  server.on('connection', onConnection);
  server.on('request', onRequest);
  // `Expect: 100-continue`: the client waits for our go-ahead before sending the body, so a request
  // the gate refuses (or holds) is answered before any body byte is sent.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    awaitingContinue.add(req);
    onRequest(req, res);
  });
  server.on('upgrade', onUpgrade);
  server.on('clientError', onClientError);
  if (tls) {
    server.on('tlsClientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
      metrics.clientError(error.code ?? 'tls');
      socket.destroy();
    });
  }

  const { host, port } = config.listen;
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      reject(
        new MoatError(
          'MOAT_GATE_LISTEN',
          `gate.listen: cannot listen on ${host}:${port}: ${error.code ?? error.message}`,
        ),
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (error) => logger.log('error', 'gate listener error', { error: String(error) }));
  const address = server.address() as AddressInfo;

  let metricsListener: MetricsListener | undefined;
  if (config.metrics !== undefined) {
    try {
      metricsListener = await serveMetrics(metrics.registry, config.metrics.host, config.metrics.port);
    } catch (error) {
      server.close();
      server.closeAllConnections();
      throw new MoatError(
        'MOAT_GATE_LISTEN',
        `gate.metrics: cannot listen on ${config.metrics.host}:${config.metrics.port}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      );
    }
    const metricsHost = metricsListener.address.address;
    if (!(metricsHost.startsWith('127.') || metricsHost === '::1')) {
      logger.log('warn', 'gate metrics listen beyond loopback; anyone who reaches it can read them', {
        address: metricsHost,
        port: metricsListener.address.port,
      });
    }
  }

  logger.log('info', 'gate listening', {
    address: address.address,
    port: address.port,
    tls: tls !== undefined,
    upstream: config.upstream ?? null,
    routes: config.routes.length,
    ...(metricsListener === undefined ? {} : { metricsPort: metricsListener.address.port }),
  });

  const drainMs = options.drainMs ?? 10_000;
  let closing: Promise<void> | undefined;
  return {
    address,
    metricsAddress: metricsListener?.address,
    metrics,
    reopenAccessLog: async () => {
      await accessLog?.reopen();
    },
    async reload(next, nextPolicy, cdnRanges) {
      checkUpstream(next);
      const before = restartOnly(config);
      const after = restartOnly(next);
      const needRestart = Object.keys(after).filter(
        (key) => JSON.stringify(before[key]) !== JSON.stringify(after[key]),
      );
      // Read before anything changes: a certificate that cannot be read leaves the old one serving.
      const renewed = tls !== undefined && next.tls !== undefined ? await readTls(next.tls) : undefined;
      config = next;
      limits = next.limits;
      policy = nextPolicy;
      applyRoutes(next, cdnRanges);
      server.maxHeadersCount = limits.maxHeaders + 1;
      if (renewed !== undefined) (server as https.Server).setSecureContext(renewed);
      logger.log('info', 'gate reloaded', {
        upstream: next.upstream ?? null,
        routes: next.routes.length,
        ...(renewed === undefined ? {} : { tls: 'certificate and key read again' }),
      });
      if (needRestart.length > 0) {
        logger.log(
          'warn',
          'gate settings that apply only after a restart changed; they keep their old values',
          {
            keys: needRestart,
          },
        );
      }
      return needRestart;
    },
    close() {
      closing ??= (async () => {
        stopping = true;
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        // Connections that finish their request become idle; close them as they do.
        const sweeper = setInterval(() => server.closeIdleConnections(), 100);
        const deadline = new Promise<void>((resolve) => setTimeout(resolve, drainMs).unref());
        await Promise.all([Promise.race([closed, deadline]), websocket.close()]);
        clearInterval(sweeper);
        server.closeAllConnections();
        for (const socket of upgraded) socket.destroy();
        await closed;
        pool.destroy();
        await metricsListener?.close();
        await accessLog?.close();
        logger.log('info', 'gate stopped', {});
      })();
      return closing;
    },
  };
}

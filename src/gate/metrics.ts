/**
 * The gate's Prometheus metrics, in a registry of its own (never prom-client's global one), served
 * on a separate listener (`gate.metrics`, keep it on loopback):
 *
 *   moat_gate_requests_total{outcome}            requests by what became of them
 *   moat_gate_request_duration_seconds{outcome}  time from the request head to the end of the answer
 *   moat_gate_open_connections                   client connections open now (WebSockets included)
 *   moat_gate_connections_refused_total{reason}  connections cut before a request (per-IP cap)
 *   moat_gate_client_errors_total{code}          malformed requests answered by the parser (400, 408, 431)
 *   moat_gate_limiter_keys                       clients tracked by the rate limiter
 *   moat_gate_websockets_open                    WebSocket connections held by the proxy
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * What became of a request: `proxied` (the upstream answered), a policy rejection (`banned`,
 * `denied`, `rate`, `cdn`, `bad-target`, `store-unavailable`), refused by the gate itself (`invalid`
 * head, `body-too-large`, `no-route`, `upgrade-refused`), an upstream failure (`upstream-timeout`,
 * `upstream-error`), `client-closed` before the answer, or `websocket` (handed to the WebSocket proxy).
 */
export type Outcome =
  | 'proxied'
  | 'banned'
  | 'denied'
  | 'rate'
  | 'cdn'
  | 'bad-target'
  | 'store-unavailable'
  | 'invalid'
  | 'body-too-large'
  | 'no-route'
  | 'upgrade-refused'
  | 'upstream-timeout'
  | 'upstream-error'
  | 'client-closed'
  | 'websocket';

export interface GateMetrics {
  readonly registry: Registry;
  request(outcome: Outcome, seconds: number): void;
  connectionRefused(reason: string): void;
  clientError(code: string): void;
  /** A request a dry-run zone would have rejected (it passed). */
  wouldReject(zone: string): void;
}

export interface MetricSources {
  openConnections(): number;
  limiterKeys?: (() => number) | undefined;
  websockets?: (() => number) | undefined;
}

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export function createGateMetrics(sources: MetricSources): GateMetrics {
  const registry = new Registry();
  const requests = new Counter({
    name: 'moat_gate_requests_total',
    help: 'Requests seen by the gate, by outcome.',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'moat_gate_request_duration_seconds',
    help: 'Time from the request head to the end of the answer, by outcome.',
    labelNames: ['outcome'] as const,
    buckets: BUCKETS,
    registers: [registry],
  });
  new Gauge({
    name: 'moat_gate_open_connections',
    help: 'Client connections open now, WebSockets included.',
    registers: [registry],
    collect() {
      this.set(sources.openConnections());
    },
  });
  const refused = new Counter({
    name: 'moat_gate_connections_refused_total',
    help: 'Connections cut before any request, by reason.',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const clientErrors = new Counter({
    name: 'moat_gate_client_errors_total',
    help: 'Requests the HTTP parser refused (malformed, too large, too slow), by error code.',
    labelNames: ['code'] as const,
    registers: [registry],
  });
  const dryRun = new Counter({
    name: 'moat_gate_dry_run_rejections_total',
    help: 'Requests a dry-run zone would have rejected (they were passed), by zone.',
    labelNames: ['zone'] as const,
    registers: [registry],
  });
  const limiterKeys = sources.limiterKeys;
  if (limiterKeys !== undefined) {
    new Gauge({
      name: 'moat_gate_limiter_keys',
      help: 'Clients tracked by the rate limiter, across zones.',
      registers: [registry],
      collect() {
        this.set(limiterKeys());
      },
    });
  }
  const websockets = sources.websockets;
  if (websockets !== undefined) {
    new Gauge({
      name: 'moat_gate_websockets_open',
      help: 'WebSocket connections held by the proxy (handshakes in flight included).',
      registers: [registry],
      collect() {
        this.set(websockets());
      },
    });
  }
  // Children cached per label value: the per-request path is two lookups and two adds.
  const requestChildren = new Map<Outcome, { inc(): void; observe(value: number): void }>();
  return {
    registry,
    request(outcome, seconds) {
      let child = requestChildren.get(outcome);
      if (child === undefined) {
        const counter = requests.labels(outcome);
        const histogram = duration.labels(outcome);
        child = { inc: () => counter.inc(), observe: (value) => histogram.observe(value) };
        requestChildren.set(outcome, child);
      }
      child.inc();
      child.observe(seconds);
    },
    connectionRefused(reason) {
      refused.labels(reason).inc();
    },
    clientError(code) {
      clientErrors.labels(code).inc();
    },
    wouldReject(zone) {
      dryRun.labels(zone).inc();
    },
  };
}

export interface MetricsListener {
  readonly address: AddressInfo;
  close(): Promise<void>;
}

/** Serves `GET /metrics` (anything else 404) on its own listener. */
export async function serveMetrics(registry: Registry, host: string, port: number): Promise<MetricsListener> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(text),
      (error: unknown) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`${String(error)}\n`),
    );
  });
  server.on('clientError', (_error, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    address: server.address() as AddressInfo,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

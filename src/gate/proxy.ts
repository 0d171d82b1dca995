/**
 * The upstream side of the proxy: one keep-alive connection pool per upstream origin, and one
 * request forwarded with its body streamed both ways (nothing is buffered beyond the streams' own
 * high-water marks). The outcome is reported once: a response head (then the body is piped to the
 * client), or an error that says whether the upstream timed out, refused, or failed otherwise.
 */
import http, { type ClientRequest, type IncomingMessage } from 'node:http';
import https from 'node:https';

export interface Upstream {
  /** The configured origin. */
  readonly url: URL;
  readonly agent: http.Agent;
  readonly request: typeof http.request;
  readonly hostname: string;
  readonly port: number;
}

export interface UpstreamPool {
  /** The upstream for a configured origin (`http://127.0.0.1:3000`); one pool per distinct origin. */
  get(origin: string): Upstream;
  /** Closes every pooled connection. */
  destroy(): void;
}

/** Sockets per upstream: enough for a busy small site, a ceiling that protects the app from a flood. */
const MAX_SOCKETS = 512;
/** Idle sockets kept for reuse. */
const MAX_FREE_SOCKETS = 128;
/** An idle pooled socket is closed after this long (below Node's and most servers' 5 s keep-alive). */
const FREE_SOCKET_TIMEOUT_MS = 4000;

export function createUpstreamPool(): UpstreamPool {
  const upstreams = new Map<string, Upstream>();
  return {
    get(origin) {
      const existing = upstreams.get(origin);
      if (existing) return existing;
      const url = new URL(origin);
      const secure = url.protocol === 'https:';
      const options = {
        keepAlive: true,
        maxSockets: MAX_SOCKETS,
        maxFreeSockets: MAX_FREE_SOCKETS,
        timeout: FREE_SOCKET_TIMEOUT_MS,
        scheduling: 'lifo' as const,
      };
      const upstream: Upstream = {
        url,
        agent: secure ? new https.Agent(options) : new http.Agent(options),
        request: secure ? https.request : http.request,
        // URL keeps IPv6 literals in brackets; the socket API wants them bare.
        hostname: url.hostname.replace(/^\[|\]$/g, ''),
        port: url.port === '' ? (secure ? 443 : 80) : Number(url.port),
      };
      upstreams.set(origin, upstream);
      return upstream;
    },
    destroy() {
      for (const upstream of upstreams.values()) upstream.agent.destroy();
    },
  };
}

export type UpstreamFailure = 'timeout' | 'refused' | 'error';

export interface ForwardHandlers {
  /** The upstream answered; the caller writes the head and pipes `response` to the client. */
  onResponse(response: IncomingMessage): void;
  /** The upstream failed before answering (the request is already destroyed). */
  onFailure(kind: UpstreamFailure, error: Error): void;
}

export interface ForwardRequest {
  readonly method: string;
  /** Origin-form target, passed as the client sent it. */
  readonly path: string;
  /** Flat [name, value, …] list. */
  readonly headers: string[];
  /** Idle time allowed on the upstream socket: waiting for the head, and between body reads. */
  readonly timeoutMs: number;
}

/**
 * Sends one request upstream. The caller writes the body into the returned request (or ends it).
 * Throws synchronously when Node refuses the head (a header value it will not send).
 */
export function forward(
  upstream: Upstream,
  request: ForwardRequest,
  handlers: ForwardHandlers,
): ClientRequest {
  let timedOut = false;
  let settled = false;
  const upstreamRequest = upstream.request({
    host: upstream.hostname,
    port: upstream.port,
    method: request.method,
    path: request.path,
    headers: request.headers,
    agent: upstream.agent,
    setHost: false,
    ...(upstream.url.protocol === 'https:' ? { servername: upstream.hostname } : {}),
  });
  if (request.timeoutMs > 0) {
    upstreamRequest.setTimeout(request.timeoutMs, () => {
      timedOut = true;
      upstreamRequest.destroy(new Error(`upstream sent nothing for ${request.timeoutMs} ms`));
    });
  }
  upstreamRequest.on('response', (response) => {
    settled = true;
    handlers.onResponse(response);
  });
  upstreamRequest.on('error', (error: NodeJS.ErrnoException) => {
    if (settled) return;
    settled = true;
    const kind: UpstreamFailure = timedOut ? 'timeout' : error.code === 'ECONNREFUSED' ? 'refused' : 'error';
    handlers.onFailure(kind, error);
  });
  return upstreamRequest;
}

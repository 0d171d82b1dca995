/**
 * Header hygiene for the proxy, pure: which request heads are refused before anything else runs
 * (smuggling shapes Node's parser lets through, h2c), which headers are hop-by-hop and never cross
 * the gate in either direction, and which forwarding headers are replaced by what the gate itself
 * determined (a client can put anything in X-Forwarded-For; the upstream only ever sees the gate's).
 */
import type { IncomingHttpHeaders } from 'node:http';

/** Hop-by-hop headers (RFC 9110 7.6.1 and the de-facto ones), lower case. `proxy-*` is matched by prefix. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/**
 * Forwarding headers a client could forge: dropped from every request and replaced by the gate's
 * own X-Forwarded-For, X-Real-IP, X-Forwarded-Proto and X-Forwarded-Host (and CF-Connecting-IP in
 * CDN-only mode). Also dropped when spelled with underscores (`X_Forwarded_For`), which CGI-style
 * servers map to the same variable as the dashed name.
 */
const FORWARDING = new Set([
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-forwarded-port',
  'x-forwarded-server',
  'x-forwarded-prefix',
  'x-forwarded-scheme',
  'x-forwarded-ssl',
  'x-original-forwarded-for',
  'x-real-ip',
  'x-client-ip',
  'x-cluster-client-ip',
  'x-originating-ip',
  'x-remote-ip',
  'x-remote-addr',
  'true-client-ip',
  'client-ip',
  'cf-connecting-ip',
  'cf-connecting-ipv6',
  'fastly-client-ip',
]);

/** Request headers the gate answers itself and does not pass on (it has already sent 100 Continue). */
const CONSUMED = new Set(['expect']);

function isHopByHop(lower: string): boolean {
  return HOP_BY_HOP.has(lower) || lower.startsWith('proxy-');
}

/** Header names listed in Connection (`Connection: close, X-Secret`), lower case; empty when none. */
export function connectionTokens(value: string | undefined): ReadonlySet<string> {
  if (value === undefined || value === '') return EMPTY;
  const tokens = new Set<string>();
  for (const part of value.split(',')) {
    const token = part.trim().toLowerCase();
    if (token !== '') tokens.add(token);
  }
  return tokens;
}
const EMPTY: ReadonlySet<string> = new Set();

/** Why a request head is refused before the policy runs. */
export interface HeadProblem {
  readonly status: 400 | 431 | 505;
  readonly reason: string;
}

/** reg-name / IPv4 / [IPv6] with an optional port: what a Host header may hold. */
const HOST_VALUE = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]+)(?::\d{1,5})?$/;

/**
 * Checks the raw request head for what a reverse proxy must refuse (Node's strict parser already
 * refuses CL+TE, duplicate Content-Length, obs-fold, bare LF and bad characters; these are the shapes
 * it lets through, checked again here so none reaches the upstream even if the parser changes):
 * more than `maxHeaders` headers, a missing or duplicate Host, more than one Content-Length or
 * Transfer-Encoding, both together, a Transfer-Encoding other than `chunked`, an h2c upgrade, an
 * HTTP version other than 1.0 and 1.1, a target that is not origin-form (`/…`, or `*` for OPTIONS).
 */
export function checkRequestHead(
  method: string,
  url: string,
  httpVersion: string,
  rawHeaders: readonly string[],
  maxHeaders: number,
): HeadProblem | undefined {
  if (httpVersion !== '1.1' && httpVersion !== '1.0') {
    return { status: httpVersion === '0.9' ? 400 : 505, reason: `HTTP/${httpVersion} is not served` };
  }
  if (rawHeaders.length / 2 > maxHeaders) return { status: 431, reason: 'too many headers' };
  let hosts = 0;
  let host = '';
  let lengths = 0;
  let encodings = 0;
  let encoding = '';
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    // Only names of the lengths below need a closer look: 4 host, 7 upgrade, 14 content-length,
    // 17 transfer-encoding, 14 http2-settings.
    const length = name.length;
    if (length !== 4 && length !== 7 && length !== 14 && length !== 17) continue;
    const lower = name.toLowerCase();
    const value = rawHeaders[i + 1] as string;
    if (lower === 'host') {
      hosts++;
      host = value;
    } else if (lower === 'content-length') {
      lengths++;
    } else if (lower === 'transfer-encoding') {
      encodings++;
      encoding = value;
    } else if (lower === 'http2-settings') {
      return { status: 400, reason: 'h2c upgrade refused' };
    } else if (lower === 'upgrade' && /(?:^|[\s,])h2c(?:$|[\s,])/i.test(value)) {
      return { status: 400, reason: 'h2c upgrade refused' };
    }
  }
  if (hosts !== 1) return { status: 400, reason: hosts === 0 ? 'no Host header' : 'duplicate Host header' };
  if (!HOST_VALUE.test(host)) return { status: 400, reason: 'invalid Host header' };
  if (lengths > 1) return { status: 400, reason: 'duplicate Content-Length' };
  if (encodings > 0) {
    if (encodings > 1) return { status: 400, reason: 'duplicate Transfer-Encoding' };
    if (lengths > 0) return { status: 400, reason: 'Content-Length with Transfer-Encoding' };
    if (encoding.trim().toLowerCase() !== 'chunked') {
      return { status: 400, reason: 'Transfer-Encoding other than chunked' };
    }
  }
  if (url.charCodeAt(0) !== 47 /* / */ && !(url === '*' && method === 'OPTIONS')) {
    return { status: 400, reason: 'request target is not a path' };
  }
  return undefined;
}

/** True when the request announces a body (Content-Length above 0, or chunked). */
export function hasBody(headers: IncomingHttpHeaders): boolean {
  const length = headers['content-length'];
  return headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** What the gate determined about a request, written into the forwarding headers. */
export interface ForwardedFor {
  readonly clientIp: string;
  /** `http` or `https`: the gate's own scheme, or a trusted peer's X-Forwarded-Proto. */
  readonly proto: string;
  /** The Host the client asked for. */
  readonly host: string;
  /** CDN-only mode: the client came through the CDN, so CF-Connecting-IP is set for the upstream. */
  readonly cdn: boolean;
}

/**
 * The headers sent upstream, as a flat [name, value, …] list in the client's order and case:
 * hop-by-hop headers (Upgrade and Connection among them: the WebSocket proxy writes its own),
 * headers named in Connection and every forwarding header removed, then the gate's forwarding
 * headers appended. `chunked`: the client's body is chunked; the upstream request then says so
 * itself, because Node's client sends the body of a GET or DELETE without Content-Length unframed
 * (a smuggled request, if the body held one) unless Transfer-Encoding is set explicitly.
 */
export function upstreamRequestHeaders(
  rawHeaders: readonly string[],
  forwarded: ForwardedFor,
  chunked = false,
): string[] {
  let named: ReadonlySet<string> = EMPTY;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if ((rawHeaders[i] as string).length === 10 && (rawHeaders[i] as string).toLowerCase() === 'connection') {
      named = connectionTokens(rawHeaders[i + 1]);
      break;
    }
  }
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    const lower = name.toLowerCase();
    if (isHopByHop(lower) || CONSUMED.has(lower) || named.has(lower) || isForwardingHeader(lower)) continue;
    out.push(name, rawHeaders[i + 1] as string);
  }
  out.push(
    'X-Forwarded-For',
    forwarded.clientIp,
    'X-Real-IP',
    forwarded.clientIp,
    'X-Forwarded-Proto',
    forwarded.proto,
    'X-Forwarded-Host',
    forwarded.host,
  );
  if (forwarded.cdn) out.push('CF-Connecting-IP', forwarded.clientIp);
  if (chunked) out.push('Transfer-Encoding', 'chunked');
  return out;
}

/** True for a forwarding header a client could forge (lower-case name), underscore spellings included. */
export function isForwardingHeader(lower: string): boolean {
  if (FORWARDING.has(lower)) return true;
  return lower.includes('_') && FORWARDING.has(lower.replaceAll('_', '-'));
}

/**
 * The upstream's response headers for the client, as a flat list: hop-by-hop headers and those
 * named in the response's Connection removed (Node frames the body itself), `extra` appended.
 */
export function clientResponseHeaders(
  rawHeaders: readonly string[],
  extra: Readonly<Record<string, string>>,
): string[] {
  let named: ReadonlySet<string> = EMPTY;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if ((rawHeaders[i] as string).toLowerCase() === 'connection') {
      named = connectionTokens(rawHeaders[i + 1]);
      break;
    }
  }
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    const lower = name.toLowerCase();
    if (isHopByHop(lower) || named.has(lower)) continue;
    out.push(name, rawHeaders[i + 1] as string);
  }
  for (const name in extra) out.push(name, extra[name] as string);
  return out;
}

/** True for a WebSocket upgrade request (`Upgrade: websocket`, any case). */
export function isWebSocketUpgrade(headers: IncomingHttpHeaders): boolean {
  const upgrade = headers.upgrade;
  return upgrade !== undefined && upgrade.trim().toLowerCase() === 'websocket';
}

/**
 * The gate's contracts. One request check (GatePolicy) serves the proxy server and the
 * Express/Fastify/node:http middleware alike:
 *
 *   socket address ──▶ client IP ──▶ banned? ──▶ deny rules ──▶ rate limit ──▶ pass (maybe delayed)
 *
 * Everything here is pure and synchronous, with time passed in: no timers per key, no IO.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** What the limiter says about one request. */
export interface RateDecision {
  readonly allowed: boolean;
  /** How long to hold an admitted request before passing it on (burst without nodelay). 0 = now. */
  readonly delayMs: number;
  /** Rejected: ms until this client would be admitted again (for Retry-After). 0 when allowed. */
  readonly retryAfterMs: number;
  /** The zone's burst + 1: requests admitted back to back from rest (RateLimit-Limit). */
  readonly limit: number;
  /** Requests the client could still send right now without being rejected (RateLimit-Remaining). */
  readonly remaining: number;
  /** The zone that decided (the first that rejected, else the last checked). */
  readonly zone: string;
  /** The zone is in dry-run: `allowed` is true but the request would have been rejected. */
  readonly wouldReject?: boolean;
}

/** nginx limit_req semantics over many zones, per key. Bounded: a cap and LRU per zone. */
export interface Limiter {
  /**
   * Checks and charges one request of `key` against the named zones, in order. A request rejected
   * by any zone is charged to none (nginx does not charge rejected requests).
   */
  check(zones: readonly string[], key: string, nowMs: number): RateDecision;
  /** Tracked keys across zones. */
  readonly size: number;
}

/** The request target after normalisation (percent-decoding, dot segments, `//`, `\`, `;params`). */
export type NormalizedTarget =
  | { readonly ok: true; readonly path: string; readonly query: string }
  | { readonly ok: false; readonly error: string };

export interface DenyMatch {
  /** The rule that matched, for logs and events: `path *.php`, `user-agent sqlmap`. */
  readonly rule: string;
  readonly action: 403 | 404 | 'close';
}

/** Decides whether a connection may talk to the gate at all, and who the client is. */
export interface ClientIpResolver {
  /** CDN-only mode: whether the socket's peer is a CDN address. Always true otherwise. */
  acceptsPeer(socketIp: string): boolean;
  /**
   * The client's address: the socket's peer (IPv4-mapped unwrapped), or — when the peer is a trusted
   * proxy — the right-most X-Forwarded-For entry that is not a trusted proxy; behind the CDN,
   * CF-Connecting-IP.
   */
  resolve(socketIp: string, headers: IncomingHttpHeaders): string;
}

/** Whether an address is banned right now (a CidrSet behind it: O(prefix lengths)). */
export interface BanCheck {
  isBanned(ip: string): boolean;
}

/** What the gate asks of one request. */
export interface GateRequest {
  /** The socket's remote address as Node reports it (may be IPv4-mapped `::ffff:…`). */
  readonly socketIp: string;
  readonly method: string;
  /** The raw request target (`req.url`). */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
}

export type RejectReason = 'cdn' | 'banned' | 'denied' | 'rate' | 'bad-target' | 'store-unavailable';

export type Verdict =
  | {
      readonly action: 'pass';
      readonly clientIp: string;
      readonly path: string;
      /** Hold the request this long first (limit_req without nodelay). */
      readonly delayMs: number;
      /** Headers to add to the response (RateLimit-*), when a zone applied. */
      readonly headers: Readonly<Record<string, string>>;
      /** The upstream route chosen (index into config routes; -1 = the default upstream). */
      readonly route: number;
      /** A dry-run zone would have rejected this request: its name (for logs and metrics). */
      readonly wouldReject?: string;
    }
  | {
      readonly action: 'reject';
      readonly clientIp: string;
      readonly reason: RejectReason;
      /** Status to answer, or `close` to drop the connection without an answer. */
      readonly status: number | 'close';
      readonly headers: Readonly<Record<string, string>>;
      /** For logs and the access event: which rule, zone or ban. */
      readonly detail: string;
    };

/** The one request check shared by the proxy and the middleware. */
export interface GatePolicy {
  check(request: GateRequest, nowMs: number): Verdict;
}

/**
 * The one request check of the gate, shared by the proxy server and the middleware:
 *
 *   CDN edge? ─▶ client IP ─▶ store reachable? ─▶ banned? ─▶ normalise target ─▶ route
 *     ─▶ deny rules (if the route applies them) ─▶ rate limits (the route's zones, else gate.limit)
 *     ─▶ pass (maybe delayed) with RateLimit headers
 *
 * Compiled once from the config: CIDR sets, deny globs, limiter tables, routes sorted by length.
 * Per request: a few range lookups, one normalisation, one hash probe per zone. Pure and
 * synchronous with time passed in; never throws on request input.
 *
 * Headers: the separate fields of the IETF RateLimit draft (draft-ietf-httpapi-ratelimit-headers
 * up to -06), which most clients and express-rate-limit's `draft-6` mode read:
 *
 *   RateLimit-Limit: 6        burst + 1 of the binding zone: requests admitted back to back from rest
 *   RateLimit-Remaining: 3    requests that would be admitted right now
 *   RateLimit-Reset: 1        seconds until the client is back to a full burst (rounded up)
 *
 * plus `Retry-After` (seconds, rounded up, at least 1) on a rate rejection. The binding zone is the
 * enforced zone with the fewest remaining; dry-run zones add no headers.
 */
import type { GateConfig } from '../config/gate.ts';
import { MoatError } from '../core/errors.ts';
import { createClientIpResolver } from './client-ip.ts';
import { compileDenyRules } from './deny.ts';
import { createLimiter, type GateLimiter, type LimiterDecision } from './limiter.ts';
import { normalizeTarget } from './target.ts';
import type { BanCheck, GatePolicy, GateRequest, Verdict } from './types.ts';

export interface GatePolicyDeps {
  readonly bans: BanCheck;
  /** CIDR strings of the CDN (CDN-only mode); `gateCdnRanges` gives the built-in list or the file's. */
  readonly cdnRanges?: readonly string[];
  /** False while the decision store cannot be read (with `bans.onStoreError: closed` → 503). */
  readonly storeHealthy?: () => boolean;
  /** A reload: the policy this one replaces. Its zones' clients carry over (see LimiterOptions.carryFrom). */
  readonly replaces?: GatePolicyWithLimiter;
}

/** The policy, plus its limiter for metrics (`limiter.size`, `limiter.stats()`). */
export interface GatePolicyWithLimiter extends GatePolicy {
  readonly limiter: GateLimiter;
}

interface CompiledRoute {
  readonly index: number;
  readonly prefix: string;
  readonly zones: readonly string[];
  readonly deny: boolean;
}

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

/** Whether `path` is under the route prefix: equal, or continuing at a segment boundary. */
function underPrefix(path: string, prefix: string): boolean {
  if (!path.startsWith(prefix)) return false;
  return path.length === prefix.length || prefix.endsWith('/') || path.charCodeAt(prefix.length) === 47;
}

function seconds(ms: number): string {
  return String(Math.ceil(ms / 1000));
}

/**
 * Builds the policy once. Throws MoatError (naming the key) when the config refers to a zone that
 * does not exist, or a deny rule, range or zone cannot be compiled.
 */
export function createGatePolicy(config: GateConfig, deps: GatePolicyDeps): GatePolicyWithLimiter {
  const zoneNames = new Set(config.zones.map((z) => z.name));
  const dryRun = new Set(config.zones.filter((z) => z.dryRun).map((z) => z.name));
  const statusOf = new Map(config.zones.map((z) => [z.name, z.status]));
  const checkZones = (names: readonly string[], key: string): readonly string[] => {
    names.forEach((name, i) => {
      if (!zoneNames.has(name)) {
        throw new MoatError('MOAT_CONFIG_INVALID', `${key}[${i}]: no zone is named "${name}"`, {
          hint: `Define it under gate.zones, or use one of: ${[...zoneNames].join(', ') || '(none defined)'}.`,
        });
      }
      if (names.indexOf(name) !== i) {
        throw new MoatError('MOAT_CONFIG_INVALID', `${key}[${i}]: zone "${name}" is listed twice`, {
          hint: 'List each zone once.',
        });
      }
    });
    return [...names];
  };
  const defaultZones = checkZones(config.limit, 'gate.limit');
  const routes: CompiledRoute[] = config.routes
    .map((route, index) => ({
      index,
      prefix: route.path,
      zones:
        route.limit === undefined ? defaultZones : checkZones(route.limit, `gate.routes[${index}].limit`),
      deny: route.deny,
    }))
    // Longest prefix first; among equal prefixes the first listed wins.
    .sort((a, b) => b.prefix.length - a.prefix.length || a.index - b.index);

  const resolver = createClientIpResolver({
    trustProxies: config.trustProxies,
    cdnOnly: config.cdnOnly,
    ...(deps.cdnRanges === undefined ? {} : { cdnRanges: deps.cdnRanges }),
  });
  const deny = compileDenyRules(config.deny);
  const limiter = createLimiter(config.zones, {
    ipv6Prefix: config.ipv6Prefix,
    ...(deps.replaces === undefined ? {} : { carryFrom: deps.replaces.limiter }),
  });
  const failClosed = config.bans.onStoreError === 'closed';

  const rateHeaders = (decision: LimiterDecision): Record<string, string> => ({
    'RateLimit-Limit': String(decision.limit),
    'RateLimit-Remaining': String(decision.remaining),
    'RateLimit-Reset': seconds(decision.resetMs),
  });

  const reject = (
    clientIp: string,
    reason: Extract<Verdict, { action: 'reject' }>['reason'],
    status: number | 'close',
    detail: string,
    headers: Readonly<Record<string, string>> = NO_HEADERS,
  ): Verdict => ({ action: 'reject', clientIp, reason, status, headers, detail });

  return {
    limiter,
    check(request: GateRequest, nowMs: number): Verdict {
      const { socketIp, headers } = request;
      if (config.cdnOnly) {
        const edge = resolver.edge(socketIp, headers);
        if (!resolver.edgeIsCdn(edge)) return reject(edge, 'cdn', 403, `${edge} is not in the CDN's ranges`);
      }
      const clientIp = resolver.resolve(socketIp, headers);
      if (failClosed && deps.storeHealthy !== undefined && !deps.storeHealthy()) {
        return reject(clientIp, 'store-unavailable', 503, 'the decision store cannot be read', {
          'Retry-After': '1',
        });
      }
      if (deps.bans.isBanned(clientIp)) return reject(clientIp, 'banned', 403, `${clientIp} is banned`);

      const target = normalizeTarget(request.url);
      if (!target.ok) return reject(clientIp, 'bad-target', 400, target.error);
      const path = target.path;

      let route: CompiledRoute | undefined;
      for (const candidate of routes) {
        if (underPrefix(path, candidate.prefix)) {
          route = candidate;
          break;
        }
      }

      if (route === undefined || route.deny) {
        const agent = headers['user-agent'];
        const match = deny(request.method, path, typeof agent === 'string' ? agent : undefined);
        if (match !== undefined) return reject(clientIp, 'denied', match.action, match.rule);
      }

      const zones = route === undefined ? defaultZones : route.zones;
      let delayMs = 0;
      let passHeaders = NO_HEADERS;
      let wouldReject: string | undefined;
      if (zones.length > 0) {
        const decision = limiter.check(zones, clientIp, nowMs);
        const withHeaders = !dryRun.has(decision.zone);
        if (!decision.allowed) {
          return reject(
            clientIp,
            'rate',
            statusOf.get(decision.zone) ?? 429,
            `zone ${decision.zone}: over the limit of ${decision.limit}, retry in ${decision.retryAfterMs} ms`,
            { 'Retry-After': seconds(decision.retryAfterMs), ...rateHeaders(decision) },
          );
        }
        delayMs = decision.delayMs;
        if (withHeaders) passHeaders = rateHeaders(decision);
        wouldReject = decision.wouldRejectZone;
      }
      return {
        action: 'pass',
        clientIp,
        path,
        delayMs,
        headers: passHeaders,
        route: route?.index ?? -1,
        ...(wouldReject === undefined ? {} : { wouldReject }),
      };
    },
  };
}

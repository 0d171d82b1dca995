/**
 * nginx checks: real-IP trust (incident 5), per-IP rate limits on proxied locations (incident 3),
 * WebSocket proxying (incident 4) and an origin that answers outside its CDN (incident 5). Pure.
 *
 * Inheritance follows nginx: a directive written at http level applies to every server and location
 * below it unless a lower level writes its own. For single-value directives (proxy_read_timeout,
 * proxy_http_version) the innermost level that sets it wins; for array directives (proxy_set_header,
 * limit_req, allow/deny) the innermost level with ANY of them replaces everything from above.
 */
import { type CdnRanges, inCdnRanges } from '../../core/cdn.ts';
import { type Evidence, type Finding, findingOf, type Rule } from '../../core/finding.ts';
import { type Cidr, cidrScope, parseCidr } from '../../core/ip.ts';
import type { NginxDirective, NginxFacts } from '../collectors/nginx.ts';
import type { Check, CheckContext, ExposureVerdict } from '../types.ts';

const READS = '/etc/nginx/nginx.conf and every file it includes (or `nginx -T` on the live host)';

export const nginxRealIpAnyRule: Rule = {
  id: 'nginx-real-ip-trusts-any',
  severity: 'critical',
  title: 'nginx takes the client address from a header any client can set',
  why: '`set_real_ip_from 0.0.0.0/0` (or `::/0`) tells nginx to believe the real-IP header (CF-Connecting-IP, X-Forwarded-For, X-Real-IP) from every sender. Any client can then claim any address: it walks past per-IP rate limits (limit_req) and bans, poisons the access logs fail2ban and moat watch read, and can make you ban innocent addresses — or pose as an allowlisted one.',
  reads: READS,
  fix: 'Trust only the proxies in front of you: replace the line with one `set_real_ip_from` per CDN range (Cloudflare: https://www.cloudflare.com/ips-v4 and ips-v6) or your load balancer’s address, e.g. `set_real_ip_from 173.245.48.0/20;` … `real_ip_header CF-Connecting-IP;`. Then `nginx -t && systemctl reload nginx`.',
};

export const nginxRealIpStaleRule: Rule = {
  id: 'nginx-real-ip-stale-cdn-range',
  severity: 'medium',
  title: 'nginx trusts a real-IP range that is not one of the CDN’s current ranges',
  why: 'The site sits behind a CDN, and nginx believes the client-address header from this range, but the CDN does not publish it (any more). Addresses that left the CDN belong to someone else now: whoever holds them can send any CF-Connecting-IP / X-Forwarded-For and nginx logs, rate-limits and bans the address they chose. A stale list also means real CDN edges may be missing, so visitors behind them share one "client" address.',
  reads: `${READS}; the CDN's current ranges (moat's built-in dated list, or cdn.rangesFile)`,
  fix: 'Regenerate the list from the CDN and reload, e.g. for Cloudflare: `(curl -s https://www.cloudflare.com/ips-v4; echo; curl -s https://www.cloudflare.com/ips-v6) | sed "/^$/d;s/.*/set_real_ip_from &;/" > /etc/nginx/conf.d/cloudflare-real-ip.conf && nginx -t && systemctl reload nginx` (keep `real_ip_header CF-Connecting-IP;` once, in the http block).',
};

export const nginxNoRateLimitRule: Rule = {
  id: 'nginx-proxy-no-rate-limit',
  severity: 'medium',
  title: 'nginx proxies to the application with no per-IP rate limit',
  why: 'Every request these locations receive goes straight to the application. Scanners and floods of odd requests then cost the app (and the database) their full price: in incident 3 they pushed the VM to 100% CPU until even SSH stopped answering. `limit_req` (or at least `limit_conn`) stops one address from taking the whole server.',
  reads: READS,
  fix: 'Define a zone once in the http block and apply it (in http, the server or each proxied location): `limit_req_zone $binary_remote_addr zone=perip:10m rate=10r/s;` and `limit_req zone=perip burst=20 nodelay;` (tune the rate to your API; incident 3 used 1r/s). Behind a CDN, configure real_ip first so the key is the visitor, not the CDN edge. `nginx -t && systemctl reload nginx`.',
};

export const nginxWebsocketTimeoutRule: Rule = {
  id: 'nginx-websocket-timeout',
  severity: 'medium',
  title: 'nginx closes idle WebSocket connections after 60 s',
  why: 'proxy_read_timeout is how long nginx waits between two reads from the upstream; on a WebSocket that is how long the server may stay silent. Its default is 60 s, so quiet WebSockets are cut every minute unless the application pings more often (incident 4: clients reconnected every 60 s, the reconnect storms looked like an outage).',
  reads: READS,
  fix: 'In the WebSocket location set a long idle limit, e.g. `proxy_read_timeout 3600s;` and `proxy_send_timeout 3600s;`, and let the application send pings (every 30 s is common) so dead peers are still noticed. `nginx -t && systemctl reload nginx`.',
};

export const nginxWebsocketUpgradeRule: Rule = {
  id: 'nginx-websocket-no-upgrade',
  severity: 'medium',
  title: 'nginx WebSocket location does not pass the Upgrade handshake',
  why: 'A WebSocket needs HTTP/1.1 to the upstream and the hop-by-hop `Upgrade` and `Connection: upgrade` headers passed on explicitly: nginx speaks HTTP/1.0 to upstreams by default and drops both headers. Without them the handshake fails and clients fall back to polling or reconnect in a loop (incident 4). Note that a `proxy_set_header` in a location discards every `proxy_set_header` inherited from the server or http block.',
  reads: READS,
  fix: 'In the location: `proxy_http_version 1.1;`, `proxy_set_header Upgrade $http_upgrade;`, `proxy_set_header Connection $connection_upgrade;` with, in the http block, `map $http_upgrade $connection_upgrade { default upgrade; "" close; }`. `nginx -t && systemctl reload nginx`.',
};

export const nginxOriginOpenRule: Rule = {
  id: 'nginx-origin-open-outside-cdn',
  severity: 'medium',
  title: 'The site sits behind a CDN, but its origin answers on 80/443 from anywhere',
  why: 'The CDN’s DDoS protection, WAF, bot rules and rate limits only apply to traffic that goes through it. Origin addresses leak (certificate transparency, old DNS, internet-wide scans); once found, attackers talk to nginx directly and skip all of it (incident 5: the origin must accept 80/443 only from Cloudflare).',
  reads: `${READS}; the firewall (ufw, nftables, iptables, Docker) through moat's exposure reasoning; config cdn.provider`,
  fix: 'Accept 80/443 only from the CDN’s ranges in the firewall. ufw: `for r in $(curl -s https://www.cloudflare.com/ips-v4) $(curl -s https://www.cloudflare.com/ips-v6); do ufw allow proto tcp from $r to any port 80,443; done`, then `ufw delete allow 80/tcp && ufw delete allow 443/tcp` (and the "Nginx Full" profile if used). nftables: `set cdn4 { type ipv4_addr; flags interval; elements = { 173.245.48.0/20, … } }` and `tcp dport { 80, 443 } ip saddr != @cdn4 drop` in the input chain. If nginx runs in Docker, put the rule in DOCKER-USER (ufw alone does not see published ports).',
};

// ---------------------------------------------------------------------------------------------------
// Tree helpers

type Level = readonly NginxDirective[];

function own(level: Level, name: string): NginxDirective[] {
  return level.filter((d) => d.name === name);
}

/** The innermost directive of a single-value kind in effect. */
function nearest(chain: readonly Level[], name: string): NginxDirective | undefined {
  for (let i = chain.length - 1; i >= 0; i--) {
    const found = own(chain[i]!, name)[0];
    if (found) return found;
  }
  return undefined;
}

/** The directives of an array kind in effect: those of the innermost level that writes any. */
function nearestArray(chain: readonly Level[], names: readonly string[]): NginxDirective[] {
  for (let i = chain.length - 1; i >= 0; i--) {
    const found = chain[i]!.filter((d) => names.includes(d.name));
    if (found.length > 0) return found;
  }
  return [];
}

function at(directive: NginxDirective, detail: string): Evidence {
  return { file: directive.file, line: directive.line, detail };
}

function text(directive: NginxDirective): string {
  return [directive.name, ...directive.args].join(' ');
}

interface Location {
  /** The `location` (or `if` inside one) directive. */
  readonly directive: NginxDirective;
  /** http → server → location(s): the levels whose directives this location inherits. */
  readonly chain: readonly Level[];
  /** The location path without its modifier (`/ws/`, `/api/v1/streaming`, `@proxy`, a regex). */
  readonly path: string;
}

interface Server {
  readonly directive: NginxDirective;
  readonly chain: readonly Level[];
  readonly locations: readonly Location[];
}

function collectLocations(level: Level, chain: readonly Level[], out: Location[], parentPath: string): void {
  for (const directive of level) {
    if (!directive.block) continue;
    if (directive.name === 'location') {
      const path = directive.args[directive.args.length - 1] ?? '';
      const inner = [...chain, directive.block];
      out.push({ directive, chain: inner, path });
      collectLocations(directive.block, inner, out, path);
    } else if (directive.name === 'if' && parentPath !== '') {
      const inner = [...chain, directive.block];
      out.push({ directive, chain: inner, path: parentPath });
      collectLocations(directive.block, inner, out, parentPath);
    }
  }
}

function httpServers(facts: NginxFacts): { https: NginxDirective[]; servers: Server[] } {
  const https = facts.directives.filter((d) => d.name === 'http' && d.block);
  const servers: Server[] = [];
  for (const http of https) {
    for (const server of own(http.block!, 'server')) {
      if (!server.block) continue;
      const chain = [http.block!, server.block];
      const locations: Location[] = [];
      collectLocations(server.block, chain, locations, '');
      servers.push({ directive: server, chain, locations });
    }
  }
  return { https, servers };
}

/** Every directive named `name` anywhere under the given blocks, with the chain it sits in. */
function findAll(
  level: Level,
  name: string,
  chain: readonly Level[] = [level],
): { directive: NginxDirective; chain: readonly Level[] }[] {
  const out: { directive: NginxDirective; chain: readonly Level[] }[] = [];
  for (const directive of level) {
    if (directive.name === name) out.push({ directive, chain });
    if (directive.block) out.push(...findAll(directive.block, name, [...chain, directive.block]));
  }
  return out;
}

function serverLabel(server: Server): string {
  const names = own(server.directive.block!, 'server_name').flatMap((d) => d.args);
  const name = names.find((n) => n !== '_' && n !== '') ?? names[0];
  return name ? `server ${name}` : `server at ${server.directive.file}:${server.directive.line}`;
}

const PASS_DIRECTIVES = ['proxy_pass', 'grpc_pass', 'fastcgi_pass', 'uwsgi_pass', 'scgi_pass'];

function upstreamPass(location: Location): NginxDirective | undefined {
  return location.directive.block!.find((d) => PASS_DIRECTIVES.includes(d.name));
}

// ---------------------------------------------------------------------------------------------------
// Durations

const TIME_UNITS_S: Record<string, number> = {
  ms: 0.001,
  s: 1,
  m: 60,
  h: 3600,
  d: 86_400,
  w: 604_800,
  M: 2_592_000,
  y: 31_536_000,
};

/** nginx time syntax (`60`, `75s`, `1h30m`, `500ms`) in seconds; undefined when not valid. */
export function parseNginxSeconds(value: string): number | undefined {
  if (!/^(\d+(ms|s|m|h|d|w|M|y)?\s*)+$/.test(value.trim())) return undefined;
  let total = 0;
  for (const match of value.trim().matchAll(/(\d+)(ms|s|m|h|d|w|M|y)?/g)) {
    total += Number(match[1]) * (TIME_UNITS_S[match[2] ?? 's'] ?? 1);
  }
  return total;
}

// ---------------------------------------------------------------------------------------------------
// Real IP and CDN

interface CdnContext {
  readonly behind: boolean;
  readonly evidence: readonly Evidence[];
}

function parseTrusted(arg: string): Cidr | undefined {
  if (arg.startsWith('unix:')) return undefined;
  return parseCidr(arg);
}

function cdnContext(facts: NginxFacts, https: readonly NginxDirective[], context: CheckContext): CdnContext {
  const evidence: Evidence[] = [];
  if (context.config.cdn.provider === 'cloudflare') {
    evidence.push({ detail: 'moat config cdn.provider: cloudflare' });
  }
  for (const http of https) {
    for (const { directive } of findAll(http.block!, 'real_ip_header')) {
      if (directive.args[0]?.toLowerCase() === 'cf-connecting-ip') {
        evidence.push(at(directive, `${text(directive)}: nginx expects Cloudflare in front`));
      }
    }
    const cdnTrusted = findAll(http.block!, 'set_real_ip_from').find(({ directive }) => {
      const cidr = parseTrusted(directive.args[0] ?? '');
      return cidr !== undefined && cidr.prefix > 0 && inCdnRanges(facts.cdn, cidr);
    });
    if (cdnTrusted) {
      evidence.push(at(cdnTrusted.directive, `${text(cdnTrusted.directive)} is a Cloudflare range`));
    }
  }
  return { behind: evidence.length > 0, evidence };
}

function realIpFindings(facts: NginxFacts, https: readonly NginxDirective[], cdn: CdnContext): Finding[] {
  const findings: Finding[] = [];
  for (const http of https) {
    for (const { directive, chain } of findAll(http.block!, 'set_real_ip_from')) {
      const cidr = parseTrusted(directive.args[0] ?? '');
      if (!cidr) continue;
      const header = nearest(chain, 'real_ip_header');
      const headerName = header?.args[0] ?? 'X-Real-IP';
      if (cidr.prefix === 0) {
        findings.push(
          findingOf(nginxRealIpAnyRule, [
            at(directive, `${text(directive)}: every sender is trusted`),
            header
              ? at(
                  header,
                  `${text(header)}: any client can send "${headerName}: 198.51.100.7" and nginx takes it as the client address`,
                )
              : {
                  detail: `real_ip_header is not set, so nginx reads X-Real-IP (the default), which any client can send`,
                },
          ]),
        );
        continue;
      }
      if (cdn.behind && cidrScope(cidr) === 'public' && !inCdnRanges(facts.cdn, cidr)) {
        findings.push(
          findingOf(
            nginxRealIpStaleRule,
            [
              at(directive, `${text(directive)}: ${cidr.text} is not within the CDN's current ranges`),
              { detail: `compared with ${facts.cdn.source}` },
              ...cdn.evidence.slice(0, 1),
            ],
            {
              title: `nginx trusts ${cidr.text} for the client address, which is not a current Cloudflare range`,
            },
          ),
        );
      }
    }
  }
  return findings;
}

/** Cloudflare proxies these ports to an origin (https://developers.cloudflare.com/fundamentals/reference/network-ports/). */
const CDN_PORTS = new Set([80, 8080, 8880, 2052, 2082, 2086, 2095, 443, 2053, 2083, 2087, 2096, 8443]);

interface Listen {
  readonly directive?: NginxDirective;
  readonly server: Server;
  readonly port: number;
  readonly bind: string;
}

/** `80`, `*:80`, `[::]:443`, `127.0.0.1:8080`, `127.0.0.1` (port 80); undefined for unix sockets. */
export function parseListen(arg: string): { bind: string; port: number } | undefined {
  if (arg.startsWith('unix:')) return undefined;
  if (/^\d+$/.test(arg)) return { bind: '0.0.0.0', port: Number(arg) };
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(arg);
  if (v6) return { bind: v6[1]!, port: Number(v6[2] ?? 80) };
  const hostPort = /^([^:]+)(?::(\d+))?$/.exec(arg);
  if (!hostPort) return undefined;
  const host = hostPort[1] === '*' ? '0.0.0.0' : hostPort[1]!;
  return { bind: host, port: Number(hostPort[2] ?? 80) };
}

function listensOf(server: Server): Listen[] {
  const listens = own(server.directive.block!, 'listen');
  if (listens.length === 0) return [{ server, port: 80, bind: '0.0.0.0' }];
  return listens.flatMap((directive) => {
    const parsed = parseListen(directive.args[0] ?? '');
    return parsed ? [{ directive, server, ...parsed }] : [];
  });
}

/** True when the source is a CDN range or a private/loopback one (an internal proxy). */
function cdnOrInternal(cdn: CdnRanges, cidr: Cidr): boolean {
  const scope = cidrScope(cidr);
  return scope === 'private' || scope === 'loopback' || inCdnRanges(cdn, cidr);
}

/**
 * Exposure reasoning may say which sources a firewall still accepts when it restricts a port. Until
 * ExposureVerdict carries that, `sources` is read when present: absent means "from anywhere".
 */
type VerdictWithSources = ExposureVerdict & { readonly sources?: readonly string[] };

function restrictedToCdn(verdict: VerdictWithSources, cdn: CdnRanges): boolean {
  if (verdict.sources === undefined || verdict.sources.length === 0) return false;
  return verdict.sources.every((source) => {
    const cidr = parseCidr(source);
    return cidr !== undefined && cidr.prefix > 0 && cdnOrInternal(cdn, cidr);
  });
}

/** nginx itself answers only CDN (or internal) addresses: `allow <cdn ranges>; deny all;` at server/http level. */
function nginxAllowsOnlyCdn(server: Server, cdn: CdnRanges): boolean {
  const rules = nearestArray(server.chain, ['allow', 'deny']);
  const denyAll = rules.find((d) => d.name === 'deny' && d.args[0] === 'all');
  if (!denyAll) return false;
  const before = rules.slice(0, rules.indexOf(denyAll));
  return before.every((d) => {
    if (d.name === 'deny') return true;
    const cidr = parseCidr(d.args[0] ?? '');
    return cidr !== undefined && cidr.prefix > 0 && cdnOrInternal(cdn, cidr);
  });
}

function originFindings(
  facts: NginxFacts,
  servers: readonly Server[],
  cdn: CdnContext,
  context: CheckContext,
): Finding[] {
  if (!cdn.behind) return [];
  const byPort = new Map<number, Listen[]>();
  for (const server of servers) {
    for (const listen of listensOf(server)) {
      if (!CDN_PORTS.has(listen.port)) continue;
      byPort.set(listen.port, [...(byPort.get(listen.port) ?? []), listen]);
    }
  }
  const open: { port: number; listens: Listen[]; verdict: ExposureVerdict; guarded: boolean }[] = [];
  for (const [port, listens] of [...byPort].sort((a, b) => a[0] - b[0])) {
    const binds = [...new Set(listens.map((l) => l.bind))];
    const verdict: VerdictWithSources = context.exposure.assess({
      service: 'nginx',
      port,
      protocol: 'tcp',
      binds,
    });
    if (verdict.reach !== 'internet' || restrictedToCdn(verdict, facts.cdn)) continue;
    const guarded = listens.every((l) => nginxAllowsOnlyCdn(l.server, facts.cdn));
    open.push({ port, listens, verdict, guarded });
  }
  if (open.length === 0) return [];
  const ports = `port${open.length > 1 ? 's' : ''} ${open.map((o) => o.port).join(', ')}`;
  const evidence: Evidence[] = [];
  for (const { port, listens, verdict } of open) {
    const seen = new Set<string>();
    for (const listen of listens) {
      const key = listen.directive
        ? `${listen.directive.file}:${listen.directive.line}`
        : `${listen.server.directive.line}`;
      if (seen.has(key)) continue;
      seen.add(key);
      evidence.push(
        listen.directive
          ? at(listen.directive, `${text(listen.directive)} (${serverLabel(listen.server)})`)
          : at(
              listen.server.directive,
              `${serverLabel(listen.server)} has no listen line, so it listens on *:80`,
            ),
      );
    }
    evidence.push({ detail: `port ${port}: ${verdict.reasons.join('; ')}` });
  }
  evidence.push(...cdn.evidence);
  const guarded = open.every((o) => o.guarded);
  if (guarded) {
    evidence.push({
      detail:
        'nginx itself answers only CDN ranges (allow … ; deny all;), but it still accepts connections and TLS handshakes from anyone',
    });
  }
  return [
    findingOf(nginxOriginOpenRule, evidence, {
      title: `The site sits behind Cloudflare, but nginx answers on ${ports} from anywhere`,
      ...(guarded ? { severity: 'low' as const } : {}),
    }),
  ];
}

// ---------------------------------------------------------------------------------------------------
// Rate limits and WebSockets

function rateLimitFindings(servers: readonly Server[]): Finding[] {
  const findings: Finding[] = [];
  for (const server of servers) {
    const evidence: Evidence[] = [];
    for (const location of server.locations) {
      const pass = upstreamPass(location);
      if (!pass) continue;
      const limitReq = location.chain.some((level) => own(level, 'limit_req').length > 0);
      const limitConn = location.chain.some((level) => own(level, 'limit_conn').length > 0);
      const reqDry = nearest(location.chain, 'limit_req_dry_run')?.args[0] === 'on';
      const connDry = nearest(location.chain, 'limit_conn_dry_run')?.args[0] === 'on';
      if ((limitReq && !reqDry) || (limitConn && !connDry)) continue;
      const dry = (limitReq && reqDry) || (limitConn && connDry);
      evidence.push(
        at(
          location.directive,
          `${text(location.directive)} → ${text(pass)}: ${dry ? 'limits are in dry-run mode only' : 'no limit_req or limit_conn in the location, server or http block'}`,
        ),
      );
    }
    if (evidence.length > 0) {
      findings.push(
        findingOf(nginxNoRateLimitRule, evidence, {
          title: `nginx proxies to the application with no per-IP rate limit (${serverLabel(server)})`,
        }),
      );
    }
  }
  return findings;
}

const WS_WORDS = new Set([
  'ws',
  'wss',
  'websocket',
  'websockets',
  'socket.io',
  'sockjs',
  'cable',
  'streaming',
]);

function hasWsWord(path: string): boolean {
  return path
    .replace(/\\/g, '')
    .toLowerCase()
    .split(/[^a-z0-9._-]+/)
    .some((word) => WS_WORDS.has(word));
}

function urlPath(url: string): string {
  const match = /^[a-z]+:\/\/[^/]*(\/.*)?$/i.exec(url);
  return match ? (match[1] ?? '') : '';
}

function headerOf(directives: readonly NginxDirective[], name: string): NginxDirective | undefined {
  return directives.find((d) => d.name === 'proxy_set_header' && d.args[0]?.toLowerCase() === name);
}

function upgradesOk(directive: NginxDirective | undefined): boolean {
  const value = directive?.args[1]?.toLowerCase() ?? '';
  return value.includes('$http_upgrade') || value === 'websocket';
}

function connectionOk(directive: NginxDirective | undefined): boolean {
  return (directive?.args[1]?.toLowerCase() ?? '').includes('upgrade');
}

/** Why a proxied location is taken for a WebSocket endpoint, or undefined when it is not one. */
function websocketReason(location: Location, pass: NginxDirective): string | undefined {
  const ownHeaders = own(location.directive.block!, 'proxy_set_header');
  if (upgradesOk(headerOf(ownHeaders, 'upgrade')) || connectionOk(headerOf(ownHeaders, 'connection'))) {
    return 'it sets the Upgrade/Connection headers';
  }
  if (location.directive.name === 'location' && hasWsWord(location.path))
    return 'its path is a WebSocket path';
  if (pass.name === 'proxy_pass' && hasWsWord(urlPath(pass.args[0] ?? '')))
    return 'it proxies to a WebSocket path';
  return undefined;
}

function websocketFindings(servers: readonly Server[]): Finding[] {
  const findings: Finding[] = [];
  for (const server of servers) {
    for (const location of server.locations) {
      const pass = upstreamPass(location);
      if (pass?.name !== 'proxy_pass') continue;
      const reason = websocketReason(location, pass);
      if (!reason) continue;
      const head = at(
        location.directive,
        `${text(location.directive)} → ${text(pass)} (WebSocket: ${reason})`,
      );

      const timeout = nearest(location.chain, 'proxy_read_timeout');
      const seconds = timeout ? parseNginxSeconds(timeout.args[0] ?? '') : 60;
      if (seconds !== undefined && seconds <= 60) {
        findings.push(
          findingOf(
            nginxWebsocketTimeoutRule,
            [
              head,
              timeout
                ? at(timeout, `${text(timeout)}: an idle WebSocket is closed after ${seconds} s`)
                : {
                    detail:
                      "no proxy_read_timeout in the location, server or http block: nginx's default 60s applies",
                  },
            ],
            {
              title: `nginx closes idle WebSocket connections on ${location.path} after ${seconds} s`,
            },
          ),
        );
      }

      const missing: Evidence[] = [];
      const version = nearest(location.chain, 'proxy_http_version');
      if (!version || !(Number(version.args[0]) >= 1.1)) {
        missing.push(
          version
            ? at(version, `${text(version)}: WebSockets need HTTP/1.1 to the upstream`)
            : {
                detail:
                  'no proxy_http_version 1.1: nginx talks HTTP/1.0 to the upstream, which cannot upgrade',
              },
        );
      }
      const headers = nearestArray(location.chain, ['proxy_set_header']);
      const hiddenByOwn =
        own(location.directive.block!, 'proxy_set_header').length > 0 &&
        location.chain
          .slice(0, -1)
          .some((level) => upgradesOk(headerOf(own(level, 'proxy_set_header'), 'upgrade')));
      const note = hiddenByOwn
        ? ' (the one written above is not inherited: this location sets its own proxy_set_header lines)'
        : '';
      if (!upgradesOk(headerOf(headers, 'upgrade'))) {
        missing.push({ detail: `no proxy_set_header Upgrade $http_upgrade in effect${note}` });
      }
      if (!connectionOk(headerOf(headers, 'connection'))) {
        missing.push({
          detail: `no proxy_set_header Connection "upgrade" (or $connection_upgrade) in effect${note}`,
        });
      }
      if (missing.length > 0) {
        findings.push(
          findingOf(nginxWebsocketUpgradeRule, [head, ...missing], {
            title: `nginx WebSocket location ${location.path} does not pass the Upgrade handshake`,
          }),
        );
      }
    }
  }
  return findings;
}

export const nginxCheck: Check = {
  name: 'nginx',
  rules: [
    nginxRealIpAnyRule,
    nginxRealIpStaleRule,
    nginxNoRateLimitRule,
    nginxWebsocketTimeoutRule,
    nginxWebsocketUpgradeRule,
    nginxOriginOpenRule,
  ],
  run(context) {
    const facts = context.facts.nginx;
    if (!facts) return [];
    const { https, servers } = httpServers(facts);
    const cdn = cdnContext(facts, https, context);
    return [
      ...realIpFindings(facts, https, cdn),
      ...rateLimitFindings(servers),
      ...websocketFindings(servers),
      ...originFindings(facts, servers, cdn, context),
    ];
  },
};

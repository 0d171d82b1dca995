/** The `gate` section: the reverse proxy's listeners, routes, limits, deny rules and safety limits. */
import { z } from 'zod';
import { cidr, duration } from './fields.ts';

/** `10r/s` or `60r/m` → requests per second. */
export const rate = z
  .string()
  .regex(/^\s*\d+(\.\d+)?\s*r\/(s|m)\s*$/, 'a rate like 10r/s or 60r/m')
  .transform((value) => {
    const match = /^\s*(\d+(?:\.\d+)?)\s*r\/(s|m)\s*$/.exec(value) as RegExpExecArray;
    const count = Number(match[1]);
    return match[2] === 's' ? count : count / 60;
  });

/** `:8080`, `127.0.0.1:8080`, `[::1]:8443`, or a port number; a bare port binds `defaultHost`. */
const address = (defaultHost: string) =>
  z
    .union([
      z.number().int().min(0).max(65_535),
      z
        .string()
        .regex(
          /^(\[[0-9a-fA-F:.]+\]|[0-9.]+|[A-Za-z0-9.-]+)?:\d{1,5}$/,
          'an address like :8080 or 127.0.0.1:8080',
        ),
    ])
    .transform((value) => {
      if (typeof value === 'number') return { host: defaultHost, port: value };
      const at = value.lastIndexOf(':');
      const host = value.slice(0, at).replace(/^\[|\]$/g, '');
      return { host: host === '' ? defaultHost : host, port: Number(value.slice(at + 1)) };
    });

/** Where the gate listens: a bare port (`8080`, `:8080`) means every interface. */
export const listenAddress = address('::');

const upstreamUrl = z
  .string()
  .regex(/^https?:\/\/[^/\s]+\/?$/, 'an origin like http://127.0.0.1:3000 (no path)')
  .describe('Where requests go: `http://127.0.0.1:3000` or `https://…`.');

const zoneSchema = z
  .strictObject({
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'a short name like api'),
    rate: rate.describe('Sustained rate per client, in nginx terms: `10r/s`, `60r/m`.'),
    burst: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe('Requests above the rate that are queued (or, with nodelay, admitted at once).'),
    nodelay: z.boolean().default(false).describe('Admit burst requests at once instead of spacing them out.'),
    delay: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe(
        'nginx `delay=N`: the first N excess requests pass at once, the rest of the burst is spaced.',
      ),
    status: z.number().int().min(400).max(599).default(429).describe('Status for rejected requests.'),
    dryRun: z.boolean().default(false).describe('Count and log what would be rejected, reject nothing.'),
    maxKeys: z
      .number()
      .int()
      .min(1000)
      .default(1_000_000)
      .describe('Cap on tracked clients; the least recently seen is dropped beyond it.'),
  })
  .describe('A rate-limit zone (nginx `limit_req_zone` + `limit_req`), keyed by client IP.');

const denyRuleSchema = z
  .strictObject({
    paths: z
      .array(z.string().min(1))
      .default([])
      .describe(
        'Path globs (`*.php`, `/.env`, `/.git/**`, `/wp-*`) or `re:` regexes, matched after normalisation.',
      ),
    methods: z.array(z.string().regex(/^[A-Z]+$/, 'an HTTP method like TRACE')).default([]),
    userAgents: z
      .array(z.string().min(1))
      .default([])
      .describe('Case-insensitive substrings of the User-Agent (`sqlmap`, `nikto`) or `re:` regexes.'),
    action: z
      .union([z.literal(403), z.literal(404), z.literal('close')])
      .default(404)
      .describe('Answer 403 or 404, or close the connection without an answer.'),
  })
  .describe('A request matching any listed path, method or user agent is refused.');

const routeSchema = z.strictObject({
  path: z.string().regex(/^\//, 'a path prefix starting with /').describe('Path prefix this route serves.'),
  upstream: upstreamUrl,
  limit: z.array(z.string()).optional().describe('Zone names applied on this route (default: gate.limit).'),
  deny: z.boolean().default(true).describe('Apply gate.deny rules on this route.'),
});

export const gateSchema = z
  .strictObject({
    listen: listenAddress.prefault(8080).describe('Where the gate listens: `:8080`, `127.0.0.1:8080`.'),
    tls: z
      .strictObject({ cert: z.string().min(1), key: z.string().min(1) })
      .optional()
      .describe('Serve HTTPS with this PEM certificate chain and key (files).'),
    upstream: upstreamUrl.optional(),
    routes: z
      .array(routeSchema)
      .default([])
      .describe('Longest-prefix routes to several upstreams; requests matching none go to `upstream`.'),
    zones: z.array(zoneSchema).default([]).describe('Rate-limit zones.'),
    limit: z
      .array(z.string())
      .default([])
      .describe('Zone names applied to every request (routes may override).'),
    deny: z.array(denyRuleSchema).default([]).describe('Deny rules, checked before rate limits.'),
    trustProxies: z
      .array(cidr)
      .default([])
      .describe(
        'Proxies whose X-Forwarded-For is believed, walked from the right. Empty: the socket address is the client.',
      ),
    cdnOnly: z
      .boolean()
      .default(false)
      .describe(
        'Accept connections only from the ranges of `cdn.provider` (e.g. Cloudflare), and then take the client from CF-Connecting-IP.',
      ),
    ipv6Prefix: z
      .number()
      .int()
      .min(48)
      .max(128)
      .default(64)
      .describe('IPv6 clients share a limit per this prefix.'),
    bans: z
      .strictObject({
        refresh: duration
          .default(500)
          .describe('How often bans made by other processes are read from the store.'),
        onStoreError: z
          .enum(['open', 'closed'])
          .default('open')
          .describe('When the store cannot be read: `open` serves (last known bans), `closed` answers 503.'),
      })
      .prefault({}),
    websocket: z
      .strictObject({
        idleTimeout: duration
          .default(3_600_000)
          .describe('Close a WebSocket idle this long (both directions).'),
        pingInterval: duration.default(30_000).describe('Ping both sides this often (0 = never).'),
      })
      .prefault({}),
    limits: z
      .strictObject({
        maxHeaderBytes: z.number().int().min(1024).default(16_384).describe('Larger request heads get 431.'),
        maxHeaders: z.number().int().min(8).default(100).describe('More request headers than this get 431.'),
        headersTimeout: duration.default(10_000).describe('Time to receive the request head (slowloris).'),
        requestTimeout: duration.default(60_000).describe('Time to receive the whole request.'),
        maxBodyBytes: z.number().int().min(0).default(10_485_760).describe('Larger bodies get 413.'),
        maxConnectionsPerIp: z
          .number()
          .int()
          .min(1)
          .default(256)
          .describe('Open connections per client address.'),
        upstreamTimeout: duration.default(60_000).describe('Time to wait for the upstream’s response head.'),
      })
      .prefault({}),
    accessLog: z
      .string()
      .min(1)
      .optional()
      .describe('Also write every request to this file in nginx `combined` format.'),
    metrics: address('127.0.0.1')
      .optional()
      .describe(
        'Serve Prometheus metrics on this address. A bare port (`9464`, `:9464`) binds 127.0.0.1; give `[::]:9464` to expose them.',
      ),
  })
  .describe('`moat gate`: the reverse proxy in front of an app.');

export type GateConfig = z.output<typeof gateSchema>;
export type ZoneConfig = GateConfig['zones'][number];
export type DenyRuleConfig = GateConfig['deny'][number];
export type RouteConfig = GateConfig['routes'][number];

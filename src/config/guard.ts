/**
 * The `guard` section: Redis instances to watch (and how to respond), HTTP/TCP checks, and the
 * host's CPU, memory and disk thresholds.
 */
import { z } from 'zod';
import { cidr, duration } from './fields.ts';

const percent = z.number().min(1).max(100);

/** Commands a client outside `allowedClients` must not run (as CLIENT LIST's `cmd=` names them). */
export const DEFAULT_DANGEROUS_COMMANDS: readonly string[] = Object.freeze([
  'replicaof',
  'slaveof',
  'config|set',
  'module|load',
  'debug',
  'flushall',
]);

const LOOPBACK = ['127.0.0.0/8', '::1'];

const redisUrl = z
  .string()
  .regex(/^rediss?:\/\/\S+$/, 'a URL like redis://127.0.0.1:6379 or rediss://user:password@host:6380')
  .refine((value) => {
    try {
      const url = new URL(value);
      return url.hostname !== '' && (url.port === '' || Number(url.port) > 0);
    } catch {
      return false;
    }
  }, 'a URL like redis://127.0.0.1:6379 or rediss://user:password@host:6380')
  .describe(
    '`redis://[user[:password]@]host[:port]`, or `rediss://…` for TLS. The password is never logged; prefer `passwordFile`.',
  );

/** `10.0.0.2:6379` or `10.0.0.2` (any port). */
const masterAddress = z
  .string()
  .regex(
    /^(\[[0-9a-fA-F:.]+\]|[^\s:]+|[0-9a-fA-F:]+)(:\d{1,5})?$/,
    'a master like 10.0.0.2:6379 or 10.0.0.2',
  );

const redisInstanceSchema = z
  .strictObject({
    url: redisUrl,
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_.-]*$/, 'a short name like cache')
      .optional()
      .describe('Name in alerts, events and logs. Default: `host:port`.'),
    respond: z
      .enum(['observe', 'restore'])
      .default('observe')
      .describe(
        '`observe`: detect, log and alert, change nothing in Redis. `restore`: also undo a hijack (`REPLICAOF NO ONE`, or back to the expected master), set `dir`/`dbfilename` back, `CLIENT KILL` the offender and ban its address.',
      ),
    passwordFile: z
      .string()
      .min(1)
      .optional()
      .describe('A file holding the password (first line), instead of writing it into the URL.'),
    tls: z
      .strictObject({
        ca: z.string().min(1).optional().describe('PEM file of the CA that signed the server certificate.'),
        cert: z.string().min(1).optional().describe('PEM client certificate, when Redis asks for one.'),
        key: z.string().min(1).optional().describe('PEM key of the client certificate.'),
        servername: z.string().min(1).optional().describe('Name to check the certificate against.'),
        insecure: z
          .boolean()
          .default(false)
          .describe('Accept any server certificate (testing only: anyone in the path can read the traffic).'),
      })
      .optional()
      .describe('TLS options for `rediss://` URLs.'),
    interval: duration.optional().describe('Poll period for this instance. Default: `guard.interval`.'),
    timeout: duration
      .default(1000)
      .describe('Connect and command timeout; a poll that takes longer counts as unreachable.'),
    expectedMasters: z
      .array(masterAddress)
      .default([])
      .describe(
        'Masters this instance may replicate from (`host:port`, or `host` for any port). Empty: the master it replicates from at start, if any. Replicating from any other is a hijack.',
      ),
    allowedClients: z
      .array(cidr)
      .default(LOOPBACK)
      .describe(
        'Addresses allowed to run dangerous commands (your admin hosts, Sentinel). Default: loopback only.',
      ),
    allowedReplicas: z
      .array(cidr)
      .default(LOOPBACK)
      .describe(
        'Addresses replicas may attach from, besides those attached at start. A replica from elsewhere is an alert (it copies the whole dataset).',
      ),
    dangerousCommands: z
      .array(z.string().regex(/^[a-z][a-z0-9|_-]*$/, 'a command as CLIENT LIST names it, e.g. config|set'))
      .default([...DEFAULT_DANGEROUS_COMMANDS])
      .describe(
        'Commands (as CLIENT LIST’s `cmd=` shows them: `config|set`, `module|load`) that are an incident when a client outside `allowedClients` runs them.',
      ),
    renamedCommands: z
      .record(z.string().regex(/^[A-Z]+$/, 'an upper-case command name like CONFIG'), z.string().min(1))
      .default({})
      .describe(
        'Commands renamed with `rename-command` in redis.conf, e.g. `{ CONFIG: CONFIG_b840fc }`, so the guard can still read and restore.',
      ),
    unreachableAfter: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(3)
      .describe('Alert when this many polls in a row fail.'),
    masterLinkDownAfter: duration
      .default(10_000)
      .describe('Alert when a replica’s link to its master has been down this long.'),
    memoryAlertAbove: percent
      .default(90)
      .describe(
        'Alert when used memory reaches this percentage of `maxmemory` (recovers 5 points below). Ignored without maxmemory.',
      ),
    ban: duration
      .default(7 * 86_400_000)
      .describe('Ban asked for the offender’s address when `respond: restore` acts.'),
  })
  .describe('A Redis instance to watch.');

/** `200`, `2xx`, `20x`. */
const statusPattern = z.union([
  z.number().int().min(100).max(599),
  z.string().regex(/^[1-5](xx|\dx|\d\d)$/, 'a status like 200, 2xx or 30x'),
]);

const checkSchema = z
  .strictObject({
    name: z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/, 'a short name like api'),
    http: z
      .string()
      .regex(/^https?:\/\/\S+$/, 'a URL like https://example.com/health')
      .optional()
      .describe('GET this URL.'),
    tcp: z
      .string()
      .regex(/^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):\d{1,5}$/, 'an address like 127.0.0.1:5432 or [::1]:5432')
      .optional()
      .describe('Connect to this `host:port`.'),
    interval: duration.default(30_000).describe('How often the check runs.'),
    timeout: duration.default(5000).describe('A check taking longer fails.'),
    status: z
      .array(statusPattern)
      .default(['2xx', '3xx'])
      .describe('HTTP: statuses that count as up (`200`, `2xx`, `30x`).'),
    bodyContains: z
      .string()
      .min(1)
      .optional()
      .describe('HTTP: the body (first 1 MiB) must contain this text.'),
    maxLatency: duration.optional().describe('HTTP/TCP: slower answers count as down.'),
    minCertDays: z
      .number()
      .int()
      .min(1)
      .max(3650)
      .optional()
      .describe('HTTPS: the certificate must be valid for at least this many more days.'),
    ca: z.string().min(1).optional().describe('HTTPS: PEM file of the CA to trust (a private CA).'),
    insecure: z
      .boolean()
      .default(false)
      .describe('HTTPS: do not verify the certificate chain (days left are still checked).'),
    failAfter: z
      .number()
      .int()
      .min(1)
      .max(100)
      .default(2)
      .describe('Down after this many failures in a row.'),
    recoverAfter: z
      .number()
      .int()
      .min(1)
      .max(100)
      .default(2)
      .describe('Up again after this many successes in a row.'),
  })
  .refine((c) => (c.http === undefined) !== (c.tcp === undefined), {
    message: 'give exactly one of http or tcp',
  })
  .describe('A service check: one alert when it goes down, one when it recovers.');

const thresholdFields = {
  alertAbove: percent.describe('Alert when usage reaches this percentage.'),
  recoverBelow: percent.describe('Recovered when usage falls below this percentage (hysteresis).'),
};

const usageSchema = (alertAbove: number, recoverBelow: number) =>
  z
    .strictObject({
      alertAbove: thresholdFields.alertAbove.default(alertAbove),
      recoverBelow: thresholdFields.recoverBelow.default(recoverBelow),
    })
    .refine((t) => t.recoverBelow <= t.alertAbove, {
      message: 'recoverBelow must not be above alertAbove',
      path: ['recoverBelow'],
    });

const systemSchema = z
  .strictObject({
    interval: duration.default(5000).describe('How often CPU, memory and disks are sampled.'),
    cpu: z
      .strictObject({
        alertAbove: thresholdFields.alertAbove.default(95),
        recoverBelow: thresholdFields.recoverBelow.default(80),
        window: duration
          .default(60_000)
          .describe('CPU busy time is averaged over this window (from /proc/stat).'),
      })
      .refine((t) => t.recoverBelow <= t.alertAbove, {
        message: 'recoverBelow must not be above alertAbove',
        path: ['recoverBelow'],
      })
      .optional()
      .describe('CPU saturation: busy share of all cores over the window. Absent: not checked.'),
    memory: usageSchema(95, 90)
      .optional()
      .describe('Memory in use (1 − MemAvailable/MemTotal). Absent: not checked.'),
    disks: z
      .array(
        z.strictObject({
          path: z.string().regex(/^\//, 'an absolute path like / or /var/lib/redis'),
          alertAbove: thresholdFields.alertAbove.default(90),
          recoverBelow: thresholdFields.recoverBelow.default(85),
        }),
      )
      .default([])
      .describe('File systems to watch, by a path on each (space used, as `df` counts it).'),
  })
  .describe('Host saturation checks.');

export const guardSchema = z
  .strictObject({
    interval: duration.default(2000).describe('How often each Redis instance is polled.'),
    redis: z
      .array(redisInstanceSchema)
      .default([])
      .refine(
        (list) => new Set(list.map((i) => i.name ?? i.url)).size === list.length,
        'two instances have the same name (or URL); give each a distinct name',
      )
      .describe('Redis instances to watch.'),
    checks: z
      .array(checkSchema)
      .default([])
      .refine(
        (list) => new Set(list.map((c) => c.name)).size === list.length,
        'two checks have the same name',
      )
      .describe('HTTP(S) and TCP service checks.'),
    system: systemSchema.prefault({}),
  })
  .describe('`moat guard`: watchdogs for Redis, services and the host.');

export type GuardConfig = z.output<typeof guardSchema>;
export type RedisInstanceConfig = GuardConfig['redis'][number];
export type CheckConfig = GuardConfig['checks'][number];
export type SystemConfig = GuardConfig['system'];

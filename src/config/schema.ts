/**
 * The one closed configuration schema. Every key is optional and has its default here, with a
 * description that docs/config.md and the editor JSON Schema (schema/moat.schema.json) are generated
 * from. Unknown keys are errors (strict objects), so a typo never passes silently.
 */
import { z } from 'zod';
import { cidr, duration, port } from './fields.ts';
import { alertsSchema } from './alerts.ts';
import { gateSchema } from './gate.ts';
import { guardSchema } from './guard.ts';

const cdnSchema = z
  .strictObject({
    provider: z
      .enum(['none', 'cloudflare'])
      .default('none')
      .describe(
        'The CDN the site sits behind. With `cloudflare`, audit expects 80/443 to be open only to Cloudflare ranges.',
      ),
    rangesFile: z
      .string()
      .min(1)
      .optional()
      .describe(
        "A file of CIDRs (one per line, `#` comments) that replaces moat's built-in dated list of the CDN's ranges.",
      ),
  })
  .describe('The CDN in front of this host, if any.');

const auditSchema = z
  .strictObject({
    compose: z
      .array(z.string().min(1))
      .default([])
      .describe(
        'Extra docker compose files to read, besides the ones found in common places (same as --compose).',
      ),
    skip: z
      .array(z.string().regex(/^[a-z0-9-]+$/, 'a rule id such as redis-no-auth'))
      .default([])
      .describe(
        'Rule ids to leave out of the report (see docs/checks.md). Use sparingly, with a comment why.',
      ),
    commandTimeoutMs: z
      .number()
      .int()
      .min(100)
      .max(60_000)
      .default(3000)
      .describe(
        'How long a host command (sshd -T, nginx -T, nft list ruleset…) may run before it is skipped.',
      ),
  })
  .describe('`moat audit`: reads config files and host state.');

const probeSchema = z
  .strictObject({
    ports: z
      .array(port)
      .min(1)
      .optional()
      .describe(
        'Ports to try when --ports is not given. Default: moat’s list of common service and admin ports.',
      ),
    timeoutMs: z
      .number()
      .int()
      .min(50)
      .max(60_000)
      .default(1500)
      .describe('Connect and read timeout per port and per protocol probe.'),
    concurrency: z
      .number()
      .int()
      .min(1)
      .max(4096)
      .default(256)
      .describe('How many connections may be open at once.'),
    maxTargets: z
      .number()
      .int()
      .min(1)
      .max(65_536)
      .default(256)
      .describe('Probing more addresses than this needs --yes.'),
  })
  .describe('`moat probe`: outside-in checks of what answers.');

const sourceSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_.-]*$/, 'a short name like nginx-access')
      .optional()
      .describe('Name used in events, stats and stored positions. Default: the path, or `journal`/`stdin`.'),
    path: z.string().min(1).optional().describe('A log file to tail (rotation-safe; may not exist yet).'),
    journal: z
      .strictObject({ unit: z.string().min(1).optional(), identifier: z.string().min(1).optional() })
      .optional()
      .describe('Read journald (`journalctl -f -o json`) for this unit or syslog identifier.'),
    stdin: z.boolean().optional().describe('Read lines from standard input.'),
    format: z
      .enum(['nginx-combined', 'nginx-log-format', 'nginx-error', 'sshd', 'redis', 'regex', 'fail2ban'])
      .describe('How to parse the lines.'),
    logFormat: z
      .string()
      .optional()
      .describe('For `nginx-log-format`: the log_format directive pasted from nginx.conf.'),
    pattern: z
      .string()
      .optional()
      .describe('For `regex`: a regular expression with named groups (ip, user, path, …).'),
    timeZone: z
      .string()
      .optional()
      .describe(
        'Zone of timestamps that carry none (syslog, nginx error log, Redis log): `local` (default), `UTC` or `+02:00`.',
      ),
    filter: z.string().optional().describe('For `fail2ban`: path of a fail2ban filter .conf.'),
    from: z
      .enum(['end', 'start'])
      .default('end')
      .describe('Where to start a file seen for the first time (afterwards the stored position wins).'),
  })
  .refine((s) => [s.path, s.journal, s.stdin].filter((v) => v !== undefined && v !== false).length === 1, {
    message: 'give exactly one of path, journal or stdin',
  })
  .refine((s) => s.format !== 'nginx-log-format' || s.logFormat !== undefined, {
    message: 'format nginx-log-format needs logFormat (paste the log_format directive)',
    path: ['logFormat'],
  })
  .refine((s) => s.format !== 'regex' || s.pattern !== undefined, {
    message: 'format regex needs pattern',
    path: ['pattern'],
  })
  .refine((s) => s.format !== 'fail2ban' || s.filter !== undefined, {
    message: 'format fail2ban needs filter (a fail2ban filter .conf)',
    path: ['filter'],
  });

const watchSchema = z
  .strictObject({
    sources: z.array(sourceSchema).default([]).describe('What to read. Empty: nothing is watched.'),
    scenarios: z
      .strictObject({
        builtin: z.boolean().default(true).describe('Load moat’s built-in scenarios.'),
        disabled: z
          .array(z.string())
          .default([])
          .describe('Built-in scenario names to leave out, e.g. php-probe on a PHP site.'),
        files: z.array(z.string()).default([]).describe('Extra scenario YAML files (globs allowed).'),
      })
      .prefault({})
      .describe('Which detection scenarios run.'),
    maxBuckets: z
      .number()
      .int()
      .min(1000)
      .default(2_000_000)
      .describe('Cap on tracked (scenario, key) buckets; the least recently used is dropped beyond it.'),
  })
  .describe('`moat watch`: tail logs, detect attackers.');

const decisionsSchema = z
  .strictObject({
    banDuration: duration.default(4 * 3_600_000).describe('First ban of an address.'),
    maxBanDuration: duration.default(7 * 86_400_000).describe('Escalation never bans for longer than this.'),
    escalationFactor: z
      .number()
      .min(1)
      .max(10)
      .default(2)
      .describe('Each repeat offence multiplies the ban by this.'),
    escalationWindow: duration.default(30 * 86_400_000).describe('Offences older than this are forgotten.'),
    ipv6Prefix: z
      .number()
      .int()
      .min(48)
      .max(128)
      .default(64)
      .describe(
        'IPv6 clients are counted and banned as this prefix (one host usually owns a whole /64). 128 = single address.',
      ),
    allowlist: z.array(cidr).default([]).describe('Addresses and ranges that are never banned.'),
    sshPorts: z
      .array(port)
      .min(1)
      .default([22])
      .describe(
        'Ports sshd listens on: clients with an open connection to them count as current SSH sessions, never banned.',
      ),
  })
  .describe('How detections become bans. Loopback and current SSH sessions are never banned.');

const firewallSchema = z
  .strictObject({
    backend: z
      .enum(['dry-run', 'nftables', 'iptables-ipset', 'ufw'])
      .default('dry-run')
      .describe(
        'Where bans are enforced. `dry-run` only logs: set `nftables` (recommended: covers Docker-published ports) to ban for real. `iptables-ipset` also covers them (DOCKER-USER); `ufw` rules sit in INPUT and do not.',
      ),
    table: z
      .string()
      .regex(/^[a-z][a-z0-9_]*$/)
      .default('moat')
      .describe('nftables table (family inet) moat owns.'),
    priority: z
      .number()
      .int()
      .min(-400)
      .max(0)
      .default(-200)
      .describe('Hook priority of the drop chains; below 0 runs before ufw and Docker.'),
    netns: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/, 'a network namespace name')
      .optional()
      .describe(
        'Enforce inside this network namespace (`ip netns exec NAME nft …`) instead of the host’s own.',
      ),
  })
  .describe('Enforcement of bans.');

export const configSchema = z
  .strictObject({
    stateDir: z
      .string()
      .min(1)
      .default('/var/lib/moat')
      .describe('Where bans and read positions persist (SQLite). `--state-dir` overrides.'),
    cdn: cdnSchema.prefault({}),
    audit: auditSchema.prefault({}),
    probe: probeSchema.prefault({}),
    watch: watchSchema.prefault({}),
    decisions: decisionsSchema.prefault({}),
    firewall: firewallSchema.prefault({}),
    gate: gateSchema.prefault({}),
    guard: guardSchema.prefault({}),
    alerts: alertsSchema.prefault({}),
  })
  .describe('moat configuration (/etc/moat/moat.yaml). Every key is optional.');

export type MoatConfig = z.output<typeof configSchema>;
export type AuditConfig = MoatConfig['audit'];
export type ProbeConfig = MoatConfig['probe'];
export type CdnConfig = MoatConfig['cdn'];
export type WatchConfig = MoatConfig['watch'];
export type SourceConfig = WatchConfig['sources'][number];
export type DecisionsConfig = MoatConfig['decisions'];
export type FirewallConfig = MoatConfig['firewall'];

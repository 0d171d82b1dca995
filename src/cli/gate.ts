/**
 * `moat gate`: the reverse proxy in the foreground, JSON logs on stdout. The common settings work as
 * flags, in nginx's terms, composed over the config file's `gate` section and checked by the same
 * schema. SIGHUP reopens the access log, SIGTERM drains and stops.
 */
import type { Command } from 'commander';
import { gateSchema, type GateConfig } from '../config/gate.ts';
import type { MoatConfig } from '../config/schema.ts';
import { MoatError } from '../core/errors.ts';
import type { CliContext } from './context.ts';
import { runDaemon } from './daemon.ts';

export interface GateFlags {
  listen?: string;
  upstream?: string;
  rate?: string;
  burst?: string;
  nodelay?: boolean;
  deny?: string[];
  trustProxy?: string[];
  cdn?: string;
  tlsCert?: string;
  tlsKey?: string;
  accessLog?: string;
  metrics?: string;
  stateDir?: string;
}

/** The zone a `--rate` flag defines, applied to every request. */
export const CLI_ZONE = 'cli';

/** Which flag set a key of the gate section, for error messages. */
function flagOf(path: readonly PropertyKey[]): string {
  const [key, , field] = path;
  switch (key) {
    case 'listen':
      return '--listen';
    case 'upstream':
      return '--upstream';
    case 'zones':
      return field === 'burst' ? '--burst' : '--rate';
    case 'deny':
      return '--deny';
    case 'trustProxies':
      return '--trust-proxy';
    case 'tls':
      return path[1] === 'key' ? '--tls-key' : '--tls-cert';
    case 'accessLog':
      return '--access-log';
    case 'metrics':
      return '--metrics';
    default:
      return `gate.${path.map(String).join('.')}`;
  }
}

const usage = (message: string, hint?: string) =>
  new MoatError('MOAT_USAGE', message, hint === undefined ? {} : { hint });

/**
 * The configuration `moat gate` runs with: the file's, with the flags' values over its `gate`
 * section (`--deny`, `--trust-proxy` and `--rate` add to what the file lists). Each flag is checked
 * by the gate schema; an error names the flag.
 */
export function composeGateConfig(base: MoatConfig, flags: GateFlags): MoatConfig {
  if (flags.rate === undefined && (flags.burst !== undefined || flags.nodelay)) {
    throw usage(
      `${flags.burst !== undefined ? '--burst' : '--nodelay'} needs --rate`,
      'Add --rate 10r/s (or the rate you want).',
    );
  }
  if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) {
    throw usage(
      '--tls-cert and --tls-key go together',
      'Give both the certificate chain and its key (PEM files).',
    );
  }
  if (flags.cdn !== undefined && flags.cdn !== 'cloudflare') {
    throw usage(`--cdn ${JSON.stringify(flags.cdn)}: moat knows cloudflare`, 'Use --cdn cloudflare.');
  }
  if (flags.rate !== undefined && base.gate.zones.some((zone) => zone.name === CLI_ZONE)) {
    throw usage(
      `--rate: the config file already has a zone named ${CLI_ZONE}`,
      'Rename that zone, or leave out --rate.',
    );
  }
  const raw: Record<string, unknown> = {};
  if (flags.listen !== undefined)
    raw['listen'] = /^\d+$/.test(flags.listen) ? Number(flags.listen) : flags.listen;
  if (flags.upstream !== undefined) raw['upstream'] = flags.upstream;
  if (flags.rate !== undefined) {
    raw['zones'] = [
      {
        name: CLI_ZONE,
        rate: flags.rate,
        ...(flags.burst === undefined
          ? {}
          : { burst: /^\d+$/.test(flags.burst) ? Number(flags.burst) : flags.burst }),
        nodelay: flags.nodelay === true,
      },
    ];
  }
  if (flags.deny !== undefined && flags.deny.length > 0) raw['deny'] = [{ paths: flags.deny }];
  if (flags.trustProxy !== undefined && flags.trustProxy.length > 0) raw['trustProxies'] = flags.trustProxy;
  if (flags.tlsCert !== undefined) raw['tls'] = { cert: flags.tlsCert, key: flags.tlsKey };
  if (flags.accessLog !== undefined) raw['accessLog'] = flags.accessLog;
  if (flags.metrics !== undefined)
    raw['metrics'] = /^\d+$/.test(flags.metrics) ? `127.0.0.1:${flags.metrics}` : flags.metrics;

  const parsed = gateSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${flagOf(issue.path)}: ${issue.message}`);
    throw usage(
      problems.join('; '),
      'Run `moat gate --help`; the flags take the values of the gate section in docs/config.md.',
    );
  }
  const fromFlags = parsed.data;
  const gate: GateConfig = {
    ...base.gate,
    ...(flags.listen === undefined ? {} : { listen: fromFlags.listen }),
    ...(fromFlags.upstream === undefined ? {} : { upstream: fromFlags.upstream }),
    ...(fromFlags.tls === undefined ? {} : { tls: fromFlags.tls }),
    ...(fromFlags.accessLog === undefined ? {} : { accessLog: fromFlags.accessLog }),
    ...(fromFlags.metrics === undefined ? {} : { metrics: fromFlags.metrics }),
    zones: [...base.gate.zones, ...fromFlags.zones],
    // The --rate zone applies to every request: the default list and every route's own list.
    limit: flags.rate === undefined ? base.gate.limit : [...base.gate.limit, CLI_ZONE],
    routes:
      flags.rate === undefined
        ? base.gate.routes
        : base.gate.routes.map((route) =>
            route.limit === undefined ? route : { ...route, limit: [...route.limit, CLI_ZONE] },
          ),
    deny: [...base.gate.deny, ...fromFlags.deny],
    trustProxies: [...base.gate.trustProxies, ...fromFlags.trustProxies],
    cdnOnly: flags.cdn === 'cloudflare' ? true : base.gate.cdnOnly,
  };
  if (gate.upstream === undefined && gate.routes.length === 0) {
    throw usage(
      '--upstream is required (or gate.upstream in the config file)',
      'Add --upstream http://127.0.0.1:3000 (where your app listens).',
    );
  }
  return {
    ...base,
    cdn: flags.cdn === 'cloudflare' ? { ...base.cdn, provider: 'cloudflare' } : base.cdn,
    gate,
  };
}

const collect = (value: string, previous: string[]) => [...previous, value];

export function registerGate(program: Command, context: CliContext): void {
  program
    .command('gate')
    .description(
      'reverse proxy in front of an app: per-IP rate limits, deny rules, bans, CDN-only mode, WebSockets — runs until SIGTERM',
    )
    .option('--listen <address>', 'where to listen: :8080, 127.0.0.1:8080, [::1]:8443 (gate.listen)')
    .option('--upstream <url>', 'the app: http://127.0.0.1:3000 (gate.upstream)')
    .option(
      '--rate <rate>',
      `per-client rate in nginx terms, 10r/s or 60r/m: a zone named ${CLI_ZONE} for every request`,
    )
    .option('--burst <n>', 'requests above the rate that are queued, or admitted at once with --nodelay')
    .option('--nodelay', 'admit the burst at once instead of spacing it out')
    .option(
      '--deny <glob>',
      "refuse paths matching this glob with 404 ('*.php', '/.env', '/.git/**'); repeatable",
      collect,
      [],
    )
    .option(
      '--trust-proxy <cidr>',
      'believe X-Forwarded-For from this proxy address or range; repeatable',
      collect,
      [],
    )
    .option(
      '--cdn <provider>',
      "accept only the CDN's addresses and take the client from its header: cloudflare",
    )
    .option('--tls-cert <file>', 'serve HTTPS with this PEM certificate chain (with --tls-key)')
    .option('--tls-key <file>', 'the PEM private key of --tls-cert')
    .option('--access-log <file>', 'also write every request to this file in nginx combined format')
    .option(
      '--metrics <address>',
      'serve Prometheus metrics here: 127.0.0.1:9464 (a bare port binds loopback)',
    )
    .option('--state-dir <dir>', 'where bans persist (default: config stateDir)')
    .action(async (flags: GateFlags, command: Command) => {
      await runDaemon(context, {
        configPath: command.optsWithGlobals<{ config?: string }>().config,
        compose: (fileConfig) => composeGateConfig(fileConfig, flags),
        ...(flags.stateDir === undefined ? {} : { stateDir: flags.stateDir }),
        plan: { sources: false, guard: false, gate: true },
      });
    });
}

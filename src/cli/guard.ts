/**
 * `moat guard`: the watchdogs in the foreground (Redis, service checks, host saturation), JSON logs
 * on stdout, hosted by the daemon without its log sources (runDaemon, as `moat watch` and `moat gate`). Redis URLs and the common settings work
 * as flags, composed over the config file's `guard` section and checked by the same schema.
 *
 *   moat guard redis://127.0.0.1:6379 --respond restore --alert-webhook https://hooks.example.com/moat
 */
import type { Command } from 'commander';
import { webhookFromUrl } from '../alerts/quick-start.ts';
import { guardSchema, type GuardConfig } from '../config/guard.ts';
import type { MoatConfig } from '../config/schema.ts';
import { MoatError } from '../core/errors.ts';
import { guardConfigured } from '../guard/configured.ts';
import { redactUrl } from '../guard/redis-url.ts';
import type { CliContext } from './context.ts';
import { runDaemon } from './daemon.ts';

export interface GuardFlags {
  respond?: string;
  allowClient?: string[];
  interval?: string;
  http?: string[];
  tcp?: string[];
  system?: boolean;
  alertWebhook?: string;
  stateDir?: string;
}

const usage = (message: string, hint?: string) =>
  new MoatError('MOAT_USAGE', message, hint === undefined ? {} : { hint });

/** Which flag set a key of the guard section, for error messages. */
function flagOf(path: readonly PropertyKey[], urls: readonly string[]): string {
  const [key, index, field] = path;
  if (key === 'interval') return '--interval';
  if (key === 'redis' && typeof index === 'number') {
    if (field === 'respond') return '--respond';
    if (field === 'allowedClients') return '--allow-client';
    return `redis URL ${redactUrl(urls[index] ?? '')}`;
  }
  if (key === 'checks') return field === 'tcp' ? '--tcp' : '--http';
  return `guard.${path.map(String).join('.')}`;
}

const checkName = (prefix: string, target: string, taken: Set<string>) => {
  const base = `${prefix}-${target
    .replace(/^[a-z]+:\/\//, '')
    .replace(/[^a-z0-9_.-]+/gi, '-')
    .replace(/^-+|-+$/g, '')
    .toLowerCase()}`.slice(0, 60);
  let name = base;
  for (let i = 2; taken.has(name); i++) name = `${base}-${i}`;
  taken.add(name);
  return name;
};

/**
 * The configuration `moat guard` runs with: the file's, plus the Redis URLs and checks given on the
 * command line. `--respond` applies to the URLs given (to every configured instance when none is
 * given); a URL the file already lists keeps its settings. `--alert-webhook` adds a notifier.
 */
export function composeGuardConfig(base: MoatConfig, urls: readonly string[], flags: GuardFlags): MoatConfig {
  if (flags.respond !== undefined && flags.respond !== 'observe' && flags.respond !== 'restore') {
    throw usage(`--respond ${JSON.stringify(flags.respond)}: use observe or restore`);
  }
  const respond = flags.respond as 'observe' | 'restore' | undefined;
  const configured = new Map(base.guard.redis.map((instance) => [instance.url, instance]));
  const fresh = urls.filter((url) => !configured.has(url));
  const taken = new Set(base.guard.checks.map((check) => check.name));
  const raw: Record<string, unknown> = {
    redis: fresh.map((url) => ({
      url,
      ...(respond === undefined ? {} : { respond }),
      ...(flags.allowClient === undefined ? {} : { allowedClients: flags.allowClient }),
    })),
    checks: [
      ...(flags.http ?? []).map((url) => ({ name: checkName('http', url, taken), http: url })),
      ...(flags.tcp ?? []).map((target) => ({ name: checkName('tcp', target, taken), tcp: target })),
    ],
  };
  if (flags.interval !== undefined)
    raw['interval'] = /^\d+$/.test(flags.interval) ? Number(flags.interval) : flags.interval;
  if (flags.system) raw['system'] = { cpu: {}, memory: {}, disks: [{ path: '/' }] };
  const parsed = guardSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${flagOf(issue.path, fresh)}: ${issue.message}`);
    throw usage(
      problems.join('; '),
      'Run `moat guard --help`; the guard section is documented in docs/config.md.',
    );
  }
  const fromFlags = parsed.data;
  const redis = [
    ...base.guard.redis.map((instance) =>
      respond !== undefined && (urls.length === 0 || urls.includes(instance.url))
        ? { ...instance, respond }
        : instance,
    ),
    ...fromFlags.redis,
  ] as GuardConfig['redis'];
  const guard: GuardConfig = {
    ...base.guard,
    ...(flags.interval === undefined ? {} : { interval: fromFlags.interval }),
    redis,
    checks: [...base.guard.checks, ...fromFlags.checks],
    ...(flags.system
      ? {
          system: {
            ...base.guard.system,
            cpu: base.guard.system.cpu ?? fromFlags.system.cpu,
            memory: base.guard.system.memory ?? fromFlags.system.memory,
            disks: base.guard.system.disks.length > 0 ? base.guard.system.disks : fromFlags.system.disks,
          },
        }
      : {}),
  };
  // The whole section again, for the rules across entries (distinct names).
  const checked = guardSchema.safeParse(guard);
  if (!checked.success) {
    throw usage(
      checked.error.issues
        .map((issue) => `guard.${issue.path.map(String).join('.')}: ${issue.message}`)
        .join('; '),
      'Give each instance a distinct name in the config file, or leave the duplicate off the command line.',
    );
  }
  if (!guardConfigured(guard)) {
    throw usage(
      'nothing to guard: give a Redis URL, --http/--tcp checks or --system, or a guard section in the config file',
      'For example: moat guard redis://127.0.0.1:6379 --respond restore',
    );
  }
  const alerts =
    flags.alertWebhook === undefined
      ? base.alerts
      : { ...base.alerts, notifiers: [...base.alerts.notifiers, webhookFromUrl(flags.alertWebhook)] };
  return { ...base, guard, alerts };
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerGuard(program: Command, context: CliContext): void {
  program
    .command('guard')
    .description(
      'watch Redis (role, master, dir, clients, health), HTTP/TCP services and CPU/memory/disk; respond and alert — runs until SIGTERM',
    )
    .argument('[redis-url...]', 'Redis instances: redis://[user:password@]host:port or rediss://… (TLS)')
    .option(
      '--respond <mode>',
      'observe (default: detect and alert) or restore (undo, kill the client, ban it)',
    )
    .option(
      '--allow-client <cidr>',
      'addresses allowed to run dangerous commands on the URLs given (repeatable; default loopback)',
      collect,
    )
    .option('--interval <duration>', 'how often Redis is polled (default 2s)')
    .option('--http <url>', 'also check this URL (repeatable)', collect)
    .option('--tcp <host:port>', 'also check this TCP port (repeatable)', collect)
    .option('--system', 'also watch CPU (95 % over 1 min), memory (95 %) and the root disk (90 %)')
    .option(
      '--alert-webhook <url>',
      'send alerts to this webhook (JSON; Slack and Discord URLs are recognised)',
    )
    .option('--state-dir <dir>', 'where bans persist (default: config stateDir)')
    .action(async (urls: string[], flags: GuardFlags, command: Command) => {
      const configPath = command.optsWithGlobals<{ config?: string }>().config;
      await runDaemon(context, {
        configPath,
        compose: (fileConfig) => composeGuardConfig(fileConfig, urls, flags),
        ...(flags.stateDir === undefined ? {} : { stateDir: flags.stateDir }),
        plan: { sources: false, guard: true, gate: false },
      });
    });
}

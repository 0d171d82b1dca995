/** `moat alerts test`: one test message to each configured notifier; ok or why not, per notifier. */
import type { Command } from 'commander';
import { loadConfig } from '../config/load.ts';
import { MoatError } from '../core/errors.ts';
import { createJsonLogger, type Logger } from '../daemon/log.ts';
import type { CliContext } from './context.ts';

export function registerAlerts(program: Command, context: CliContext): void {
  const alerts = program.command('alerts').description('the notifiers moat alerts through');
  alerts
    .command('test')
    .description('send a test message to each configured notifier; exit 1 if any fails')
    .option('--notifier <name>', 'test only this notifier (repeatable)', collect, [] as string[])
    .option('--json', 'print [ { name, type, endpoint, ok, error } ]')
    .action(async (flags: { notifier: string[]; json?: boolean }, command: Command) => {
      const { config } = await loadConfig(command.optsWithGlobals<{ config?: string }>().config);
      const names = new Set(flags.notifier);
      const chosen = config.alerts.notifiers.filter((n) => names.size === 0 || names.has(n.name ?? n.type));
      if (chosen.length === 0) {
        throw new MoatError(
          'MOAT_ALERTS_NONE',
          names.size === 0
            ? 'no notifiers configured (alerts.notifiers is empty)'
            : `no notifier named ${[...names].join(', ')} in alerts.notifiers`,
        );
      }
      const unknown = [...names].filter((name) => !chosen.some((n) => (n.name ?? n.type) === name));
      if (unknown.length > 0) {
        throw new MoatError(
          'MOAT_ALERTS_NONE',
          `no notifier named ${unknown.join(', ')} in alerts.notifiers`,
        );
      }
      // Warnings (a secret file readable by all) go to stderr as JSON lines; the verdicts to stdout.
      const json = createJsonLogger(context.stderr);
      const logger: Logger = {
        log(level, msg, fields) {
          if (level === 'warn' || level === 'error') json.log(level, msg, fields);
        },
      };
      // Loaded on use: the notifiers (nodemailer) are not needed by any other command.
      const { createAlerts } = await import('../alerts/index.ts');
      const sink = createAlerts({ ...config.alerts, notifiers: chosen }, { logger });
      const results = await sink.test();
      await sink.stop();
      if (flags.json) {
        context.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
      } else {
        const width = Math.max(...results.map((r) => `${r.name} (${r.type})`.length));
        for (const r of results) {
          const label = `${r.name} (${r.type})`.padEnd(width);
          context.stdout.write(
            r.ok
              ? `ok      ${label}  ${r.endpoint}\n`
              : `failed  ${label}  ${r.endpoint}: ${r.error ?? 'unknown error'}\n`,
          );
        }
      }
      if (results.some((r) => !r.ok)) context.exitCode = 1;
    });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/**
 * `moat watch`: the daemon in the foreground, JSON logs on stdout: the log sources, and the guard and
 * the gate when their config sections are set. SIGHUP reloads, SIGTERM drains.
 */
import type { Command } from 'commander';
import type { CliContext } from './context.ts';
import { runDaemon } from './daemon.ts';

export function registerWatch(program: Command, context: CliContext): void {
  program
    .command('watch')
    .description(
      'tail logs, detect attackers, ban them (firewall.backend: nftables), plus the configured guard and gate — runs until SIGTERM',
    )
    .option('--state-dir <dir>', 'where bans and read positions persist (default: config stateDir)')
    .action(async (flags: { stateDir?: string }, command: Command) => {
      await runDaemon(context, {
        configPath: command.optsWithGlobals<{ config?: string }>().config,
        ...(flags.stateDir === undefined ? {} : { stateDir: flags.stateDir }),
        plan: { sources: true, guard: true, gate: true },
      });
    });
}

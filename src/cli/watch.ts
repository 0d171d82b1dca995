/** `moat watch`: the daemon in the foreground, JSON logs on stdout. SIGHUP reloads, SIGTERM drains. */
import type { Command } from 'commander';
import { loadConfig } from '../config/load.ts';
import { systemClock } from '../core/clock.ts';
import { createJsonLogger } from '../daemon/log.ts';
import { startWatch } from '../daemon/watch.ts';
import type { CliContext } from './context.ts';

export function registerWatch(program: Command, context: CliContext): void {
  program
    .command('watch')
    .description('tail logs, detect attackers, ban them (firewall.backend: nftables) — runs until SIGTERM')
    .option('--state-dir <dir>', 'where bans and read positions persist (default: config stateDir)')
    .action(async (flags: { stateDir?: string }, command: Command) => {
      const configPath = command.optsWithGlobals<{ config?: string }>().config;
      const { config } = await loadConfig(configPath);
      const logger = createJsonLogger(context.stdout);
      const daemon = await startWatch({
        config,
        stateDir: flags.stateDir ?? config.stateDir,
        logger,
        clock: systemClock,
      });
      await new Promise<void>((resolve) => {
        const onHup = () => {
          loadConfig(configPath)
            .then(({ config: next }) => daemon.reload(next))
            .catch((error: unknown) =>
              logger.log('error', 'reload failed; the previous configuration stays in force', {
                error: error instanceof Error ? error.message : String(error),
              }),
            );
        };
        const onStop = (signal: string) => {
          logger.log('info', 'stopping', { signal });
          process.off('SIGHUP', onHup);
          daemon.stop().then(resolve, resolve);
        };
        process.on('SIGHUP', onHup);
        process.once('SIGTERM', () => onStop('SIGTERM'));
        process.once('SIGINT', () => onStop('SIGINT'));
      });
    });
}

/** `moat config check|schema`. */
import type { Command } from 'commander';
import { configJsonSchema } from '../config/json-schema.ts';
import { loadConfig } from '../config/load.ts';
import type { CliContext } from './context.ts';

export function registerConfig(program: Command, context: CliContext): void {
  const config = program.command('config').description('check the configuration file, print its JSON Schema');
  config
    .command('check')
    .description('validate the configuration (default /etc/moat/moat.yaml) and exit non-zero if invalid')
    .action(async (_flags: unknown, command: Command) => {
      const globals = command.optsWithGlobals<{ config?: string }>();
      const { path } = await loadConfig(globals.config);
      context.stdout.write(
        path === undefined
          ? 'ok: no configuration file at /etc/moat/moat.yaml; every key has its default\n'
          : `ok: ${path} is valid\n`,
      );
    });
  config
    .command('schema')
    .description('print the JSON Schema of the configuration file (for editors)')
    .action(() => {
      context.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
    });
}

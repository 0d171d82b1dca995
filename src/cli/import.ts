/** `moat import fail2ban FILTER.conf`: read a fail2ban filter, show what moat compiled, print the config to use it. */
import type { Command } from 'commander';
import { systemClock } from '../core/clock.ts';
import { MoatError } from '../core/errors.ts';
import { fsReader } from '../daemon/fs-reader.ts';
import { describeFilter, loadFail2banFilter, parseFilterSpec } from '../parsing/fail2ban/index.ts';
import type { CliContext } from './context.ts';

export function registerImport(program: Command, context: CliContext): void {
  const importCommand = program.command('import').description('bring rules from other tools into moat');
  importCommand
    .command('fail2ban')
    .description('compile a fail2ban filter (failregex, ignoreregex, prefregex, datepattern, includes)')
    .argument('<filter>', 'path of the filter .conf, optionally with parameters: sshd.conf[mode=aggressive]')
    .option('--log <file>', 'the log file the source should tail', '/var/log/auth.log')
    .action(async (filterArg: string, flags: { log: string }) => {
      const spec = parseFilterSpec(filterArg);
      if (!spec) throw new MoatError('MOAT_USAGE', `"${filterArg}" is not a filter path`);
      const filter = await loadFail2banFilter(
        spec.name,
        { parameters: spec.parameters, clock: systemClock },
        fsReader,
      );
      context.stdout.write(`${describeFilter(filter)}\n`);
      context.stdout.write(
        [
          '',
          '# To use it, add a source to /etc/moat/moat.yaml (the built-in scenario fail2ban-filter bans',
          '# after 5 matches within ~10 minutes, like a fail2ban jail with its defaults):',
          'watch:',
          '  sources:',
          `    - path: ${flags.log}`,
          '      format: fail2ban',
          `      filter: ${JSON.stringify(filterArg)}`,
          '',
        ].join('\n'),
      );
    });
}

/**
 * The CLI entry: parse, dispatch, print `error:` with a hint on failure, return the exit code.
 * Library code never calls process.exit(); bin/moat.js sets process.exitCode from main().
 */
import { Command, CommanderError } from 'commander';
import { isMoatError } from '../core/errors.ts';
import { registerAlerts } from './alerts.ts';
import { registerAudit } from './audit.ts';
import { registerConfig } from './config.ts';
import { type CliContext, processContext } from './context.ts';
import { registerProbe } from './probe.ts';
import { registerReplay } from './replay.ts';
import { registerWatch } from './watch.ts';
import { registerBans } from './bans.ts';
import { registerImport } from './import.ts';
import { registerGate } from './gate.ts';
import { registerGuard } from './guard.ts';
import { VERSION } from './version.ts';

export function buildProgram(context: CliContext): Command {
  const program = new Command('moat')
    .description('moat keeps attackers out of small self-hosted servers')
    .version(VERSION, '-V, --version')
    .option('-c, --config <file>', 'configuration file', undefined)
    .option('--debug', 'show stack traces on errors')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => context.stdout.write(text),
      writeErr: (text) => context.stderr.write(text),
      outputError: () => {},
    });
  registerAudit(program, context);
  registerProbe(program, context);
  registerWatch(program, context);
  registerReplay(program, context);
  registerBans(program, context);
  registerImport(program, context);
  registerGate(program, context);
  registerGuard(program, context);
  registerConfig(program, context);
  registerAlerts(program, context);
  for (const command of program.commands) command.exitOverride();
  return program;
}

export async function main(argv: readonly string[], context: CliContext = processContext()): Promise<number> {
  const program = buildProgram(context);
  const debug = argv.includes('--debug');
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return context.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return 0; // --help, --version
      context.stderr.write(`error: ${error.message.replace(/^error: /, '')}\nhint: run \`moat --help\`\n`);
      return 2;
    }
    if (isMoatError(error)) {
      context.stderr.write(`error: ${error.message}\nhint: ${error.hint}\n  (code ${error.code})\n`);
      if (debug && error.stack) context.stderr.write(`${error.stack}\n`);
      return 2;
    }
    context.stderr.write(
      `error: internal error: ${error instanceof Error ? error.message : String(error)}\n` +
        'hint: this is a bug in moat; re-run with --debug and report the stack trace\n  (code MOAT_INTERNAL)\n',
    );
    if (debug && error instanceof Error && error.stack) context.stderr.write(`${error.stack}\n`);
    return 2;
  }
}

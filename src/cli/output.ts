/** Output flags shared by every command that prints a Report. */
import { type Command, Option } from 'commander';
import { MoatError } from '../core/errors.ts';
import { atLeast, isSeverity, type Report, type Rule, SEVERITIES, type Severity } from '../core/finding.ts';
import { type ReportFormat, renderReport } from '../report/index.ts';
import type { CliContext } from './context.ts';
import { VERSION } from './version.ts';

export interface OutputFlags {
  json?: boolean;
  sarif?: boolean;
  failOn?: string;
  verbose?: boolean;
  color?: boolean;
}

export function addOutputOptions(command: Command): Command {
  return command
    .addOption(new Option('--json', 'print the JSON report (see docs/json-contract.md)').conflicts('sarif'))
    .option('--sarif', 'print SARIF 2.1.0 (for GitHub code scanning)')
    .addOption(
      new Option('--fail-on <severity>', 'exit 1 when a finding is at least this severe').choices(SEVERITIES),
    )
    .option('--verbose', 'list skipped sources one per line')
    .option('--no-color', 'never colour the text output');
}

export function formatOf(flags: OutputFlags): ReportFormat {
  if (flags.json) return 'json';
  if (flags.sarif) return 'sarif';
  return 'text';
}

export function useColor(context: CliContext, flags: OutputFlags): boolean {
  if (flags.color === false || context.env['NO_COLOR'] !== undefined) return false;
  if (context.env['FORCE_COLOR'] !== undefined && context.env['FORCE_COLOR'] !== '0') return true;
  return context.stdout.isTTY === true && context.env['TERM'] !== 'dumb';
}

/** Prints the report in the chosen format and sets the exit code from --fail-on. */
export function emitReport(
  report: Report,
  flags: OutputFlags,
  context: CliContext,
  meta: { readonly subject: string; readonly rules: readonly Rule[]; readonly root: string },
): void {
  context.stdout.write(
    renderReport(report, {
      format: formatOf(flags),
      subject: meta.subject,
      color: useColor(context, flags),
      verbose: flags.verbose === true,
      rules: meta.rules,
      root: meta.root,
      version: VERSION,
    }),
  );
  if (flags.failOn !== undefined) {
    if (!isSeverity(flags.failOn)) {
      throw new MoatError('MOAT_USAGE', `--fail-on: "${flags.failOn}" is not a severity`);
    }
    const threshold: Severity = flags.failOn;
    if (report.findings.some((f) => atLeast(f.severity, threshold))) context.exitCode = 1;
  }
}

/** `moat replay FILE…`: run the watch pipeline over log files and print the decisions it would take. */
import { Option, type Command } from 'commander';
import type { SourceConfig } from '../config/schema.ts';
import { formatDuration } from '../core/duration.ts';
import { loadConfig } from '../config/load.ts';
import { replayFiles, type ReplayResult } from '../daemon/replay.ts';
import type { CliContext } from './context.ts';

const FORMATS = [
  'nginx-combined',
  'nginx-log-format',
  'nginx-error',
  'sshd',
  'redis',
  'regex',
  'fail2ban',
] as const;

interface ReplayFlags {
  format: (typeof FORMATS)[number];
  logFormat?: string;
  pattern?: string;
  filter?: string;
  timeZone?: string;
  json?: boolean;
}

export function registerReplay(program: Command, context: CliContext): void {
  program
    .command('replay')
    .description(
      'run the watch pipeline over log files as fast as possible; print the decisions it would take',
    )
    .argument('<file...>', 'log files (read whole, in order)')
    .addOption(
      new Option('--format <format>', 'how to parse the lines').choices(FORMATS).default('nginx-combined'),
    )
    .option('--log-format <directive>', 'for nginx-log-format: the log_format directive from nginx.conf')
    .option('--pattern <regex>', 'for regex: a regular expression with named groups')
    .option(
      '--filter <file>',
      'for fail2ban: a fail2ban filter .conf, e.g. /etc/fail2ban/filter.d/sshd.conf[mode=aggressive]',
    )
    .option('--time-zone <zone>', 'zone of timestamps without one: local, UTC or +02:00')
    .option('--json', 'print { decisions, summary } as JSON (see docs/watch.md)')
    .action(async (files: string[], flags: ReplayFlags, command: Command) => {
      const { config } = await loadConfig(command.optsWithGlobals<{ config?: string }>().config);
      const source: Omit<SourceConfig, 'path' | 'journal' | 'stdin' | 'name' | 'from'> = {
        format: flags.format,
        ...(flags.logFormat === undefined ? {} : { logFormat: flags.logFormat }),
        ...(flags.pattern === undefined ? {} : { pattern: flags.pattern }),
        ...(flags.filter === undefined ? {} : { filter: flags.filter }),
        ...(flags.timeZone === undefined ? {} : { timeZone: flags.timeZone }),
      };
      const result = await replayFiles(files, source, config);
      context.stdout.write(flags.json ? replayJson(result) : replayText(result));
    });
}

export function replayJson(result: ReplayResult): string {
  const { stats } = result;
  return `${JSON.stringify(
    {
      decisions: result.decisions.map((d) => ({
        target: d.target,
        scenario: d.scenario,
        reason: d.reason,
        durationMs: d.durationMs,
        at: new Date(d.at).toISOString(),
      })),
      summary: {
        lines: stats.lines,
        parsed: stats.parsed,
        unparsed: stats.unparsed,
        oversized: result.oversizedLines,
        perScenario: stats.perScenario,
        decisions: stats.decisions,
        refusals: stats.refusals,
        elapsedMs: Math.round(result.elapsedMs),
      },
    },
    null,
    2,
  )}\n`;
}

function replayText(result: ReplayResult): string {
  const { stats } = result;
  const lines: string[] = [];
  for (const d of result.decisions) {
    lines.push(
      `${new Date(d.at).toISOString()}  ban ${d.target.padEnd(22)} ${formatDuration(d.durationMs).padStart(4)}  ${d.scenario}: ${d.reason}`,
    );
  }
  const rate = result.elapsedMs > 0 ? Math.round((stats.lines / result.elapsedMs) * 1000) : stats.lines;
  lines.push(
    '',
    `${stats.lines} lines (${stats.parsed} parsed, ${stats.unparsed} not recognised) in ${Math.round(result.elapsedMs)} ms, ${rate.toLocaleString('en')} lines/s`,
    `${stats.decisions} decision(s)`,
  );
  for (const [scenario, count] of Object.entries(stats.perScenario).sort())
    lines.push(`  ${scenario}: ${count} overflow(s)`);
  const refused = Object.entries(stats.refusals);
  if (refused.length > 0) lines.push(`refused: ${refused.map(([code, n]) => `${n} ${code}`).join(', ')}`);
  return `${lines.join('\n')}\n`;
}

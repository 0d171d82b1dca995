/** Human output: grouped by severity, aligned, coloured only when the stream is a colour TTY. */
import { styleText } from 'node:util';
import { type Report, SEVERITIES, type Severity } from '../core/finding.ts';

const STYLE: Record<Severity, Parameters<typeof styleText>[0]> = {
  critical: ['bold', 'red'],
  high: 'red',
  medium: 'yellow',
  low: 'cyan',
  info: 'gray',
};

export interface TextOptions {
  /** What was examined, for the heading: `this host`, `/srv/copy`, `127.0.0.1`. */
  readonly subject: string;
  readonly color: boolean;
  /** Show `skipped` entries one per line (else only their count). */
  readonly verbose?: boolean;
}

export function renderText(report: Report, options: TextOptions): string {
  const paint = (style: Parameters<typeof styleText>[0], text: string) =>
    options.color ? styleText(style, text, { validateStream: false }) : text;
  const counts = SEVERITIES.map((s) => [s, report.findings.filter((f) => f.severity === s).length] as const);
  const summary = counts
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${s}`)
    .join(', ');
  const lines: string[] = [
    paint('bold', `moat: ${options.subject}`) +
      ` — ${report.findings.length} finding${report.findings.length === 1 ? '' : 's'}` +
      (summary ? ` (${summary})` : '') +
      (report.skipped.length > 0 ? `, ${report.skipped.length} source(s) skipped` : ''),
  ];
  for (const severity of SEVERITIES) {
    const group = report.findings.filter((f) => f.severity === severity);
    if (group.length === 0) continue;
    lines.push('', paint(STYLE[severity], severity.toUpperCase()));
    const idWidth = Math.max(...group.map((f) => f.id.length));
    for (const finding of group) {
      lines.push(`  ${paint(STYLE[severity], finding.id.padEnd(idWidth))}  ${finding.title}`);
      const indent = ' '.repeat(idWidth + 4);
      // Multi-line details and fixes (config snippets) stay inside the finding's column.
      const hang = (text: string, by: number) => text.replaceAll('\n', `\n${indent}${' '.repeat(by)}`);
      for (const item of finding.evidence) {
        const where = item.file ? `${item.file}${item.line === undefined ? '' : `:${item.line}`}  ` : '';
        lines.push(`${indent}${paint('dim', where)}${hang(item.detail, 2)}`);
      }
      lines.push(`${indent}${paint('green', 'fix:')} ${hang(finding.fix, 5)}`);
    }
  }
  if (report.findings.length === 0) lines.push('', paint('green', 'No findings.'));
  if (report.skipped.length > 0) {
    if (options.verbose) {
      lines.push('', paint('dim', 'SKIPPED'));
      for (const item of report.skipped) lines.push(paint('dim', `  ${item.check}: ${item.reason}`));
    } else {
      lines.push('', paint('dim', `${report.skipped.length} source(s) skipped; --verbose lists them.`));
    }
  }
  return `${lines.join('\n')}\n`;
}

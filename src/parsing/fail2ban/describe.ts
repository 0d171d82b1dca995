import type { Fail2banFilter } from './types.ts';

/** A plain-text account of an imported filter, for `moat import fail2ban` to print. */
export function describeFilter(filter: Fail2banFilter, options: { javascript?: boolean } = {}): string {
  const d = filter.definition;
  const out: string[] = [];
  out.push(`fail2ban filter ${filter.name}`);
  out.push(`  files: ${filter.files.join(', ')}`);
  const params = Object.entries(d.parameters);
  if (params.length > 0) out.push(`  parameters: ${params.map(([k, v]) => `${k}=${v}`).join(', ')}`);
  const count = (role: string) => filter.regexes.filter((r) => r.role === role).length;
  out.push(
    `  regexes: ${count('failregex')} failregex, ${count('ignoreregex')} ignoreregex${count('prefregex') ? ', prefregex' : ''}`,
  );
  for (const r of filter.regexes) {
    out.push(`  ${r.role}: ${r.python}`);
    if (options.javascript) out.push(`    as JavaScript: ${r.javascript}`);
  }
  if (filter.dateTemplates.length === 0) {
    out.push('  dates: taken from the journal (logtype=journal)');
  } else {
    const shown = filter.dateTemplates.slice(0, 5);
    const more = filter.dateTemplates.length - shown.length;
    out.push(
      `  date templates (${filter.dateTemplates.length}): ${shown.join(' | ')}${more > 0 ? ` | … ${more} more` : ''}`,
    );
  }
  out.push(`  maxlines: ${d.maxlines}`);
  if (d.journalmatch.length > 0)
    out.push(`  journalmatch: ${d.journalmatch.map((m) => m.join(' ')).join(' ; ')}`);
  return out.join('\n');
}

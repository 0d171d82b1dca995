/** Rules shared by every collector. */
import { type Finding, findingOf, type Rule } from '../core/finding.ts';

export const unparsableFileRule: Rule = {
  id: 'unparsable-file',
  severity: 'low',
  title: 'A configuration file could not be parsed',
  why: 'moat could not read this file, so the checks that depend on it did not run; the service that reads it may also reject or misread it.',
  reads: 'every configuration file a collector opens',
  fix: 'Fix the syntax at the line shown (the service’s own config test, e.g. `nginx -t` or `sshd -t`, confirms it).',
};

export function unparsableFile(file: string, line: number | undefined, detail: string): Finding {
  return findingOf(unparsableFileRule, [line === undefined ? { file, detail } : { file, line, detail }], {
    title: `Could not parse ${file}`,
  });
}

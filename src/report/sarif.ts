/**
 * SARIF 2.1.0 for GitHub code scanning: driver rules with id/name/short/full description/help,
 * results with ruleId, ruleIndex, level, message, one physicalLocation (uri relative to the audited
 * root, startLine) and partialFingerprints. Code scanning rejects results without a location, so a
 * finding with no file gets a location naming what was examined (`moat/<subject>`), line 1.
 */
import { createHash } from 'node:crypto';
import type { Finding, Report, Rule, Severity } from '../core/finding.ts';

const LEVEL: Record<Severity, 'error' | 'warning' | 'note'> = {
  critical: 'error',
  high: 'error',
  medium: 'warning',
  low: 'note',
  info: 'note',
};

/** GitHub maps security-severity to critical (≥ 9.0), high (7.0–8.9), medium (4.0–6.9), low (< 4.0). */
const SECURITY_SEVERITY: Record<Severity, string | undefined> = {
  critical: '9.5',
  high: '8.0',
  medium: '5.5',
  low: '3.0',
  info: undefined,
};

export interface SarifOptions {
  readonly version: string;
  /** Every rule the tool can emit (results refer to them by index). */
  readonly rules: readonly Rule[];
  /** Absolute directory the file paths are relative to (the audit root). */
  readonly root: string;
  /** Used for the pseudo-location of findings that have no file, e.g. `host` or `127.0.0.1`. */
  readonly subject: string;
}

export function renderSarif(report: Report, options: SarifOptions): string {
  const rules = [...options.rules];
  const index = new Map(rules.map((rule, i) => [rule.id, i]));
  for (const finding of report.findings) {
    if (!index.has(finding.id)) {
      // A finding without a declared rule is a bug, but SARIF must stay valid: describe it from itself.
      index.set(finding.id, rules.length);
      rules.push({
        id: finding.id,
        severity: finding.severity,
        title: finding.title,
        why: '',
        reads: '',
        fix: finding.fix,
      });
    }
  }
  const rootUri = new URL(`file://${options.root.endsWith('/') ? options.root : `${options.root}/`}`).href;
  const sarif = {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'moat',
            semanticVersion: options.version,
            rules: rules.map(sarifRule),
          },
        },
        originalUriBaseIds: { ROOT: { uri: rootUri } },
        results: report.findings.map((finding) =>
          sarifResult(finding, index.get(finding.id) ?? 0, options.subject),
        ),
      },
    ],
  };
  return `${JSON.stringify(sarif, null, 2)}\n`;
}

function sarifRule(rule: Rule) {
  const securitySeverity = SECURITY_SEVERITY[rule.severity];
  const why = rule.why || rule.title;
  return {
    id: rule.id,
    name: rule.id.replace(/(^|-)([a-z0-9])/g, (_m, _dash, c: string) => c.toUpperCase()),
    shortDescription: { text: rule.title },
    fullDescription: { text: why },
    help: {
      text: `${why}\n\nReads: ${rule.reads || 'n/a'}\n\nFix: ${rule.fix}`,
      markdown: `${why}\n\n**Reads:** ${rule.reads || 'n/a'}\n\n**Fix:** ${rule.fix}`,
    },
    defaultConfiguration: { level: LEVEL[rule.severity] },
    properties: {
      tags: ['security'],
      ...(securitySeverity === undefined ? {} : { 'security-severity': securitySeverity }),
    },
  };
}

function sarifResult(finding: Finding, ruleIndex: number, subject: string) {
  const first = finding.evidence.find((e) => e.file !== undefined) ?? finding.evidence[0];
  const uri = first?.file
    ? first.file.replace(/^\/+/, '')
    : `moat/${subject.replace(/[^A-Za-z0-9._-]+/g, '_') || 'host'}`;
  const message = [finding.title, ...finding.evidence.map((e) => e.detail), `Fix: ${finding.fix}`].join('\n');
  const fingerprint = createHash('sha256')
    .update([finding.id, uri, ...finding.evidence.map((e) => e.detail)].join('\0'))
    .digest('hex')
    .slice(0, 32);
  return {
    ruleId: finding.id,
    ruleIndex,
    level: LEVEL[finding.severity],
    message: { text: message },
    locations: [
      {
        physicalLocation: {
          artifactLocation: { uri, uriBaseId: 'ROOT' },
          region: { startLine: first?.line ?? 1 },
        },
      },
    ],
    partialFingerprints: { 'moatFinding/v1': fingerprint },
  };
}

/**
 * The Finding: what audit and probe report. Its JSON shape is a public contract
 * (docs/json-contract.md): change it only with a version bump.
 */

export const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** Lower rank = more severe. */
export function severityRank(severity: Severity): number {
  return SEVERITIES.indexOf(severity);
}

/** True when `severity` is at least as severe as `threshold`. */
export function atLeast(severity: Severity, threshold: Severity): boolean {
  return severityRank(severity) <= severityRank(threshold);
}

export function isSeverity(value: string): value is Severity {
  return (SEVERITIES as readonly string[]).includes(value);
}

export interface Evidence {
  /** Path as seen on the audited host (never prefixed with --root). */
  readonly file?: string;
  /** 1-based line in `file`. */
  readonly line?: number;
  readonly detail: string;
}

export interface Finding {
  /** The rule id, stable across versions, e.g. `redis-no-auth`. */
  readonly id: string;
  readonly severity: Severity;
  readonly title: string;
  readonly evidence: readonly Evidence[];
  readonly fix: string;
}

export interface Skipped {
  /** The collector or check that could not run. */
  readonly check: string;
  readonly reason: string;
}

export interface Report {
  readonly findings: readonly Finding[];
  readonly skipped: readonly Skipped[];
}

/**
 * A rule: the documentation of one finding id. Checks and probes declare their rules so that
 * docs/checks.md and the SARIF driver are generated from the same source as the findings.
 */
export interface Rule {
  readonly id: string;
  readonly severity: Severity;
  /** One line, used as the finding title and SARIF shortDescription. */
  readonly title: string;
  /** Why it matters: the incident or attack it enables (SARIF fullDescription). */
  readonly why: string;
  /** What the check reads: files, commands, sockets. */
  readonly reads: string;
  /** How to fix it, concretely. */
  readonly fix: string;
}

/** Builds a finding from its rule; `title` and `severity` may be sharpened per case. */
export function findingOf(
  rule: Rule,
  evidence: readonly Evidence[],
  overrides: { readonly title?: string; readonly severity?: Severity; readonly fix?: string } = {},
): Finding {
  return {
    id: rule.id,
    severity: overrides.severity ?? rule.severity,
    title: overrides.title ?? rule.title,
    evidence,
    fix: overrides.fix ?? rule.fix,
  };
}

/** Most severe first, then by id, then by first evidence location: a stable order for every output. */
export function compareFindings(a: Finding, b: Finding): number {
  return (
    severityRank(a.severity) - severityRank(b.severity) ||
    a.id.localeCompare(b.id) ||
    locationKey(a).localeCompare(locationKey(b))
  );
}

function locationKey(finding: Finding): string {
  const first = finding.evidence[0];
  if (!first) return '';
  return `${first.file ?? ''}:${String(first.line ?? 0).padStart(8, '0')}:${first.detail}`;
}

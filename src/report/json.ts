/** The public JSON contract (docs/json-contract.md): exactly `{ findings, skipped }`. */
import type { Report } from '../core/finding.ts';

export function renderJson(report: Report): string {
  const findings = report.findings.map((f) => ({
    id: f.id,
    severity: f.severity,
    title: f.title,
    evidence: f.evidence.map((e) => ({
      ...(e.file === undefined ? {} : { file: e.file }),
      ...(e.line === undefined ? {} : { line: e.line }),
      detail: e.detail,
    })),
    fix: f.fix,
  }));
  const skipped = report.skipped.map((s) => ({ check: s.check, reason: s.reason }));
  return `${JSON.stringify({ findings, skipped }, null, 2)}\n`;
}

/**
 * runAudit: collect every source concurrently, derive exposure, run the pure checks, return a Report.
 */
import type { MoatConfig } from '../config/schema.ts';
import { compareFindings, type Finding, type Report, type Rule, type Skipped } from '../core/finding.ts';
import { createExposure } from './exposure.ts';
import type { Host } from './host.ts';
import { checks, collectors } from './registry.ts';
import { unparsableFileRule } from './rules.ts';
import type { Facts } from './types.ts';

export interface AuditOptions {
  readonly host: Host;
  readonly config: MoatConfig;
  /** Compose files from --compose, as host paths (config's audit.compose is added). */
  readonly composeFiles?: readonly string[];
}

export async function runAudit(options: AuditOptions): Promise<Report> {
  const { host, config } = options;
  const composeFiles = [...(options.composeFiles ?? []), ...config.audit.compose];
  const facts: Facts = {};
  const findings: Finding[] = [];
  const skipped: Skipped[] = [];

  const results = await Promise.all(
    collectors.map(async (collector) => {
      try {
        return { collector, result: await collector.collect({ host, config, composeFiles }) };
      } catch (error) {
        // A collector bug must not sink the whole audit: report it and go on.
        return {
          collector,
          result: { skipped: [{ check: collector.name, reason: `collector failed: ${String(error)}` }] },
        };
      }
    }),
  );
  for (const { collector, result } of results) {
    if (result.facts !== undefined) (facts as Record<string, unknown>)[collector.name] = result.facts;
    skipped.push(...(result.skipped ?? []));
    findings.push(...(result.findings ?? []));
  }
  for (const problem of host.problems) {
    skipped.push({ check: 'host', reason: `${problem.path}: ${problem.reason}` });
  }

  const exposure = createExposure(facts);
  for (const check of checks) {
    try {
      findings.push(...check.run({ facts, exposure, config }));
    } catch (error) {
      skipped.push({ check: check.name, reason: `check failed: ${String(error)}` });
    }
  }

  const skip = new Set(config.audit.skip);
  return {
    findings: findings.filter((finding) => !skip.has(finding.id)).sort(compareFindings),
    skipped,
  };
}

/** Every rule the audit can emit, for docs/checks.md and the SARIF driver. */
export function auditRules(): Rule[] {
  return [unparsableFileRule, ...checks.flatMap((check) => check.rules)];
}

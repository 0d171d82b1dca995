/**
 * Fixture host trees (test/fixtures/hosts/<case>/root) for each incident and a hardened host.
 * The expected findings live beside each tree as data (expected.<subject>.json); the audit of the
 * tree must report exactly their union: every expected finding, nothing unexpected.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { createHost } from '../../src/audit/host.ts';
import { runAudit } from '../../src/audit/run.ts';
import { parseConfig } from '../../src/config/load.ts';
import { atLeast } from '../../src/core/finding.ts';

interface Expected {
  readonly id: string;
  readonly file?: string;
  readonly line?: number;
}

const casesDir = path.join(import.meta.dirname, '..', 'fixtures', 'hosts');
const cases = readdirSync(casesDir, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort();

function keyOf(item: Expected): string {
  return `${item.id} ${item.file ?? '-'}:${item.line ?? '-'}`;
}

describe('audit --root on the fixture host trees', () => {
  it('has a tree for every incident and a hardened host', () => {
    for (const name of [
      'redis-replicaof',
      'redis-cron',
      'api-scanners',
      'websocket-timeouts',
      'mastodon-docker',
      'hardened',
    ]) {
      assert.ok(cases.includes(name), `missing fixture case ${name}`);
    }
  });

  for (const name of cases) {
    it(`reports exactly the expected findings for ${name}`, async () => {
      const caseDir = path.join(casesDir, name);
      const expectedFiles = readdirSync(caseDir).filter((file) => /^expected\..+\.json$/.test(file));
      const expected: Expected[] = expectedFiles.flatMap(
        (file) =>
          (JSON.parse(readFileSync(path.join(caseDir, file), 'utf8')) as { findings: Expected[] }).findings,
      );
      const configFile = path.join(caseDir, 'moat.json');
      const config = parseConfig(
        readdirSync(caseDir).includes('moat.json') ? JSON.parse(readFileSync(configFile, 'utf8')) : {},
      );
      const report = await runAudit({ host: createHost({ root: path.join(caseDir, 'root') }), config });

      // Compare as multisets, with file/line checked only where the expectation gives them.
      const unmatched = [...report.findings];
      const missing: string[] = [];
      for (const want of expected) {
        const at = unmatched.findIndex(
          (got) =>
            got.id === want.id &&
            (want.file === undefined || got.evidence[0]?.file === want.file) &&
            (want.line === undefined || got.evidence[0]?.line === want.line),
        );
        if (at === -1) missing.push(keyOf(want));
        else unmatched.splice(at, 1);
      }
      const unexpected = unmatched.map((f) =>
        keyOf({
          id: f.id,
          ...(f.evidence[0]?.file ? { file: f.evidence[0].file } : {}),
          ...(f.evidence[0]?.line ? { line: f.evidence[0].line } : {}),
        }),
      );
      assert.deepEqual({ missing, unexpected }, { missing: [], unexpected: [] });
      if (name === 'hardened') {
        assert.deepEqual(
          report.findings.filter((f) => atLeast(f.severity, 'medium')).map((f) => f.id),
          [],
          'a hardened host has no finding above low',
        );
      }
    });
  }
});

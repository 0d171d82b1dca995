import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Report, Rule } from '../core/finding.ts';
import { renderJson } from './json.ts';
import { renderSarif } from './sarif.ts';
import { renderText } from './text.ts';

const rules: Rule[] = [
  {
    id: 'redis-no-auth',
    severity: 'critical',
    title: 'Redis has no password',
    why: 'Anyone can REPLICAOF it.',
    reads: 'redis.conf',
    fix: 'Set requirepass.',
  },
  {
    id: 'ssh-root-login',
    severity: 'high',
    title: 'SSH allows root login',
    why: 'Brute force of root.',
    reads: 'sshd_config',
    fix: 'PermitRootLogin no.',
  },
];

const report: Report = {
  findings: [
    {
      id: 'redis-no-auth',
      severity: 'critical',
      title: 'Redis has no password',
      evidence: [
        { file: '/etc/redis/redis.conf', line: 7, detail: 'requirepass is not set' },
        { detail: 'reachable from the internet' },
      ],
      fix: 'Set requirepass.',
    },
    {
      id: 'probe-open',
      severity: 'low',
      title: 'Port open',
      evidence: [{ detail: '127.0.0.1:22 answers' }],
      fix: 'Close it.',
    },
  ],
  skipped: [{ check: 'nginx', reason: 'no nginx.conf' }],
};

describe('reporters', () => {
  it('JSON has exactly findings and skipped, with optional file/line omitted when absent', () => {
    const parsed = JSON.parse(renderJson(report));
    assert.deepEqual(Object.keys(parsed), ['findings', 'skipped']);
    assert.deepEqual(parsed.findings[0].evidence[1], { detail: 'reachable from the internet' });
    assert.deepEqual(Object.keys(parsed.findings[0]), ['id', 'severity', 'title', 'evidence', 'fix']);
    assert.deepEqual(parsed.skipped, [{ check: 'nginx', reason: 'no nginx.conf' }]);
  });

  it('SARIF 2.1.0 has driver rules and results with location, level and fingerprints', () => {
    const sarif = JSON.parse(
      renderSarif(report, { version: '1.2.3', rules, root: '/srv/copy', subject: '127.0.0.1' }),
    );
    assert.equal(sarif.version, '2.1.0');
    const run = sarif.runs[0];
    assert.equal(run.tool.driver.name, 'moat');
    const ids = run.tool.driver.rules.map((r: { id: string }) => r.id);
    assert.deepEqual(
      ids,
      ['redis-no-auth', 'ssh-root-login', 'probe-open'],
      'undeclared ids are added, not dropped',
    );
    const rule = run.tool.driver.rules[0];
    assert.equal(rule.name, 'RedisNoAuth');
    assert.equal(rule.shortDescription.text, 'Redis has no password');
    assert.equal(rule.fullDescription.text, 'Anyone can REPLICAOF it.');
    assert.match(rule.help.text, /Fix: Set requirepass\./);
    assert.equal(rule.properties['security-severity'], '9.5');
    assert.equal(run.originalUriBaseIds.ROOT.uri, 'file:///srv/copy/');

    const [first, second] = run.results;
    assert.equal(first.ruleId, 'redis-no-auth');
    assert.equal(first.ruleIndex, 0);
    assert.equal(first.level, 'error');
    assert.deepEqual(first.locations[0].physicalLocation, {
      artifactLocation: { uri: 'etc/redis/redis.conf', uriBaseId: 'ROOT' },
      region: { startLine: 7 },
    });
    assert.match(first.partialFingerprints['moatFinding/v1'], /^[0-9a-f]{32}$/);
    assert.equal(second.level, 'note');
    assert.equal(second.ruleIndex, 2);
    assert.equal(second.locations[0].physicalLocation.artifactLocation.uri, 'moat/127.0.0.1');
    assert.notEqual(
      first.partialFingerprints['moatFinding/v1'],
      second.partialFingerprints['moatFinding/v1'],
    );
  });

  it('text groups by severity, most severe first, with evidence and fix under each finding', () => {
    const text = renderText(report, { subject: 'audit of this host', color: false });
    assert.match(
      text,
      /^moat: audit of this host — 2 findings \(1 critical, 1 low\), 1 source\(s\) skipped\n/,
    );
    assert.ok(text.indexOf('CRITICAL') < text.indexOf('LOW'));
    assert.match(
      text,
      /redis-no-auth {2}Redis has no password\n +\/etc\/redis\/redis\.conf:7 {2}requirepass is not set\n/,
    );
    assert.match(text, /fix: Set requirepass\./);
    assert.doesNotMatch(text, /HIGH/, 'empty severity groups are not printed');
  });

  it('text says so when there are no findings', () => {
    assert.match(renderText({ findings: [], skipped: [] }, { subject: 'x', color: false }), /No findings\./);
  });
});

describe('text layout', () => {
  it('keeps multi-line fixes indented under their finding', () => {
    const text = renderText(
      {
        findings: [
          {
            id: 'x-y',
            severity: 'high',
            title: 'T',
            evidence: [{ detail: 'd' }],
            fix: 'In redis.conf:\n  requirepass s',
          },
        ],
        skipped: [],
      },
      { subject: 's', color: false },
    );
    assert.match(text, /\n {7}fix: In redis\.conf:\n {12} {2}requirepass s\n/);
  });
});

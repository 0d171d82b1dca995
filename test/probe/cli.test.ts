/**
 * `moat probe` end to end through bin/moat.js: the unauthenticated Redis on 127.0.0.1:6379 and the
 * trust PostgreSQL on 127.0.0.1:5432 that run on this machine (.ci/run starts them) must be found.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { Report } from '../../src/core/finding.ts';
import { unlessInCi } from '../helpers/requirement.ts';

const run = promisify(execFile);
const top = path.join(import.meta.dirname, '..', '..');
const node = path.join(top, 'node_modules', '.bin', 'node');
const moat = path.join(top, 'bin', 'moat.js');

function reachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const [redisUp, postgresUp] = await Promise.all([reachable(6379), reachable(5432)]);
const servicesMissing = unlessInCi(
  redisUp && postgresUp
    ? undefined
    : `needs redis-server on 127.0.0.1:6379 and PostgreSQL on 127.0.0.1:5432 (.ci/run starts them)`,
);

async function moatProbe(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(node, [moat, 'probe', ...args], { cwd: top });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe('moat probe (CLI)', () => {
  test(
    'moat probe 127.0.0.1 --ports 6379,5432 --json finds the open Redis and the trust PostgreSQL',
    {
      skip: servicesMissing,
    },
    async () => {
      const { code, stdout } = await moatProbe(['127.0.0.1', '--ports', '6379,5432', '--json']);
      assert.equal(code, 0);
      const report = JSON.parse(stdout) as Report;
      assert.deepEqual(Object.keys(report).sort(), ['findings', 'skipped']);
      const critical = report.findings
        .filter((f) => f.severity === 'critical')
        .map((f) => f.id)
        .sort();
      assert.deepEqual(critical, ['probe-postgresql-trust', 'probe-redis-no-auth']);
      assert.match(
        report.findings.find((f) => f.id === 'probe-redis-no-auth')?.evidence[0]?.detail ?? '',
        /^127\.0\.0\.1:6379 /,
      );
      assert.match(
        report.findings.find((f) => f.id === 'probe-postgresql-trust')?.evidence[0]?.detail ?? '',
        /^127\.0\.0\.1:5432 /,
      );
    },
  );

  test(
    '--fail-on critical exits 1 on those findings; text output names them',
    {
      skip: servicesMissing,
    },
    async () => {
      const { code, stdout, stderr } = await moatProbe([
        '127.0.0.1',
        '--ports',
        '6379,5432',
        '--fail-on',
        'critical',
        '--no-color',
      ]);
      assert.equal(code, 1);
      assert.match(stdout, /probe-redis-no-auth/);
      assert.match(stdout, /probe-postgresql-trust/);
      assert.match(stderr, /moat probe: 1 address × 2 ports: 2 open, 0 closed, 0 filtered/);
    },
  );

  test(
    '--sarif declares every probe rule and reports results against them',
    {
      skip: servicesMissing,
    },
    async () => {
      const { code, stdout, stderr } = await moatProbe(['127.0.0.1', '--ports', '6379', '--sarif']);
      assert.equal(code, 0, stderr);
      const sarif = JSON.parse(stdout) as {
        runs: { tool: { driver: { rules: { id: string }[] } }; results: { ruleId: string }[] }[];
      };
      const rules = sarif.runs[0]?.tool.driver.rules.map((rule) => rule.id) ?? [];
      for (const id of [
        'probe-redis-no-auth',
        'probe-postgresql-trust',
        'probe-ssh-password-auth',
        'probe-origin-exposed',
      ]) {
        assert.ok(rules.includes(id), `${id} is declared`);
      }
      assert.ok(sarif.runs[0]?.results.some((result) => result.ruleId === 'probe-redis-no-auth'));
    },
  );

  test('a bad --ports value exits 2 with MOAT_PROBE_PORTS and a hint', async () => {
    const { code, stderr } = await moatProbe(['127.0.0.1', '--ports', '22,99999']);
    assert.equal(code, 2);
    assert.match(
      stderr,
      /^error: --ports "22,99999": "99999" is not a port or range between 1 and 65535\nhint: /,
    );
    assert.match(stderr, /MOAT_PROBE_PORTS/);
  });

  test('more than 256 addresses without --yes exits 2 with MOAT_PROBE_TOO_MANY before scanning', async () => {
    const { code, stderr } = await moatProbe(['127.0.0.0/23', '--ports', '1']);
    assert.equal(code, 2);
    assert.match(stderr, /MOAT_PROBE_TOO_MANY/);
    assert.match(stderr, /--yes/);
  });

  test('a target that is not an address, range or name exits 2 with MOAT_PROBE_TARGET', async () => {
    const { code, stderr } = await moatProbe(['10.0.0.0/99']);
    assert.equal(code, 2);
    assert.match(stderr, /MOAT_PROBE_TARGET/);
  });
});

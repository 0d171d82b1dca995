/**
 * The PostgreSQL probe: the real server running here (127.0.0.1:5432, pg_hba `trust`) and
 * responders for what it cannot show (SCRAM, a hostssl-only pg_hba).
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import { runProbe } from '../../src/probe/index.ts';
import { postgresqlProbe } from '../../src/probe/protocols/postgresql.ts';
import { unlessInCi } from '../helpers/requirement.ts';
import {
  opensslMissing,
  selfSignedCertificate,
  startPostgresHostsslResponder,
  startPostgresScramResponder,
} from '../helpers/responders.ts';

const config = { timeoutMs: 1500, concurrency: 16, maxTargets: 256 };

function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const noPostgres = unlessInCi(
  (await reachable('127.0.0.1', 5432)) ? undefined : 'no PostgreSQL on 127.0.0.1:5432',
);

describe('postgresql probe', () => {
  test(
    'the real PostgreSQL on 127.0.0.1:5432 with trust is a critical finding',
    {
      skip: noPostgres,
    },
    async () => {
      const report = await runProbe({ targets: ['127.0.0.1'], ports: [5432], config });
      const finding = report.findings.find((f) => f.id === 'probe-postgresql-trust');
      assert.ok(finding, JSON.stringify(report));
      assert.equal(finding.severity, 'critical');
      assert.match(
        finding.evidence[0]?.detail ?? '',
        /^127\.0\.0\.1:5432 answered the startup for user postgres, database postgres with AuthenticationOk and asked for no password \(server_version \d+/,
      );
    },
  );

  test('responder: a server that asks for SCRAM-SHA-256 is reported as authentication required', async () => {
    const responder = await startPostgresScramResponder();
    try {
      const result = await postgresqlProbe.run({
        host: responder.host,
        port: responder.port,
        timeoutMs: 1500,
        nowMs: 0,
      });
      assert.equal(result.recognised, true);
      assert.deepEqual(
        result.findings.map((f) => [f.id, f.severity]),
        [['probe-postgresql-auth-required', 'info']],
      );
      assert.match(result.findings[0]?.evidence[0]?.detail ?? '', /request for SASL \(SCRAM-SHA-256\)/);
    } finally {
      await responder.close();
    }
  });

  test(
    'responder: hostssl-only trust is found by retrying over TLS after the "no encryption" refusal',
    {
      skip: opensslMissing(),
    },
    async () => {
      const responder = await startPostgresHostsslResponder(selfSignedCertificate(['db.internal']));
      try {
        const result = await postgresqlProbe.run({
          host: responder.host,
          port: responder.port,
          timeoutMs: 1500,
          nowMs: 0,
        });
        assert.deepEqual(
          result.findings.map((f) => f.id),
          ['probe-postgresql-trust'],
        );
        assert.match(
          result.findings[0]?.evidence[0]?.detail ?? '',
          /over TLS answered the startup .* \(server_version 16\.3\)/,
        );
      } finally {
        await responder.close();
      }
    },
  );

  test('a Redis on the PostgreSQL port is not mistaken for PostgreSQL', async () => {
    const server = net.createServer((socket) => {
      socket.on('error', () => {});
      socket.on('data', () => socket.write('-ERR unknown command\r\n'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    try {
      const result = await postgresqlProbe.run({ host: '127.0.0.1', port, timeoutMs: 500, nowMs: 0 });
      assert.equal(result.recognised, false);
    } finally {
      server.close();
    }
  });
});

/**
 * Probes for services no real server can be had for here: Elasticsearch, MongoDB and the Docker API.
 * Each runs against a minimal RESPONDER (test/helpers/responders.ts) that speaks the documented wire
 * reply; these tests prove the probes read those replies, not that the real products behave so.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runProbe } from '../../src/probe/index.ts';
import { dockerProbe } from '../../src/probe/protocols/docker.ts';
import { elasticsearchProbe } from '../../src/probe/protocols/elasticsearch.ts';
import { mongodbProbe } from '../../src/probe/protocols/mongodb.ts';
import {
  opensslMissing,
  type Responder,
  selfSignedCertificate,
  startDockerResponder,
  startElasticsearchResponder,
  startHttpResponder,
  startMongoResponder,
} from '../helpers/responders.ts';

const config = { timeoutMs: 1500, concurrency: 16, maxTargets: 256 };
const context = (responder: Responder) => ({
  host: responder.host,
  port: responder.port,
  timeoutMs: 1500,
  nowMs: Date.now(),
});

async function using<T>(start: Promise<Responder>, body: (responder: Responder) => Promise<T>): Promise<T> {
  const responder = await start;
  try {
    return await body(responder);
  } finally {
    await responder.close();
  }
}

describe('elasticsearch probe (responder)', () => {
  test('responder: GET / with cluster_name and version and no auth is critical', async () => {
    await using(startElasticsearchResponder({ auth: false }), async (responder) => {
      const result = await elasticsearchProbe.run(context(responder));
      assert.deepEqual(
        result.findings.map((f) => [f.id, f.severity]),
        [['probe-elasticsearch-no-auth', 'critical']],
      );
      assert.equal(
        result.findings[0]?.evidence[0]?.detail,
        `127.0.0.1:${responder.port} answered HTTP GET / without authentication: cluster_name "mastodon-search", node "es-node-1", Elasticsearch 7.17.21`,
      );
    });
  });

  test('responder: 401 with the security realm is authentication required (info)', async () => {
    await using(startElasticsearchResponder({ auth: true }), async (responder) => {
      const result = await elasticsearchProbe.run(context(responder));
      assert.deepEqual(
        result.findings.map((f) => [f.id, f.severity]),
        [['probe-elasticsearch-auth-required', 'info']],
      );
      assert.match(
        result.findings[0]?.evidence[0]?.detail ?? '',
        /401 \(WWW-Authenticate: Basic realm="security"/,
      );
    });
  });

  test(
    'responder: over HTTPS (plain HTTP refused) the cluster is found and the certificate reported',
    {
      skip: opensslMissing(),
    },
    async () => {
      const tls = selfSignedCertificate(['es.internal']);
      await using(startElasticsearchResponder({ auth: false, tls }), async (responder) => {
        const result = await elasticsearchProbe.run(context(responder));
        const ids = result.findings.map((f) => f.id);
        assert.deepEqual(ids, ['probe-elasticsearch-no-auth', 'probe-tls-certificate']);
        assert.match(
          result.findings[0]?.evidence[0]?.detail ?? '',
          /answered HTTPS GET \/ without authentication/,
        );
        assert.match(
          result.findings[1]?.evidence[0]?.detail ?? '',
          /subject "CN=es\.internal".*\(self-signed\), names DNS:es\.internal/,
        );
      });
    },
  );

  test('an ordinary web page on 9200 is not Elasticsearch', async () => {
    await using(
      startHttpResponder((_request, response) => response.end('<title>hello</title>')),
      async (responder) => assert.equal((await elasticsearchProbe.run(context(responder))).recognised, false),
    );
  });
});

describe('mongodb probe (responder)', () => {
  test('responder: listDatabases answered without credentials is critical and names the databases', async () => {
    await using(startMongoResponder({ auth: false }), async (responder) => {
      const result = await mongodbProbe.run(context(responder));
      assert.deepEqual(
        result.findings.map((f) => [f.id, f.severity]),
        [['probe-mongodb-no-auth', 'critical']],
      );
      assert.equal(
        result.findings[0]?.evidence[0]?.detail,
        `127.0.0.1:${responder.port} answered listDatabases without credentials: 2 database(s) (admin, shop); version 7.0.12`,
      );
    });
  });

  test('responder: Unauthorized (code 13) is authentication required', async () => {
    await using(startMongoResponder({ auth: true }), async (responder) => {
      const result = await mongodbProbe.run(context(responder));
      assert.deepEqual(
        result.findings.map((f) => f.id),
        ['probe-mongodb-auth-required'],
      );
      assert.match(
        result.findings[0]?.evidence[0]?.detail ?? '',
        /refused listDatabases without credentials \(Unauthorized: Command listDatabases requires authentication\)/,
      );
    });
  });
});

describe('docker API probe (responder)', () => {
  test('responder: /_ping OK and /version without a client certificate is critical', async () => {
    await using(startDockerResponder(), async (responder) => {
      const result = await dockerProbe.run(context(responder));
      assert.deepEqual(
        result.findings.map((f) => [f.id, f.severity]),
        [['probe-docker-api-no-auth', 'critical']],
      );
      assert.match(
        result.findings[0]?.evidence[0]?.detail ?? '',
        /answered HTTP GET \/_ping with OK and GET \/version without a client certificate \(Api-Version 1\.45, Version 26\.1\.4, Os linux, Arch amd64, KernelVersion 6\.1\.0-21-amd64\)/,
      );
    });
  });

  test('responder: found on an unusual port through identification (HTTP answer to PING)', async () => {
    await using(startDockerResponder(), async (responder) => {
      const report = await runProbe({ targets: ['127.0.0.1'], ports: [responder.port], config });
      assert.ok(
        report.findings.some((f) => f.id === 'probe-docker-api-no-auth'),
        JSON.stringify(report),
      );
    });
  });
});

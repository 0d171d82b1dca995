/** HTTP(S) probe and the --origin check against local HTTP and HTTPS servers (openssl certificates). */
import type { ServerResponse } from 'node:http';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runProbe } from '../../src/probe/index.ts';
import { probeOrigin } from '../../src/probe/origin.ts';
import { httpProbe } from '../../src/probe/protocols/http.ts';
import { freePort } from '../helpers/redis-server.ts';
import {
  opensslMissing,
  type Responder,
  selfSignedCertificate,
  startHttpResponder,
  type TlsMaterial,
} from '../helpers/responders.ts';

const DAY_MS = 86_400_000;

async function using<T>(start: Promise<Responder>, body: (responder: Responder) => Promise<T>): Promise<T> {
  const responder = await start;
  try {
    return await body(responder);
  } finally {
    await responder.close();
  }
}

describe('http probe', () => {
  test('reports status, Server header and title of a plain HTTP service', async () => {
    await using(
      startHttpResponder((_request, response) => {
        response.writeHead(200, { server: 'nginx/1.22.1', 'content-type': 'text/html' });
        response.end('<html><head><title>Grafana</title></head></html>');
      }),
      async (responder) => {
        const result = await httpProbe.run({
          host: responder.host,
          port: responder.port,
          timeoutMs: 1500,
          nowMs: Date.now(),
        });
        assert.deepEqual(
          result.findings.map((f) => f.id),
          ['probe-http-service'],
        );
        assert.equal(result.findings[0]?.title, 'An HTTP service answers (nginx/1.22.1)');
        assert.equal(
          result.findings[0]?.evidence[0]?.detail,
          `127.0.0.1:${responder.port} answered HTTP GET / with status 200, Server: nginx/1.22.1, title "Grafana"`,
        );
      },
    );
  });

  describe('over TLS', { skip: opensslMissing() }, () => {
    const handler = (_request: unknown, response: ServerResponse) => response.end('ok');

    test('reads the certificate, and says nothing about expiry when it is far off', async () => {
      await using(
        startHttpResponder(handler, { tls: selfSignedCertificate(['shop.example'], 90) }),
        async (responder) => {
          const result = await httpProbe.run({
            host: responder.host,
            port: responder.port,
            timeoutMs: 1500,
            nowMs: Date.now(),
          });
          assert.deepEqual(
            result.findings.map((f) => f.id),
            ['probe-http-service', 'probe-tls-certificate'],
          );
          assert.match(
            result.findings[0]?.evidence[0]?.detail ?? '',
            /answered HTTPS GET \/ with status 200/,
          );
          assert.match(
            result.findings[1]?.evidence[0]?.detail ?? '',
            /names DNS:shop\.example, valid until \d{4}-\d\d-\d\d, SHA-256 [0-9A-F:]+$/,
          );
        },
      );
    });

    test('a certificate within 14 days of expiry is low, an expired one medium', async () => {
      await using(
        startHttpResponder(handler, { tls: selfSignedCertificate(['shop.example'], 30) }),
        async (responder) => {
          const base = { host: responder.host, port: responder.port, timeoutMs: 1500 };
          const soon = await httpProbe.run({ ...base, nowMs: Date.now() + 20 * DAY_MS });
          assert.deepEqual(soon.findings.map((f) => [f.id, f.severity]).slice(2), [
            ['probe-tls-cert-expiring', 'low'],
          ]);
          const late = await httpProbe.run({ ...base, nowMs: Date.now() + 31 * DAY_MS });
          assert.deepEqual(late.findings.map((f) => [f.id, f.severity]).slice(2), [
            ['probe-tls-cert-expired', 'medium'],
          ]);
        },
      );
    });
  });
});

describe('--origin', () => {
  /** An origin web server: a virtual host for `site`, 404 for any other Host. */
  function origin(site: string, tls?: TlsMaterial) {
    return startHttpResponder(
      (request, response) => {
        if (request.headers.host === site) {
          response.writeHead(200, { 'content-type': 'text/html' });
          response.end('<title>Shop</title>');
        } else {
          response.writeHead(404);
          response.end('<title>404 Not Found</title>');
        }
      },
      tls === undefined ? {} : { tls },
    );
  }

  test('an origin that serves the domain over HTTP, unlike an unknown name, is high', async () => {
    await using(origin('shop.example'), async (server) => {
      const finding = await probeOrigin({
        host: '127.0.0.1',
        domain: 'shop.example',
        timeoutMs: 1000,
        ports: { http: server.port, https: await freePort() },
        lookup: async () => ['203.0.113.10'],
      });
      assert.equal(finding.id, 'probe-origin-exposed');
      assert.equal(finding.severity, 'high');
      assert.equal(finding.title, '127.0.0.1 serves shop.example directly, outside its CDN');
      assert.equal(
        finding.evidence[0]?.detail,
        `127.0.0.1:${server.port} answers HTTP for Host shop.example with status 200, title "Shop", unlike an unknown name (status 404, title "404 Not Found")`,
      );
    });
  });

  test('a certificate naming the domain is evidence on its own', { skip: opensslMissing() }, async () => {
    const site = selfSignedCertificate(['shop.example', '*.shop.example']);
    await using(origin('shop.example', site), async (server) => {
      const finding = await probeOrigin({
        host: '127.0.0.1',
        domain: 'www.shop.example',
        timeoutMs: 1000,
        ports: { http: await freePort(), https: server.port },
        lookup: async () => [],
      });
      assert.equal(finding.id, 'probe-origin-exposed');
      assert.match(
        finding.evidence[0]?.detail ?? '',
        /presents a certificate for www\.shop\.example \(subject "CN=shop\.example", names DNS:shop\.example DNS:\*\.shop\.example\)/,
      );
    });
  });

  test('a server that answers the domain like any unknown name does not serve it', async () => {
    await using(origin('other.example'), async (server) => {
      const closedPort = await freePort();
      const finding = await probeOrigin({
        host: '127.0.0.1',
        domain: 'shop.example',
        timeoutMs: 1000,
        ports: { http: server.port, https: closedPort },
        lookup: async () => [],
      });
      assert.equal(finding.id, 'probe-origin-not-served');
      assert.equal(finding.severity, 'info');
      assert.deepEqual(
        finding.evidence.map((e) => e.detail),
        [
          `127.0.0.1:${server.port} answered HTTP for shop.example like any unknown name (status 404, title "404 Not Found")`,
          `127.0.0.1:${closedPort} did not answer HTTPS for shop.example`,
        ],
      );
    });
  });

  test('a default site that answers every name alike is caught by comparing with the site served through DNS', async () => {
    const page = (_request: unknown, response: ServerResponse) => response.end('<title>Shop</title>');
    await using(startHttpResponder(page), async (originServer) => {
      // The "CDN": the same site on another loopback address, where the domain resolves.
      await using(startHttpResponder(page, { host: '127.0.0.2', port: originServer.port }), async () => {
        const finding = await probeOrigin({
          host: '127.0.0.1',
          domain: 'shop.example',
          timeoutMs: 1000,
          ports: { http: originServer.port, https: await freePort() },
          lookup: async () => ['127.0.0.2'],
        });
        assert.equal(finding.id, 'probe-origin-exposed');
        assert.equal(
          finding.evidence[0]?.detail,
          `127.0.0.1:${originServer.port} answers HTTP for Host shop.example with the same title as the site served through DNS (127.0.0.2): "Shop"`,
        );
      });
    });
  });

  test('runProbe --origin adds the origin verdict and says when the domain resolves to the address itself', async () => {
    await using(origin('shop.example'), async (server) => {
      const report = await runProbe({
        targets: ['127.0.0.1'],
        ports: [server.port],
        config: { timeoutMs: 1000, concurrency: 8, maxTargets: 256 },
        origin: 'shop.example',
        originPorts: { http: server.port, https: await freePort() },
        lookup: async () => ['127.0.0.1'],
      });
      const finding = report.findings.find((f) => f.id === 'probe-origin-exposed');
      assert.equal(
        finding?.evidence.at(-1)?.detail,
        'shop.example resolves to 127.0.0.1 itself: the site is not behind a CDN at all',
      );
    });
  });
});

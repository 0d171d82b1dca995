/**
 * Elasticsearch (and OpenSearch): `GET /` over HTTP, then HTTPS. The root endpoint returns the
 * cluster name and version JSON; with security enabled it answers 401 instead.
 */
import { findingOf, type Rule } from '../../core/finding.ts';
import { endpointText } from '../net.ts';
import { notRecognised, type ProbeContext, type ProbeResult, type ProtocolProbe } from '../types.ts';
import { certificateFindings, getAuto, headerText } from './http.ts';

export const elasticsearchNoAuthRule: Rule = {
  id: 'probe-elasticsearch-no-auth',
  severity: 'critical',
  title: 'Elasticsearch answers without authentication',
  why: 'Anyone who reaches the port can read every index (`GET /_search`), delete them (`DELETE /*`, the ransom-note wipes of exposed clusters) or fill the disk. Mastodon’s search cluster (incident 5) runs without auth and must stay private.',
  reads: 'TCP HOST:PORT: `GET /` over HTTP and HTTPS (cluster_name, version.number)',
  fix: 'Set `network.host: 127.0.0.1` (or a private address) in elasticsearch.yml, enable security (`xpack.security.enabled: true` and set passwords with `elasticsearch-reset-password`), firewall 9200/9300, and for Docker publish as `127.0.0.1:9200:9200`.',
};

export const elasticsearchAuthRequiredRule: Rule = {
  id: 'probe-elasticsearch-auth-required',
  severity: 'info',
  title: 'Elasticsearch answers and requires authentication',
  why: 'The port is reachable, so the built-in users’ passwords are the only barrier.',
  reads: 'TCP HOST:PORT: `GET /` over HTTP and HTTPS (401 with a security realm)',
  fix: 'If only this host uses it, set `network.host: 127.0.0.1` and firewall 9200/9300.',
};

export const elasticsearchRules: readonly Rule[] = [elasticsearchNoAuthRule, elasticsearchAuthRequiredRule];

interface RootInfo {
  readonly cluster_name?: unknown;
  readonly name?: unknown;
  readonly version?: { readonly number?: unknown; readonly distribution?: unknown };
  readonly tagline?: unknown;
}

export const elasticsearchProbe: ProtocolProbe = {
  name: 'elasticsearch',
  rules: elasticsearchRules,
  ports: [9200],
  async run(context: ProbeContext): Promise<ProbeResult> {
    const got = await getAuto(context, '/', 'auto');
    if (!got) return notRecognised;
    const where = endpointText(context.host, context.port);
    const scheme = got.tls ? 'HTTPS' : 'HTTP';
    const { reply } = got;
    const certificate = reply.certificate ? certificateFindings(where, reply.certificate, context.nowMs) : [];
    if (reply.status === 401) {
      const challenge = headerText(reply.headers['www-authenticate']) ?? '';
      const body = reply.body.toString('utf8');
      if (!/realm="security"|security_exception|opensearch/i.test(`${challenge} ${body}`))
        return notRecognised;
      return {
        recognised: true,
        service: `Elasticsearch over ${scheme} (authentication required)`,
        findings: [
          findingOf(elasticsearchAuthRequiredRule, [
            {
              detail: `${where} answered ${scheme} GET / with 401${challenge ? ` (WWW-Authenticate: ${challenge})` : ''}`,
            },
          ]),
          ...certificate,
        ],
      };
    }
    if (reply.status !== 200) return notRecognised;
    let info: RootInfo;
    try {
      info = JSON.parse(reply.body.toString('utf8')) as RootInfo;
    } catch {
      return notRecognised;
    }
    if (typeof info !== 'object' || info === null) return notRecognised;
    const version = info.version?.number;
    if (typeof info.cluster_name !== 'string' || typeof version !== 'string') return notRecognised;
    const product = info.version?.distribution === 'opensearch' ? 'OpenSearch' : 'Elasticsearch';
    return {
      recognised: true,
      service: `${product} ${version} over ${scheme} (no authentication)`,
      findings: [
        findingOf(
          elasticsearchNoAuthRule,
          [
            {
              detail: `${where} answered ${scheme} GET / without authentication: cluster_name "${info.cluster_name}", ${typeof info.name === 'string' ? `node "${info.name}", ` : ''}${product} ${version}`,
            },
          ],
          product === 'OpenSearch' ? { title: 'OpenSearch answers without authentication' } : {},
        ),
        ...certificate,
      ],
    };
  },
};

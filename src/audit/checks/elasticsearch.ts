/**
 * Elasticsearch: security (authentication) disabled while the HTTP or transport layer is reachable.
 * Incident 5 in DESIGN.md: an Elasticsearch with no auth that must stay private.
 */
import { type Evidence, findingOf, type Rule, type Severity } from '../../core/finding.ts';
import type { ElasticsearchFacts } from '../collectors/elasticsearch.ts';
import { quoteSetting, type Setting, settingList } from '../collectors/yaml-settings.ts';
import type { Check, Exposure, ExposureVerdict, Reach } from '../types.ts';
import {
  addressTerm,
  assessTerms,
  type BindTerm,
  loopbackTerm,
  reachEvidence,
  reachRank,
  softer,
} from './datastores.ts';

const READS = '/etc/elasticsearch/elasticsearch.yml, the jar names in /usr/share/elasticsearch/lib (version)';

export const elasticsearchNoSecurity: Rule = {
  id: 'elasticsearch-no-security',
  severity: 'critical',
  title: 'Elasticsearch security is disabled and the node is reachable',
  why:
    'With xpack.security.enabled false (or unset before 8.0) Elasticsearch answers every request without a ' +
    'password: anyone who reaches port 9200 can read every index, delete them, or leave a ransom note. ' +
    'Open clusters are found by scanners within hours and wiped by the "meow" and ransom bots; many public ' +
    'data breaches were exactly this. Severity follows reach: critical from the internet, high from private ' +
    'networks, low when only local processes can connect.',
  reads: READS,
  fix:
    'In /etc/elasticsearch/elasticsearch.yml set `xpack.security.enabled: true` (and ' +
    '`xpack.security.http.ssl.enabled: true`), run `elasticsearch-reset-password -u elastic`, and keep the node ' +
    'private: `network.host: 127.0.0.1` (or a private address firewalled to the app hosts). ' +
    'Then `systemctl restart elasticsearch`.',
};

export const elasticsearchPublicBind: Rule = {
  id: 'elasticsearch-public-bind',
  severity: 'medium',
  title: 'Elasticsearch is reachable from the internet',
  why:
    'Even with authentication on, an Elasticsearch node open to the internet takes password guessing and ' +
    'every pre-auth bug of its HTTP and transport layers; a search backend rarely needs to be public.',
  reads: READS,
  fix:
    'Bind to loopback or a private address (`network.host: 127.0.0.1` or `http.host: 10.0.0.5`) or allow ' +
    '9200/9300 only from the application hosts in the firewall (for Docker, in the DOCKER-USER chain).',
};

interface Layer {
  readonly name: 'HTTP' | 'transport';
  readonly port: number;
  readonly hostSetting?: Setting;
  readonly verdict: ExposureVerdict;
}

const HTTP_HOST_KEYS = ['http.bind_host', 'http.host', 'network.bind_host', 'network.host'] as const;
const TRANSPORT_HOST_KEYS = [
  'transport.bind_host',
  'transport.host',
  'network.bind_host',
  'network.host',
] as const;

export const elasticsearchCheck: Check = {
  name: 'elasticsearch',
  rules: [elasticsearchNoSecurity, elasticsearchPublicBind],
  run({ facts, exposure }) {
    const es = facts.elasticsearch;
    if (!es) return [];
    const layers = [
      layer(es, exposure, 'HTTP', HTTP_HOST_KEYS, ['http.port'], 9200),
      layer(es, exposure, 'transport', TRANSPORT_HOST_KEYS, ['transport.port', 'transport.tcp.port'], 9300),
    ];
    const widest = layers.reduce((a, b) => (reachRank(b.verdict.reach) > reachRank(a.verdict.reach) ? b : a));
    const reach = widest.verdict.reach;
    const reached = layers.filter((item) => item.verdict.reach !== 'local');
    const shown = reached.length > 0 ? reached : [widest];
    const bindEvidence = shown.flatMap((item) => layerEvidence(es, item));

    const security = securityState(es);
    if (security.enabled) {
      if (reach === 'local') return [];
      const severity: Severity = reach === 'internet' ? 'medium' : 'low';
      const title =
        reach === 'internet'
          ? 'Elasticsearch is reachable from the internet'
          : 'Elasticsearch is reachable from private networks';
      return [findingOf(elasticsearchPublicBind, [...bindEvidence, security.evidence], { severity, title })];
    }
    const bySeverity: Record<Reach, Severity> = { internet: 'critical', private: 'high', local: 'low' };
    const base = bySeverity[reach];
    const severity = security.certain || reach === 'local' ? base : softer(base);
    const evidence = security.explicit
      ? [security.evidence, ...bindEvidence]
      : [...bindEvidence, security.evidence];
    const title =
      reach === 'local'
        ? 'Elasticsearch security is disabled (the node is reachable only locally)'
        : `Elasticsearch security is disabled and the node is ${reach === 'internet' ? 'reachable from the internet' : 'reachable from private networks'}`;
    return [findingOf(elasticsearchNoSecurity, evidence, { severity, title })];
  },
};

interface SecurityState {
  readonly enabled: boolean;
  /** The setting is in the file. */
  readonly explicit: boolean;
  /** False when the default was assumed without knowing the version. */
  readonly certain: boolean;
  readonly evidence: Evidence;
}

function securityState(es: ElasticsearchFacts): SecurityState {
  const setting = es.settings['xpack.security.enabled'];
  if (setting) {
    const text = settingList(setting)[0]?.trim().toLowerCase() ?? '';
    const enabled = text === 'true';
    return {
      enabled,
      explicit: true,
      certain: true,
      evidence: { file: es.file, line: setting.line, detail: quoteSetting(setting) },
    };
  }
  const version = es.version;
  if (version) {
    const enabled = version.major >= 8;
    return {
      enabled,
      explicit: false,
      certain: true,
      evidence: {
        file: es.file,
        detail: `xpack.security.enabled is not set; Elasticsearch ${version.text} (${version.source}) ${
          enabled
            ? 'enables security by default (8.0 and later)'
            : 'leaves security off by default (before 8.0)'
        }`,
      },
    };
  }
  return {
    enabled: false,
    explicit: false,
    certain: false,
    evidence: {
      file: es.file,
      detail:
        'xpack.security.enabled is not set and the Elasticsearch version is unknown (no elasticsearch-<version>.jar ' +
        'in /usr/share/elasticsearch/lib): before 8.0 security is off by default, and 8.x package installs write ' +
        'the setting into this file, so it is most likely off',
    },
  };
}

function layer(
  es: ElasticsearchFacts,
  exposure: Exposure,
  name: Layer['name'],
  hostKeys: readonly string[],
  portKeys: readonly string[],
  defaultPort: number,
): Layer {
  const hostSetting = hostKeys.map((key) => es.settings[key]).find((setting) => setting !== undefined);
  const portSetting = portKeys.map((key) => es.settings[key]).find((setting) => setting !== undefined);
  const port = portOf(portSetting) ?? defaultPort;
  const values = settingList(hostSetting).flatMap((value) => value.split(','));
  const terms = values.length > 0 ? values.map((value) => esHostTerm(value.trim())) : [loopbackTerm];
  const verdict = assessTerms(exposure, { service: 'elasticsearch', port, protocol: 'tcp' }, terms);
  return { name, port, verdict, ...(hostSetting ? { hostSetting } : {}) };
}

function portOf(setting: Setting | undefined): number | undefined {
  const first = settingList(setting)[0];
  const match = first === undefined ? null : /^\s*(\d{1,5})/.exec(first);
  return match ? Number(match[1]) : undefined;
}

/** Elasticsearch's special network values: `_local_`, `_site_`, `_global_`, `_eth0_`, `_en0:ipv4_`. */
export function esHostTerm(value: string): BindTerm {
  const special = /^_([^:]+?)(?::(ipv4|ipv6))?_$/.exec(value);
  if (special) {
    const name = special[1] ?? '';
    const family = special[2];
    if (name === 'local') {
      return {
        binds: family === 'ipv4' ? ['127.0.0.1'] : family === 'ipv6' ? ['::1'] : ['127.0.0.1', '::1'],
        cap: 'local',
      };
    }
    if (name === 'site') {
      return { cap: 'private', note: `${value} binds the host's site-local (private) addresses` };
    }
    if (name === 'global') {
      return { cap: 'internet', note: `${value} binds the host's globally routable (public) addresses` };
    }
    return {
      cap: 'internet',
      note: `${value} binds the addresses of interface ${name}, which the config does not show`,
    };
  }
  if (/\$\{[^}]*\}/.test(value)) {
    return { cap: 'internet', note: `${value} is set from an environment variable moat cannot see` };
  }
  return addressTerm(value, 'elasticsearch');
}

function layerEvidence(es: ElasticsearchFacts, item: Layer): Evidence[] {
  const head: Evidence = item.hostSetting
    ? {
        file: es.file,
        line: item.hostSetting.line,
        detail: `${quoteSetting(item.hostSetting)} (${item.name} layer)`,
      }
    : {
        file: es.file,
        detail: `no network.host or ${item.name === 'HTTP' ? 'http' : 'transport'}.host: Elasticsearch binds loopback (_local_) by default`,
      };
  return [head, ...reachEvidence(`${item.name} port ${item.port}`, item.verdict)];
}

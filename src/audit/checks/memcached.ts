/**
 * Memcached: reachable beyond localhost without SASL (it has no other authentication), reachable at
 * all from outside, and UDP enabled (the 2018 "memcrashed" amplification attacks).
 */
import { type Evidence, type Finding, findingOf, type Rule, type Severity } from '../../core/finding.ts';
import type { McOption, MemcachedFacts, MemcachedInstance } from '../collectors/memcached.ts';
import type { Check, Exposure, ExposureVerdict, Reach } from '../types.ts';
import { addressTerm, assessTerms, type BindTerm, reachEvidence } from './datastores.ts';

const READS =
  '/etc/memcached.conf and /etc/memcached_*.conf (Debian), /etc/sysconfig/memcached (RHEL), the ExecStart, ' +
  'Environment and EnvironmentFile of memcached.service and its drop-ins, `memcached -V` on the live host';

export const memcachedNoAuth: Rule = {
  id: 'memcached-no-auth',
  severity: 'critical',
  title: 'Memcached is reachable without authentication',
  why:
    'Memcached has no authentication unless SASL (-S) or an auth file (-Y) is turned on: anyone who reaches ' +
    'the port can read every cached item (sessions, tokens, rendered pages), overwrite them to poison the ' +
    'application, or `flush_all` it. Its only protection is the listen address. Severity follows reach: ' +
    'critical from the internet, high from private networks.',
  reads: READS,
  fix:
    'Listen on loopback only: `-l 127.0.0.1` in /etc/memcached.conf (Debian) or `OPTIONS="-l 127.0.0.1,::1"` ' +
    'in /etc/sysconfig/memcached (RHEL), then `systemctl restart memcached`. If other hosts must connect, bind a ' +
    'private address, allow 11211 only from them in the firewall, and consider `-S` (SASL).',
};

export const memcachedPublicBind: Rule = {
  id: 'memcached-public-bind',
  severity: 'medium',
  title: 'Memcached is reachable from the internet',
  why:
    'Even with SASL on, a cache open to the internet takes password guessing and every pre-auth parser bug; ' +
    'a cache rarely needs to be reachable from outside its application hosts.',
  reads: READS,
  fix: 'Bind loopback or a private address (`-l 127.0.0.1`), or allow 11211 only from the application hosts in the firewall.',
};

export const memcachedUdpEnabled: Rule = {
  id: 'memcached-udp-enabled',
  severity: 'high',
  title: 'Memcached answers over UDP (a DDoS amplifier)',
  why:
    'Over UDP a 15-byte spoofed `stats` request returns kilobytes, and a stored large value up to a megabyte: ' +
    'amplification of up to 51,000×. In February 2018 ("memcrashed") open memcached UDP ports were used for ' +
    'the then-largest DDoS attacks (1.3 Tbps against GitHub, 1.7 Tbps days later); the host becomes a weapon ' +
    'and its provider may cut it off. UDP is off by default since memcached 1.5.6. Severity follows reach.',
  reads: READS,
  fix:
    'Disable UDP with `-U 0` (in /etc/memcached.conf, or OPTIONS in /etc/sysconfig/memcached), then ' +
    '`systemctl restart memcached`; nothing in a normal application uses memcached over UDP.',
};

const NO_AUTH_SEVERITY: Record<Reach, Severity | undefined> = {
  internet: 'critical',
  private: 'high',
  local: undefined,
};
const PUBLIC_SEVERITY: Record<Reach, Severity | undefined> = {
  internet: 'medium',
  private: 'low',
  local: undefined,
};
const UDP_SEVERITY: Record<Reach, Severity> = { internet: 'high', private: 'medium', local: 'low' };

export const memcachedCheck: Check = {
  name: 'memcached',
  rules: [memcachedNoAuth, memcachedPublicBind, memcachedUdpEnabled],
  run({ facts, exposure }) {
    const memcached = facts.memcached;
    if (!memcached) return [];
    return memcached.instances.flatMap((instance) => checkInstance(instance, memcached, exposure));
  },
};

function last(options: readonly McOption[], flag: string): McOption | undefined {
  return options.filter((option) => option.flag === flag).at(-1);
}

function evidenceOf(option: McOption, detail = option.text): Evidence {
  return { file: option.file, ...(option.line !== undefined ? { line: option.line } : {}), detail };
}

function portOf(option: McOption | undefined): number | undefined {
  if (!option?.value) return undefined;
  const value = Number(option.value);
  return Number.isInteger(value) && value >= 0 && value <= 65_535 ? value : undefined;
}

function checkInstance(instance: MemcachedInstance, facts: MemcachedFacts, exposure: Exposure): Finding[] {
  const { options } = instance;
  const socket = last(options, 's');
  // -s: "Unix socket path to listen on (disables network support)".
  if (socket) return [];
  const listens = options.filter((option) => option.flag === 'l');
  const terms: BindTerm[] =
    listens.length > 0 ? listens.flatMap((option) => listenTerms(option.value ?? '')) : [];
  const bindEvidence: Evidence[] =
    listens.length > 0
      ? listens.map((option) => evidenceOf(option))
      : [
          {
            file: instance.file,
            detail: `no -l option in ${instance.source}: memcached listens on every interface`,
          },
        ];
  const allTerms: BindTerm[] = terms.length > 0 ? terms : [{ binds: ['0.0.0.0', '::'], cap: 'internet' }];
  const findings: Finding[] = [];
  const name = instance.name === 'memcached' ? 'Memcached' : `Memcached (${instance.name})`;

  // memcached: "-U N" without -p moves the TCP port to N too.
  const udpOption = last(options, 'U');
  const tcpPort = portOf(last(options, 'p')) ?? (portOf(udpOption) || undefined) ?? 11211;
  if (tcpPort !== 0) {
    const verdict = assessTerms(exposure, { service: 'memcached', port: tcpPort, protocol: 'tcp' }, allTerms);
    const auth = last(options, 'S') ?? last(options, 'Y');
    const evidence = [...bindEvidence, ...reachEvidence(`TCP port ${tcpPort}`, verdict)];
    if (auth) {
      const severity = PUBLIC_SEVERITY[verdict.reach];
      if (severity) {
        findings.push(
          findingOf(
            memcachedPublicBind,
            [...evidence, evidenceOf(auth, `${auth.text}: authentication is on`)],
            {
              severity,
              title: `${name} is ${reachPhrase(verdict)}`,
            },
          ),
        );
      }
    } else {
      const severity = NO_AUTH_SEVERITY[verdict.reach];
      if (severity) {
        findings.push(
          findingOf(
            memcachedNoAuth,
            [...evidence, { detail: 'neither -S (SASL) nor -Y (auth file) is set: every client is trusted' }],
            { severity, title: `${name} is ${reachPhrase(verdict)} without authentication` },
          ),
        );
      }
    }
  }

  const udp = udpState(options, facts, tcpPort);
  if (udp) {
    const verdict = assessTerms(
      exposure,
      { service: 'memcached', port: udp.port, protocol: 'udp' },
      allTerms,
    );
    const severity = UDP_SEVERITY[verdict.reach];
    const title =
      verdict.reach === 'local'
        ? `${name} answers over UDP (only locally)`
        : `${name} answers over UDP, ${reachPhrase(verdict)}: a DDoS amplifier`;
    findings.push(
      findingOf(
        memcachedUdpEnabled,
        [udp.evidence(instance), ...bindEvidence, ...reachEvidence(`UDP port ${udp.port}`, verdict)],
        {
          severity,
          title,
        },
      ),
    );
  }
  return findings;
}

function reachPhrase(verdict: ExposureVerdict): string {
  return verdict.reach === 'internet' ? 'reachable from the internet' : 'reachable from private networks';
}

/** `-l` takes a comma-separated list of addresses, each optionally with `:port` (`[::1]:11211`). */
export function listenTerms(value: string): BindTerm[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '')
    .map((item) => {
      const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(item);
      if (bracketed) return addressTerm(bracketed[1] ?? '', 'memcached');
      const v4WithPort = /^([^:]+):\d+$/.exec(item);
      return addressTerm(v4WithPort ? (v4WithPort[1] ?? item) : item, 'memcached');
    });
}

interface UdpState {
  readonly port: number;
  readonly evidence: (instance: MemcachedInstance) => Evidence;
}

function udpState(
  options: readonly McOption[],
  facts: MemcachedFacts,
  tcpPort: number,
): UdpState | undefined {
  const option = last(options, 'U');
  if (option) {
    const port = portOf(option);
    if (port === undefined || port === 0) return undefined;
    return { port, evidence: () => evidenceOf(option, `${option.text}: UDP enabled on port ${port}`) };
  }
  const version = facts.version;
  const before156 =
    version !== undefined &&
    (version.major < 1 ||
      (version.major === 1 && (version.minor < 5 || (version.minor === 5 && version.patch < 6))));
  // Before 1.5.6 UDP was on by default, on the TCP port when -p was given, else on 11211.
  if (!before156 || tcpPort === 0) return undefined;
  return {
    port: tcpPort,
    evidence: (instance) => ({
      file: instance.file,
      detail: `no -U option and memcached ${version.text} is older than 1.5.6: UDP is on by default, on port ${tcpPort}`,
    }),
  };
}

/**
 * runProbe: targets → TCP connect scan → protocol probes on every open port (+ memcached over UDP,
 * + the origin check) → a Report in the same Finding shape as the audit.
 */
import type { ProbeConfig } from '../config/schema.ts';
import { MoatError } from '../core/errors.ts';
import {
  compareFindings,
  type Finding,
  findingOf,
  type Report,
  type Rule,
  type Skipped,
} from '../core/finding.ts';
import { parseAddress } from '../core/ip.ts';
import { type Identification, identify } from './identify.ts';
import { endpointText } from './net.ts';
import { originRules, probeOrigin } from './origin.ts';
import { DEFAULT_PORTS, serviceName } from './ports.ts';
import { dockerProbe } from './protocols/docker.ts';
import { elasticsearchProbe } from './protocols/elasticsearch.ts';
import { httpProbe } from './protocols/http.ts';
import { memcachedProbe, memcachedUdpRule, probeMemcachedUdp } from './protocols/memcached.ts';
import { mongodbProbe } from './protocols/mongodb.ts';
import { postgresqlProbe } from './protocols/postgresql.ts';
import { redisProbe } from './protocols/redis.ts';
import { sshProbe } from './protocols/ssh.ts';
import { type OpenPort, scanPorts } from './scanner.ts';
import { expandTargets, type Lookup, systemLookup } from './targets.ts';
import type { ProbeContext, ProbeResult, ProtocolProbe } from './types.ts';

export { DEFAULT_PORTS } from './ports.ts';
export { parsePorts } from './targets.ts';

export const openPortRule: Rule = {
  id: 'probe-port-open',
  severity: 'info',
  title: 'A TCP port accepts connections',
  why: 'Every port that answers is attack surface. Databases, caches and admin interfaces (Redis, Elasticsearch, Docker API, Grafana…) should answer only on loopback or a private network.',
  reads: 'TCP connect to HOST:PORT over the default port set or --ports; what the service answered',
  fix: 'Close what need not be public: bind the service to 127.0.0.1, or firewall the port (`ufw deny PORT/tcp`; for Docker publish as `127.0.0.1:PORT:PORT`, since published ports bypass ufw).',
};

/** Every protocol probe, in the order tried on a port they share. */
export const protocolProbes: readonly ProtocolProbe[] = [
  redisProbe,
  postgresqlProbe,
  mongodbProbe,
  memcachedProbe,
  elasticsearchProbe,
  dockerProbe,
  sshProbe,
  httpProbe,
];

/** Every rule `moat probe` can emit, for docs/checks.md and the SARIF driver. */
export const probeRules: readonly Rule[] = uniqueRules([
  openPortRule,
  ...protocolProbes.flatMap((probe) => probe.rules),
  memcachedUdpRule,
  ...originRules,
]);

function uniqueRules(rules: readonly Rule[]): Rule[] {
  const byId = new Map<string, Rule>();
  for (const rule of rules) byId.set(rule.id, rule);
  return [...byId.values()];
}

export type ProbePhase = 'scan' | 'probe';

export interface ProbeProgress {
  readonly phase: ProbePhase;
  readonly done: number;
  readonly total: number;
}

/** The stream progress is drawn on (only when it is a TTY). */
export interface ProgressStream {
  readonly isTTY?: boolean;
  write(text: string): unknown;
}

export interface ProbeOptions {
  /** Addresses, CIDR ranges and host names. */
  readonly targets: readonly string[];
  /** Ports to scan; default `config.ports`, else DEFAULT_PORTS. Parse `--ports` with parsePorts. */
  readonly ports?: readonly number[] | undefined;
  readonly config: ProbeConfig;
  /** `--origin DOMAIN`: check whether each target serves DOMAIN directly. */
  readonly origin?: string | undefined;
  /** Allow more than config.maxTargets addresses. */
  readonly yes?: boolean | undefined;
  /** Local address to connect from (`--source`); connections to the other family ignore it. */
  readonly sourceAddress?: string | undefined;
  readonly onProgress?: ((progress: ProbeProgress) => void) | undefined;
  /** Progress is drawn here when `stderr.isTTY`. */
  readonly stderr?: ProgressStream | undefined;
  /** DNS for host-name targets and the origin comparison (default: the system resolver). */
  readonly lookup?: Lookup | undefined;
  /** Milliseconds since the epoch, for certificate expiry (default Date.now). */
  readonly now?: (() => number) | undefined;
  /** Where `--origin` looks for HTTP and HTTPS (default 80 and 443). */
  readonly originPorts?: { readonly http: number; readonly https: number } | undefined;
}

/** What the scan saw, for a summary line; not part of the JSON contract. */
export interface ProbeSummary {
  readonly addresses: readonly string[];
  readonly portsPerAddress: number;
  readonly open: number;
  readonly closed: number;
  readonly filtered: number;
  readonly elapsedMs: number;
}

export interface ProbeReport extends Report {
  readonly summary: ProbeSummary;
}

export async function runProbe(options: ProbeOptions): Promise<ProbeReport> {
  const started = performance.now();
  const { config } = options;
  const lookup = options.lookup ?? systemLookup;
  if (options.sourceAddress !== undefined && parseAddress(options.sourceAddress) === undefined) {
    throw new MoatError('MOAT_USAGE', `--source: "${options.sourceAddress}" is not an IP address`);
  }
  const addresses = await expandTargets(options.targets, {
    maxTargets: config.maxTargets,
    yes: options.yes === true,
    lookup,
  });
  const ports = options.ports ?? config.ports ?? DEFAULT_PORTS;
  const progress = progressReporter(options);
  const nowMs = (options.now ?? Date.now)();

  const scan = await scanPorts({
    hosts: addresses,
    ports,
    concurrency: config.concurrency,
    timeoutMs: config.timeoutMs,
    sourceAddress: options.sourceAddress,
    onPortDone: (done, total) => progress('scan', done, total),
  });
  progress.end();

  const findings: Finding[] = [];
  const skipped: Skipped[] = [];
  if (scan.errors.length > 0) {
    skipped.push({ check: 'probe-scan', reason: `some connections failed: ${scan.errors.join('; ')}` });
  }
  const contextOf = (host: string, port: number): ProbeContext => ({
    host,
    port,
    timeoutMs: config.timeoutMs,
    sourceAddress: options.sourceAddress,
    nowMs,
  });

  // Protocol probes on every open port, then memcached over UDP where it may listen.
  const udpChecks = new Set<string>();
  const portLists = new Set(ports);
  for (const host of addresses) {
    for (const port of memcachedProbe.ports) if (portLists.has(port)) udpChecks.add(`${host} ${port}`);
  }
  let probed = 0;
  await eachLimited(scan.open, Math.min(config.concurrency, 64), async (open) => {
    const outcome = await probePort(contextOf(open.host, open.port), skipped);
    findings.push(...outcome.findings);
    if (outcome.protocol === 'memcached') udpChecks.add(`${open.host} ${open.port}`);
    findings.push(openPortFinding(open, outcome.service));
    progress('probe', ++probed, scan.open.length);
  });
  progress.end();

  await eachLimited([...udpChecks], Math.min(config.concurrency, 64), async (key) => {
    const [host = '', port = '0'] = key.split(' ');
    try {
      findings.push(...(await probeMemcachedUdp(contextOf(host, Number(port)))).findings);
    } catch (error) {
      skipped.push({
        check: 'probe-memcached-udp',
        reason: `${endpointText(host, Number(port))}/udp: ${String(error)}`,
      });
    }
  });

  if (options.origin !== undefined) {
    const domain = options.origin;
    await eachLimited(addresses, Math.min(config.concurrency, 16), async (host) => {
      try {
        findings.push(
          await probeOrigin({
            host,
            domain,
            timeoutMs: config.timeoutMs,
            sourceAddress: options.sourceAddress,
            ports: options.originPorts,
            lookup,
          }),
        );
      } catch (error) {
        skipped.push({ check: 'probe-origin', reason: `${host}: ${String(error)}` });
      }
    });
  }

  return {
    findings: findings.sort(compareFindings),
    skipped,
    summary: {
      addresses,
      portsPerAddress: ports.length,
      open: scan.open.length,
      closed: scan.closed,
      filtered: scan.filtered,
      elapsedMs: Math.round(performance.now() - started),
    },
  };
}

interface PortOutcome {
  readonly findings: readonly Finding[];
  readonly service?: string;
  readonly protocol?: string;
}

/**
 * The probes whose usual port this is, in order, until one recognises the service; if none does,
 * identify the service by its answer to `PING\r\n` and run the probe for what answered.
 */
async function probePort(context: ProbeContext, skipped: Skipped[]): Promise<PortOutcome> {
  const tried = new Set<ProtocolProbe>();
  const attempt = async (probe: ProtocolProbe): Promise<ProbeResult | undefined> => {
    tried.add(probe);
    try {
      const result = await probe.run(context);
      return result.recognised ? result : undefined;
    } catch (error) {
      skipped.push({
        check: `probe-${probe.name}`,
        reason: `${endpointText(context.host, context.port)}: ${(error as Error).message ?? String(error)}`,
      });
      return undefined;
    }
  };
  const done = (probe: ProtocolProbe, result: ProbeResult): PortOutcome => ({
    findings: result.findings,
    protocol: probe.name,
    ...(result.service === undefined ? {} : { service: result.service }),
  });

  for (const probe of protocolProbes.filter((candidate) => candidate.ports.includes(context.port))) {
    const result = await attempt(probe);
    if (result) return done(probe, result);
  }

  let identification: Identification;
  try {
    identification = await identify(context);
  } catch (error) {
    return { findings: [], service: `did not answer (${(error as Error).message})` };
  }
  const candidates = candidatesFor(identification).filter((probe) => !tried.has(probe));
  for (const probe of candidates) {
    const result = await attempt(probe);
    if (result) return done(probe, result);
  }
  if (identification.banner !== undefined)
    return { findings: [], service: `banner "${identification.banner}"` };
  if (identification.silent === 'timeout')
    return { findings: [], service: 'silent (sent nothing in reply to PING)' };
  return { findings: [], service: 'closed the connection without a banner' };
}

function candidatesFor(identification: Identification): ProtocolProbe[] {
  switch (identification.protocol) {
    case 'ssh':
      return [sshProbe];
    case 'redis':
      return [redisProbe];
    case 'memcached':
      return [memcachedProbe];
    case 'http':
      return [elasticsearchProbe, dockerProbe, httpProbe];
    case 'tls':
      return [elasticsearchProbe, dockerProbe, httpProbe];
    default:
      // A server that closed on PING may speak TLS (it could not parse a ClientHello from "PING").
      return identification.silent === 'closed' ? [httpProbe] : [];
  }
}

function openPortFinding(open: OpenPort, service: string | undefined): Finding {
  const where = endpointText(open.host, open.port);
  const usual = serviceName(open.port);
  const what = service ?? (usual === undefined ? 'unidentified service' : `${usual}?`);
  return findingOf(openPortRule, [{ detail: `${where} accepts TCP connections (${what})` }], {
    title: `${where} is open${usual === undefined ? '' : ` (${usual})`}`,
  });
}

/** Runs `work` over `items` with at most `limit` at once. */
async function eachLimited<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}

type Reporter = ((phase: ProbePhase, done: number, total: number) => void) & { end(): void };

/** Calls onProgress for every step and, on a TTY, redraws one status line at most every 100 ms. */
function progressReporter(options: ProbeOptions): Reporter {
  const stream = options.stderr?.isTTY ? options.stderr : undefined;
  let lastDrawMs = 0;
  let drawn = false;
  const report = ((phase: ProbePhase, done: number, total: number) => {
    options.onProgress?.({ phase, done, total });
    if (!stream) return;
    const now = performance.now();
    if (done !== total && now - lastDrawMs < 100) return;
    lastDrawMs = now;
    drawn = true;
    const what = phase === 'scan' ? 'ports scanned' : 'open ports probed';
    stream.write(`\r\x1b[Kmoat probe: ${done}/${total} ${what}`);
  }) as Reporter;
  report.end = () => {
    if (stream && drawn) stream.write('\r\x1b[K');
    drawn = false;
  };
  return report;
}

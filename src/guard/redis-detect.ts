/**
 * The Redis watchdog's judgement, apart from any IO: observations in, incidents out.
 *
 * The first good observation is the baseline (what `restore` puts back). Each later one is compared
 * with it and with the previous one:
 *  - conditions (role hijacked, dir / dbfilename changed, BGSAVE failing, master link down,
 *    unreachable, memory near maxmemory) are reported once when they go bad, again only when their
 *    bad value changes, and once when they recover;
 *  - one-off events (a client outside the allowlist ran a dangerous command, a replica attached
 *    from an unknown address, a dump was written while dir/dbfilename were off, a restart) are
 *    reported once per client and command, or per replica address.
 * Findings of one poll are grouped into incidents: one per attacker address when one is known (so
 * the daemon's ban alert for the same address merges into it), else one per instance and topic.
 * Pure: time comes from the observation; memory is bounded (per-client state is pruned to the
 * clients present, reported replicas are capped).
 */
import type { AlertSeverity } from '../alerts/types.ts';
import { createCidrSet } from '../decisions/cidr-set.ts';
import { dangerousDir, dangerousFilename } from './dangerous-paths.ts';
import type { RedisClient, RedisObservation } from './redis-info.ts';

export interface RedisDetectorOptions {
  /** The instance's name, in summaries and incident keys. */
  readonly instance: string;
  /** `host:port` the guard connects to (incident key of "down", shared with replicas of it). */
  readonly address: string;
  readonly expectedMasters: readonly string[];
  readonly allowedClients: readonly string[];
  readonly allowedReplicas: readonly string[];
  readonly dangerousCommands: readonly string[];
  readonly unreachableAfter: number;
  readonly masterLinkDownAfterMs: number;
  /** Percent of maxmemory. */
  readonly memoryAlertAbove: number;
  /** Poll period: a client idle longer than about one period did not cause this poll's change. */
  readonly intervalMs: number;
}

export type Condition = 'role' | 'dir' | 'dbfilename' | 'bgsave' | 'master-link' | 'unreachable' | 'memory';

export type Repair =
  /** REPLICAOF NO ONE (host undefined) or REPLICAOF host port. */
  | { readonly type: 'replicaof'; readonly host?: string; readonly port?: number }
  | { readonly type: 'config-set'; readonly key: 'dir' | 'dbfilename'; readonly value: string }
  | { readonly type: 'client-kill'; readonly id: string; readonly addr: string }
  | { readonly type: 'ban'; readonly ip: string; readonly scenario: string; readonly reason: string };

export interface RedisFinding {
  /** Event kind for the detection engine: `redis-role-changed`, `redis-replicaof`, … */
  readonly kind: string;
  readonly severity: AlertSeverity;
  /** The condition this opens, changes or closes; undefined for one-off events. */
  readonly condition?: Condition;
  readonly recovered?: boolean;
  /** Recovered because the guard repaired it (already reported as done): log, do not alert again. */
  readonly quiet?: boolean;
  /** What was seen, one line. */
  readonly summary: string;
  /** The client or replica address the event is about (set on the engine event). */
  readonly ip?: string;
  readonly client?: RedisClient;
  /** Who probably caused a state change (a recent suspicious client). */
  readonly attacker?: RedisClient;
  readonly fields: Readonly<Record<string, string>>;
  /** What `restore` does about it. */
  readonly repairs: readonly Repair[];
}

export interface RedisIncident {
  /** Attacker address, or `redis:<instance>:<topic>` / `redis:<host:port>:down`. */
  readonly key: string;
  readonly ip?: string;
  readonly findings: readonly RedisFinding[];
  /** De-duplicated, in order: state repairs, then client kills, then bans. */
  readonly repairs: readonly Repair[];
  readonly severity: AlertSeverity;
  /** True when every finding is quiet (nothing to alert). */
  readonly quiet: boolean;
}

export interface RedisBaseline {
  readonly role: RedisObservation['role'];
  readonly masterHost?: string;
  readonly masterPort?: number;
  readonly dir?: string;
  readonly dbfilename?: string;
  readonly replicaIps: readonly string[];
  readonly runId?: string;
  readonly version?: string;
}

export interface RedisDetector {
  /** A successful poll. The first one sets the baseline. */
  observe(observation: RedisObservation): RedisIncident[];
  /** A failed poll (connection refused, timeout, auth…). */
  failed(at: number, error: string): RedisIncident[];
  /** The guard repaired these conditions: their recovery is logged, not alerted again. */
  repaired(conditions: readonly Condition[]): void;
  /** The guard's own connection (after each reconnect): its CLIENT LIST line is never a suspect. */
  setOwnClientId(id: string | undefined): void;
  /**
   * True when an observation may have been taken in the middle of an attacker's command: role,
   * master, dir or dbfilename changed with no recent suspect client in sight, or a suspect's new
   * state-changing command shows no change yet. The watchdog then looks again at once, so one
   * incident is reported whole rather than split over two polls.
   */
  unsettled(observation: RedisObservation): boolean;
  readonly baseline: RedisBaseline | undefined;
  /** Conditions currently bad. */
  readonly active: readonly Condition[];
}

const SEVERITY_RANK: Record<AlertSeverity, number> = { info: 0, warning: 1, critical: 2 };

/** Commands that change replication or persistence, for attributing a change to a client. */
const ROLE_COMMANDS = new Set(['replicaof', 'slaveof']);
const CONFIG_COMMANDS = new Set(['config|set', 'save', 'bgsave', 'config|rewrite']);

/** Caps per-client and per-replica memory. */
const MAX_TRACKED = 10_000;

interface ConditionState {
  /** The bad value reported last (a change of it is reported again). */
  value: string;
  incident: string;
  quietRecovery: boolean;
}

function splitHostPort(text: string): { host: string; port?: number } {
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracket) return { host: bracket[1] as string, ...(bracket[2] ? { port: Number(bracket[2]) } : {}) };
  const colon = text.lastIndexOf(':');
  // A bare IPv6 address has several colons and no port.
  if (colon > 0 && text.indexOf(':') === colon) {
    return { host: text.slice(0, colon), port: Number(text.slice(colon + 1)) };
  }
  return { host: text };
}

export const formatHostPort = (host: string, port: number | undefined): string =>
  `${host.includes(':') ? `[${host}]` : host}${port === undefined ? '' : `:${port}`}`;

export function createRedisDetector(options: RedisDetectorOptions): RedisDetector {
  const allowedClients = createCidrSet(options.allowedClients);
  const allowedReplicas = createCidrSet(options.allowedReplicas);
  const dangerous = new Set(options.dangerousCommands);
  const expected = options.expectedMasters.map(splitHostPort);
  const recentSeconds = Math.ceil(options.intervalMs / 1000) + 1;

  let baseline: RedisBaseline | undefined;
  let previous: RedisObservation | undefined;
  const conditions = new Map<Condition, ConditionState>();
  let failures = 0;
  let lastError = '';
  let linkDownSince: number | undefined;
  let ownClientId: string | undefined;
  /** client id → last command already judged. */
  const judged = new Map<string, string>();
  /** Replica addresses known (at start) or already reported. */
  const knownReplicas = new Set<string>();

  const isExpectedMaster = (host: string | undefined, port: number | undefined): boolean => {
    if (host === undefined) return false;
    if (expected.length === 0) {
      return baseline?.role === 'replica' && baseline.masterHost === host && baseline.masterPort === port;
    }
    return expected.some((e) => e.host === host && (e.port === undefined || e.port === port));
  };

  const isOutsider = (client: RedisClient): boolean =>
    client.ip !== undefined && client.id !== ownClientId && !allowedClients.has(client.ip);

  const topicKey = (topic: string) => `redis:${options.instance}:${topic}`;

  function open(
    condition: Condition,
    value: string,
    finding: Omit<RedisFinding, 'condition'>,
    out: RedisFinding[],
  ): void {
    const state = conditions.get(condition);
    if (state !== undefined && state.value === value) return;
    if (state === undefined) {
      conditions.set(condition, { value, incident: '', quietRecovery: false });
    } else {
      state.value = value;
      state.quietRecovery = false;
    }
    out.push({ ...finding, condition });
  }

  function close(condition: Condition, summary: string, kind: string, out: RedisFinding[]): void {
    const state = conditions.get(condition);
    if (state === undefined) return;
    conditions.delete(condition);
    out.push({
      kind: 'redis-recovered',
      severity: 'info',
      condition,
      recovered: true,
      ...(state.quietRecovery ? { quiet: true } : {}),
      summary,
      fields: { instance: options.instance, condition, was: kind },
      repairs: [],
    });
  }

  function judgeClients(observation: RedisObservation, out: RedisFinding[]): RedisClient[] {
    const clients = observation.clients;
    if (clients === undefined) return [];
    const present = new Set<string>();
    const suspects: RedisClient[] = [];
    for (const client of clients) {
      present.add(client.id);
      if (!isOutsider(client)) continue;
      const recent = client.idle <= recentSeconds;
      if (
        recent &&
        (ROLE_COMMANDS.has(client.cmd) || CONFIG_COMMANDS.has(client.cmd) || dangerous.has(client.cmd))
      ) {
        suspects.push(client);
      }
      if (!dangerous.has(client.cmd) || judged.get(client.id) === client.cmd) continue;
      if (judged.size >= MAX_TRACKED) judged.delete(judged.keys().next().value as string);
      judged.set(client.id, client.cmd);
      const ip = client.ip as string;
      const isReplicaof = ROLE_COMMANDS.has(client.cmd);
      const master =
        observation.role === 'replica' && observation.masterHost !== undefined
          ? formatHostPort(observation.masterHost, observation.masterPort)
          : 'no one';
      const scenario = isReplicaof ? 'redis-hijack' : 'redis-dangerous-command';
      out.push({
        kind: isReplicaof ? 'redis-replicaof' : 'redis-dangerous-command',
        severity: 'critical',
        summary: isReplicaof
          ? `client ${client.addr} (id ${client.id}) ran ${client.cmd.toUpperCase()}; now replica of ${master}`
          : `client ${client.addr} (id ${client.id}) ran ${client.cmd.replace('|', ' ').toUpperCase()}`,
        ip,
        client,
        fields: {
          instance: options.instance,
          command: client.cmd,
          clientId: client.id,
          clientAddr: client.addr,
          ...(client.user === '' ? {} : { user: client.user }),
          ...(isReplicaof ? { master } : {}),
        },
        repairs: [
          { type: 'client-kill', id: client.id, addr: client.addr },
          {
            type: 'ban',
            ip,
            scenario,
            reason: isReplicaof
              ? `redis ${options.instance}: REPLICAOF ${master} issued from ${ip}`
              : `redis ${options.instance}: ${client.cmd.replace('|', ' ').toUpperCase()} from ${ip}`,
          },
        ],
      });
    }
    for (const id of judged.keys()) if (!present.has(id)) judged.delete(id);
    return suspects;
  }

  function roleFindings(observation: RedisObservation, out: RedisFinding[]): void {
    const base = baseline as RedisBaseline;
    const master =
      observation.masterHost === undefined
        ? undefined
        : formatHostPort(observation.masterHost, observation.masterPort);
    const hijacked =
      observation.role === 'replica' && !isExpectedMaster(observation.masterHost, observation.masterPort);
    if (hijacked) {
      const repair: Repair =
        base.role === 'replica' && base.masterHost !== undefined
          ? {
              type: 'replicaof',
              host: base.masterHost,
              ...(base.masterPort === undefined ? {} : { port: base.masterPort }),
            }
          : { type: 'replicaof' };
      open(
        'role',
        master ?? '?',
        {
          kind: 'redis-role-changed',
          severity: 'critical',
          summary: `${options.instance} is now a replica of ${master ?? 'an unknown master'}, which is not an expected master`,
          fields: {
            instance: options.instance,
            role: 'replica',
            master: master ?? '',
            previousRole: previous?.role ?? base.role,
            expected: 'no',
          },
          repairs: [repair],
        },
        out,
      );
      return;
    }
    if (conditions.has('role')) {
      close(
        'role',
        observation.role === 'master'
          ? `${options.instance} is a master again`
          : `${options.instance} replicates from expected master ${master ?? '?'} again`,
        'redis-role-changed',
        out,
      );
      return;
    }
    const before = previous;
    if (before === undefined || before.role === 'unknown') return;
    if (before.role === 'replica' && observation.role === 'master') {
      out.push({
        kind: 'redis-role-changed',
        severity: 'warning',
        summary: `${options.instance} was promoted to master (was a replica of ${formatHostPort(before.masterHost ?? '?', before.masterPort)})`,
        fields: { instance: options.instance, role: 'master', previousRole: 'replica', expected: 'yes' },
        repairs: [],
      });
    } else if (
      observation.role === 'replica' &&
      (before.role === 'master' ||
        before.masterHost !== observation.masterHost ||
        before.masterPort !== observation.masterPort)
    ) {
      out.push({
        kind: 'redis-role-changed',
        severity: 'info',
        quiet: true,
        summary: `${options.instance} now replicates from expected master ${master ?? '?'}`,
        fields: {
          instance: options.instance,
          role: 'replica',
          master: master ?? '',
          previousRole: before.role,
          expected: 'yes',
        },
        repairs: [],
      });
    }
  }

  function configFindings(observation: RedisObservation, out: RedisFinding[]): void {
    const base = baseline as RedisBaseline;
    for (const key of ['dir', 'dbfilename'] as const) {
      const value = observation[key];
      const was = base[key];
      if (value === undefined) continue;
      const place = key === 'dir' ? dangerousDir(value) : dangerousFilename(value);
      const changed = was !== undefined && value !== was;
      if (changed || place !== undefined) {
        const why = place === undefined ? '' : key === 'dir' ? ` (a ${place} directory)` : ` (${place})`;
        open(
          key,
          value,
          {
            kind: key === 'dir' ? 'redis-dir-changed' : 'redis-dbfilename-changed',
            severity: place === undefined ? 'warning' : 'critical',
            summary: changed ? `${key} changed from ${was} to ${value}${why}` : `${key} is ${value}${why}`,
            fields: {
              instance: options.instance,
              [key]: value,
              ...(was === undefined ? {} : { previous: was }),
              ...(place === undefined ? {} : { dangerous: key === 'dir' ? place : 'file' }),
            },
            repairs: changed && was !== undefined ? [{ type: 'config-set', key, value: was }] : [],
          },
          out,
        );
      } else {
        close(
          key,
          `${key} is ${value} again`,
          key === 'dir' ? 'redis-dir-changed' : 'redis-dbfilename-changed',
          out,
        );
      }
    }
    const off = conditions.has('dir') || conditions.has('dbfilename');
    if (
      off &&
      previous?.saveMark !== undefined &&
      observation.saveMark !== undefined &&
      observation.saveMark > previous.saveMark
    ) {
      const where = `${observation.dir ?? '?'}/${observation.dbfilename ?? '?'}`;
      out.push({
        kind: 'redis-dump-written',
        severity: 'critical',
        summary: `a dump was written to ${where} while dir/dbfilename were changed (check that file)`,
        fields: { instance: options.instance, path: where },
        repairs: [],
      });
    }
  }

  function healthFindings(observation: RedisObservation, out: RedisFinding[]): void {
    if (observation.bgsaveOk === false) {
      open(
        'bgsave',
        'err',
        {
          kind: 'redis-bgsave-failed',
          severity: 'critical',
          summary: `the last background save failed (rdb_last_bgsave_status:err)${observation.dir === undefined ? '' : ` writing into ${observation.dir}`}`,
          fields: {
            instance: options.instance,
            ...(observation.dir === undefined ? {} : { dir: observation.dir }),
          },
          repairs: [],
        },
        out,
      );
    } else if (observation.bgsaveOk === true) {
      close('bgsave', 'background saves succeed again', 'redis-bgsave-failed', out);
    }

    const linkWatched = observation.role === 'replica' && !conditions.has('role');
    if (linkWatched && observation.masterLinkUp === false) {
      const reported =
        observation.masterLinkDownSeconds === undefined
          ? undefined
          : observation.at - observation.masterLinkDownSeconds * 1000;
      linkDownSince = Math.min(linkDownSince ?? observation.at, reported ?? observation.at);
      const downMs = observation.at - linkDownSince;
      if (downMs >= options.masterLinkDownAfterMs) {
        const master = formatHostPort(observation.masterHost ?? '?', observation.masterPort);
        open(
          'master-link',
          master,
          {
            kind: 'redis-master-link-down',
            severity: 'critical',
            summary: `the link to master ${master} has been down for ${Math.round(downMs / 1000)} s`,
            fields: { instance: options.instance, master, downSeconds: String(Math.round(downMs / 1000)) },
            repairs: [],
          },
          out,
        );
      }
    } else {
      linkDownSince = undefined;
      if (observation.role !== 'replica' || observation.masterLinkUp === true) {
        close('master-link', 'the link to the master is up again', 'redis-master-link-down', out);
      }
    }

    const { usedMemory, maxmemory } = observation;
    if (usedMemory !== undefined && maxmemory !== undefined && maxmemory > 0) {
      const percent = (usedMemory / maxmemory) * 100;
      if (percent >= options.memoryAlertAbove) {
        open(
          'memory',
          'high',
          {
            kind: 'redis-memory-high',
            severity: 'warning',
            summary: `memory at ${percent.toFixed(1)} % of maxmemory (${usedMemory} of ${maxmemory} bytes)`,
            fields: {
              instance: options.instance,
              usedMemory: String(usedMemory),
              maxmemory: String(maxmemory),
            },
            repairs: [],
          },
          out,
        );
      } else if (percent < options.memoryAlertAbove - 5) {
        close('memory', `memory at ${percent.toFixed(1)} % of maxmemory`, 'redis-memory-high', out);
      }
    }
  }

  function replicaFindings(observation: RedisObservation, out: RedisFinding[]): void {
    const present = new Set<string>();
    for (const replica of observation.replicas) {
      present.add(replica.ip);
      if (knownReplicas.has(replica.ip) || allowedReplicas.has(replica.ip)) continue;
      if (knownReplicas.size >= MAX_TRACKED)
        knownReplicas.delete(knownReplicas.values().next().value as string);
      knownReplicas.add(replica.ip);
      const connection = observation.clients?.find((c) => c.ip === replica.ip && c.flags.includes('S'));
      out.push({
        kind: 'redis-unknown-replica',
        severity: 'critical',
        summary: `a replica attached from unknown address ${formatHostPort(replica.ip, replica.port)} (it receives a full copy of the data)`,
        ip: replica.ip,
        ...(connection === undefined ? {} : { client: connection }),
        fields: {
          instance: options.instance,
          replica: formatHostPort(replica.ip, replica.port),
          state: replica.state,
        },
        repairs: [
          ...(connection === undefined
            ? []
            : [{ type: 'client-kill' as const, id: connection.id, addr: connection.addr }]),
          {
            type: 'ban',
            ip: replica.ip,
            scenario: 'redis-rogue-replica',
            reason: `redis ${options.instance}: replica attached from ${replica.ip}`,
          },
        ],
      });
    }
    // A reported replica that left may be reported again if it comes back; baseline ones stay known.
    for (const ip of knownReplicas) {
      if (!present.has(ip) && !baseline?.replicaIps.includes(ip)) knownReplicas.delete(ip);
    }
  }

  /** Gives state changes without an address the most likely recent suspect. */
  function attribute(findings: RedisFinding[], suspects: readonly RedisClient[]): RedisFinding[] {
    if (suspects.length === 0) return findings;
    const pick = (commands: ReadonlySet<string>): RedisClient | undefined => {
      const matching = suspects.filter((c) => commands.has(c.cmd));
      if (matching.length > 0) return matching.sort((a, b) => a.idle - b.idle)[0];
      return suspects.length === 1 ? suspects[0] : undefined;
    };
    return findings.map((finding) => {
      if (finding.ip !== undefined || finding.recovered || finding.severity === 'info') return finding;
      const topic = finding.condition ?? (finding.kind === 'redis-dump-written' ? 'dir' : undefined);
      let attacker: RedisClient | undefined;
      if (topic === 'role') attacker = pick(ROLE_COMMANDS);
      else if (topic === 'dir' || topic === 'dbfilename') attacker = pick(CONFIG_COMMANDS);
      if (attacker === undefined) return finding;
      const ip = attacker.ip as string;
      const scenario = topic === 'role' ? 'redis-hijack' : 'redis-dangerous-command';
      return {
        ...finding,
        attacker,
        repairs: [
          ...finding.repairs,
          { type: 'client-kill', id: attacker.id, addr: attacker.addr },
          {
            type: 'ban',
            ip,
            scenario,
            reason: `redis ${options.instance}: ${finding.summary} (by ${ip})`,
          },
        ],
      };
    });
  }

  const topicOf = (finding: RedisFinding): string => {
    switch (finding.condition ?? finding.kind) {
      case 'role':
      case 'redis-role-changed':
        return 'role';
      case 'dir':
      case 'dbfilename':
      case 'redis-dump-written':
        return 'config';
      case 'bgsave':
        return 'persistence';
      case 'memory':
        return 'memory';
      case 'redis-restarted':
        return 'restart';
      default:
        return finding.kind;
    }
  };

  function keyOf(finding: RedisFinding): string {
    const who = finding.ip ?? finding.attacker?.ip;
    if (who !== undefined) return who;
    if (finding.condition === 'unreachable') return `redis:${options.address}:down`;
    if (finding.condition === 'master-link') return `redis:${finding.fields['master'] ?? '?'}:down`;
    return topicKey(topicOf(finding));
  }

  /** Groups one poll's findings into incidents and remembers which incident opened each condition. */
  function group(findings: readonly RedisFinding[]): RedisIncident[] {
    const byKey = new Map<string, RedisFinding[]>();
    // One known attacker in this poll takes the unattributed state changes of the same poll.
    const attackers = new Set(findings.map((f) => f.ip ?? f.attacker?.ip).filter((ip) => ip !== undefined));
    const only = attackers.size === 1 ? [...attackers][0] : undefined;
    for (const finding of findings) {
      let key: string;
      if (finding.recovered) {
        key =
          finding.condition === undefined
            ? topicKey(topicOf(finding))
            : (recoveredKeys.get(finding.condition) ?? keyOf(finding));
      } else if (
        only !== undefined &&
        finding.ip === undefined &&
        finding.attacker === undefined &&
        ['role', 'config'].includes(topicOf(finding))
      ) {
        key = only;
      } else {
        key = keyOf(finding);
      }
      const list = byKey.get(key) ?? [];
      list.push(finding);
      byKey.set(key, list);
      if (finding.condition !== undefined && !finding.recovered) {
        const state = conditions.get(finding.condition);
        if (state !== undefined) state.incident = key;
      }
    }
    recoveredKeys.clear();
    const incidents: RedisIncident[] = [];
    for (const [key, list] of byKey) {
      const ip = list.map((f) => f.ip ?? f.attacker?.ip).find((v) => v !== undefined);
      const stateRepairs: Repair[] = [];
      const kills = new Map<string, Repair>();
      const bans = new Map<string, Extract<Repair, { type: 'ban' }>>();
      for (const finding of list) {
        for (const repair of finding.repairs) {
          if (repair.type === 'client-kill') kills.set(repair.id, repair);
          else if (repair.type === 'ban') {
            // The REPLICAOF scenario wins over the generic one for the same address.
            const held = bans.get(repair.ip);
            if (
              held === undefined ||
              (repair.scenario === 'redis-hijack' && held.scenario !== 'redis-hijack')
            ) {
              bans.set(repair.ip, repair);
            }
          } else if (!stateRepairs.some((r) => JSON.stringify(r) === JSON.stringify(repair))) {
            stateRepairs.push(repair);
          }
        }
      }
      const severity = list.reduce<AlertSeverity>(
        (worst, f) => (SEVERITY_RANK[f.severity] > SEVERITY_RANK[worst] ? f.severity : worst),
        'info',
      );
      incidents.push({
        key,
        ...(ip === undefined ? {} : { ip }),
        findings: list,
        repairs: [...stateRepairs, ...kills.values(), ...bans.values()],
        severity,
        quiet: list.every((f) => f.quiet === true),
      });
    }
    return incidents;
  }

  /** Incident keys of conditions closed in this poll (read by group()). */
  const recoveredKeys = new Map<Condition, string>();
  const closeTracked = (condition: Condition) => {
    const state = conditions.get(condition);
    if (state !== undefined) recoveredKeys.set(condition, state.incident);
  };

  function setBaseline(observation: RedisObservation): void {
    baseline = Object.freeze({
      role: observation.role,
      ...(observation.masterHost === undefined ? {} : { masterHost: observation.masterHost }),
      ...(observation.masterPort === undefined ? {} : { masterPort: observation.masterPort }),
      ...(observation.dir === undefined ? {} : { dir: observation.dir }),
      ...(observation.dbfilename === undefined ? {} : { dbfilename: observation.dbfilename }),
      replicaIps: Object.freeze(observation.replicas.map((r) => r.ip)),
      ...(observation.runId === undefined ? {} : { runId: observation.runId }),
      ...(observation.version === undefined ? {} : { version: observation.version }),
    });
    for (const ip of baseline.replicaIps) knownReplicas.add(ip);
    // Clients connected before the guard started: judged like the others (their last command is as
    // telling now as later), so nothing to seed here.
  }

  return {
    get baseline() {
      return baseline;
    },
    get active() {
      return [...conditions.keys()];
    },
    observe(observation) {
      if (baseline === undefined) setBaseline(observation);
      for (const condition of conditions.keys()) closeTracked(condition);
      const out: RedisFinding[] = [];
      failures = 0;
      if (conditions.has('unreachable')) {
        close('unreachable', `${options.instance} answers again`, 'redis-unreachable', out);
      }
      if (
        previous?.runId !== undefined &&
        observation.runId !== undefined &&
        observation.runId !== previous.runId
      ) {
        out.push({
          kind: 'redis-restarted',
          severity: 'warning',
          summary: `${options.instance} restarted (run id changed)`,
          fields: { instance: options.instance, runId: observation.runId },
          repairs: [],
        });
      }
      const suspects = judgeClients(observation, out);
      roleFindings(observation, out);
      configFindings(observation, out);
      healthFindings(observation, out);
      replicaFindings(observation, out);
      previous = observation;
      return group(attribute(out, suspects));
    },
    failed(at, error) {
      failures++;
      lastError = error;
      for (const condition of conditions.keys()) closeTracked(condition);
      const out: RedisFinding[] = [];
      if (failures >= options.unreachableAfter) {
        open(
          'unreachable',
          'down',
          {
            kind: 'redis-unreachable',
            severity: 'critical',
            summary: `${options.instance} (${options.address}) did not answer ${failures} polls in a row: ${lastError}`,
            fields: {
              instance: options.instance,
              address: options.address,
              error: lastError,
              at: String(at),
            },
            repairs: [],
          },
          out,
        );
      }
      return group(out);
    },
    setOwnClientId(id) {
      ownClientId = id;
    },
    unsettled(observation) {
      if (previous === undefined) return false;
      const stateChanged =
        observation.role !== previous.role ||
        observation.masterHost !== previous.masterHost ||
        observation.masterPort !== previous.masterPort ||
        observation.dir !== previous.dir ||
        observation.dbfilename !== previous.dbfilename;
      const freshSuspect = (observation.clients ?? []).some(
        (c) =>
          isOutsider(c) &&
          c.idle <= recentSeconds &&
          (ROLE_COMMANDS.has(c.cmd) || CONFIG_COMMANDS.has(c.cmd)) &&
          judged.get(c.id) !== c.cmd,
      );
      const anySuspect = (observation.clients ?? []).some(
        (c) =>
          isOutsider(c) &&
          c.idle <= recentSeconds &&
          (ROLE_COMMANDS.has(c.cmd) || CONFIG_COMMANDS.has(c.cmd)),
      );
      return (
        (stateChanged && !anySuspect && observation.clients !== undefined) || (freshSuspect && !stateChanged)
      );
    },
    repaired(list) {
      for (const condition of list) {
        const state = conditions.get(condition);
        if (state !== undefined) state.quietRecovery = true;
      }
    },
  };
}

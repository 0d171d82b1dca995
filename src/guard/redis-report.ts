/**
 * Redis incidents → what the rest of moat reads: ParsedEvents for the detection engine (one per
 * finding) and one Alert per incident (what was seen, who did it, what was done). Pure.
 */
import type { Alert } from '../alerts/types.ts';
import type { ParsedEvent } from '../core/events.ts';
import type { RedisFinding, RedisIncident } from './redis-detect.ts';

export function findingEvent(finding: RedisFinding, instance: string, at: number): ParsedEvent {
  const fields: Record<string, string> = { ...finding.fields, summary: finding.summary };
  if (finding.attacker?.ip !== undefined) fields['attacker'] = finding.attacker.ip;
  return {
    at,
    source: `guard:redis:${instance}`,
    service: 'redis',
    kind: finding.kind,
    ...(finding.ip === undefined ? {} : { ip: finding.ip }),
    ...(finding.client?.user ? { user: finding.client.user } : {}),
    fields,
  };
}

/** The alert kind of an incident: its most telling finding. */
function alertKind(incident: RedisIncident): string {
  const kinds = incident.findings.filter((f) => !f.quiet).map((f) => f.kind);
  const hijack = incident.findings.some(
    (f) =>
      f.kind === 'redis-replicaof' ||
      (f.kind === 'redis-role-changed' && f.condition === 'role' && !f.recovered),
  );
  if (hijack) return 'redis-hijack';
  for (const kind of [
    'redis-dir-changed',
    'redis-dbfilename-changed',
    'redis-dump-written',
    'redis-dangerous-command',
    'redis-unknown-replica',
    'redis-unreachable',
    'redis-master-link-down',
    'redis-bgsave-failed',
    'redis-memory-high',
    'redis-role-changed',
    'redis-restarted',
  ]) {
    if (kinds.includes(kind)) return kind;
  }
  return kinds[0] ?? 'redis-recovered';
}

function title(incident: RedisIncident, instance: string, kind: string): string {
  const who = incident.ip === undefined ? '' : ` from ${incident.ip}`;
  const find = (k: string) => incident.findings.find((f) => f.kind === k && !f.recovered);
  switch (kind) {
    case 'redis-hijack': {
      const role = incident.findings.find((f) => f.condition === 'role' && !f.recovered);
      const replicaof = find('redis-replicaof');
      const master = role?.fields['master'] || replicaof?.fields['master'] || 'an unknown master';
      return `Redis ${instance} hijacked: REPLICAOF ${master}${who}`;
    }
    case 'redis-dir-changed':
    case 'redis-dbfilename-changed':
    case 'redis-dump-written': {
      const dir = find('redis-dir-changed')?.fields['dir'];
      const file = find('redis-dbfilename-changed')?.fields['dbfilename'];
      const parts = [
        dir === undefined ? '' : `dir ${dir}`,
        file === undefined ? '' : `dbfilename ${file}`,
      ].filter(Boolean);
      return `Redis ${instance} reconfigured: ${parts.join(', ') || 'dump written'}${who}`;
    }
    case 'redis-dangerous-command': {
      const command = find('redis-dangerous-command')?.fields['command'] ?? '?';
      return `Redis ${instance}: ${command.replace('|', ' ').toUpperCase()}${who}`;
    }
    case 'redis-recovered':
      return `Redis ${instance}: ${incident.findings.map((f) => f.summary).join('; ')}`;
    default: {
      const first = incident.findings.find((f) => f.kind === kind) ?? incident.findings[0];
      return `Redis ${instance}: ${first?.summary ?? kind}`;
    }
  }
}

export interface IncidentContext {
  readonly instance: string;
  /** `host:port` (never the URL: it may hold a password). */
  readonly address: string;
  readonly respond: 'observe' | 'restore';
  readonly at: number;
}

/** One alert for one incident, with what moat did (`actions`, already run). */
export function incidentAlert(
  incident: RedisIncident,
  actions: readonly string[],
  context: IncidentContext,
): Alert {
  const kind = alertKind(incident);
  const attacker = incident.findings.map((f) => f.client ?? f.attacker).find((c) => c !== undefined);
  const lines = ['Seen:', ...incident.findings.map((f) => `  - ${f.summary}`)];
  const recovering = incident.findings.every((f) => f.recovered);
  if (!recovering) {
    if (attacker !== undefined) {
      lines.push(
        `Who: ${attacker.ip ?? attacker.addr} (client id ${attacker.id}, last command ${attacker.cmd}${attacker.user ? `, user ${attacker.user}` : ''})`,
      );
    } else if (incident.ip !== undefined) {
      lines.push(`Who: ${incident.ip}`);
    } else if (
      incident.findings.some(
        (f) => f.condition === 'role' || f.condition === 'dir' || f.condition === 'dbfilename',
      )
    ) {
      lines.push('Who: unknown (no client outside allowedClients was seen; the Redis log names the client)');
    }
    // What was done travels in `actions` (the alert message lists them); say so when nothing was.
    if (actions.length === 0) {
      lines.push(
        context.respond === 'observe'
          ? 'Done: nothing changed in Redis (respond: observe)'
          : 'Done: nothing to undo',
      );
    }
  }
  return {
    kind,
    severity: incident.severity,
    title: title(incident, context.instance, kind),
    text: lines.join('\n'),
    incident: incident.key,
    ...(incident.ip === undefined ? {} : { ip: incident.ip }),
    ...(actions.length === 0 ? {} : { actions }),
    fields: {
      instance: context.instance,
      address: context.address,
      respond: context.respond,
      findings: incident.findings.map((f) => f.kind).join(','),
    },
    at: context.at,
  };
}

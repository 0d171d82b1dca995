/**
 * Redis: RESP `PING`, then (only if PING worked without a password) `INFO server` and
 * `INFO replication`. Both are read-only; nothing else is sent.
 */
import { type Finding, findingOf, type Rule } from '../../core/finding.ts';
import { parseAddress, scopeOf } from '../../core/ip.ts';
import { converse, endpointText, type Parse, ProbeIoError } from '../net.ts';
import { notRecognised, type ProbeContext, type ProbeResult, type ProtocolProbe } from '../types.ts';

export const redisNoAuthRule: Rule = {
  id: 'probe-redis-no-auth',
  severity: 'critical',
  title: 'Redis answers without a password',
  why: 'Anyone who can reach this port can read and delete every key, run `REPLICAOF attacker 24798` to turn the server into a read-only replica of their own (incident 1: the app failed for 20 hours), or `CONFIG SET dir /var/spool/cron` + `SAVE` to plant a crontab (incident 2).',
  reads: 'TCP HOST:PORT: RESP `PING`, then `INFO server` and `INFO replication`',
  fix: 'Bind Redis to loopback or a private address (`bind 127.0.0.1 -::1`), keep `protected-mode yes`, set a password (`requirepass` or an ACL user: `user default on >LONG-RANDOM-SECRET ~* +@all -@dangerous`), and firewall 6379 (`ufw deny 6379/tcp`; for Docker publish as `127.0.0.1:6379:6379`).',
};

export const redisAuthRequiredRule: Rule = {
  id: 'probe-redis-auth-required',
  severity: 'info',
  title: 'Redis answers but requires authentication',
  why: 'The port is reachable, so the password is the only barrier: a weak or leaked one gives full control, and every connection attempt costs the server work.',
  reads: 'TCP HOST:PORT: RESP `PING` (reply `-NOAUTH`)',
  fix: 'If clients outside this host do not need Redis, bind it to loopback and firewall 6379; otherwise keep a long random password and restrict the source addresses in the firewall.',
};

export const redisProtectedModeRule: Rule = {
  id: 'probe-redis-protected-mode',
  severity: 'low',
  title: 'Redis has no password and only protected mode refuses remote clients',
  why: 'Redis answered `-DENIED`: the default user has no password and protected mode is the only thing refusing this client. One `protected-mode no` (the official Docker image runs that way) or a client on an address Redis counts as local gets full, unauthenticated control.',
  reads: 'TCP HOST:PORT: RESP `PING` (reply `-DENIED`)',
  fix: 'Set a password (`requirepass LONG-RANDOM-SECRET` or an ACL user), bind Redis to loopback (`bind 127.0.0.1 -::1`) and firewall 6379.',
};

export const redisReplicaRule: Rule = {
  id: 'probe-redis-replica',
  severity: 'high',
  title: 'Redis is a replica of another server',
  why: 'A replica serves whatever its master sends and refuses writes (`READONLY`). If nobody here configured this replication, someone ran `REPLICAOF` on it: the hijack of incident 1, where the master is the attacker’s server and the app failed with READONLY errors for 20 hours.',
  reads: 'TCP HOST:PORT: `INFO replication` (role, master_host, master_port, master_link_status)',
  fix: 'If the master is not yours: run `REPLICAOF NO ONE` (then `CONFIG REWRITE` if the config was rewritten), restore data from backup, rename or disable the REPLICAOF/SLAVEOF and CONFIG commands (`rename-command REPLICAOF ""`), set a password and firewall 6379. If it is yours, make sure the replica is not reachable from outside.',
};

export const redisRules: readonly Rule[] = [
  redisNoAuthRule,
  redisAuthRequiredRule,
  redisProtectedModeRule,
  redisReplicaRule,
];

type Reply =
  | { readonly kind: 'simple' | 'error'; readonly text: string }
  | { readonly kind: 'integer'; readonly value: number }
  | { readonly kind: 'bulk'; readonly text: string | null }
  | { readonly kind: 'array'; readonly items: readonly Reply[] | null };

/** Parses one RESP2/RESP3 reply; throws NotResp on bytes that cannot be RESP. */
export const respReply: Parse<Reply> = (buffer) => parseAt(buffer, 0);

export class NotResp extends Error {
  override readonly name = 'NotResp';
}

function parseAt(buffer: Buffer, start: number): { value: Reply; consumed: number } | undefined {
  if (buffer.length <= start) return undefined;
  const end = buffer.indexOf('\r\n', start);
  const type = String.fromCharCode(buffer[start]!);
  if (!'+-:$*_#,%~>'.includes(type))
    throw new NotResp(`not RESP: starts with 0x${buffer[start]!.toString(16)}`);
  if (end < 0) {
    if (buffer.length - start > 64 * 1024) throw new NotResp('no line end within 64 KiB');
    return undefined;
  }
  const header = buffer.subarray(start + 1, end).toString('utf8');
  const after = end + 2;
  switch (type) {
    case '+':
      return { value: { kind: 'simple', text: header }, consumed: after };
    case '-':
      return { value: { kind: 'error', text: header }, consumed: after };
    case ':':
      return { value: { kind: 'integer', value: Number(header) }, consumed: after };
    case '$': {
      const length = Number(header);
      if (!Number.isInteger(length)) throw new NotResp(`bad bulk length ${header}`);
      if (length < 0) return { value: { kind: 'bulk', text: null }, consumed: after };
      if (buffer.length < after + length + 2) return undefined;
      return {
        value: { kind: 'bulk', text: buffer.subarray(after, after + length).toString('utf8') },
        consumed: after + length + 2,
      };
    }
    case '*': {
      const count = Number(header);
      if (!Number.isInteger(count)) throw new NotResp(`bad array length ${header}`);
      if (count < 0) return { value: { kind: 'array', items: null }, consumed: after };
      const items: Reply[] = [];
      let offset = after;
      for (let index = 0; index < count; index++) {
        const item = parseAt(buffer, offset);
        if (!item) return undefined;
        items.push(item.value);
        offset = item.consumed;
      }
      return { value: { kind: 'array', items }, consumed: offset };
    }
    default:
      // RESP3 types the probe never asks for; treat the line as opaque.
      return { value: { kind: 'simple', text: header }, consumed: after };
  }
}

/** Encodes a command as a RESP array of bulk strings. */
export function respCommand(...parts: readonly string[]): string {
  return `*${parts.length}\r\n${parts.map((part) => `$${Buffer.byteLength(part)}\r\n${part}\r\n`).join('')}`;
}

/** `key:value` lines of an INFO reply. */
export function parseInfo(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const raw of text.split(/\r?\n/)) {
    if (raw.startsWith('#') || !raw.includes(':')) continue;
    const colon = raw.indexOf(':');
    fields.set(raw.slice(0, colon), raw.slice(colon + 1).trim());
  }
  return fields;
}

export const redisProbe: ProtocolProbe = {
  name: 'redis',
  rules: redisRules,
  ports: [6379, 6380, 26379],
  async run(context: ProbeContext): Promise<ProbeResult> {
    const where = endpointText(context.host, context.port);
    const conversation = await converse(context);
    try {
      conversation.write(respCommand('PING'));
      let reply: Reply;
      try {
        reply = await conversation.read(respReply);
      } catch (error) {
        if (error instanceof NotResp || error instanceof ProbeIoError) return notRecognised;
        throw error;
      }
      if (reply.kind === 'error' && reply.text.startsWith('NOAUTH')) {
        return {
          recognised: true,
          service: 'Redis (password required)',
          findings: [
            findingOf(redisAuthRequiredRule, [{ detail: `${where} answered PING with -${reply.text}` }]),
          ],
        };
      }
      if (reply.kind === 'error' && reply.text.startsWith('DENIED')) {
        return {
          recognised: true,
          service: 'Redis (protected mode)',
          findings: [
            findingOf(redisProtectedModeRule, [
              { detail: `${where} answered PING with -${reply.text.slice(0, 120)}…` },
            ]),
          ],
        };
      }
      if (!(reply.kind === 'simple' && reply.text === 'PONG')) {
        const shown = reply.kind === 'simple' || reply.kind === 'error' ? reply.text : reply.kind;
        return { recognised: true, service: `RESP server (PING → ${shown.slice(0, 60)})`, findings: [] };
      }

      conversation.write(respCommand('INFO', 'server') + respCommand('INFO', 'replication'));
      const server = await readInfo(conversation.read(respReply));
      const replication = await readInfo(conversation.read(respReply));
      return unauthenticated(where, server, replication);
    } finally {
      conversation.close();
    }
  },
};

/** An INFO section, or the error that replaced it (INFO renamed away, ACL denies it…). */
async function readInfo(pending: Promise<Reply>): Promise<Map<string, string> | string> {
  try {
    const reply = await pending;
    if (reply.kind === 'bulk' && reply.text !== null) return parseInfo(reply.text);
    return reply.kind === 'error' ? `-${reply.text}` : `unexpected ${reply.kind} reply`;
  } catch (error) {
    return (error as Error).message;
  }
}

function unauthenticated(
  where: string,
  server: Map<string, string> | string,
  replication: Map<string, string> | string,
): ProbeResult {
  const facts: string[] = [];
  if (server instanceof Map) {
    for (const key of ['redis_version', 'redis_mode', 'os']) {
      const value = server.get(key);
      if (value !== undefined) facts.push(`${key}:${value}`);
    }
  } else facts.push(`INFO server: ${server}`);
  if (replication instanceof Map) {
    const role = replication.get('role');
    if (role !== undefined) facts.push(`role:${role}`);
  } else facts.push(`INFO replication: ${replication}`);

  const findings: Finding[] = [
    findingOf(redisNoAuthRule, [
      { detail: `${where} answered PING with +PONG and no password was asked (${facts.join(', ')})` },
    ]),
  ];
  if (replication instanceof Map && replication.get('role') === 'slave') {
    findings.push(replicaFinding(where, replication));
  }
  const version = server instanceof Map ? server.get('redis_version') : undefined;
  return {
    recognised: true,
    service: `Redis${version === undefined ? '' : ` ${version}`} (no password)`,
    findings,
  };
}

export function replicaFinding(where: string, replication: Map<string, string>): Finding {
  const masterHost = replication.get('master_host') ?? '?';
  const masterPort = replication.get('master_port') ?? '?';
  const link = replication.get('master_link_status') ?? '?';
  const address = parseAddress(masterHost);
  const publicMaster = address !== undefined && scopeOf(address) === 'public';
  const master = `${masterHost.includes(':') ? `[${masterHost}]` : masterHost}:${masterPort}`;
  return findingOf(
    redisReplicaRule,
    [
      {
        detail: `${where} INFO replication: role:slave, master_host:${masterHost}, master_port:${masterPort}, master_link_status:${link}${
          publicMaster ? ' — the master is a public address: the REPLICAOF hijack if it is not yours' : ''
        }`,
      },
    ],
    {
      title: `Redis is a replica of ${master}${publicMaster ? ' (a public address)' : ''}`,
      ...(publicMaster ? { severity: 'critical' as const } : {}),
    },
  );
}

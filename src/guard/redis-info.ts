/**
 * Redis replies → typed observations. Pure: INFO text, CLIENT LIST text and CONFIG GET pairs in,
 * plain records out. Unknown or malformed lines are skipped (a Redis we do not know still yields
 * what we can read).
 */

/** `key:value` lines of an INFO reply (sections merged; `#` headers and blanks skipped). */
export function parseInfo(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    out.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return out;
}

/** One connection as CLIENT LIST shows it. */
export interface RedisClient {
  readonly id: string;
  /** `ip:port`, `[v6]:port` (Redis prints v6 without brackets: `::1:5000`), or a unix socket path. */
  readonly addr: string;
  /** The client address; undefined for unix sockets. */
  readonly ip?: string;
  readonly port?: number;
  /** Last command run, e.g. `replicaof`, `config|set`, `client|list`. */
  readonly cmd: string;
  /** Seconds since the last command. */
  readonly idle: number;
  readonly age: number;
  /** `N` normal, `S` replica, `M` master, `x`… */
  readonly flags: string;
  readonly name: string;
  readonly user: string;
}

/** `a.b.c.d:port` or `v6:port` (no brackets, as Redis prints it) → ip and port. */
export function splitRedisAddr(addr: string): { ip: string; port: number } | undefined {
  const colon = addr.lastIndexOf(':');
  if (colon <= 0) return undefined;
  const port = Number(addr.slice(colon + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65_535) return undefined;
  let ip = addr.slice(0, colon);
  if (ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1);
  if (ip.startsWith('::ffff:') && ip.includes('.')) ip = ip.slice(7);
  return { ip, port };
}

/** CLIENT LIST text → clients. Lines without an `id=` are skipped. */
export function parseClientList(text: string): RedisClient[] {
  const clients: RedisClient[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    const fields = new Map<string, string>();
    for (const pair of line.split(' ')) {
      const eq = pair.indexOf('=');
      if (eq > 0) fields.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    const id = fields.get('id');
    const addr = fields.get('addr') ?? '';
    if (id === undefined) continue;
    const split = splitRedisAddr(addr);
    clients.push({
      id,
      addr,
      ...(split === undefined ? {} : { ip: split.ip, port: split.port }),
      cmd: fields.get('cmd') ?? '',
      idle: Number(fields.get('idle') ?? 0) || 0,
      age: Number(fields.get('age') ?? 0) || 0,
      flags: fields.get('flags') ?? '',
      name: fields.get('name') ?? '',
      user: fields.get('user') ?? '',
    });
  }
  return clients;
}

/** A replica as its master lists it in INFO replication (`slave0:ip=…,port=…,state=online,…`). */
export interface RedisReplica {
  readonly ip: string;
  readonly port: number;
  readonly state: string;
}

export type RedisRole = 'master' | 'replica' | 'unknown';

/** What one poll saw. Fields the guard could not read (CONFIG renamed, ACL) are undefined. */
export interface RedisObservation {
  /** ms since epoch. */
  readonly at: number;
  readonly role: RedisRole;
  /** For a replica: its master. */
  readonly masterHost?: string;
  readonly masterPort?: number;
  readonly masterLinkUp?: boolean;
  /** Seconds the link has been down, as the replica reports it (-1/undefined: never up). */
  readonly masterLinkDownSeconds?: number;
  readonly replicas: readonly RedisReplica[];
  readonly dir?: string;
  readonly dbfilename?: string;
  /** `rdb_last_bgsave_status`. */
  readonly bgsaveOk?: boolean;
  /** `rdb_saves` (Redis ≥ 7) or else `rdb_last_save_time`: grows when a dump is written. */
  readonly saveMark?: number;
  readonly usedMemory?: number;
  /** 0 = no limit. */
  readonly maxmemory?: number;
  readonly runId?: string;
  readonly version?: string;
  /** Undefined when CLIENT LIST is not allowed. */
  readonly clients?: readonly RedisClient[];
}

export interface RawPoll {
  readonly at: number;
  /** INFO replies (any sections). */
  readonly info: readonly string[];
  /** CONFIG GET replies as flat [key, value, …] arrays; undefined when CONFIG is not allowed. */
  readonly config?: readonly (readonly string[])[];
  readonly clientList?: string;
}

const num = (value: string | undefined): number | undefined => {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
};

/** Builds an observation from the raw replies of one poll. */
export function observationOf(raw: RawPoll): RedisObservation {
  const info = new Map<string, string>();
  for (const text of raw.info) for (const [k, v] of parseInfo(text)) info.set(k, v);
  const config = new Map<string, string>();
  for (const pairs of raw.config ?? []) {
    for (let i = 0; i + 1 < pairs.length; i += 2) config.set(pairs[i] as string, pairs[i + 1] as string);
  }
  const roleText = info.get('role');
  const role: RedisRole = roleText === 'master' ? 'master' : roleText === 'slave' ? 'replica' : 'unknown';
  const replicas: RedisReplica[] = [];
  for (const [key, value] of info) {
    if (!/^slave\d+$/.test(key)) continue;
    const parts = new Map(
      value.split(',').map((kv) => {
        const eq = kv.indexOf('=');
        return [kv.slice(0, eq), kv.slice(eq + 1)] as const;
      }),
    );
    const ip = parts.get('ip');
    const port = num(parts.get('port'));
    if (ip !== undefined && port !== undefined) replicas.push({ ip, port, state: parts.get('state') ?? '' });
  }
  const masterHost = info.get('master_host');
  const masterPort = num(info.get('master_port'));
  const linkStatus = info.get('master_link_status');
  const downSeconds = num(info.get('master_link_down_since_seconds'));
  const bgsave = info.get('rdb_last_bgsave_status');
  const saveMark = num(info.get('rdb_saves')) ?? num(info.get('rdb_last_save_time'));
  const usedMemory = num(info.get('used_memory'));
  const maxmemory = num(info.get('maxmemory')) ?? num(config.get('maxmemory'));
  const runId = info.get('run_id');
  const version = info.get('redis_version');
  const dir = config.get('dir');
  const dbfilename = config.get('dbfilename');
  return {
    at: raw.at,
    role,
    ...(role === 'replica' && masterHost !== undefined ? { masterHost } : {}),
    ...(role === 'replica' && masterPort !== undefined ? { masterPort } : {}),
    ...(role === 'replica' && linkStatus !== undefined ? { masterLinkUp: linkStatus === 'up' } : {}),
    ...(role === 'replica' && downSeconds !== undefined && downSeconds >= 0
      ? { masterLinkDownSeconds: downSeconds }
      : {}),
    replicas,
    ...(dir === undefined ? {} : { dir }),
    ...(dbfilename === undefined ? {} : { dbfilename }),
    ...(bgsave === undefined ? {} : { bgsaveOk: bgsave === 'ok' }),
    ...(saveMark === undefined ? {} : { saveMark }),
    ...(usedMemory === undefined ? {} : { usedMemory }),
    ...(maxmemory === undefined ? {} : { maxmemory }),
    ...(runId === undefined ? {} : { runId }),
    ...(version === undefined ? {} : { version }),
    ...(raw.clientList === undefined ? {} : { clients: parseClientList(raw.clientList) }),
  };
}

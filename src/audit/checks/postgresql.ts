/**
 * PostgreSQL: pg_hba.conf `trust` (no password at all) for network clients, cleartext `password`
 * over connections that may not use TLS, and the server reachable from the internet.
 */
import { type Evidence, type Finding, findingOf, type Rule, type Severity } from '../../core/finding.ts';
import { type Cidr, cidrCovers, cidrScope, parseAddress, parseCidr } from '../../core/ip.ts';
import type { HbaRecord, PgCluster } from '../collectors/postgresql.ts';
import type { Check, Exposure, ExposureVerdict, Reach } from '../types.ts';
import { addressTerm, assessTerms, type BindTerm, narrower, reachEvidence } from './datastores.ts';

const READS =
  'postgresql.conf (with include, include_if_exists, include_dir) and postgresql.auto.conf of every cluster under ' +
  '/etc/postgresql/*/* or /var/lib/pgsql[/*]/data, and the pg_hba.conf that hba_file names';

export const postgresqlTrustRemote: Rule = {
  id: 'postgresql-trust-remote',
  severity: 'critical',
  title: 'PostgreSQL lets network clients in without a password (trust)',
  why:
    'A pg_hba.conf `trust` line lets anyone who reaches the port log in as any role it names, including the ' +
    'postgres superuser, with no password. A superuser can read and drop every database and run shell ' +
    'commands as the postgres user (`COPY … TO PROGRAM`), which cryptomining botnets scan for. Severity ' +
    'follows who can connect: critical when the line covers internet addresses and listen_addresses is ' +
    'reachable from the internet, high for private networks, low while the server only listens locally.',
  reads: READS,
  fix:
    'In pg_hba.conf replace `trust` with `scram-sha-256` on the line shown and narrow the address to the ' +
    'application hosts (e.g. `host all app 10.0.0.5/32 scram-sha-256`); set a password first ' +
    "(`ALTER ROLE app PASSWORD '…'`), then `SELECT pg_reload_conf();` or `systemctl reload postgresql`.",
};

export const postgresqlTrustLocal: Rule = {
  id: 'postgresql-trust-local',
  severity: 'low',
  title: 'PostgreSQL trusts local connections without a password',
  why:
    'A `trust` line for the Unix socket or loopback lets every local process log in as the roles it names, ' +
    'usually the postgres superuser: a compromised web application or any local user becomes a database ' +
    'superuser and, through `COPY … TO PROGRAM`, the postgres OS user.',
  reads: READS,
  fix:
    'Use `peer` for `local` lines and `scram-sha-256` for `host` lines on 127.0.0.1/32 and ::1/128 in ' +
    'pg_hba.conf, then `systemctl reload postgresql`.',
};

export const postgresqlCleartextPassword: Rule = {
  id: 'postgresql-cleartext-password',
  severity: 'low',
  title: 'PostgreSQL takes cleartext passwords from network clients',
  why:
    'The `password` method sends the password in clear text; on a `host` or `hostnossl` line the connection ' +
    'may be unencrypted, so anyone on the path can read it.',
  reads: READS,
  fix: 'Use `scram-sha-256` instead of `password` in pg_hba.conf (or `hostssl` lines), then reload PostgreSQL.',
};

export const postgresqlPublicBind: Rule = {
  id: 'postgresql-public-bind',
  severity: 'medium',
  title: 'PostgreSQL is reachable from the internet',
  why:
    'A database port open to the internet takes password guessing around the clock and every pre-auth bug ' +
    'of the server; an application database rarely needs to be public.',
  reads: READS,
  fix:
    "Set `listen_addresses = 'localhost'` (or a private address) in postgresql.conf and restart, or allow 5432 " +
    'only from the application hosts in the firewall.',
};

const TRUST_SEVERITY: Record<Reach, Severity> = { internet: 'critical', private: 'high', local: 'low' };

export const postgresqlCheck: Check = {
  name: 'postgresql',
  rules: [postgresqlTrustRemote, postgresqlTrustLocal, postgresqlCleartextPassword, postgresqlPublicBind],
  run({ facts, exposure }) {
    return (facts.postgresql?.clusters ?? []).flatMap((cluster) => checkCluster(cluster, exposure));
  },
};

function checkCluster(cluster: PgCluster, exposure: Exposure): Finding[] {
  const listen = listenVerdict(cluster, exposure);
  const findings: Finding[] = [];
  const records = cluster.hba ?? [];
  let remoteTrust = false;
  for (const [index, record] of records.entries()) {
    if (shadowed(record, records.slice(0, index))) continue;
    const source = sourceOf(record);
    const recordEvidence: Evidence = { file: record.file, line: record.line, detail: record.text };
    if (record.method === 'trust' && source.reach === 'local') {
      findings.push(findingOf(postgresqlTrustLocal, [recordEvidence, { detail: source.detail }]));
    } else if (record.method === 'trust') {
      const reach = narrower(source.reach, listen.verdict.reach);
      remoteTrust ||= reach === 'internet';
      const title =
        reach === 'internet'
          ? 'PostgreSQL lets clients from the internet in without a password (trust)'
          : reach === 'private'
            ? 'PostgreSQL lets clients from private networks in without a password (trust)'
            : 'PostgreSQL trusts network clients without a password (the server listens only locally for now)';
      findings.push(
        findingOf(
          postgresqlTrustRemote,
          [
            recordEvidence,
            { detail: source.detail },
            listen.evidence,
            ...reachEvidence(`port ${listen.port}`, listen.verdict),
          ],
          { severity: TRUST_SEVERITY[reach], title },
        ),
      );
    } else if (
      record.method === 'password' &&
      source.reach !== 'local' &&
      (record.type === 'host' || record.type === 'hostnossl')
    ) {
      findings.push(findingOf(postgresqlCleartextPassword, [recordEvidence, { detail: source.detail }]));
    }
  }
  if (listen.verdict.reach === 'internet' && !remoteTrust) {
    findings.push(
      findingOf(postgresqlPublicBind, [
        listen.evidence,
        ...reachEvidence(`port ${listen.port}`, listen.verdict),
      ]),
    );
  }
  return findings;
}

interface ListenVerdict {
  readonly port: number;
  readonly verdict: ExposureVerdict;
  readonly evidence: Evidence;
}

function listenVerdict(cluster: PgCluster, exposure: Exposure): ListenVerdict {
  const setting = cluster.settings['listen_addresses'];
  const portSetting = cluster.settings['port'];
  const port = Number(portSetting?.value ?? '5432') || 5432;
  const value = setting?.value ?? 'localhost';
  const evidence: Evidence = setting
    ? { file: setting.file, line: setting.line, detail: `listen_addresses = '${setting.value}'` }
    : {
        file: cluster.configFile,
        detail: "listen_addresses is not set: PostgreSQL listens on 'localhost' by default",
      };
  const entries = value
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  if (entries.length === 0) {
    return {
      port,
      evidence,
      verdict: {
        reach: 'local',
        reasons: ['listen_addresses is empty: PostgreSQL takes only Unix-socket connections'],
      },
    };
  }
  const terms: BindTerm[] = entries.map((entry) =>
    entry === '*' ? { binds: ['0.0.0.0', '::'], cap: 'internet' } : addressTerm(entry, 'postgresql'),
  );
  return {
    port,
    evidence,
    verdict: assessTerms(exposure, { service: 'postgresql', port, protocol: 'tcp' }, terms),
  };
}

interface Source {
  readonly reach: Reach;
  readonly detail: string;
  /** The address range when it is one, for shadowing. */
  readonly cidr?: Cidr;
}

/** Which clients an hba record's address field matches. */
export function sourceOf(record: HbaRecord): Source {
  if (record.type === 'local')
    return { reach: 'local', detail: 'local: connections over the Unix domain socket' };
  const address = record.address ?? '';
  const keyword = address.toLowerCase();
  if (keyword === 'all') return { reach: 'internet', detail: 'address `all` matches every client address' };
  if (keyword === 'samehost')
    return { reach: 'local', detail: "samehost matches only the server's own addresses" };
  if (keyword === 'samenet') {
    return {
      reach: 'private',
      detail: 'samenet matches every address on the subnets the server is directly connected to',
    };
  }
  const cidr = record.mask !== undefined ? cidrFromMask(address, record.mask) : parseCidr(address);
  if (cidr) {
    const scope = cidrScope(cidr);
    const reach: Reach = scope === 'loopback' ? 'local' : scope === 'private' ? 'private' : 'internet';
    const described =
      reach === 'internet'
        ? scope === 'any'
          ? 'every address'
          : 'public addresses'
        : reach === 'private'
          ? 'private addresses'
          : 'loopback only';
    return { reach, cidr, detail: `${cidr.text} covers ${described}` };
  }
  if (keyword === 'localhost') return { reach: 'local', detail: 'localhost resolves to loopback' };
  return {
    reach: 'private',
    detail: `${address} is a host name: it matches clients whose reverse DNS resolves to it`,
  };
}

function cidrFromMask(address: string, mask: string): Cidr | undefined {
  const parsedMask = parseAddress(mask);
  if (!parsedMask) return undefined;
  let prefix = 0;
  for (const byte of parsedMask.toByteArray()) {
    for (let bit = 7; bit >= 0; bit--) {
      if ((byte >> bit) & 1) prefix++;
      else return parseCidr(`${address}/${prefix}`);
    }
  }
  return parseCidr(`${address}/${prefix}`);
}

/**
 * PostgreSQL uses the first record that matches a connection; a later record is dead when an earlier
 * one matches everything it would (same or wider connection type, `all` or the same database and user,
 * a covering address).
 */
function shadowed(record: HbaRecord, earlier: readonly HbaRecord[]): boolean {
  const mine = sourceOf(record);
  return earlier.some((before) => {
    const typeCovers = before.type === record.type || (before.type === 'host' && record.type !== 'local');
    if (!typeCovers) return false;
    // `all` does not match the replication pseudo-database.
    const dbCovers =
      before.database === record.database || (before.database === 'all' && record.database !== 'replication');
    const userCovers = before.user === 'all' || before.user === record.user;
    if (!dbCovers || !userCovers) return false;
    if (record.type === 'local') return true;
    if (before.address?.toLowerCase() === 'all') return true;
    if (before.address === record.address && before.mask === record.mask) return true;
    const theirs = sourceOf(before);
    return theirs.cidr !== undefined && mine.cidr !== undefined && cidrCovers(theirs.cidr, mine.cidr);
  });
}

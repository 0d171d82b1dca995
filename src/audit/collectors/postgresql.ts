/**
 * PostgreSQL: every cluster's postgresql.conf (Debian /etc/postgresql/<version>/<cluster>/, RHEL
 * /var/lib/pgsql[/<version>]/data/) with its include, include_if_exists and include_dir directives,
 * then postgresql.auto.conf (ALTER SYSTEM) in the data directory, then the pg_hba.conf that hba_file
 * names (default: beside postgresql.conf), itself with include directives (PostgreSQL 16+).
 */
import path from 'node:path';
import type { Finding, Skipped } from '../../core/finding.ts';
import type { Host } from '../host.ts';
import { unparsableFile } from '../rules.ts';
import type { Collector } from '../types.ts';

export interface PgSetting {
  readonly value: string;
  readonly file: string;
  readonly line: number;
}

export const HBA_TYPES = ['local', 'host', 'hostssl', 'hostnossl', 'hostgssenc', 'hostnogssenc'] as const;
export type HbaType = (typeof HBA_TYPES)[number];

/** One pg_hba.conf record. Fields keep their text (lists like `db1,db2`, `@file`, `+role`, quotes). */
export interface HbaRecord {
  readonly file: string;
  readonly line: number;
  readonly type: HbaType;
  readonly database: string;
  readonly user: string;
  /** CIDR, bare address (then `mask` is set), `all`, `samehost`, `samenet` or a host name; absent for `local`. */
  readonly address?: string;
  readonly mask?: string;
  readonly method: string;
  readonly options: readonly string[];
  /** The line as written, whitespace squeezed. */
  readonly text: string;
}

/** A reference moat records but does not follow: `@file` lists in pg_hba.conf. */
export interface PgReference {
  readonly file: string;
  readonly line: number;
  readonly detail: string;
}

export interface PgCluster {
  /** `15/main` on Debian, else the data directory. */
  readonly name: string;
  readonly configFile: string;
  /** Effective settings (last one wins, names lower-cased), with where each was set. */
  readonly settings: Readonly<Record<string, PgSetting>>;
  readonly hbaFile: string;
  /** Undefined when pg_hba.conf could not be read. */
  readonly hba?: readonly HbaRecord[];
  readonly references: readonly PgReference[];
}

export interface PostgresqlFacts {
  readonly clusters: readonly PgCluster[];
}

const MAX_INCLUDE_DEPTH = 10;

export const postgresqlCollector: Collector<'postgresql'> = {
  name: 'postgresql',
  async collect({ host }) {
    const configFiles = await findConfigFiles(host);
    if (configFiles.length === 0) {
      return {
        skipped: [
          {
            check: 'postgresql',
            reason: 'no postgresql.conf under /etc/postgresql/*/* or /var/lib/pgsql[/*]/data',
          },
        ],
      };
    }
    const results = await Promise.all(configFiles.map((file) => collectCluster(host, file)));
    const clusters = results.flatMap((result) => (result.cluster ? [result.cluster] : []));
    const findings = results.flatMap((result) => result.findings);
    const skipped = results.flatMap((result) => result.skipped);
    return { ...(clusters.length > 0 ? { facts: { clusters } } : {}), findings, skipped };
  },
};

async function findConfigFiles(host: Host): Promise<string[]> {
  const candidates: string[] = [];
  const versions = (await host.list('/etc/postgresql')) ?? [];
  const debian = await Promise.all(
    versions.map(async (version) => {
      const names = (await host.list(`/etc/postgresql/${version}`)) ?? [];
      return names.map((name) => `/etc/postgresql/${version}/${name}/postgresql.conf`);
    }),
  );
  candidates.push(...debian.flat());
  const pgsql = (await host.list('/var/lib/pgsql')) ?? [];
  candidates.push('/var/lib/pgsql/data/postgresql.conf');
  candidates.push(
    ...pgsql.filter((name) => name !== 'data').map((name) => `/var/lib/pgsql/${name}/data/postgresql.conf`),
  );
  const present = await Promise.all(candidates.map((file) => host.isFile(file)));
  return candidates.filter((_, index) => present[index]);
}

interface ClusterResult {
  readonly cluster?: PgCluster;
  readonly findings: Finding[];
  readonly skipped: Skipped[];
}

async function collectCluster(host: Host, configFile: string): Promise<ClusterResult> {
  const findings: Finding[] = [];
  const skipped: Skipped[] = [];
  const settings: Record<string, PgSetting> = {};
  const configDir = path.posix.dirname(configFile);

  const readConf = async (file: string, depth: number, required: boolean): Promise<void> => {
    const text = await host.readText(file);
    if (text === undefined) {
      if (required)
        skipped.push({ check: 'postgresql', reason: `${file}: included but absent or unreadable` });
      return;
    }
    const parsed = parsePgConf(text);
    for (const error of parsed.errors) findings.push(unparsableFile(file, error.line, error.message));
    for (const entry of parsed.entries) {
      if (entry.name === 'include' || entry.name === 'include_if_exists' || entry.name === 'include_dir') {
        if (depth >= MAX_INCLUDE_DEPTH) {
          findings.push(
            unparsableFile(file, entry.line, `includes nested deeper than ${MAX_INCLUDE_DEPTH} levels`),
          );
          continue;
        }
        const target = resolvePath(file, entry.value);
        if (entry.name === 'include_dir') {
          for (const name of (await host.list(target)) ?? []) {
            if (name.endsWith('.conf') && !name.startsWith('.'))
              await readConf(`${target}/${name}`, depth + 1, false);
          }
        } else {
          await readConf(target, depth + 1, entry.name === 'include');
        }
        continue;
      }
      settings[entry.name] = { value: entry.value, file, line: entry.line };
    }
  };

  await readConf(configFile, 0, true);
  const dataDirectory = settings['data_directory']?.value;
  const autoConf = `${dataDirectory ? resolvePath(configFile, dataDirectory) : configDir}/postgresql.auto.conf`;
  await readConf(autoConf, 0, false);

  const hbaSetting = settings['hba_file']?.value;
  const hbaFile = hbaSetting ? resolvePath(configFile, hbaSetting) : `${configDir}/pg_hba.conf`;
  const records: HbaRecord[] = [];
  const references: PgReference[] = [];
  let hbaRead = false;
  const readHba = async (file: string, depth: number, required: boolean): Promise<void> => {
    const text = await host.readText(file);
    if (text === undefined) {
      if (required) skipped.push({ check: 'postgresql', reason: `${file}: absent or unreadable` });
      return;
    }
    if (depth === 0) hbaRead = true;
    const parsed = parseHba(text, file);
    for (const error of parsed.errors) findings.push(unparsableFile(file, error.line, error.message));
    references.push(...parsed.references);
    for (const item of parsed.items) {
      if ('type' in item) {
        records.push(item);
        continue;
      }
      if (depth >= MAX_INCLUDE_DEPTH) {
        findings.push(
          unparsableFile(file, item.line, `includes nested deeper than ${MAX_INCLUDE_DEPTH} levels`),
        );
        continue;
      }
      const target = resolvePath(file, item.target);
      if (item.directive === 'include_dir') {
        for (const name of (await host.list(target)) ?? []) {
          if (name.endsWith('.conf') && !name.startsWith('.'))
            await readHba(`${target}/${name}`, depth + 1, false);
        }
      } else {
        await readHba(target, depth + 1, item.directive === 'include');
      }
    }
  };
  await readHba(hbaFile, 0, true);

  const debian = /^\/etc\/postgresql\/([^/]+)\/([^/]+)\/postgresql\.conf$/.exec(configFile);
  const name = debian ? `${debian[1]}/${debian[2]}` : configDir;
  return {
    cluster: { name, configFile, settings, hbaFile, ...(hbaRead ? { hba: records } : {}), references },
    findings,
    skipped,
  };
}

/** Relative paths in postgresql.conf and pg_hba.conf are relative to the directory of the file naming them. */
function resolvePath(fromFile: string, target: string): string {
  return path.posix.resolve(path.posix.dirname(fromFile), target);
}

export interface PgConfEntry {
  readonly name: string;
  readonly value: string;
  readonly line: number;
}

export interface LineError {
  readonly line: number;
  readonly message: string;
}

const CONF_LINE = /^\s*([A-Za-z_][\w.-]*)\s*(?:=\s*)?('(?:[^'\\]|''|\\.)*'|[^\s#']+)?\s*(?:#.*)?$/;

/** postgresql.conf: `name = value`, `name value`, single-quoted values with '' or \' escapes, # comments. */
export function parsePgConf(text: string): { entries: PgConfEntry[]; errors: LineError[] } {
  const entries: PgConfEntry[] = [];
  const errors: LineError[] = [];
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const match = CONF_LINE.exec(raw);
    const name = match?.[1];
    const rawValue = match?.[2];
    if (!match || name === undefined || rawValue === undefined) {
      errors.push({ line: index + 1, message: `syntax error near "${trimmed.slice(0, 60)}"` });
      continue;
    }
    const value = rawValue.startsWith("'")
      ? rawValue.slice(1, -1).replace(/''/g, "'").replace(/\\(.)/g, '$1')
      : rawValue;
    entries.push({ name: name.toLowerCase(), value, line: index + 1 });
  }
  return { entries, errors };
}

export interface HbaInclude {
  readonly directive: 'include' | 'include_if_exists' | 'include_dir';
  readonly target: string;
  readonly line: number;
}

export interface ParsedHba {
  /** Records and include directives, in file order. */
  readonly items: readonly (HbaRecord | HbaInclude)[];
  readonly references: readonly PgReference[];
  readonly errors: readonly LineError[];
}

/**
 * pg_hba.conf: whitespace-separated fields, double quotes, # comments, backslash continuation lines
 * (PostgreSQL 16+). `host` records take an address (CIDR, keyword or host name) or an address and a
 * netmask in two columns.
 */
export function parseHba(text: string, file: string): ParsedHba {
  const items: (HbaRecord | HbaInclude)[] = [];
  const references: PgReference[] = [];
  const errors: LineError[] = [];
  const lines = text.split(/\r?\n/);
  for (let index = 0; index < lines.length; index++) {
    const lineNumber = index + 1;
    let logical = stripComment(lines[index] ?? '');
    while (logical.endsWith('\\') && index + 1 < lines.length) {
      index++;
      logical = `${logical.slice(0, -1)} ${stripComment(lines[index] ?? '')}`;
    }
    const fields = splitFields(logical);
    if (fields === undefined) {
      errors.push({ line: lineNumber, message: 'unterminated quoted string' });
      continue;
    }
    if (fields.length === 0) continue;
    const [first, ...rest] = fields;
    const keyword = (first ?? '').toLowerCase();
    if (keyword === 'include' || keyword === 'include_if_exists' || keyword === 'include_dir') {
      const target = rest[0];
      if (target === undefined || rest.length > 1) {
        errors.push({ line: lineNumber, message: `${keyword} takes exactly one file name` });
        continue;
      }
      items.push({ directive: keyword, target: unquote(target), line: lineNumber });
      continue;
    }
    if (!(HBA_TYPES as readonly string[]).includes(keyword)) {
      errors.push({ line: lineNumber, message: `invalid connection type "${first}"` });
      continue;
    }
    const type = keyword as HbaType;
    const local = type === 'local';
    const [database, user, ...tail] = rest;
    let address: string | undefined;
    let mask: string | undefined;
    let methodIndex = 0;
    if (!local) {
      address = tail[0];
      methodIndex = 1;
      if (
        address !== undefined &&
        !address.includes('/') &&
        isIpLiteral(address) &&
        tail[1] &&
        isIpLiteral(tail[1])
      ) {
        mask = tail[1];
        methodIndex = 2;
      }
    }
    const method = tail[methodIndex];
    if (
      database === undefined ||
      user === undefined ||
      (!local && address === undefined) ||
      method === undefined
    ) {
      errors.push({ line: lineNumber, message: `"${fields.join(' ')}" is missing fields` });
      continue;
    }
    const text = fields.join(' ');
    for (const field of [database, user]) {
      for (const part of field.split(',')) {
        if (part.startsWith('@')) {
          references.push({
            file,
            line: lineNumber,
            detail: `${part} (list read from a file, not followed by moat)`,
          });
        }
      }
    }
    items.push({
      file,
      line: lineNumber,
      type,
      database,
      user,
      ...(address !== undefined ? { address } : {}),
      ...(mask !== undefined ? { mask } : {}),
      method: method.toLowerCase(),
      options: tail.slice(methodIndex + 1),
      text,
    });
  }
  return { items, references, errors };
}

function isIpLiteral(text: string): boolean {
  return /^[\d.]+$/.test(text) || (text.includes(':') && /^[\da-fA-F:.]+$/.test(text));
}

function stripComment(line: string): string {
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const char = line[i];
    if (char === '"') quoted = !quoted;
    else if (char === '#' && !quoted) return line.slice(0, i).trimEnd();
  }
  return line.trimEnd();
}

/** Splits on whitespace outside double quotes; undefined when a quote is left open. */
function splitFields(line: string): string[] | undefined {
  const fields: string[] = [];
  let current = '';
  let quoted = false;
  for (const char of line) {
    if (char === '"') {
      quoted = !quoted;
      current += char;
    } else if (!quoted && /\s/.test(char)) {
      if (current) fields.push(current);
      current = '';
    } else {
      current += char;
    }
  }
  if (quoted) return undefined;
  if (current) fields.push(current);
  return fields;
}

function unquote(text: string): string {
  return text.replace(/^"(.*)"$/, '$1');
}

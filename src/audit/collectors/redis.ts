/**
 * The redis collector: finds redis.conf (and Valkey's valkey.conf, same format) in the usual places
 * and in systemd units' ExecStart, follows `include`, reads the aclfile, and learns who Redis runs
 * as: the redis-server processes' Uid on the live host (/proc/<pid>/status), else the systemd unit's
 * `User=` (with drop-ins). On the live host `redis-server --version` tells which protected-mode rules
 * apply. Parsing is in redis-config.ts (pure).
 */
import path from 'node:path';
import type { Finding } from '../../core/finding.ts';
import type { Host } from '../host.ts';
import { unparsableFile } from '../rules.ts';
import type { Collector } from '../types.ts';
import { expandIncludeGlob, readConfigText } from './include-files.ts';
import {
  buildRedisInstance,
  parseRedisArgs,
  parseRedisConfig,
  type RedisConfigError,
  type RedisDirective,
  type RedisInstance,
  type RedisSource,
} from './redis-config.ts';

export type {
  DangerousCommand,
  EnableOption,
  RedisAclUser,
  RedisInstance,
  RedisRename,
  RedisSetting,
  RedisSource,
} from './redis-config.ts';

/** A running redis-server / valkey-server process (live host only). */
export interface RedisProcess {
  readonly pid: number;
  /** Effective uid from /proc/<pid>/status. */
  readonly uid: number;
  /** The account name for `uid` from /etc/passwd, when known. */
  readonly user?: string;
  /** Command line (or the process title Redis sets, e.g. `redis-server 127.0.0.1:6379`). */
  readonly cmdline: string;
  /** Its working directory, which Redis moves to its `dir` (also after `CONFIG SET dir`). */
  readonly cwd?: string;
  /** Where the uid was read: `/proc/<pid>/status` and the `Uid:` line. */
  readonly source: RedisSource;
}

/** A systemd unit that starts Redis, with its drop-ins applied. */
export interface RedisUnit {
  readonly name: string;
  /** The unit file (host path). */
  readonly file: string;
  /** The account it runs as: `User=`, else root (systemd's default). */
  readonly user: string;
  /** `DynamicUser=yes`: systemd allocates an unprivileged user. */
  readonly dynamicUser: boolean;
  /** The `User=` line that decided, or the unit file with no line when none is set. */
  readonly userSource: RedisSource;
  /** The config file named in ExecStart, when one is. */
  readonly configFile?: string;
  /** The ExecStart= line; arguments after the config file override it (`--protected-mode no`). */
  readonly execStart: {
    readonly file: string;
    readonly line: number;
    readonly text: string;
    readonly args: readonly string[];
  };
}

export interface RedisVersion {
  readonly major: number;
  readonly minor: number;
  readonly text: string;
  /** How it was learned, e.g. `redis-server --version`. */
  readonly source: string;
}

export interface RedisFacts {
  readonly instances: readonly RedisInstance[];
  readonly units: readonly RedisUnit[];
  /** Present only on the live host (processes are never read under --root). */
  readonly processes?: readonly RedisProcess[];
  readonly version?: RedisVersion;
}

/** Where distributions and source installs put the config. */
const CONFIG_CANDIDATES = [
  '/etc/redis/redis.conf',
  '/etc/redis.conf',
  '/etc/redis-server.conf',
  '/usr/local/etc/redis/redis.conf',
  '/usr/local/etc/redis.conf',
  '/etc/valkey/valkey.conf',
  '/etc/valkey.conf',
];
/** Directories whose *.conf files are instances (`/etc/redis/6379.conf`, Debian's `redis-<name>.conf`). */
const CONFIG_DIRS = ['/etc/redis', '/etc/valkey', '/usr/local/etc/redis'];
const UNIT_DIRS = [
  '/etc/systemd/system',
  '/run/systemd/system',
  '/lib/systemd/system',
  '/usr/lib/systemd/system',
];
const UNIT_NAME = /^(redis|valkey)[\w@.-]*\.service$/;
const SERVER_COMMS = new Set(['redis-server', 'valkey-server']);
const MAX_INCLUDE_DEPTH = 10;
const MAX_CONFIG_FILES = 32;

interface LoadedConfig {
  readonly directives: RedisDirective[];
  readonly files: string[];
  readonly errors: RedisConfigError[];
}

/** Reads a config and every file it includes, directives in the order Redis applies them. */
async function loadConfig(host: Host, file: string): Promise<LoadedConfig | undefined> {
  const loaded: LoadedConfig = { directives: [], files: [], errors: [] };
  const visit = async (hostPath: string, depth: number, chain: readonly string[]): Promise<boolean> => {
    const text = await readConfigText(host, hostPath);
    if (text === undefined) return false;
    loaded.files.push(hostPath);
    const parsed = parseRedisConfig(text, hostPath);
    loaded.errors.push(...parsed.errors);
    for (const directive of parsed.directives) {
      if (directive.name !== 'include') {
        loaded.directives.push(directive);
        continue;
      }
      const [pattern] = directive.args;
      if (pattern === undefined || directive.args.length !== 1) {
        loaded.errors.push({ file: hostPath, line: directive.line, detail: 'include takes one path' });
        continue;
      }
      if (depth >= MAX_INCLUDE_DEPTH || chain.length >= MAX_CONFIG_FILES) {
        loaded.errors.push({
          file: hostPath,
          line: directive.line,
          detail: 'includes nest too deeply (or loop)',
        });
        continue;
      }
      // Redis resolves a relative include against its working directory; the config's own directory
      // is the usual intent and the only one knowable here.
      const absolute = path.posix.resolve(path.posix.dirname(hostPath), pattern);
      const targets = await expandIncludeGlob(absolute, (dir) => host.list(dir));
      for (const target of targets) {
        if (chain.includes(target)) {
          loaded.errors.push({
            file: hostPath,
            line: directive.line,
            detail: `include loops back to ${target}`,
          });
          continue;
        }
        const found = await visit(target, depth + 1, [...chain, target]);
        if (!found && targets.length === 1 && absolute === target) {
          loaded.errors.push({
            file: hostPath,
            line: directive.line,
            detail: `include names ${target}, which does not exist or cannot be read: Redis refuses to start`,
          });
        }
      }
    }
    return true;
  };
  return (await visit(file, 0, [file])) ? loaded : undefined;
}

// ---------------------------------------------------------------------------------------------
// systemd units

interface UnitLines {
  readonly file: string;
  readonly text: string;
}

/** Finds redis units: first directory wins for a name; masked units (→ /dev/null) are dropped. */
async function findUnits(host: Host): Promise<Map<string, UnitLines[]>> {
  const chosen = new Map<string, string | null>();
  for (const dir of UNIT_DIRS) {
    const names = (await host.list(dir)) ?? [];
    for (const name of names) {
      if (!UNIT_NAME.test(name) || name.includes('sentinel') || chosen.has(name)) continue;
      const file = `${dir}/${name}`;
      const target = await host.readLink(file);
      if (target !== undefined) {
        const resolved = path.posix.resolve(dir, target);
        if (resolved === '/dev/null') chosen.set(name, null);
        // An alias (redis.service → redis-server.service) is read under its real name.
        else if (!UNIT_DIRS.includes(path.posix.dirname(resolved))) chosen.set(name, resolved);
        continue;
      }
      chosen.set(name, file);
    }
  }
  const units = new Map<string, UnitLines[]>();
  await Promise.all(
    [...chosen].map(async ([name, file]) => {
      if (file === null) return;
      const text = await readConfigText(host, file);
      if (text === undefined) return;
      const parts: UnitLines[] = [{ file, text }];
      const dropIns = new Map<string, string>();
      for (const dir of UNIT_DIRS) {
        for (const entry of (await host.list(`${dir}/${name}.d`)) ?? []) {
          if (entry.endsWith('.conf') && !dropIns.has(entry)) dropIns.set(entry, `${dir}/${name}.d/${entry}`);
        }
      }
      for (const entry of [...dropIns.keys()].sort()) {
        const dropIn = dropIns.get(entry) as string;
        const dropText = await readConfigText(host, dropIn);
        if (dropText !== undefined) parts.push({ file: dropIn, text: dropText });
      }
      units.set(name, parts);
    }),
  );
  return units;
}

/** Reads `[Service]` User=, DynamicUser= and ExecStart= across a unit and its drop-ins. */
export function parseUnit(name: string, parts: readonly UnitLines[]): RedisUnit | undefined {
  const main = parts[0];
  if (!main) return undefined;
  let user: { value: string; source: RedisSource } | undefined;
  let dynamicUser = false;
  let execStart: { value: string; file: string; line: number } | undefined;
  for (const part of parts) {
    let section = '';
    const lines = part.text.split('\n');
    for (let index = 0; index < lines.length; index++) {
      const lineNumber = index + 1;
      let line = (lines[index] ?? '').trim();
      while (line.endsWith('\\') && index + 1 < lines.length) {
        index++;
        line = `${line.slice(0, -1)} ${(lines[index] ?? '').trim()}`;
      }
      if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
      const header = /^\[(.+)\]$/.exec(line);
      if (header) {
        section = header[1] ?? '';
        continue;
      }
      if (section !== 'Service') continue;
      const eq = line.indexOf('=');
      if (eq < 0) continue;
      const key = line.slice(0, eq).trim();
      const value = line.slice(eq + 1).trim();
      if (key === 'User') {
        user =
          value === '' ? undefined : { value, source: { file: part.file, line: lineNumber, text: line } };
      } else if (key === 'DynamicUser') {
        dynamicUser = /^(yes|true|on|1)$/i.test(value);
      } else if (key === 'ExecStart') {
        execStart = value === '' ? undefined : { value, file: part.file, line: lineNumber };
      }
    }
  }
  if (execStart === undefined) return undefined;
  const args = execStart.value.replace(/^[-@:+!]+/, '').split(/\s+/);
  const configIndex = args.findIndex(
    (arg, index) => index > 0 && !arg.startsWith('-') && /\.conf$/.test(arg),
  );
  const configFile = configIndex > 0 ? args[configIndex] : undefined;
  const resolved = user?.value === '0' ? 'root' : (user?.value ?? (dynamicUser ? 'dynamic' : 'root'));
  return {
    name,
    file: main.file,
    user: resolved,
    dynamicUser,
    userSource: user?.source ?? {
      file: main.file,
      text: dynamicUser
        ? 'DynamicUser=yes and no User= line'
        : 'no User= line: systemd runs the service as root',
    },
    ...(configFile ? { configFile } : {}),
    execStart: {
      file: execStart.file,
      line: execStart.line,
      text: `ExecStart=${execStart.value}`,
      args: configIndex > 0 ? args.slice(configIndex + 1) : args.slice(1),
    },
  };
}

// ---------------------------------------------------------------------------------------------
// live host: processes and version

async function passwdNames(host: Host): Promise<Map<number, string>> {
  const names = new Map<number, string>();
  const text = (await host.readText('/etc/passwd', 4 * 1024 * 1024)) ?? '';
  for (const line of text.split('\n')) {
    const [name, , uid] = line.split(':');
    if (name && uid && /^\d+$/.test(uid) && !names.has(Number(uid))) names.set(Number(uid), name);
  }
  return names;
}

async function findProcesses(host: Host): Promise<RedisProcess[]> {
  const pids = ((await host.list('/proc')) ?? []).filter((entry) => /^\d+$/.test(entry));
  const comms = await Promise.all(
    pids.map(async (pid) => [pid, (await host.readText(`/proc/${pid}/comm`, 4096))?.trim()]),
  );
  const matches = comms
    .filter(([, comm]) => comm !== undefined && SERVER_COMMS.has(comm))
    .map(([pid]) => pid as string);
  if (matches.length === 0) return [];
  const names = await passwdNames(host);
  const processes = await Promise.all(
    matches.map(async (pid): Promise<RedisProcess | undefined> => {
      const status = await host.readText(`/proc/${pid}/status`, 65_536);
      if (status === undefined) return undefined;
      const lines = status.split('\n');
      const index = lines.findIndex((line) => line.startsWith('Uid:'));
      const uidLine = lines[index];
      const effective = uidLine?.split(/\s+/)[2];
      if (uidLine === undefined || effective === undefined || !/^\d+$/.test(effective)) return undefined;
      const uid = Number(effective);
      const cmdline = ((await host.readText(`/proc/${pid}/cmdline`, 65_536)) ?? '')
        .replace(/\0+$/, '')
        .replaceAll('\0', ' ');
      const cwd = await host.readLink(`/proc/${pid}/cwd`);
      const user = names.get(uid);
      return {
        pid: Number(pid),
        uid,
        ...(user !== undefined ? { user } : {}),
        cmdline: cmdline.trim(),
        ...(cwd !== undefined ? { cwd } : {}),
        source: { file: `/proc/${pid}/status`, line: index + 1, text: uidLine.replace(/\s+/g, ' ').trim() },
      };
    }),
  );
  return processes.filter((process) => process !== undefined);
}

async function serverVersion(host: Host): Promise<RedisVersion | undefined> {
  for (const command of ['redis-server', 'valkey-server']) {
    const result = await host.run(command, ['--version']);
    const match = result && /\bv=(\d+)\.(\d+)(\.\d+)?/.exec(result.stdout);
    if (match) {
      return {
        major: Number(match[1]),
        minor: Number(match[2]),
        text: result.stdout.trim().split(/\s+sha=/)[0] ?? result.stdout.trim(),
        source: `${command} --version`,
      };
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------

async function candidateConfigs(host: Host, units: readonly RedisUnit[]): Promise<string[]> {
  const found = new Set<string>();
  const fromDirs = await Promise.all(
    CONFIG_DIRS.map(async (dir) =>
      ((await host.list(dir)) ?? [])
        .filter((name) => name.endsWith('.conf') && !name.includes('sentinel'))
        .map((name) => `${dir}/${name}`),
    ),
  );
  const named = [...CONFIG_CANDIDATES, ...fromDirs.flat(), ...units.flatMap((unit) => unit.configFile ?? [])];
  const exists = await Promise.all(named.map(async (file) => [file, await host.isFile(file)] as const));
  for (const [file, present] of exists) if (present) found.add(file);
  return [...found];
}

function errorFinding(error: RedisConfigError): Finding {
  return unparsableFile(error.file, error.line, error.detail);
}

export const redisCollector: Collector<'redis'> = {
  name: 'redis',
  async collect({ host }) {
    const unitParts = await findUnits(host);
    const units = [...unitParts]
      .map(([name, parts]) => parseUnit(name, parts))
      .filter((unit) => unit !== undefined)
      .sort((a, b) => a.name.localeCompare(b.name));
    const [candidates, processes] = await Promise.all([
      candidateConfigs(host, units),
      host.live ? findProcesses(host) : Promise.resolve(undefined),
    ]);

    const loaded = await Promise.all(
      candidates.map(async (file) => ({ file, config: await loadConfig(host, file) })),
    );
    // A file another candidate includes is part of that instance, not an instance of its own.
    const included = new Set(
      loaded.flatMap(({ file, config }) => (config?.files ?? []).filter((f) => f !== file)),
    );
    const findings: Finding[] = [];
    const instances: RedisInstance[] = [];
    const unreadable: string[] = [];
    for (const { file, config } of loaded) {
      if (included.has(file)) continue;
      if (!config) {
        unreadable.push(file);
        continue;
      }
      // Arguments after the config file in a unit's ExecStart= are applied after the file.
      for (const unit of units) {
        if (unit.configFile !== file) continue;
        config.directives.push(...parseRedisArgs(unit.execStart.args, unit.execStart));
        config.files.push(unit.file);
      }
      const aclDirective = config.directives.findLast((directive) => directive.name === 'aclfile');
      const aclPath =
        aclDirective?.args[0] &&
        path.posix.resolve(path.posix.dirname(aclDirective.file), aclDirective.args[0]);
      let aclText: string | undefined;
      if (aclDirective && aclPath) {
        aclText = await readConfigText(host, aclPath);
        if (aclText === undefined) {
          config.errors.push({
            file: aclDirective.file,
            line: aclDirective.line,
            detail: `aclfile ${aclPath} does not exist or cannot be read: Redis refuses to start`,
          });
        }
      }
      const built = buildRedisInstance(
        file,
        aclText !== undefined && aclPath ? [...config.files, aclPath] : config.files,
        config.directives,
        aclText !== undefined && aclPath ? { acl: { file: aclPath, text: aclText } } : {},
      );
      findings.push(...[...config.errors, ...built.errors].map(errorFinding));
      instances.push(built.instance);
    }

    const version =
      host.live && (instances.length > 0 || (processes?.length ?? 0) > 0)
        ? await serverVersion(host)
        : undefined;
    const skipped = unreadable.map((file) => ({
      check: 'redis',
      reason: `${file} exists but cannot be read (run moat as root to audit it)`,
    }));
    if (instances.length === 0 && units.length === 0 && (processes?.length ?? 0) === 0) {
      if (skipped.length === 0) {
        skipped.push({
          check: 'redis',
          reason: `no Redis found: no redis.conf in /etc/redis, /etc, /usr/local/etc/redis (nor valkey.conf), no redis systemd unit${host.live ? ', no redis-server process' : ''}`,
        });
      }
      return { skipped, findings };
    }
    if (instances.length === 0 && unreadable.length === 0) {
      skipped.push({
        check: 'redis',
        reason: 'Redis is installed or running but no config file was found: only who it runs as was checked',
      });
    }
    return {
      facts: {
        instances,
        units,
        ...(processes !== undefined ? { processes } : {}),
        ...(version ? { version } : {}),
      },
      skipped,
      findings,
    };
  },
};

/**
 * Docker: /etc/docker/daemon.json (`iptables`, `ip`, `userland-proxy`, `hosts`, `tls*`), the
 * dockerd command line in systemd units and drop-ins (`-H tcp://…`, `--tlsverify`, `--iptables`),
 * /etc/default/docker (DOCKER_OPTS), and compose files: those named with --compose or in config,
 * plus the ones found in common places (/opt/*, /srv/*, /root, /root/*, /home/*, /home/*\/*), at
 * most MAX_COMPOSE_FILES of them.
 */
import type { Finding, Skipped } from '../../core/finding.ts';
import type { Host } from '../host.ts';
import { unparsableFile } from '../rules.ts';
import type { Collector } from '../types.ts';
import { type ComposeFile, isComposeFileName, parseCompose, parseDotEnv } from './compose.ts';

export type { ComposeFile, ComposePort, ComposeService } from './compose.ts';

export interface DockerSetting<T> {
  readonly value: T;
  readonly file: string;
  readonly line: number;
  /** As written, for evidence: `"iptables": false`. */
  readonly text: string;
}

/** A `-H`/`hosts` address the Docker daemon listens on over TCP. */
export interface DockerApiListener {
  /** `tcp://0.0.0.0:2375` */
  readonly address: string;
  /** `0.0.0.0`; `0.0.0.0` when the address gives no host. */
  readonly host: string;
  readonly port: number;
  /** TLS with client-certificate verification (`tlsverify`). Without it anyone can drive the daemon. */
  readonly tlsVerify: boolean;
  readonly tls: boolean;
  readonly file: string;
  readonly line: number;
  readonly text: string;
}

export interface DockerFacts {
  readonly daemonFile?: string;
  /** `"iptables": false` (or `--iptables=false`). */
  readonly iptables?: DockerSetting<boolean>;
  /** Default host address for published ports on the default bridge (`"ip"`, `--ip`). */
  readonly ip?: DockerSetting<string>;
  readonly userlandProxy?: DockerSetting<boolean>;
  readonly apiListeners: readonly DockerApiListener[];
  readonly composeFiles: readonly ComposeFile[];
}

export const DAEMON_JSON = '/etc/docker/daemon.json';
const UNIT_FILES = [
  '/etc/systemd/system/docker.service',
  '/lib/systemd/system/docker.service',
  '/usr/lib/systemd/system/docker.service',
];
const DROPIN_DIR = '/etc/systemd/system/docker.service.d';
const DEFAULTS_FILE = '/etc/default/docker';
const SEARCH_ROOTS = ['/opt', '/srv', '/root', '/home'];
const MAX_DIRS = 200;
const MAX_COMPOSE_FILES = 50;

/** The line of the first `"key"` in a JSON text (1-based), for evidence. */
function jsonKeyLine(text: string, key: string): number {
  const at = text.indexOf(`"${key}"`);
  return at < 0 ? 1 : text.slice(0, at).split('\n').length;
}

function lineText(text: string, line: number): string {
  return (text.split('\n')[line - 1] ?? '').trim().replace(/,$/, '');
}

/** `tcp://0.0.0.0:2375`, `tcp://:2375`, `tcp://127.0.0.1` → host and port; undefined for unix/fd. */
export function parseTcpHost(address: string): { host: string; port: number } | undefined {
  const match = /^tcp:\/\/(\[[^\]]*\]|[^:/]*)(?::(\d+))?\/?$/.exec(address.trim());
  if (!match) return undefined;
  const host = (match[1] ?? '').replace(/^\[|\]$/g, '') || '0.0.0.0';
  const port = match[2] === undefined ? 2375 : Number(match[2]);
  return { host, port };
}

interface Flags {
  hosts: string[];
  tls?: boolean;
  tlsVerify?: boolean;
  iptables?: boolean;
  ip?: string;
}

/** Reads dockerd flags from a command line or DOCKER_OPTS. */
export function parseDockerdFlags(commandLine: string): Flags {
  const words = commandLine.split(/\s+/).filter(Boolean);
  const flags: Flags = { hosts: [] };
  const bool = (value: string | undefined) => value === undefined || value === 'true' || value === '1';
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!.replace(/^["']|["']$/g, '');
    const [name, inline] = word.includes('=')
      ? [word.slice(0, word.indexOf('=')), word.slice(word.indexOf('=') + 1)]
      : [word, undefined];
    const value = () => inline ?? words[++i]?.replace(/^["']|["']$/g, '');
    if (name === '-H' || name === '--host') {
      const v = value();
      if (v !== undefined) flags.hosts.push(v);
    } else if (name === '--tlsverify') flags.tlsVerify = bool(inline);
    else if (name === '--tls') flags.tls = bool(inline);
    else if (name === '--iptables') flags.iptables = bool(inline);
    else if (name === '--ip') {
      const v = value();
      if (v !== undefined) flags.ip = v;
    }
  }
  return flags;
}

interface DaemonJson {
  hosts?: unknown;
  tls?: unknown;
  tlsverify?: unknown;
  iptables?: unknown;
  ip?: unknown;
  'userland-proxy'?: unknown;
}

async function findComposeFiles(host: Host): Promise<string[]> {
  const listings = new Map<string, readonly string[]>();
  const listAll = async (dirs: readonly string[]) => {
    const room = Math.max(0, MAX_DIRS - listings.size);
    const results = await Promise.all(
      dirs.slice(0, room).map(async (dir) => ({ dir, names: await host.list(dir) })),
    );
    for (const { dir, names } of results) if (names) listings.set(dir, names);
    return results.filter((result) => result.names !== undefined).map((result) => result.dir);
  };
  const roots = await listAll(SEARCH_ROOTS);
  const level1 = await listAll(
    roots.flatMap((root) =>
      (listings.get(root) ?? []).filter((name) => !name.startsWith('.')).map((name) => `${root}/${name}`),
    ),
  );
  // One level deeper for home directories: /home/<user>/<project>.
  const homes = level1.filter((dir) => dir.startsWith('/home/'));
  await listAll(
    homes.flatMap((home) =>
      (listings.get(home) ?? []).filter((name) => !name.startsWith('.')).map((name) => `${home}/${name}`),
    ),
  );
  const found: string[] = [];
  for (const [dir, names] of listings) {
    for (const name of names) if (isComposeFileName(name)) found.push(`${dir}/${name}`);
  }
  return found.sort().slice(0, MAX_COMPOSE_FILES);
}

export const dockerCollector: Collector<'docker'> = {
  name: 'docker',
  async collect({ host, composeFiles }) {
    const findings: Finding[] = [];
    const skipped: Skipped[] = [];
    const [daemonText, defaultsText, dropIns, units, discovered] = await Promise.all([
      host.readText(DAEMON_JSON),
      host.readText(DEFAULTS_FILE),
      host.list(DROPIN_DIR),
      Promise.all(UNIT_FILES.map(async (file) => ({ file, text: await host.readText(file) }))),
      findComposeFiles(host),
    ]);

    let iptables: DockerSetting<boolean> | undefined;
    let ip: DockerSetting<string> | undefined;
    let userlandProxy: DockerSetting<boolean> | undefined;
    const apiListeners: DockerApiListener[] = [];
    const addListeners = (
      hosts: readonly string[],
      tls: boolean,
      tlsVerify: boolean,
      file: string,
      line: number,
      text: string,
    ) => {
      for (const address of hosts) {
        const tcp = parseTcpHost(address);
        if (tcp) apiListeners.push({ address, ...tcp, tls: tls || tlsVerify, tlsVerify, file, line, text });
      }
    };

    let daemonTls = false;
    let daemonTlsVerify = false;
    if (daemonText !== undefined) {
      let parsed: DaemonJson | undefined;
      try {
        const value: unknown = JSON.parse(daemonText);
        if (value === null || typeof value !== 'object' || Array.isArray(value))
          throw new Error('expected a JSON object');
        parsed = value as DaemonJson;
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        const position = /position (\d+)/.exec(message);
        const line = position ? daemonText.slice(0, Number(position[1])).split('\n').length : undefined;
        findings.push(unparsableFile(DAEMON_JSON, line, message));
      }
      if (parsed) {
        const setting = <T>(key: keyof DaemonJson, value: T): DockerSetting<T> => {
          const line = jsonKeyLine(daemonText, key);
          return { value, file: DAEMON_JSON, line, text: lineText(daemonText, line) };
        };
        if (typeof parsed.iptables === 'boolean') iptables = setting('iptables', parsed.iptables);
        if (typeof parsed.ip === 'string') ip = setting('ip', parsed.ip);
        if (typeof parsed['userland-proxy'] === 'boolean')
          userlandProxy = setting('userland-proxy', parsed['userland-proxy']);
        daemonTls = parsed.tls === true;
        daemonTlsVerify = parsed.tlsverify === true;
        if (Array.isArray(parsed.hosts)) {
          const line = jsonKeyLine(daemonText, 'hosts');
          const hosts = parsed.hosts.filter((h): h is string => typeof h === 'string');
          addListeners(hosts, daemonTls, daemonTlsVerify, DAEMON_JSON, line, lineText(daemonText, line));
        }
      }
    }

    // The dockerd command line: the last ExecStart of the drop-ins wins over the unit file's.
    const dropInFiles = (dropIns ?? [])
      .filter((name) => name.endsWith('.conf'))
      .map((name) => `${DROPIN_DIR}/${name}`);
    const dropInTexts = await Promise.all(
      dropInFiles.map(async (file) => ({ file, text: await host.readText(file) })),
    );
    const unit = units.find((entry) => entry.text !== undefined);
    let execStart: { file: string; line: number; text: string } | undefined;
    for (const { file, text } of [...(unit ? [unit] : []), ...dropInTexts]) {
      (text ?? '').split('\n').forEach((raw, index) => {
        const match = /^\s*ExecStart\s*=\s*(.*)$/.exec(raw);
        if (!match) return;
        execStart = match[1]!.trim() === '' ? undefined : { file, line: index + 1, text: match[1]!.trim() };
      });
    }
    const commandSources: { file: string; line: number; text: string }[] = [];
    if (execStart) commandSources.push(execStart);
    if (defaultsText !== undefined) {
      defaultsText.split('\n').forEach((raw, index) => {
        const match = /^\s*DOCKER_OPTS\s*=\s*(.*)$/.exec(raw);
        if (match)
          commandSources.push({
            file: DEFAULTS_FILE,
            line: index + 1,
            text: match[1]!.replace(/^["']|["']$/g, ''),
          });
      });
    }
    for (const source of commandSources) {
      const flags = parseDockerdFlags(source.text);
      addListeners(
        flags.hosts,
        (flags.tls ?? false) || daemonTls,
        (flags.tlsVerify ?? false) || daemonTlsVerify,
        source.file,
        source.line,
        source.text,
      );
      if (flags.iptables !== undefined && !iptables) {
        iptables = { value: flags.iptables, file: source.file, line: source.line, text: source.text };
      }
      if (flags.ip !== undefined && !ip)
        ip = { value: flags.ip, file: source.file, line: source.line, text: source.text };
    }

    // Compose files.
    const paths = [...new Set([...composeFiles, ...discovered])];
    const parsedFiles = await Promise.all(
      paths.map(async (file) => {
        const dir = file.slice(0, file.lastIndexOf('/')) || '/';
        const [text, envText] = await Promise.all([host.readText(file), host.readText(`${dir}/.env`)]);
        return { file, text, env: parseDotEnv(envText) };
      }),
    );
    const composeParsed: ComposeFile[] = [];
    for (const { file, text, env } of parsedFiles) {
      if (text === undefined) {
        if (composeFiles.includes(file))
          skipped.push({ check: 'docker', reason: `compose file ${file} not found` });
        continue;
      }
      const result = parseCompose(text, file, env);
      if (result.ok) composeParsed.push(result.compose);
      else findings.push(unparsableFile(file, result.line, result.message));
    }

    const anything =
      daemonText !== undefined ||
      defaultsText !== undefined ||
      unit !== undefined ||
      dropInFiles.length > 0 ||
      composeParsed.length > 0;
    if (!anything) {
      return {
        skipped: [
          ...skipped,
          { check: 'docker', reason: `no ${DAEMON_JSON}, docker.service or compose file found` },
        ],
        findings,
      };
    }
    return {
      facts: {
        ...(daemonText !== undefined ? { daemonFile: DAEMON_JSON } : {}),
        ...(iptables ? { iptables } : {}),
        ...(ip ? { ip } : {}),
        ...(userlandProxy ? { userlandProxy } : {}),
        apiListeners,
        composeFiles: composeParsed,
      },
      findings,
      skipped,
    };
  },
};

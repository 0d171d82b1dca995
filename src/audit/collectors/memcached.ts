/**
 * Memcached: the command line memcached is started with, read from where each distribution keeps it:
 * the systemd unit's ExecStart (with its drop-ins, Environment= and EnvironmentFile=), Debian's
 * /etc/memcached.conf (one option per line, read by systemd-memcached-wrapper; also
 * /etc/memcached_<instance>.conf for memcached@.service) and RHEL's /etc/sysconfig/memcached
 * (PORT=, OPTIONS="-l …"). Every option keeps the file and line it came from.
 */
import path from 'node:path';
import type { Finding, Skipped } from '../../core/finding.ts';
import type { Host } from '../host.ts';
import { unparsableFile } from '../rules.ts';
import type { Collector } from '../types.ts';

/** One option memcached is started with, under its short letter (`l`, `p`, `U`, `S`…). */
export interface McOption {
  /** The short option letter; long options are mapped (`--listen` → `l`), unknown ones keep their name. */
  readonly flag: string;
  readonly value?: string;
  readonly file: string;
  readonly line?: number;
  /** As written, e.g. `-l 0.0.0.0` or `--enable-sasl`. */
  readonly text: string;
}

export interface MemcachedInstance {
  /** `memcached`, or `memcached@<name>` for Debian's per-instance files. */
  readonly name: string;
  /** How the command line was found, for the evidence. */
  readonly source: string;
  /** The file the options come from (or the main one, when they come from several). */
  readonly file: string;
  readonly options: readonly McOption[];
}

export interface MemcachedVersion {
  readonly text: string;
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
}

export interface MemcachedFacts {
  readonly instances: readonly MemcachedInstance[];
  /** From `memcached -V` on the live host; undefined with --root. */
  readonly version?: MemcachedVersion;
}

export const DEBIAN_CONF = '/etc/memcached.conf';
export const SYSCONFIG = '/etc/sysconfig/memcached';
/** The ExecStart of the RHEL/Fedora unit, used when the unit itself is not in the tree. */
// systemd variables (${NAME}), expanded by moat like systemd does
const RHEL_EXEC = '/usr/bin/memcached -p ${PORT} -u ${USER} -m ${CACHESIZE} -c ${MAXCONN} $OPTIONS';
const UNIT_DIRS = [
  '/etc/systemd/system',
  '/run/systemd/system',
  '/usr/lib/systemd/system',
  '/lib/systemd/system',
];
const BINARIES = ['/usr/bin/memcached', '/usr/local/bin/memcached', '/usr/sbin/memcached'];

/** Short options that take an argument (memcached 1.6 getopt string). */
const TAKES_ARGUMENT = new Set('abBcDefIlmnNopPRstuUY');
const LONG_OPTIONS: Readonly<Record<string, { flag: string; argument: boolean }>> = {
  listen: { flag: 'l', argument: true },
  port: { flag: 'p', argument: true },
  'udp-port': { flag: 'U', argument: true },
  'unix-socket': { flag: 's', argument: true },
  'unix-mask': { flag: 'a', argument: true },
  'enable-sasl': { flag: 'S', argument: false },
  'auth-file': { flag: 'Y', argument: true },
  'enable-ssl': { flag: 'Z', argument: false },
  user: { flag: 'u', argument: true },
  'memory-limit': { flag: 'm', argument: true },
  'conn-limit': { flag: 'c', argument: true },
  pidfile: { flag: 'P', argument: true },
  threads: { flag: 't', argument: true },
  extended: { flag: 'o', argument: true },
  'listen-backlog': { flag: 'b', argument: true },
  protocol: { flag: 'B', argument: true },
  'max-item-size': { flag: 'I', argument: true },
  'max-reqs-per-event': { flag: 'R', argument: true },
};

interface Token {
  readonly text: string;
  readonly file: string;
  readonly line?: number;
}

interface EnvValue {
  readonly value: string;
  readonly file: string;
  readonly line: number;
}

export const memcachedCollector: Collector<'memcached'> = {
  name: 'memcached',
  async collect({ host }) {
    if (host.live) {
      const installed = await Promise.all(BINARIES.map((file) => host.isFile(file)));
      if (!installed.some(Boolean)) {
        return {
          skipped: [{ check: 'memcached', reason: 'memcached is not installed (no memcached binary)' }],
        };
      }
    }
    const findings: Finding[] = [];
    const skipped: Skipped[] = [];
    const [unit, etc, versionOutput] = await Promise.all([
      readUnit(host, 'memcached.service'),
      host.list('/etc'),
      host.live ? host.run('memcached', ['-V']) : Promise.resolve(undefined),
    ]);
    const instances: MemcachedInstance[] = [];

    const main = await mainInstance(host, unit, findings, skipped);
    if (main) instances.push(main);
    for (const name of etc ?? []) {
      const match = /^memcached_([\w.-]+)\.conf$/.exec(name);
      if (!match) continue;
      const file = `/etc/${name}`;
      const text = await host.readText(file);
      if (text === undefined) continue;
      instances.push({
        name: `memcached@${match[1]}`,
        source: `${file} (memcached@${match[1]}.service)`,
        file,
        options: parseOptions(debianConfTokens(text, file)),
      });
    }
    if (instances.length === 0 && findings.length === 0 && skipped.length === 0) {
      return {
        skipped: [
          { check: 'memcached', reason: `no ${DEBIAN_CONF}, ${SYSCONFIG} or memcached.service found` },
        ],
      };
    }
    const version = parseVersion(versionOutput?.stdout ?? '');
    return {
      ...(instances.length > 0 ? { facts: { instances, ...(version ? { version } : {}) } } : {}),
      findings,
      skipped,
    };
  },
};

async function mainInstance(
  host: Host,
  unit: Unit | undefined,
  findings: Finding[],
  skipped: Skipped[],
): Promise<MemcachedInstance | undefined> {
  const exec = unit?.execStart;
  if (unit && exec) {
    const argv = tokenize(exec.value, exec.file, exec.line);
    if (argv === undefined) {
      findings.push(unparsableFile(exec.file, exec.line, 'ExecStart has an unterminated quote'));
      return undefined;
    }
    const program = path.posix.basename((argv[0]?.text ?? '').replace(/^[-@+!:]+/, ''));
    if (program === 'systemd-memcached-wrapper' || program === 'start-memcached') {
      const file = argv[1]?.text ?? DEBIAN_CONF;
      const text = await host.readText(file);
      return {
        name: 'memcached',
        source:
          text === undefined
            ? `${exec.file} runs ${program} with ${file}, which is absent: memcached starts with its defaults`
            : `${file} (read by ${program}, ${exec.file})`,
        file: text === undefined ? exec.file : file,
        options: text === undefined ? [] : parseOptions(debianConfTokens(text, file)),
      };
    }
    if (program === 'memcached') {
      const env = await unitEnvironment(host, unit, findings);
      return {
        name: 'memcached',
        source: `ExecStart in ${exec.file}`,
        file: exec.file,
        options: parseOptions(expand(argv.slice(1), env)),
      };
    }
    skipped.push({
      check: 'memcached',
      reason: `${exec.file}: ExecStart runs ${program}, which moat does not know how to read`,
    });
    return undefined;
  }
  const debian = await host.readText(DEBIAN_CONF);
  if (debian !== undefined) {
    return {
      name: 'memcached',
      source: DEBIAN_CONF,
      file: DEBIAN_CONF,
      options: parseOptions(debianConfTokens(debian, DEBIAN_CONF)),
    };
  }
  const sysconfig = await host.readText(SYSCONFIG);
  if (sysconfig !== undefined) {
    const env = parseEnvironmentFile(sysconfig, SYSCONFIG, findings);
    const argv = tokenize(RHEL_EXEC, SYSCONFIG) ?? [];
    return {
      name: 'memcached',
      source: `${SYSCONFIG} (with the packaged ExecStart: ${RHEL_EXEC})`,
      file: SYSCONFIG,
      options: parseOptions(expand(argv.slice(1), env)),
    };
  }
  return undefined;
}

/**
 * Debian's /etc/memcached.conf as systemd-memcached-wrapper reads it: `#` starts a comment, lines
 * starting with -d or -h are dropped, lines not starting with `-` are directives (logfile) and ignored.
 */
export function debianConfTokens(text: string, file: string): Token[] {
  const tokens: Token[] = [];
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.replace(/(?<!\\)#.*$/, '').trim();
    if (line === '' || /^-[dh]/.test(line) || !line.startsWith('-')) continue;
    tokens.push(
      ...(tokenize(line, file, index + 1) ??
        line.split(/\s+/).map((text) => ({ text, file, line: index + 1 }))),
    );
  }
  return tokens;
}

/** getopt over memcached's options: `-l X`, `-lX`, `-vv`, `--listen=X`, `--listen X`. */
export function parseOptions(tokens: readonly Token[]): McOption[] {
  const options: McOption[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    if (!token) continue;
    const where = { file: token.file, ...(token.line !== undefined ? { line: token.line } : {}) };
    if (token.text.startsWith('--') && token.text.length > 2) {
      const [name = '', inline] = splitOnce(token.text.slice(2), '=');
      const known = LONG_OPTIONS[name];
      const flag = known?.flag ?? name;
      let value = inline;
      let text = token.text;
      let at = where;
      if (value === undefined && known?.argument) {
        const next = tokens[i + 1];
        if (next) {
          value = next.text;
          text = `${token.text} ${next.text}`;
          at = whereOf(next, token);
          i++;
        }
      }
      options.push({ flag, ...(value !== undefined ? { value } : {}), text, ...at });
      continue;
    }
    if (!token.text.startsWith('-') || token.text.length < 2) continue;
    const letters = token.text.slice(1);
    for (let j = 0; j < letters.length; j++) {
      const flag = letters[j] ?? '';
      if (!TAKES_ARGUMENT.has(flag)) {
        options.push({ flag, text: `-${flag}`, ...where });
        continue;
      }
      const rest = letters.slice(j + 1);
      if (rest !== '') {
        options.push({ flag, value: rest, text: token.text, ...where });
      } else {
        const next = tokens[i + 1];
        if (next) i++;
        options.push({
          flag,
          ...(next ? { value: next.text } : {}),
          text: next ? `${token.text} ${next.text}` : token.text,
          ...(next ? whereOf(next, token) : where),
        });
      }
      break;
    }
  }
  return options;
}

/** Where an option with a separate value came from: the value's line when it has one (a variable's line). */
function whereOf(value: Token, flag: Token): { file: string; line?: number } {
  const source = value.line !== undefined ? value : flag;
  return { file: source.file, ...(source.line !== undefined ? { line: source.line } : {}) };
}

function splitOnce(text: string, separator: string): [string, string | undefined] {
  const at = text.indexOf(separator);
  return at < 0 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)];
}

/** Shell-like words: whitespace-separated, single and double quotes; undefined when a quote is left open. */
export function tokenize(text: string, file: string, line?: number): Token[] | undefined {
  const tokens: Token[] = [];
  let current = '';
  let started = false;
  let quote: string | undefined;
  for (const char of text) {
    if (quote) {
      if (char === quote) quote = undefined;
      else current += char;
    } else if (char === '"' || char === "'") {
      quote = char;
      started = true;
    } else if (/\s/.test(char)) {
      if (started) tokens.push({ text: current, file, ...(line !== undefined ? { line } : {}) });
      current = '';
      started = false;
    } else {
      current += char;
      started = true;
    }
  }
  if (quote) return undefined;
  if (started) tokens.push({ text: current, file, ...(line !== undefined ? { line } : {}) });
  return tokens;
}

/**
 * systemd's expansion: a word that is exactly `$NAME` splits the variable into words (which then
 * carry the variable's file and line); `${NAME}` inside a word is replaced in place.
 */
function expand(tokens: readonly Token[], env: ReadonlyMap<string, EnvValue>): Token[] {
  const out: Token[] = [];
  for (const token of tokens) {
    const whole = /^\$([A-Za-z_]\w*)$/.exec(token.text);
    if (whole) {
      const value = env.get(whole[1] ?? '');
      if (value) {
        for (const word of value.value.split(/\s+/).filter(Boolean)) {
          out.push({ text: word, file: value.file, line: value.line });
        }
      }
      continue;
    }
    const single = /^\$\{([A-Za-z_]\w*)\}$/.exec(token.text);
    if (single) {
      // One word, empty when the variable is unset.
      const value = env.get(single[1] ?? '');
      out.push(value ? { text: value.value, file: value.file, line: value.line } : { ...token, text: '' });
      continue;
    }
    const text = token.text.replace(/\$\{([A-Za-z_]\w*)\}/g, (_, name: string) => env.get(name)?.value ?? '');
    if (text !== '') out.push({ ...token, text });
  }
  return out;
}

interface UnitValue {
  readonly value: string;
  readonly file: string;
  readonly line: number;
}

interface Unit {
  readonly file: string;
  readonly execStart?: UnitValue;
  readonly environment: readonly UnitValue[];
  readonly environmentFiles: readonly UnitValue[];
}

/** The unit file (first of /etc, /run, /usr/lib, /lib) with its drop-ins applied in name order. */
async function readUnit(host: Host, name: string): Promise<Unit | undefined> {
  let mainFile: string | undefined;
  let mainText: string | undefined;
  for (const dir of UNIT_DIRS) {
    const text = await host.readText(`${dir}/${name}`);
    if (text !== undefined) {
      mainFile = `${dir}/${name}`;
      mainText = text;
      break;
    }
  }
  if (mainFile === undefined || mainText === undefined) return undefined;
  const dropIns = new Map<string, string>();
  for (const dir of [...UNIT_DIRS].reverse()) {
    for (const entry of (await host.list(`${dir}/${name}.d`)) ?? []) {
      if (entry.endsWith('.conf')) dropIns.set(entry, `${dir}/${name}.d/${entry}`);
    }
  }
  const files = [mainFile, ...[...dropIns.keys()].sort().map((key) => dropIns.get(key) ?? '')];
  let execStart: UnitValue | undefined;
  const environment: UnitValue[] = [];
  const environmentFiles: UnitValue[] = [];
  for (const file of files) {
    const text = file === mainFile ? mainText : await host.readText(file);
    if (text === undefined) continue;
    for (const entry of parseUnitService(text, file)) {
      if (entry.key === 'ExecStart') execStart = entry.value.trim() === '' ? undefined : entry;
      else if (entry.key === 'Environment') environment.push(entry);
      else if (entry.key === 'EnvironmentFile') environmentFiles.push(entry);
    }
  }
  return { file: mainFile, ...(execStart ? { execStart } : {}), environment, environmentFiles };
}

/** `Key=value` pairs of the [Service] section, with backslash continuations joined. */
function parseUnitService(text: string, file: string): (UnitValue & { key: string })[] {
  const entries: (UnitValue & { key: string })[] = [];
  const lines = text.split(/\r?\n/);
  let section = '';
  for (let index = 0; index < lines.length; index++) {
    const lineNumber = index + 1;
    let line = (lines[index] ?? '').trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    while (line.endsWith('\\') && index + 1 < lines.length) {
      index++;
      line = `${line.slice(0, -1)} ${(lines[index] ?? '').trim()}`;
    }
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1] ?? '';
      continue;
    }
    if (section !== 'Service') continue;
    const [key = '', value] = splitOnce(line, '=');
    if (value !== undefined) entries.push({ key: key.trim(), value: value.trim(), file, line: lineNumber });
  }
  return entries;
}

async function unitEnvironment(host: Host, unit: Unit, findings: Finding[]): Promise<Map<string, EnvValue>> {
  const env = new Map<string, EnvValue>();
  for (const entry of unit.environmentFiles) {
    const file = entry.value.replace(/^-/, '');
    const text = await host.readText(file);
    if (text === undefined) continue;
    for (const [name, value] of parseEnvironmentFile(text, file, findings)) env.set(name, value);
  }
  for (const entry of unit.environment) {
    for (const word of tokenize(entry.value, entry.file, entry.line) ?? []) {
      const [name, value] = splitOnce(word.text, '=');
      if (value !== undefined && name) env.set(name, { value, file: entry.file, line: entry.line });
    }
  }
  return env;
}

/** `NAME=value` lines with optional quotes (systemd EnvironmentFile, /etc/sysconfig). */
export function parseEnvironmentFile(text: string, file: string, findings: Finding[]): Map<string, EnvValue> {
  const env = new Map<string, EnvValue>();
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const match = /^(?:export\s+)?([A-Za-z_]\w*)=(.*)$/.exec(line);
    if (!match) {
      findings.push(unparsableFile(file, index + 1, `expected NAME=value, found "${line.slice(0, 60)}"`));
      continue;
    }
    const words = tokenize(match[2] ?? '', file, index + 1);
    if (words === undefined) {
      findings.push(unparsableFile(file, index + 1, 'unterminated quote'));
      continue;
    }
    env.set(match[1] ?? '', { value: words.map((word) => word.text).join(' '), file, line: index + 1 });
  }
  return env;
}

export function parseVersion(text: string): MemcachedVersion | undefined {
  const match = /memcached (\d+)\.(\d+)\.(\d+)/.exec(text);
  if (!match) return undefined;
  return {
    text: `${match[1]}.${match[2]}.${match[3]}`,
    major: Number(match[1]),
    minor: Number(match[2]),
    patch: Number(match[3]),
  };
}

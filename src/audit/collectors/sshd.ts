/**
 * sshd collector: the effective OpenSSH server settings that decide who can try to log in and how.
 *
 * Files: /etc/ssh/sshd_config and everything it `Include`s (globs, relative paths under /etc/ssh,
 * matches sorted, included where the Include line stands). For each keyword the FIRST value wins,
 * except Port and ListenAddress, which add up. `Match` blocks are conditional: recorded apart, never
 * taken as global. A Match block in an included file ends with that file.
 *
 * Live host: `sshd -T` prints the effective global settings (with compiled-in defaults and distro
 * patches); where it runs, its values win and the file lines that agree with it become the evidence.
 * It needs the host keys (usually root) and may fail: then the files alone decide.
 */
import path from 'node:path';
import type { Finding } from '../../core/finding.ts';
import type { Host } from '../host.ts';
import { unparsableFile } from '../rules.ts';
import type { Collector } from '../types.ts';
import { expandIncludeGlob, hasGlob, readConfigText } from './include-files.ts';
import { splitSshdLine } from './sshd-syntax.ts';

export const SSHD_CONFIG = '/etc/ssh/sshd_config';

/** Where a value came from: a config line, OpenSSH's default (no line sets it), or only `sshd -T`. */
export type SshdOrigin = 'file' | 'default' | 'sshd -T';

export interface SshdValue {
  /** Normalised: lower-case yes/no, `prohibit-password` for `without-password`. */
  readonly value: string;
  readonly file?: string;
  readonly line?: number;
}

export interface SshdSetting extends SshdValue {
  readonly origin: SshdOrigin;
  /** Later lines for the same keyword, which sshd ignores because the first value wins. */
  readonly ignored: readonly SshdValue[];
}

export interface SshdPort {
  readonly port: number;
  readonly origin: SshdOrigin;
  readonly file?: string;
  readonly line?: number;
}

export interface SshdListenAddress {
  /** Address without brackets or port: `0.0.0.0`, `::`, `10.8.0.1`, or a host name as written. */
  readonly address: string;
  /** Set when the ListenAddress names its own port (`10.8.0.1:2222`). */
  readonly port?: number;
  readonly origin: SshdOrigin;
  readonly file?: string;
  readonly line?: number;
}

export interface SshdMatchBlock {
  /** The Match line's criteria as written, e.g. `['Address', '10.0.0.0/8']` or `['User', 'backup']`. */
  readonly criteria: readonly string[];
  readonly file: string;
  readonly line: number;
  /** Settings inside the block (lower-case keyword; ChallengeResponseAuthentication as kbdinteractiveauthentication), first value each. */
  readonly settings: Readonly<Record<string, SshdValue>>;
}

export interface SshdFacts {
  /** `sshd -T` when it ran on the live host, else `files`. */
  readonly source: 'sshd -T' | 'files';
  readonly configFile: string;
  /** Every file read, in the order sshd reads them. */
  readonly files: readonly string[];
  readonly passwordAuthentication: SshdSetting;
  /** KbdInteractiveAuthentication, or its old name ChallengeResponseAuthentication. */
  readonly kbdInteractiveAuthentication: SshdSetting;
  readonly permitRootLogin: SshdSetting;
  readonly usePam: SshdSetting;
  /** Space-separated method lists, or `any`. */
  readonly authenticationMethods: SshdSetting;
  readonly ports: readonly SshdPort[];
  /** Empty when no ListenAddress is set (sshd then listens on every address). */
  readonly listenAddresses: readonly SshdListenAddress[];
  readonly matchBlocks: readonly SshdMatchBlock[];
}

type FlagKey =
  | 'passwordauthentication'
  | 'kbdinteractiveauthentication'
  | 'permitrootlogin'
  | 'usepam'
  | 'authenticationmethods';

/** OpenSSH's built-in defaults (upstream; distros change them in the shipped sshd_config). */
const DEFAULTS: Record<FlagKey, string> = {
  passwordauthentication: 'yes',
  kbdinteractiveauthentication: 'yes',
  permitrootlogin: 'prohibit-password',
  usepam: 'no',
  authenticationmethods: 'any',
};

const ALIASES: Record<string, string> = { challengeresponseauthentication: 'kbdinteractiveauthentication' };

const YES_NO = new Set(['yes', 'no']);
const ROOT_LOGIN = new Set(['yes', 'no', 'prohibit-password', 'without-password', 'forced-commands-only']);
const MAX_INCLUDE_DEPTH = 16;

/** Normalises and validates a value; undefined when sshd would reject it. */
function normalise(keyword: FlagKey, args: readonly string[]): string | undefined {
  if (keyword === 'authenticationmethods') return args.join(' ');
  const value = (args[0] ?? '').toLowerCase();
  if (keyword === 'permitrootlogin') {
    if (!ROOT_LOGIN.has(value)) return undefined;
    return value === 'without-password' ? 'prohibit-password' : value;
  }
  return YES_NO.has(value) ? value : undefined;
}

function isFlagKey(keyword: string): keyword is FlagKey {
  return keyword in DEFAULTS;
}

/** `0.0.0.0`, `0.0.0.0:22`, `[::]:22`, `::` → address and optional port. */
export function splitListenAddress(text: string): { address: string; port?: number } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracketed) {
    return bracketed[2] === undefined
      ? { address: bracketed[1]! }
      : { address: bracketed[1]!, port: Number(bracketed[2]) };
  }
  const withPort = /^([^:]+):(\d+)$/.exec(text);
  if (withPort) return { address: withPort[1]!, port: Number(withPort[2]) };
  return { address: text };
}

interface Parsed {
  files: string[];
  flags: Map<FlagKey, SshdValue & { ignored: SshdValue[] }>;
  ports: SshdPort[];
  listen: SshdListenAddress[];
  matchBlocks: { criteria: string[]; file: string; line: number; settings: Record<string, SshdValue> }[];
  findings: Finding[];
  skipped: string[];
}

async function parseFiles(host: Host, configFile: string, text: string): Promise<Parsed> {
  const parsed: Parsed = {
    files: [],
    flags: new Map(),
    ports: [],
    listen: [],
    matchBlocks: [],
    findings: [],
    skipped: [],
  };
  const stack: string[] = [];

  const visit = async (file: string, content: string, match: Parsed['matchBlocks'][number] | undefined) => {
    parsed.files.push(file);
    stack.push(file);
    let current = match;
    const lines = content.split(/\r?\n/);
    for (let index = 0; index < lines.length; index++) {
      const line = index + 1;
      const split = splitSshdLine(lines[index]!);
      if (split.kind === 'blank') continue;
      if (split.kind === 'error') {
        parsed.findings.push(unparsableFile(file, line, `${split.message}: ${lines[index]!.trim()}`));
        continue;
      }
      const keyword = ALIASES[split.keyword] ?? split.keyword;
      const args = split.args;
      if (keyword === 'match') {
        current = { criteria: [...args], file, line, settings: {} };
        parsed.matchBlocks.push(current);
        continue;
      }
      if (keyword === 'include') {
        for (const pattern of args) {
          const absolute = path.posix.resolve(path.posix.dirname(SSHD_CONFIG), pattern);
          const targets = await expandIncludeGlob(absolute, (dir) => host.list(dir));
          for (const target of targets) {
            if (stack.includes(target) || stack.length >= MAX_INCLUDE_DEPTH) {
              parsed.findings.push(unparsableFile(file, line, `Include ${pattern} loops back to ${target}`));
              continue;
            }
            const included = await readConfigText(host, target);
            if (included === undefined) {
              if (!hasGlob(pattern))
                parsed.skipped.push(`${file}:${line} includes ${target}, which is absent`);
              continue;
            }
            await visit(target, included, current);
          }
        }
        continue;
      }
      if (current) {
        if (isFlagKey(keyword) && keyword !== 'usepam') {
          const value = normalise(keyword, args);
          if (value === undefined) {
            parsed.findings.push(
              unparsableFile(file, line, `unsupported value for ${split.keyword}: ${args.join(' ')}`),
            );
          } else if (current.settings[keyword] === undefined) {
            current.settings[keyword] = { value, file, line };
          }
        }
        continue;
      }
      if (isFlagKey(keyword)) {
        const value = normalise(keyword, args);
        if (value === undefined) {
          parsed.findings.push(
            unparsableFile(file, line, `unsupported value for ${split.keyword}: ${args.join(' ')}`),
          );
          continue;
        }
        const first = parsed.flags.get(keyword);
        if (first) first.ignored.push({ value, file, line });
        else parsed.flags.set(keyword, { value, file, line, ignored: [] });
      } else if (keyword === 'port') {
        const port = Number(args[0]);
        if (!/^\d+$/.test(args[0] ?? '') || port < 1 || port > 65_535) {
          parsed.findings.push(unparsableFile(file, line, `bad port number: ${args[0] ?? ''}`));
          continue;
        }
        parsed.ports.push({ port, origin: 'file', file, line });
      } else if (keyword === 'listenaddress') {
        const { address, port } = splitListenAddress(args[0] ?? '');
        parsed.listen.push(
          port === undefined
            ? { address, origin: 'file', file, line }
            : { address, port, origin: 'file', file, line },
        );
      }
    }
    stack.pop();
  };

  await visit(configFile, text, undefined);
  return parsed;
}

interface SshdT {
  flags: Map<FlagKey, string>;
  ports: number[];
  listen: { address: string; port?: number }[];
}

/** Parses `sshd -T` output: one `keyword value…` per line, keywords in lower case. */
export function parseSshdT(output: string): SshdT {
  const result: SshdT = { flags: new Map(), ports: [], listen: [] };
  for (const raw of output.split('\n')) {
    const [keyword, ...args] = raw.trim().split(/\s+/);
    if (keyword === undefined || args.length === 0) continue;
    const key = ALIASES[keyword] ?? keyword;
    if (isFlagKey(key)) {
      const value = normalise(key, args);
      if (value !== undefined && !result.flags.has(key)) result.flags.set(key, value);
    } else if (key === 'port' && /^\d+$/.test(args[0] ?? '')) {
      result.ports.push(Number(args[0]));
    } else if (key === 'listenaddress') {
      result.listen.push(splitListenAddress(args[0] ?? ''));
    }
  }
  return result;
}

async function runSshdT(host: Host): Promise<{ output?: SshdT; problem?: string }> {
  if (!host.live) return {};
  const result = (await host.run('sshd', ['-T'])) ?? (await host.run('/usr/sbin/sshd', ['-T']));
  if (result === undefined) return {};
  if (result.code !== 0) {
    const why = result.stderr.trim().split('\n')[0] ?? '';
    return { problem: `sshd -T failed (exit ${result.code}${why ? `: ${why}` : ''})` };
  }
  return { output: parseSshdT(result.stdout) };
}

function settingFor(key: FlagKey, parsed: Parsed | undefined, live: SshdT | undefined): SshdSetting {
  const fromFile = parsed?.flags.get(key);
  const fileSetting: SshdSetting = fromFile
    ? { ...fromFile, origin: 'file' }
    : { value: DEFAULTS[key], origin: 'default', ignored: [] };
  const liveValue = live?.flags.get(key);
  if (liveValue === undefined || liveValue === fileSetting.value) return fileSetting;
  return { value: liveValue, origin: 'sshd -T', ignored: fromFile ? [fromFile, ...fromFile.ignored] : [] };
}

export const sshdCollector: Collector<'sshd'> = {
  name: 'sshd',
  async collect({ host }) {
    const [text, live] = await Promise.all([readConfigText(host, SSHD_CONFIG), runSshdT(host)]);
    if (text === undefined && live.output === undefined) {
      const why = live.problem ? ` and ${live.problem}` : '';
      return { skipped: [{ check: 'sshd', reason: `no ${SSHD_CONFIG} found${why}` }] };
    }
    const parsed = text === undefined ? undefined : await parseFiles(host, SSHD_CONFIG, text);
    const output = live.output;

    let ports: SshdPort[] = parsed?.ports ?? [];
    let listenAddresses: SshdListenAddress[] = parsed?.listen ?? [];
    if (output) {
      const noPortLine = ports.length === 0;
      ports = output.ports.map(
        (port): SshdPort =>
          ports.find((p) => p.port === port) ?? {
            port,
            origin: noPortLine && port === 22 ? 'default' : 'sshd -T',
          },
      );
      listenAddresses = output.listen.map((entry) => {
        const fromFile = listenAddresses.find((l) => l.address === entry.address);
        if (fromFile) return { ...fromFile, ...(entry.port === undefined ? {} : { port: entry.port }) };
        return { ...entry, origin: 'sshd -T' as const };
      });
    }
    if (ports.length === 0) ports = [{ port: 22, origin: 'default' }];

    const facts: SshdFacts = {
      source: output ? 'sshd -T' : 'files',
      configFile: SSHD_CONFIG,
      files: parsed?.files ?? [],
      passwordAuthentication: settingFor('passwordauthentication', parsed, output),
      kbdInteractiveAuthentication: settingFor('kbdinteractiveauthentication', parsed, output),
      permitRootLogin: settingFor('permitrootlogin', parsed, output),
      usePam: settingFor('usepam', parsed, output),
      authenticationMethods: settingFor('authenticationmethods', parsed, output),
      ports,
      listenAddresses,
      matchBlocks: parsed?.matchBlocks ?? [],
    };
    const skipped = [
      ...(live.problem && text !== undefined ? [`${live.problem}; read ${SSHD_CONFIG} instead`] : []),
      ...(parsed?.skipped ?? []),
    ].map((reason) => ({ check: 'sshd', reason }));
    return { facts, findings: parsed?.findings ?? [], ...(skipped.length > 0 ? { skipped } : {}) };
  },
};

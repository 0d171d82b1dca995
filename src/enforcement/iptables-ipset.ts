/**
 * iptables + ipset backend, for hosts that run iptables (legacy or nft-based) rather than nftables
 * directly. Two ipset sets, `moat4` (hash:net family inet) and `moat6` (hash:net family inet6), both
 * created with `timeout 0` so every entry carries its own timeout (0 = until released); one rule per
 * family and chain matches the set: `-m set --match-set moat4 src -j DROP`, inserted at the top of
 * INPUT and at the top of DOCKER-USER when that chain exists, FORWARD otherwise — traffic to
 * Docker-published ports is forwarded, never input, so INPUT alone would not cover it.
 * Lookups are set lookups, never one rule per address.
 *
 * What ipset cannot do, and what this backend does about it:
 *  - Timeouts stop at 2,147,483 s (about 24.8 days). A longer ttl is clamped to that maximum
 *    (`list()` shows the clamped expiry); the daemon re-blocks bans it restores from the store.
 *  - `ipset restore` is not a transaction. Every target of a batch is validated before the one
 *    restore call, so a bad target changes nothing; a refusal by the kernel part-way through (the
 *    set is full at `maxElements`) leaves the lines before it applied — more bans, never fewer —
 *    and the error names the line.
 *  - Docker creates DOCKER-USER when it starts. If moat's init ran before Docker, its forward rule
 *    sits in FORWARD behind Docker's jumps; run init again (restart moat) after Docker is up.
 *  - `iptables` must be the same variant (nft or legacy) Docker uses, or the rules land in tables
 *    Docker's traffic never passes; Debian and Ubuntu default both to nft.
 *  - The rules are checked with `-C` before `-I`, so init is idempotent; teardown removes them from
 *    INPUT, FORWARD and DOCKER-USER whichever init chose, then destroys the two sets.
 * ipset sets and iptables rules are per network namespace; the `netns` option runs every command
 * inside one (`ip netns exec NAME …`), which is how the tests leave the host untouched.
 */
import { MoatError } from '../core/errors.ts';
import { type Runner, runCommand } from './command.ts';
import { toTarget } from './nftables.ts';
import type { BlockEntry, Firewall, FirewallEntry } from './types.ts';

export interface IptablesIpsetOptions {
  /** Set names are PREFIX4 and PREFIX6. Default `moat` (sets `moat4`, `moat6`). */
  readonly setPrefix?: string;
  /** Most entries each set holds (ipset `maxelem`). Default 1,048,576 (ipset's own default is 65,536). */
  readonly maxElements?: number;
  /** Run inside this network namespace (`ip netns exec NAME …`); tests use it. */
  readonly netns?: string;
  readonly ipsetPath?: string;
  readonly iptablesPath?: string;
  readonly ip6tablesPath?: string;
  /** Replaces the command runner (unit tests record the argument arrays). */
  readonly runner?: Runner;
}

/** The longest timeout ipset accepts, in ms (2,147,483 s ≈ 24.8 days). */
export const IPSET_MAX_TIMEOUT_MS = 2_147_483_000;

type Family = 4 | 6;

interface IpsetTarget {
  readonly family: Family;
  /** Element text for ipset: `203.0.113.7` or `198.51.100.0/24`. */
  readonly element: string;
}

/** Normalises a target for hash:net; throws MOAT_USAGE for anything else, including a /0. */
export function toIpsetTarget(text: string): IpsetTarget {
  const { set, element } = toTarget(text);
  if (element.endsWith('/0')) {
    throw new MoatError('MOAT_USAGE', `"${text}" is a /0: it would ban every address`);
  }
  return { family: set.endsWith('4') ? 4 : 6, element };
}

/** ipset timeout argument in whole seconds: rounded up, clamped to ipset's maximum; 0 = none. */
export function ipsetTimeout(ttlMs: number | undefined): string {
  if (ttlMs === undefined) return '0';
  return String(Math.max(1, Math.ceil(Math.min(ttlMs, IPSET_MAX_TIMEOUT_MS) / 1000)));
}

const defaultRunner: Runner = (command, args, input) =>
  runCommand(command, args, input === undefined ? {} : { input });

export function createIptablesIpsetFirewall(options: IptablesIpsetOptions = {}): Firewall {
  const prefix = options.setPrefix ?? 'moat';
  if (!/^[A-Za-z0-9_.-]{1,30}$/.test(prefix)) {
    throw new MoatError(
      'MOAT_USAGE',
      `ipset set prefix "${prefix}" must be 1-30 letters, digits, ".", "_" or "-"`,
    );
  }
  const maxElements = options.maxElements ?? 1_048_576;
  const ipsetBin = options.ipsetPath ?? 'ipset';
  const tables: Record<Family, string> = {
    4: options.iptablesPath ?? 'iptables',
    6: options.ip6tablesPath ?? 'ip6tables',
  };
  const setName = (family: Family) => `${prefix}${family}`;
  const runner = options.runner ?? defaultRunner;
  const exec = (command: string, args: readonly string[], input?: string) =>
    options.netns === undefined
      ? runner(command, args, input)
      : runner('ip', ['netns', 'exec', options.netns, command, ...args], input);
  const ipset = (args: readonly string[], input?: string) => exec(ipsetBin, args, input);
  /** `-w`: wait for the xtables lock (Docker, ufw or fail2ban may hold it) instead of failing. */
  const iptables = (family: Family, args: readonly string[]) => exec(tables[family], ['-w', ...args]);
  const succeeds = (promise: Promise<unknown>) =>
    promise.then(
      () => true,
      () => false,
    );
  /** The one rule per family and chain: `-m set --match-set moat4 src -j DROP`. */
  const match = (family: Family) => ['-m', 'set', '--match-set', setName(family), 'src', '-j', 'DROP'];

  // Verbs run one at a time: init and teardown are sequences of commands that must not interleave.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const result = queue.then(work, work);
    queue = result.catch(() => {});
    return result;
  };

  const ensureRule = async (family: Family, chain: string) => {
    if (await succeeds(iptables(family, ['-C', chain, ...match(family)]))) return;
    await iptables(family, ['-I', chain, '1', ...match(family)]);
  };

  const addLine = (target: IpsetTarget, ttlMs: number | undefined) =>
    `add ${setName(target.family)} ${target.element} timeout ${ipsetTimeout(ttlMs)}`;

  return {
    name: 'iptables-ipset',
    maxTtlMs: IPSET_MAX_TIMEOUT_MS,
    init: () =>
      serial(async () => {
        for (const family of [4, 6] as const) {
          await ipset([
            'create',
            setName(family),
            'hash:net',
            'family',
            family === 4 ? 'inet' : 'inet6',
            'timeout',
            '0',
            'maxelem',
            String(maxElements),
            '-exist',
          ]);
        }
        for (const family of [4, 6] as const) {
          await ensureRule(family, 'INPUT');
          const docker = await succeeds(iptables(family, ['-S', 'DOCKER-USER']));
          await ensureRule(family, docker ? 'DOCKER-USER' : 'FORWARD');
        }
      }),
    block: (target, ttlMs) =>
      serial(async () => {
        const parsed = toIpsetTarget(target);
        // -exist: re-adding an element replaces its timeout, so a repeat block refreshes it.
        await ipset([
          'add',
          '-exist',
          setName(parsed.family),
          parsed.element,
          'timeout',
          ipsetTimeout(ttlMs),
        ]);
      }),
    blockMany: (entries) =>
      serial(async () => {
        if (entries.length === 0) return;
        const lines = entries.map((entry: BlockEntry) => addLine(toIpsetTarget(entry.target), entry.ttlMs));
        await ipset(['restore', '-exist'], `${lines.join('\n')}\n`);
      }),
    release: (target) =>
      serial(async () => {
        const parsed = toIpsetTarget(target);
        await ipset(['del', '-exist', setName(parsed.family), parsed.element]);
      }),
    list: () =>
      serial(async () => {
        const names = await existingSets();
        const outputs = await Promise.all(
          ([4, 6] as const).filter((f) => names.has(setName(f))).map((f) => ipset(['save', setName(f)])),
        );
        return outputs.flatMap((out) => parseIpsetSave(out, [setName(4), setName(6)]));
      }),
    teardown: () =>
      serial(async () => {
        for (const family of [4, 6] as const) {
          for (const chain of ['INPUT', 'FORWARD', 'DOCKER-USER']) {
            // Bounded: a rule inserted twice by hand is removed too, but never loop forever.
            for (let i = 0; i < 8; i++) {
              if (!(await succeeds(iptables(family, ['-C', chain, ...match(family)])))) break;
              await iptables(family, ['-D', chain, ...match(family)]);
            }
          }
        }
        const names = await existingSets();
        for (const family of [4, 6] as const) {
          if (names.has(setName(family))) await ipset(['destroy', setName(family)]);
        }
      }),
  };

  async function existingSets(): Promise<Set<string>> {
    const out = await ipset(['list', '-n']);
    return new Set(out.split('\n').map((line) => line.trim()));
  }
}

/**
 * Reads `ipset save` (or `ipset list -o save`) output: `add moat4 203.0.113.7 timeout 59` lines of
 * the named sets. `timeout 0` (or none) means until released. Targets are normalised; lines of other
 * sets and anything unreadable are skipped.
 */
export function parseIpsetSave(text: string, sets: readonly string[]): FirewallEntry[] {
  const wanted = new Set(sets);
  const entries: FirewallEntry[] = [];
  for (const line of text.split('\n')) {
    const words = line.trim().split(/\s+/);
    if (words[0] !== 'add' || !wanted.has(words[1] ?? '') || words[2] === undefined) continue;
    let target: string;
    try {
      target = toTarget(words[2]).element;
    } catch {
      continue;
    }
    const at = words.indexOf('timeout', 3);
    const seconds = at === -1 ? 0 : Number(words[at + 1]);
    entries.push(
      Number.isFinite(seconds) && seconds > 0 ? { target, expiresInMs: seconds * 1000 } : { target },
    );
  }
  return entries;
}

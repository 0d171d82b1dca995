/**
 * nftables backend: moat's own table (`inet moat`) with four sets — IPv4/IPv6 addresses and
 * IPv4/IPv6 ranges (interval sets), all with per-element timeouts — and drop rules on both the
 * input and the forward hooks at priority -200, ahead of ufw and Docker (priority 0): traffic to
 * Docker-published ports is forwarded, not input, so the forward hook is what covers it.
 * Lookups are O(1) set lookups, never one rule per address. Every change is one `nft -f` batch, given
 * through a pipe, or a private file when large.
 */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MoatError } from '../core/errors.ts';
import { parseCidr } from '../core/ip.ts';
import { runCommand } from './command.ts';
import type { BlockEntry, Firewall, FirewallEntry } from './types.ts';

export interface NftablesOptions {
  /** Table name (family inet). Default `moat`. */
  readonly table?: string;
  /** Hook priority for the drop chains. Default -200 (before ufw/Docker/firewalld at 0). */
  readonly priority?: number;
  /** Run inside this network namespace (`ip netns exec NAME nft …`); tests use it. */
  readonly netns?: string;
  readonly nftPath?: string;
  /**
   * How the timeout of an element already in a set is refreshed: `probe` (default) asks the kernel
   * at init() whether a plain add does it; `readd` always deletes and re-adds, as kernels before
   * 6.10 need (tests use it to cover that path on a newer kernel).
   */
  readonly timeoutRefresh?: 'probe' | 'readd';
}

type SetName = 'addr4' | 'addr6' | 'net4' | 'net6';

interface Target {
  readonly set: SetName;
  /** Element text for nft: `203.0.113.7` or `198.51.100.0/24`. */
  readonly element: string;
}

export function toTarget(text: string): Target {
  const cidr = parseCidr(text);
  if (!cidr) throw new MoatError('MOAT_USAGE', `"${text}" is not an IP address or CIDR range`);
  const v4 = cidr.address.kind() === 'ipv4';
  const single = cidr.prefix === (v4 ? 32 : 128);
  return {
    set: single ? (v4 ? 'addr4' : 'addr6') : v4 ? 'net4' : 'net6',
    element: single ? cidr.address.toString() : cidr.text,
  };
}

/**
 * `text` in a new file of a new 0700 folder under the temporary folder, or undefined where that
 * cannot be made (an unwritable or full temporary folder): the caller then uses a pipe.
 */
function privateFile(text: string): { readonly path: string; remove(): void } | undefined {
  let dir: string | undefined;
  try {
    dir = mkdtempSync(path.join(tmpdir(), 'moat-nft-'));
    const file = path.join(dir, 'batch.nft');
    writeFileSync(file, text, { mode: 0o600 });
    const made = dir;
    return { path: file, remove: () => rmSync(made, { recursive: true, force: true }) };
  } catch {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
}

/** What a pipe holds (Linux's default pipe size): a larger nft batch goes through a file. */
const PIPE_BYTES = 65_536;

const seconds = (ms: number) => `${Math.max(1, Math.ceil(ms / 1000))}s`;

export function createNftablesFirewall(options: NftablesOptions = {}): Firewall {
  const table = options.table ?? 'moat';
  const priority = options.priority ?? -200;
  const nft = options.nftPath ?? 'nft';
  const exec = (args: string[], input?: string) =>
    options.netns === undefined
      ? runCommand(nft, args, input === undefined ? {} : { input })
      : runCommand(
          'ip',
          ['netns', 'exec', options.netns, nft, ...args],
          input === undefined ? {} : { input },
        );
  const batch = async (lines: readonly string[]): Promise<string> => {
    const script = `${lines.join('\n')}\n`;
    if (script.length <= PIPE_BYTES) return exec(['-f', '-'], script);
    // A large batch (the start-up restore) is handed over in a private file, not a pipe: a pipe
    // holds 64 KiB, so nft would read the rest only as fast as this process's event loop, which is
    // busy with the rest of start-up meanwhile. Written synchronously, so that nft starts before
    // this call returns (a few ms for 100k bans), not when the event loop is next free.
    const file = privateFile(script);
    if (file === undefined) return exec(['-f', '-'], script);
    try {
      return await exec(['-f', file.path]);
    } finally {
      file.remove();
    }
  };

  /**
   * Whether a plain `add element … timeout T` sets T on an element that is already there (Linux 6.10
   * and later); found out by init(). Before that, an add leaves the old timeout in place, so a ban
   * is refreshed by add-then-delete (which makes the delete safe when the element is absent) and a
   * fresh add: three commands where one does on a newer kernel. A permanent ban (no timeout) always
   * takes the three, since an add without a timeout leaves an existing one alone on any kernel.
   */
  let addRefreshesTimeout = false;

  const blockLines = (entry: BlockEntry): string[] => {
    const { set, element } = toTarget(entry.target);
    const add = `add element inet ${table} ${set} { ${element}`;
    if (entry.ttlMs !== undefined && addRefreshesTimeout) return [`${add} timeout ${seconds(entry.ttlMs)} }`];
    return [
      `${add} }`,
      `delete element inet ${table} ${set} { ${element} }`,
      `${add}${entry.ttlMs === undefined ? '' : ` timeout ${seconds(entry.ttlMs)}`} }`,
    ];
  };

  /**
   * Finds out addRefreshesTimeout on a scratch set of moat's table that no rule refers to. Any
   * failure (an nft without JSON output, say) answers false: the way every kernel supports.
   */
  const probeTimeoutRefresh = async (): Promise<boolean> => {
    const probe = `inet ${table} timeout_probe`;
    try {
      await batch([
        `add set ${probe} { type ipv4_addr; flags timeout; }`,
        `flush set ${probe}`,
        `add element ${probe} { 192.0.2.1 timeout 5s }`,
        `add element ${probe} { 192.0.2.1 timeout 3600s }`,
      ]);
      const held = parseNftJsonSets(await exec(['-j', 'list', 'set', ...probe.split(' ')]));
      return (held[0]?.expiresInMs ?? 0) > 5_000;
    } catch {
      return false;
    } finally {
      await batch([`delete set ${probe}`]).catch(() => {});
    }
  };

  return {
    name: 'nftables',
    async init() {
      const sets: [SetName, string, string][] = [
        ['addr4', 'ipv4_addr', 'timeout'],
        ['addr6', 'ipv6_addr', 'timeout'],
        ['net4', 'ipv4_addr', 'interval, timeout'],
        ['net6', 'ipv6_addr', 'interval, timeout'],
      ];
      const lines = [`add table inet ${table}`];
      for (const [name, type, flags] of sets) {
        lines.push(`add set inet ${table} ${name} { type ${type}; flags ${flags}; }`);
      }
      for (const hook of ['input', 'forward']) {
        lines.push(
          `add chain inet ${table} ${hook} { type filter hook ${hook} priority ${priority}; policy accept; }`,
          `flush chain inet ${table} ${hook}`,
          `add rule inet ${table} ${hook} ip saddr @addr4 counter drop`,
          `add rule inet ${table} ${hook} ip saddr @net4 counter drop`,
          `add rule inet ${table} ${hook} ip6 saddr @addr6 counter drop`,
          `add rule inet ${table} ${hook} ip6 saddr @net6 counter drop`,
        );
      }
      await batch(lines);
      addRefreshesTimeout = options.timeoutRefresh !== 'readd' && (await probeTimeoutRefresh());
    },
    async block(target, ttlMs) {
      await batch(blockLines(ttlMs === undefined ? { target } : { target, ttlMs }));
    },
    async blockMany(entries) {
      if (entries.length === 0) return;
      // One transaction. For a bulk load (start-up restore) the sets are filled with one element
      // list per set and timeout instead of three lines per entry.
      const bySet = new Map<string, string[]>();
      for (const entry of entries) {
        const { set, element } = toTarget(entry.target);
        const timeout = entry.ttlMs === undefined ? '' : ` timeout ${seconds(entry.ttlMs)}`;
        const list = bySet.get(set) ?? [];
        list.push(`${element}${timeout}`);
        bySet.set(set, list);
      }
      const lines: string[] = [];
      for (const [set, elements] of bySet) {
        if (addRefreshesTimeout && elements.every((e) => e.includes(' timeout '))) {
          for (const chunk of chunks(elements, 5000))
            lines.push(`add element inet ${table} ${set} { ${chunk.join(', ')} }`);
          continue;
        }
        if (set === 'net4' || set === 'net6') {
          // Deleting from an interval set is quadratic in nft 1.0.x (8,000 ranges: add 50 ms, add +
          // delete 10 s+), so a bulk load only adds: a range already present keeps its timeout.
          // That is right for the start-up restore (the kernel already holds the stored expiry);
          // block() still refreshes one range's timeout.
          for (const chunk of chunks(elements, 5000))
            lines.push(`add element inet ${table} ${set} { ${chunk.join(', ')} }`);
          continue;
        }
        // Delete-then-add needs each element present first: add them bare, delete, then add with timeouts.
        const bare = elements.map((e) => e.replace(/ timeout \S+$/, ''));
        for (const chunk of chunks(bare, 5000))
          lines.push(`add element inet ${table} ${set} { ${chunk.join(', ')} }`);
        for (const chunk of chunks(bare, 5000))
          lines.push(`delete element inet ${table} ${set} { ${chunk.join(', ')} }`);
        for (const chunk of chunks(elements, 5000))
          lines.push(`add element inet ${table} ${set} { ${chunk.join(', ')} }`);
      }
      await batch(lines);
    },
    async release(target) {
      const { set, element } = toTarget(target);
      await batch([
        `add element inet ${table} ${set} { ${element} }`,
        `delete element inet ${table} ${set} { ${element} }`,
      ]);
    },
    async list() {
      const out = await exec(['-j', 'list', 'table', 'inet', table]);
      return parseNftJsonSets(out);
    },
    async teardown() {
      await batch([`add table inet ${table}`, `delete table inet ${table}`]);
    },
  };
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

interface NftElem {
  val?: unknown;
  expires?: number;
  timeout?: number;
}

/** Reads the elements of moat's sets from `nft -j list table` output. */
export function parseNftJsonSets(json: string): FirewallEntry[] {
  const parsed = JSON.parse(json) as { nftables?: { set?: { name: string; elem?: unknown[] } }[] };
  const entries: FirewallEntry[] = [];
  for (const item of parsed.nftables ?? []) {
    for (const raw of item.set?.elem ?? []) {
      const wrapped = (raw as { elem?: NftElem }).elem;
      const value = wrapped ? wrapped.val : raw;
      const target = elementText(value);
      if (target === undefined) continue;
      entries.push(
        wrapped?.expires === undefined ? { target } : { target, expiresInMs: wrapped.expires * 1000 },
      );
    }
  }
  return entries;
}

function elementText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  const prefix = (value as { prefix?: { addr: string; len: number } }).prefix;
  if (prefix) return `${prefix.addr}/${prefix.len}`;
  const range = (value as { range?: [string, string] }).range;
  if (range) return `${range[0]}-${range[1]}`;
  return undefined;
}

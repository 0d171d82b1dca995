/**
 * Target and port parsing: addresses, CIDR ranges and host names become a list of IP addresses;
 * `--ports` text becomes a sorted list of ports.
 */
import dns from 'node:dns/promises';
import ipaddr from 'ipaddr.js';
import { MoatError } from '../core/errors.ts';
import { parseAddress } from '../core/ip.ts';

/** Resolves a host name to every address it has (v4 and v6). */
export type Lookup = (name: string) => Promise<readonly string[]>;

export const systemLookup: Lookup = async (name) =>
  (await dns.lookup(name, { all: true, verbatim: true })).map((entry) => entry.address);

/** Even with --yes, no run expands to more addresses than this. */
export const HARD_MAX_TARGETS = 1 << 20;

export interface ExpandOptions {
  /** Addresses allowed without `yes` (config.probe.maxTargets). */
  readonly maxTargets: number;
  readonly yes: boolean;
  readonly lookup?: Lookup;
}

/**
 * Expands targets to unique addresses in the order given. Throws MOAT_PROBE_TARGET for a target that
 * is neither an address, a CIDR nor a resolvable name, and MOAT_PROBE_TOO_MANY past the limit.
 */
export async function expandTargets(targets: readonly string[], options: ExpandOptions): Promise<string[]> {
  if (targets.length === 0) {
    throw new MoatError('MOAT_PROBE_TARGET', 'no target given', {
      hint: 'Name at least one HOST: moat probe 203.0.113.7',
    });
  }
  const limit = options.yes ? HARD_MAX_TARGETS : options.maxTargets;
  const lookup = options.lookup ?? systemLookup;
  const seen = new Set<string>();
  const addresses: string[] = [];
  const add = (address: string) => {
    if (seen.has(address)) return;
    seen.add(address);
    addresses.push(address);
    if (addresses.length > limit) throw tooMany(`more than ${limit}`, options);
  };

  // Count ranges before expanding them, so a /8 or a v6 /64 fails at once instead of after millions of adds.
  const resolved = await Promise.all(targets.map((target) => resolveTarget(target.trim(), lookup)));
  let upperBound = 0n;
  for (const item of resolved)
    upperBound += item.kind === 'range' ? item.size : BigInt(item.addresses.length);
  if (upperBound > BigInt(limit)) {
    // The ranges may overlap; only refuse early when even the largest single item is too big.
    let largest = 0n;
    for (const item of resolved) if (item.kind === 'range' && item.size > largest) largest = item.size;
    if (largest > BigInt(limit)) throw tooMany(String(largest), options);
  }
  for (const item of resolved) {
    if (item.kind === 'addresses') item.addresses.forEach(add);
    else for (const address of rangeAddresses(item.first, item.size)) add(address);
  }
  return addresses;
}

function tooMany(count: string, options: ExpandOptions): MoatError {
  if (options.yes) {
    return new MoatError(
      'MOAT_PROBE_TOO_MANY',
      `the targets expand to ${count} addresses, past moat's hard limit of ${HARD_MAX_TARGETS} even with --yes`,
      { hint: 'Split the scan into smaller ranges.' },
    );
  }
  return new MoatError(
    'MOAT_PROBE_TOO_MANY',
    `the targets expand to ${count} addresses; probe.maxTargets allows ${options.maxTargets} without --yes`,
  );
}

type Resolved =
  | { readonly kind: 'addresses'; readonly addresses: readonly string[] }
  | { readonly kind: 'range'; readonly first: ipaddr.IPv4 | ipaddr.IPv6; readonly size: bigint };

async function resolveTarget(target: string, lookup: Lookup): Promise<Resolved> {
  if (target.includes('/')) {
    const [addressText, prefixText, extra] = target.split('/');
    const address = addressText === undefined ? undefined : parseAddress(addressText);
    const bits = address?.kind() === 'ipv4' ? 32 : 128;
    if (address === undefined || extra !== undefined || !/^\d{1,3}$/.test(prefixText ?? '')) {
      throw badTarget(target, 'not a CIDR range');
    }
    const prefix = Number(prefixText);
    if (prefix > bits) throw badTarget(target, `prefix /${prefix} is longer than ${bits} bits`);
    const first =
      address.kind() === 'ipv4'
        ? ipaddr.IPv4.networkAddressFromCIDR(`${address.toString()}/${prefix}`)
        : ipaddr.IPv6.networkAddressFromCIDR(`${address.toString()}/${prefix}`);
    return { kind: 'range', first, size: 1n << BigInt(bits - prefix) };
  }
  const address = parseAddress(target);
  if (address) return { kind: 'addresses', addresses: [address.toString()] };
  if (!isHostName(target)) throw badTarget(target, 'not an IP address, CIDR range or host name');
  let found: readonly string[];
  try {
    found = await lookup(target);
  } catch (error) {
    throw new MoatError('MOAT_PROBE_TARGET', `"${target}" does not resolve: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const addresses = found.flatMap((text) => {
    const parsed = parseAddress(text);
    return parsed ? [parsed.toString()] : [];
  });
  if (addresses.length === 0) throw badTarget(target, 'resolves to no address');
  return { kind: 'addresses', addresses };
}

function badTarget(target: string, why: string): MoatError {
  return new MoatError('MOAT_PROBE_TARGET', `probe target "${target}": ${why}`);
}

/** RFC 1123 host names: labels of letters, digits and hyphens, not all-numeric at the end. */
function isHostName(text: string): boolean {
  if (text.length === 0 || text.length > 253) return false;
  const labels = text.replace(/\.$/, '').split('.');
  if (!labels.every((label) => /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/i.test(label))) return false;
  return !/^\d+$/.test(labels.at(-1) ?? '');
}

function* rangeAddresses(first: ipaddr.IPv4 | ipaddr.IPv6, size: bigint): Generator<string> {
  const bytes = first.toByteArray();
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  for (let offset = 0n; offset < size; offset++) {
    let current = value + offset;
    const out = new Array<number>(bytes.length);
    for (let index = bytes.length - 1; index >= 0; index--) {
      out[index] = Number(current & 0xffn);
      current >>= 8n;
    }
    yield ipaddr.fromByteArray(out).toString();
  }
}

/**
 * Parses `22,80,1000-2000` into sorted unique ports. Throws MOAT_PROBE_PORTS on anything else
 * (empty items, ports outside 1–65535, reversed ranges).
 */
export function parsePorts(text: string): number[] {
  const ports = new Set<number>();
  const items = text.split(',').map((item) => item.trim());
  for (const item of items) {
    const match = /^(\d{1,5})(?:\s*-\s*(\d{1,5}))?$/.exec(item);
    const low = Number(match?.[1]);
    const high = match?.[2] === undefined ? low : Number(match[2]);
    if (!match || !validPort(low) || !validPort(high) || high < low) {
      throw new MoatError(
        'MOAT_PROBE_PORTS',
        `--ports "${text}": "${item}" is not a port or range between 1 and 65535`,
      );
    }
    for (let port = low; port <= high; port++) ports.add(port);
  }
  return [...ports].sort((a, b) => a - b);
}

function validPort(port: number): boolean {
  return Number.isInteger(port) && port >= 1 && port <= 65_535;
}

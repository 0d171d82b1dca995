/**
 * The live set of active bans, for in-process enforcement (the gate) — the same bans the firewall
 * holds. Single addresses sit in a Map (the common case: one lookup); ranges (IPv6 /64s, manual
 * CIDRs) in a CidrSet rebuilt only when the ranges change or one of them expires. Expired entries
 * answer false at once and are dropped by sweep().
 */
import type { Clock } from '../core/clock.ts';
import { type CidrSet, createCidrSet, parseRange } from './cidr-set.ts';

export interface BanSet {
  isBanned(ip: string): boolean;
  add(target: string, expiresAt: number): void;
  remove(target: string): void;
  /** Replaces everything (after another process changed the store). */
  replace(bans: readonly { readonly target: string; readonly expiresAt: number }[]): void;
  /** Drops expired entries; returns how many. */
  sweep(nowMs?: number): number;
  readonly size: number;
}

export function createBanSet(clock: Clock): BanSet {
  const addresses = new Map<string, number>();
  const ranges = new Map<string, number>();
  let rangeSet: CidrSet | undefined;
  /** The set is rebuilt when the first of its ranges expires. */
  let rangeSetUntil = 0;

  const isRange = (target: string) => {
    if (!target.includes('/')) return false;
    const range = parseRange(target);
    return range !== undefined && range.prefix !== (range.family === 4 ? 32 : 128);
  };
  const ranged = (): CidrSet => {
    const now = clock.now();
    if (rangeSet === undefined || now >= rangeSetUntil) {
      const live = [...ranges].filter(([, until]) => until > now);
      rangeSet = createCidrSet(live.map(([target]) => target));
      rangeSetUntil = Infinity;
      for (const [, until] of live) rangeSetUntil = Math.min(rangeSetUntil, until);
    }
    return rangeSet;
  };

  const set: BanSet = {
    isBanned(ip) {
      const until = addresses.get(ip);
      if (until !== undefined && until > clock.now()) return true;
      return ranges.size > 0 && ranged().has(ip);
    },
    add(target, expiresAt) {
      if (isRange(target)) {
        ranges.set(target, Math.max(expiresAt, ranges.get(target) ?? 0));
        rangeSet = undefined;
      } else {
        // A single address may be written `203.0.113.7/32`; it is looked up without the suffix.
        const address = target.replace(/\/(32|128)$/, '');
        addresses.set(address, Math.max(expiresAt, addresses.get(address) ?? 0));
      }
    },
    remove(target) {
      if (ranges.delete(target)) rangeSet = undefined;
      addresses.delete(target.replace(/\/(32|128)$/, ''));
    },
    replace(bans) {
      addresses.clear();
      ranges.clear();
      rangeSet = undefined;
      for (const ban of bans) set.add(ban.target, ban.expiresAt);
    },
    sweep(nowMs = clock.now()) {
      let dropped = 0;
      for (const [address, until] of addresses) {
        if (until <= nowMs && addresses.delete(address)) dropped++;
      }
      for (const [range, until] of ranges) {
        if (until <= nowMs && ranges.delete(range)) {
          dropped++;
          rangeSet = undefined;
        }
      }
      return dropped;
    },
    get size() {
      return addresses.size + ranges.size;
    },
  };
  return set;
}

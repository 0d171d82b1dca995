/**
 * Dry-run backend: keeps the would-be firewall state in memory and logs every verb, touching
 * nothing. For trying moat out, and the second implementation the Firewall contract suite runs.
 */
import type { Clock } from '../core/clock.ts';
import { systemClock } from '../core/clock.ts';
import { toTarget } from './nftables.ts';
import type { BlockEntry, Firewall, FirewallEntry } from './types.ts';

export interface DryRunOptions {
  readonly clock?: Clock;
  /** Receives one line per verb, e.g. `block 203.0.113.7 for 3600s`. */
  readonly log?: (line: string) => void;
  /** Behave like a backend whose timeouts are capped (ipset): longer ttls are clamped to this. */
  readonly maxTtlMs?: number;
}

export function createDryRunFirewall(options: DryRunOptions = {}): Firewall {
  const clock = options.clock ?? systemClock;
  const log = options.log ?? (() => {});
  /** element → expiry (ms since epoch) or Infinity. */
  const entries = new Map<string, number>();
  const maxTtlMs = options.maxTtlMs ?? Number.POSITIVE_INFINITY;
  const put = (entry: BlockEntry) => {
    const { element } = toTarget(entry.target);
    entries.set(
      element,
      entry.ttlMs === undefined ? Number.POSITIVE_INFINITY : clock.now() + Math.min(entry.ttlMs, maxTtlMs),
    );
    log(`block ${element}${entry.ttlMs === undefined ? '' : ` for ${Math.ceil(entry.ttlMs / 1000)}s`}`);
  };
  return {
    name: 'dry-run',
    ...(options.maxTtlMs === undefined ? {} : { maxTtlMs: options.maxTtlMs }),
    async init() {
      log('init (dry run: no firewall is changed)');
    },
    async block(target, ttlMs) {
      put(ttlMs === undefined ? { target } : { target, ttlMs });
    },
    async blockMany(batch) {
      for (const entry of batch) toTarget(entry.target); // all or nothing: validate first
      for (const entry of batch) put(entry);
    },
    async release(target) {
      const { element } = toTarget(target);
      entries.delete(element);
      log(`release ${element}`);
    },
    async list() {
      const now = clock.now();
      const out: FirewallEntry[] = [];
      for (const [target, expiry] of entries) {
        if (expiry <= now) {
          entries.delete(target);
          continue;
        }
        out.push(expiry === Number.POSITIVE_INFINITY ? { target } : { target, expiresInMs: expiry - now });
      }
      return out;
    },
    async teardown() {
      entries.clear();
      log('teardown');
    },
  };
}

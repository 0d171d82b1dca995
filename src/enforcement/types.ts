/**
 * The Firewall contract: every backend implements the same verbs over a set of banned addresses
 * (after SSHGuard's shape). Contract, checked by test/contract/firewall.contract.ts for each backend:
 *  - init() is idempotent and leaves existing bans in place (a restart does not open the gates).
 *  - block(target, ttlMs) accepts an address or CIDR (IPv4 or IPv6); blocking an already blocked
 *    target refreshes its timeout; ttlMs undefined = until released.
 *  - blockMany() applies a whole batch in one transaction: all or nothing.
 *  - release(target) of a target that is not blocked is not an error.
 *  - list() returns what the firewall holds now (expired entries gone), targets normalised
 *    (`203.0.113.7`, `2001:db8::/64`).
 *  - teardown() removes everything the backend created; nothing else on the host is touched.
 */
export interface BlockEntry {
  readonly target: string;
  /** Undefined: until released. */
  readonly ttlMs?: number;
}

export interface FirewallEntry {
  readonly target: string;
  /** Milliseconds left, when the entry has a timeout. */
  readonly expiresInMs?: number;
}

export interface Firewall {
  readonly name: string;
  /**
   * The longest timeout the backend can hold (ipset: ≈ 24.8 days); a longer ttl is clamped to it,
   * and the daemon blocks the target again before it runs out. Undefined: no limit.
   */
  readonly maxTtlMs?: number;
  init(): Promise<void>;
  block(target: string, ttlMs?: number): Promise<void>;
  blockMany(entries: readonly BlockEntry[]): Promise<void>;
  release(target: string): Promise<void>;
  list(): Promise<FirewallEntry[]>;
  teardown(): Promise<void>;
}

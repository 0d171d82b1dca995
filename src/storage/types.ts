/**
 * The Store contract: bans, offence history (for escalation) and read positions. SQLite (node:sqlite)
 * is the embedded default; PostgreSQL (fleet) implements the same interface. One contract suite
 * (test/contract/store.contract.test.ts) runs against every implementation.
 *
 *  - addBan() is durable when its promise resolves: a kill -9 right after loses nothing.
 *  - A target has at most one active ban: adding one for a target that is banned keeps the later
 *    expiry and the new reason (no duplicates to unban).
 *  - activeBans(now) returns bans with expiresAt > now, oldest first.
 *  - removeBan(target, now) returns whether an active ban was removed; the offence history stays.
 *  - offences(target, sinceMs) counts bans ever added for the target at or after sinceMs.
 *  - Positions are keyed by source; setPosition replaces.
 *  - changedElsewhere() answers whether another handle on the same store (another process, e.g.
 *    `moat bans remove` while the daemon runs) committed anything since the previous call (or since
 *    this handle was opened). It is cheap enough to call every second.
 */
import type { Ban, Decision } from '../core/events.ts';

export interface Position {
  /** Identity of the file read (device:inode), so a rotated file is recognised. */
  readonly fileId: string;
  readonly offset: number;
  /** Free-form cursor for sources that are not files (journald's __CURSOR). */
  readonly cursor?: string;
}

export interface Store {
  readonly kind: string;
  addBan(decision: Decision, expiresAt: number): Promise<Ban>;
  /**
   * Adds many bans in one transaction (a burst of decisions, bulk import, fleet sync): durable when it
   * resolves, all or nothing. Returns the stored bans in the order given.
   */
  addBans(items: readonly { decision: Decision; expiresAt: number }[]): Promise<Ban[]>;
  removeBan(target: string, now: number): Promise<boolean>;
  activeBans(now: number): Promise<Ban[]>;
  offences(target: string, sinceMs: number): Promise<number>;
  getPosition(source: string): Promise<Position | undefined>;
  setPosition(source: string, position: Position): Promise<void>;
  changedElsewhere(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * What the daemon offers the components it hosts (the Redis/service guard, the gate): the one
 * engine, the one decision path, the live ban set and the alert queue. `moat watch` hosts every
 * configured component; `moat guard` and `moat gate` host just theirs, over the same services.
 */
import type { AlertSink } from '../alerts/types.ts';
import type { MoatConfig } from '../config/schema.ts';
import type { Clock } from '../core/clock.ts';
import type { ParsedEvent } from '../core/events.ts';
import type { BanCheck } from '../gate/types.ts';
import type { Logger } from './log.ts';

/** A ban asked for by a component's response (the guard's `restore`): decided like a scenario's overflow. */
export interface BanRequest {
  readonly ip: string;
  /** Scenario name the ban is recorded under, e.g. `redis-hijack`. */
  readonly scenario: string;
  readonly reason: string;
  /** Overrides the decision policy's base duration. */
  readonly banMs?: number;
  /** ms since epoch. */
  readonly at: number;
}

/** What came of a BanRequest: banned (target + duration), or refused (allowlisted, loopback, …). */
export type BanOutcome =
  | { readonly banned: true; readonly target: string; readonly durationMs: number }
  | { readonly banned: false; readonly code: string; readonly reason: string };

export interface DaemonServices {
  readonly logger: Logger;
  readonly clock: Clock;
  /** Feeds an observation to the detection engine (scenarios, decisions, enforcement follow). */
  ingest(event: ParsedEvent): void;
  /**
   * Bans an address through the decider (allowlists, loopback, SSH sessions, escalation), the store
   * and the firewall. Resolves once the ban is committed to the store (or refused).
   */
  ban(request: BanRequest): Promise<BanOutcome>;
  /** Active bans, kept current in-process (and from the store when another process changes it). */
  readonly bans: BanCheck;
  /** False while the store cannot be read (the last refresh from it failed). */
  storeHealthy(): boolean;
  readonly alerts: AlertSink;
}

/** A component the daemon hosts. */
export interface Component {
  readonly name: string;
  stop(): Promise<void>;
  /**
   * SIGHUP: applies what it can of the new configuration. Rejects, changing nothing, when the new
   * configuration does not work for it; the daemon then keeps the old one everywhere.
   */
  reload?(config: MoatConfig): Promise<void>;
}

export type ComponentFactory = (services: DaemonServices) => Promise<Component>;

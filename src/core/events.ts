/**
 * The watch pipeline's names (see DESIGN.md): LogLine → ParsedEvent → (scenarios) → Overflow →
 * Decision → Ban. Plain records: they are created per line on the hot path.
 */

/** A raw line with where it came from. */
export interface LogLine {
  /** Source name from config, e.g. `nginx-access`, or a file path. */
  readonly source: string;
  readonly text: string;
  /** Byte offset of the line's start in its file, when it came from a file. */
  readonly offset?: number;
  /** When moat read it (ms since epoch); the event's own timestamp wins when the line has one. */
  readonly readAtMs: number;
}

/** What a service did, typed. Only `at`, `source`, `service` and `kind` are always present. */
export interface ParsedEvent {
  /** When it happened, ms since epoch (from the line's timestamp when it has one). */
  readonly at: number;
  readonly source: string;
  /** `http`, `ssh`, `redis`, `gate`, `guard`, … */
  readonly service: string;
  /** What happened: `http-request`, `ssh-auth-failed`, `ssh-invalid-user`, `redis-replicaof`, … */
  readonly kind: string;
  /** The client address (IPv4-mapped IPv6 already unwrapped). */
  readonly ip?: string;
  readonly method?: string;
  readonly path?: string;
  readonly status?: number;
  readonly bytes?: number;
  readonly userAgent?: string;
  readonly referer?: string;
  readonly host?: string;
  readonly user?: string;
  /** Anything else a parser extracted (named groups, `<F-…>` tags). */
  readonly fields?: Readonly<Record<string, string>>;
}

/** A scenario firing for one key (usually an IP). */
export interface Overflow {
  readonly scenario: string;
  /** The group-by value, e.g. the IP. */
  readonly key: string;
  readonly ip?: string;
  readonly at: number;
  /** How many events filled the bucket, and a few of them as evidence. */
  readonly count: number;
  readonly sample: readonly ParsedEvent[];
  readonly reason: string;
  /** The scenario's own ban duration, when it overrides the decision policy's base. */
  readonly banMs?: number;
  /** `alert`: notify only, never ban. Absent means `ban`. */
  readonly action?: 'ban' | 'alert';
}

export type DecisionOrigin = 'scenario' | 'manual' | 'guard' | 'gate' | 'fleet' | 'import';

/** What to do: ban an address or range for a duration. */
export interface Decision {
  /** An address (`203.0.113.7`) or CIDR (`2001:db8:1:2::/64`). */
  readonly target: string;
  readonly scenario: string;
  readonly reason: string;
  readonly origin: DecisionOrigin;
  readonly durationMs: number;
  /** When it was decided, ms since epoch. */
  readonly at: number;
}

/** A stored, enforced decision. */
export interface Ban extends Decision {
  readonly id: number;
  readonly expiresAt: number;
}

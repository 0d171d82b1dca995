import type { Clock } from '../core/clock.ts';
import type { Overflow, ParsedEvent } from '../core/events.ts';

/** What a scenario asks the decider to do when it fires. */
export type ScenarioAction = 'ban' | 'alert';

/**
 * A validated scenario, still data (what the YAML says, normalised: durations in ms). The engine
 * compiles it; keep this form for reloads and `moat` listings.
 */
export interface ScenarioDef {
  readonly name: string;
  readonly description: string;
  readonly type: 'leaky' | 'trigger';
  /** Event kinds this scenario reads (`*` = every kind). */
  readonly kinds: readonly string[];
  /** Field filter, as written (compiled by the engine). */
  readonly filter?: Readonly<Record<string, unknown>>;
  /** Fields whose values form the bucket key, e.g. `['ip']`. */
  readonly groupBy: readonly string[];
  /** Leaky only: count each value of this field once per bucket fill (e.g. `path`). */
  readonly distinct?: string;
  /** Leaky only: events the bucket holds; the one that would exceed it overflows. */
  readonly capacity: number;
  /** Leaky only: one event leaks out every `leakSpeedMs` (integer ms, ≥ 1). */
  readonly leakSpeedMs: number;
  /** Ban duration asked of the decider (its base duration when absent). */
  readonly banMs?: number;
  /** After firing for a key, stay quiet for that key this long (default: banMs, else the engine's). */
  readonly cooldownMs?: number;
  readonly action: ScenarioAction;
  /** Reason template: `{count} 4xx on distinct paths from {ip}`. */
  readonly reason: string;
  /** Where it came from, for messages: `file` or `builtin:name.yaml`. */
  readonly origin: string;
}

/** An Overflow plus what the scenario asks of the decider. */
export interface DetectedOverflow extends Overflow {
  /** The scenario's `ban` duration, when it overrides the decider's base. */
  readonly banMs?: number;
  /** `alert`: notify only, never ban. Absent means `ban`. */
  readonly action?: ScenarioAction;
}

export interface EngineOptions {
  /** Used when `sweep()` is called without a time. Event times drive all bucket math. */
  readonly clock?: Clock;
  /**
   * Cap on tracked keys across all scenarios (buckets + cool-down entries). At the cap, creating a
   * key evicts the least recently touched key of the largest table. Default 1,000,000.
   */
  readonly maxBuckets?: number;
  /** Cool-down for scenarios that set neither `cooldown` nor `ban`: the decider's base ban. Default 4 h. */
  readonly cooldownMs?: number;
  /** Events kept as evidence in an Overflow (the last ones before it fired). Default 3. */
  readonly sampleSize?: number;
  /** IPv6 clients are grouped by this prefix when a scenario groups by ip. Default 64; 128 = per address. */
  readonly ipv6Prefix?: number;
}

export interface ScenarioStats {
  readonly type: 'leaky' | 'trigger';
  /** Events that reached the scenario (right kind) and passed its filter. */
  readonly matched: number;
  readonly overflows: number;
  /** Overflows held back because the key was cooling down. */
  readonly suppressed: number;
  /** Live buckets (leaky) and cool-down entries. */
  readonly buckets: number;
  readonly cooling: number;
}

export interface EngineStats {
  readonly events: number;
  /** Events with a non-finite `at`, skipped. */
  readonly invalid: number;
  readonly overflows: number;
  /** Keys dropped to stay under `maxBuckets`. */
  readonly evicted: number;
  /** Live keys across all scenarios (buckets + cool-downs). */
  readonly buckets: number;
  readonly maxBuckets: number;
  readonly perScenario: Readonly<Record<string, ScenarioStats>>;
}

export interface SweepResult {
  /** Entries looked at. */
  readonly visited: number;
  /** Empty buckets and ended cool-downs removed. */
  readonly dropped: number;
  /** False when `maxVisits` stopped it early; the next call resumes where this one stopped. */
  readonly done: boolean;
}

/**
 * The detection stage. Contract: `ingest` never throws on any event and never keeps a reference to
 * it unless it is near overflow (evidence); it returns undefined when nothing fired (the common
 * case, allocation-free), else a new array. No timers: the owner calls `sweep` from one timer.
 */
export interface Engine {
  ingest(event: ParsedEvent): readonly DetectedOverflow[] | undefined;
  /** Drops empty buckets and ended cool-downs as of `nowMs` (default: the clock's now). */
  sweep(nowMs?: number, maxVisits?: number): SweepResult;
  stats(): EngineStats;
  /**
   * Swaps the scenario set (SIGHUP). Buckets of scenarios kept under the same name and type survive;
   * those of removed scenarios are dropped.
   */
  reload(scenarios: readonly ScenarioDef[]): void;
  /**
   * Forgets the buckets and cool-downs of a target (an address or a banned CIDR) in the scenarios
   * grouped by ip, so an address that was unbanned is caught again on its next offence. Returns
   * how many entries went.
   */
  release(target: string): number;
  readonly scenarios: readonly ScenarioDef[];
}

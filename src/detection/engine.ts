/**
 * The detection engine: ParsedEvent → DetectedOverflow. See README.md for the model; the short form:
 *
 * - Scenarios are compiled once (filter closures, key getter, reason template) and indexed by event
 *   kind, so an event only meets scenarios that can match it.
 * - A leaky bucket is a plain record in one Map per scenario: `{ e, r }` where `e` is the time the
 *   bucket will be empty (the GCRA form of the leaky bucket). Its level at time t is
 *   `max(0, (e − t) / leakSpeedMs)`, which is exactly the lazy `level − (t − last)/leakSpeed` of the
 *   textbook form, in one number instead of two. An event adds one: `e = max(e, t) + leakSpeedMs`;
 *   the bucket overflows when the level exceeds `capacity`. A `distinct` bucket adds `h`, the 30-bit
 *   hashes of the values counted since it was last empty (one inline, then a bounded array).
 *   Times are stored relative to an engine epoch so they stay small integers (no heap numbers).
 * - Event time (`event.at`) drives all math, so replay honours the lines' timestamps. The clock is
 *   only the default for `sweep()`.
 * - No timers: the owner calls `sweep(now)` from one timer to drop empty buckets and ended
 *   cool-downs. Memory is capped by `maxBuckets`: at the cap, a new key evicts from the largest
 *   table, among its oldest keys, an empty bucket, else the least recently touched. A touch only
 *   writes the record's `r`: a record is never moved within its Map, which would cost two more Map
 *   operations per event and, as the Map's table fills with deleted entries, a new table.
 * - When a bucket overflows (or a trigger fires) the key enters a cool-down (the scenario's
 *   `cooldown`, else its `ban`, else the engine's `cooldownMs`): one attacker yields one Overflow
 *   per ban window; the bucket restarts empty and further overflows inside the window are counted
 *   as `suppressed`.
 */
import type { ParsedEvent } from '../core/events.ts';
import { parseIpv4 } from '../core/ip.ts';
import { formatRange, parseRange, widenRange } from '../decisions/cidr-set.ts';
import { lastEventIpv4 } from '../parsing/address.ts';
import { compileFilter, fieldGetter, type Predicate } from './filter.ts';
import { formatDuration } from '../core/duration.ts';
import { compileTemplate, formatRate, type Template } from './template.ts';
import type {
  DetectedOverflow,
  Engine,
  EngineOptions,
  EngineStats,
  ScenarioDef,
  ScenarioStats,
  SweepResult,
} from './types.ts';

/** Below this length V8 copies substrings; at or above it a substring may pin its whole log line. */
const SLICE_MIN_LENGTH = 13;
/** Stored times are rebased when they drift this far from the epoch (keeps them int32). */
const REBASE_AFTER_MS = 2 ** 29;

/** How many of the oldest keys eviction looks at for an empty bucket. */
const EVICTION_SAMPLE = 8;

/** When a table value (a flat bucket's emptyAt, a record, a cool-down end) stops mattering. */
function emptyAtOf(value: unknown): number {
  return typeof value === 'number' ? value : (value as Bucket).e;
}

/** A leaky bucket. All times relative to the engine epoch. */
interface Bucket {
  /** When the bucket will be empty. */
  e: number;
  /** When the bucket last took an event (eviction prefers the least recently touched). */
  r: number;
}

/** A leaky bucket that counts each value of a field once per fill. */
interface DistinctBucket extends Bucket {
  /** 30-bit hashes of the values counted since the bucket was last empty: one inline, then a bounded array (a ring). */
  h: number | number[];
}

/** One compiled scenario and its state. */
interface Runtime {
  readonly def: ScenarioDef;
  readonly filter: Predicate | undefined;
  feed: (event: ParsedEvent, t: number) => DetectedOverflow | undefined;
  /** Leaky buckets: emptyAt (a number) or a DistinctBucket record. Empty for triggers. */
  readonly buckets: Map<Key, number | DistinctBucket>;
  /** key → end of cool-down (relative time). */
  readonly cooling: Map<Key, number>;
  /** key → the last few events of a near-full bucket (evidence). */
  readonly samples: Map<Key, ParsedEvent[]>;
  matched: number;
  overflows: number;
  suppressed: number;
}

/**
 * A bucket key: an IPv4 address as its int32 (a small integer: no string kept, cheap hashing), any
 * other key as a string.
 */
type Key = string | number;

/** Makes sure a Map key does not pin the log line it was cut from. */
function ownKey(key: Key): Key {
  return typeof key === 'number' || key.length < SLICE_MIN_LENGTH
    ? key
    : (JSON.parse(JSON.stringify(key)) as string);
}

/**
 * The text of a key, for Overflow.key: IPv4 ints become dotted quads, IPv6 group keys (the network's
 * leading groups with a trailing colon, `2001:db8:1:2:`) become CIDRs (`2001:db8:1:2::/64`).
 */
function keyText(key: Key, ipv6Prefix: number): string {
  if (typeof key === 'string') return key.endsWith(':') ? `${key}:/${ipv6Prefix}` : key;
  const n = key >>> 0;
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** FNV-1a, folded to 30 bits so it is a small integer on every V8 build. */
function hash30(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h ^ (h >>> 30)) & 0x3fffffff;
}

/**
 * The group of an address as text: IPv4 (also IPv4-mapped IPv6) as the dotted quad; IPv6 as the
 * leading groups of its /ipv6Prefix network followed by a colon (`2001:db8:1:2:` for a /64), so
 * one host cannot rotate through its /64 to dodge buckets or to flush them. Anything that is not
 * an address comes back unchanged.
 */
export function ipGroupKey(ip: string, ipv6Prefix: number): string {
  if (!ip.includes(':')) return ip;
  if (ipv6Prefix === 64) {
    // Fast path, no allocation but the slice: the first four groups written out in canonical form
    // (lowercase, no leading zeros), as nginx and sshd print client addresses.
    let colons = 0;
    let groupStart = 0;
    for (let i = 0; i < ip.length; i++) {
      const c = ip.charCodeAt(i);
      if (c === 58) {
        if (i === groupStart) break; // '::' (or a leading ':'): compressed, take the slow path
        if (++colons === 4) return ip.slice(0, i + 1);
        groupStart = i + 1;
      } else if (
        !((c >= 48 && c <= 57) || (c >= 97 && c <= 102)) ||
        (c === 48 && i === groupStart && ip.charCodeAt(i + 1) !== 58) ||
        i - groupStart >= 4
      ) {
        break; // uppercase, a leading zero, a dot, a zone… : slow path
      }
    }
  }
  const range = parseRange(ip);
  if (range === undefined || range.prefix !== (range.family === 4 ? 32 : 128)) return ip;
  if (range.family === 4) return formatRange(range);
  if (ipv6Prefix >= 128) return formatRange(range);
  const network = widenRange(range, ipv6Prefix);
  const start = network.start as bigint;
  const groups: string[] = [];
  for (let shift = 112n, bits = 0; bits < ipv6Prefix; shift -= 16n, bits += 16) {
    groups.push(((start >> shift) & 0xffffn).toString(16));
  }
  return `${groups.join(':')}:`;
}

/** The Map key of a client address: IPv4 (also IPv4-mapped IPv6) as an int32, IPv6 as its group text. */
function ipKey(ip: string, ipv6Prefix: number): Key {
  const v4 = parseIpv4(ip);
  if (v4 >= 0) return v4 | 0;
  const text = ipGroupKey(ip, ipv6Prefix);
  const mapped = text === ip || text.endsWith(':') ? -1 : parseIpv4(text);
  return mapped >= 0 ? mapped | 0 : text;
}

const DEFAULTS = { maxBuckets: 1_000_000, cooldownMs: 4 * 3_600_000, sampleSize: 3, ipv6Prefix: 64 };

export function createEngine(initial: readonly ScenarioDef[], options: EngineOptions = {}): Engine {
  const maxBuckets = Math.max(1, options.maxBuckets ?? DEFAULTS.maxBuckets);
  const defaultCooldownMs = options.cooldownMs ?? DEFAULTS.cooldownMs;
  const sampleSize = Math.max(1, options.sampleSize ?? DEFAULTS.sampleSize);
  const ipv6Prefix = options.ipv6Prefix ?? DEFAULTS.ipv6Prefix;
  const clock = options.clock;

  let runtimes: Runtime[] = [];
  let byKind = new Map<string, Runtime[]>();
  let wildcard: Runtime[] = [];
  let lastKind: string | undefined;
  let lastList: Runtime[] = [];
  let scenarios: readonly ScenarioDef[] = [];

  /** Epoch of stored times; set by the first event. */
  let base = Number.NaN;
  let total = 0;
  let events = 0;
  let invalid = 0;
  let overflows = 0;
  let evicted = 0;

  // Per-event memo of the ip key (several scenarios group by ip).
  let memoEvent: ParsedEvent | undefined;
  let memoIpKey: Key | undefined;
  let lastIp = '';
  let lastIpKey: Key = 0;
  const ipKeyOf = (event: ParsedEvent): Key | undefined => {
    if (event === memoEvent) return memoIpKey;
    const ip = event.ip;
    memoEvent = event;
    if (typeof ip !== 'string' || ip === '') memoIpKey = undefined;
    // The parser that built this event already read its IPv4 address as a number.
    else if (event === lastEventIpv4.event && ip === lastEventIpv4.ip) memoIpKey = lastEventIpv4.value | 0;
    // Consecutive events often come from one client: its key (an IPv6 group's text) is reused as is.
    else if (ip === lastIp) memoIpKey = lastIpKey;
    else {
      memoIpKey = ipKey(ip, ipv6Prefix);
      lastIp = ip;
      lastIpKey = memoIpKey;
    }
    return memoIpKey;
  };

  function keyGetter(groupBy: readonly string[]): (event: ParsedEvent) => Key | undefined {
    if (groupBy.length === 1 && groupBy[0] === 'ip') return ipKeyOf;
    const getters = groupBy.map((field): ((event: ParsedEvent) => string | number | undefined) =>
      field === 'ip'
        ? (event) =>
            typeof event.ip === 'string' && event.ip !== ''
              ? keyText(ipGroupKey(event.ip, ipv6Prefix), ipv6Prefix)
              : undefined
        : (fieldGetter(field) as (event: ParsedEvent) => string | number | undefined),
    );
    return (event) => {
      let key = '';
      for (let i = 0; i < getters.length; i++) {
        const value = (getters[i] as (event: ParsedEvent) => string | number | undefined)(event);
        if (value === undefined) return undefined;
        key = i === 0 ? String(value) : `${key} ${value}`;
      }
      return key;
    };
  }

  /**
   * Makes room for one more key. At the cap, it looks at the EVICTION_SAMPLE oldest keys of the
   * largest table and evicts the first whose bucket is already empty (no information lost), else
   * the least recently touched of them (for plain buckets and cool-downs, which keep no touch
   * time: the oldest).
   */
  function admit(t: number): void {
    if (total < maxBuckets) {
      total++;
      return;
    }
    let largest: Map<Key, unknown> | undefined;
    let owner: Runtime | undefined;
    for (const rt of runtimes) {
      for (const table of [rt.buckets, rt.cooling] as Map<Key, unknown>[]) {
        if (table.size > (largest?.size ?? 0)) {
          largest = table;
          owner = rt;
        }
      }
    }
    if (largest === undefined || owner === undefined) {
      total++;
      return;
    }
    let victim: Key | undefined;
    let victimTouched = Number.POSITIVE_INFINITY;
    let looked = 0;
    for (const [key, value] of largest) {
      if (emptyAtOf(value) <= t) {
        victim = key;
        break;
      }
      const touched = typeof value === 'number' ? Number.NEGATIVE_INFINITY : (value as Bucket).r;
      if (victim === undefined || touched < victimTouched) {
        victim = key;
        victimTouched = touched;
      }
      if (++looked >= EVICTION_SAMPLE) break;
    }
    if (victim === undefined) {
      total++;
      return;
    }
    largest.delete(victim);
    if (owner.samples.size > 0) owner.samples.delete(victim);
    evicted++;
  }

  function compile(
    def: ScenarioDef,
    previous: Runtime | undefined,
    filters: Map<string, Predicate>,
  ): Runtime {
    const filter = def.filter === undefined ? undefined : filters.get(JSON.stringify(def.filter));
    const keyOf = keyGetter(def.groupBy);
    const template: Template = compileTemplate(def.reason);
    const cooldownMs = def.cooldownMs ?? def.banMs ?? defaultCooldownMs;
    const groupsByIp = def.groupBy.includes('ip');
    const window = def.type === 'leaky' ? formatDuration(def.capacity * def.leakSpeedMs) : '-';
    const rate = def.type === 'leaky' ? formatRate(def.leakSpeedMs) : '-';
    const keep = previous !== undefined && previous.def.type === def.type && sameShape(previous.def, def);
    const rt: Runtime = {
      def,
      filter,
      feed: () => undefined,
      buckets: keep ? previous.buckets : new Map(),
      cooling: keep ? previous.cooling : new Map(),
      samples: keep ? previous.samples : new Map(),
      matched: keep ? previous.matched : 0,
      overflows: keep ? previous.overflows : 0,
      suppressed: keep ? previous.suppressed : 0,
    };
    const { buckets, cooling, samples } = rt;

    /** Fires for `key` unless it is cooling down. */
    const fire = (event: ParsedEvent, key: Key, t: number, count: number): DetectedOverflow | undefined => {
      const sample = samples.size > 0 ? samples.get(key) : undefined;
      if (sample !== undefined) samples.delete(key);
      const until = cooling.get(key);
      if (until !== undefined && until > t) {
        rt.suppressed++;
        return undefined;
      }
      if (until === undefined) admit(t);
      else cooling.delete(key); // re-insert at the back: most recently touched
      cooling.set(ownKey(key), t + cooldownMs);
      rt.overflows++;
      overflows++;
      const ip = groupsByIp ? event.ip : undefined;
      const text = keyText(key, ipv6Prefix);
      return {
        scenario: def.name,
        key: text,
        ...(ip === undefined ? {} : { ip }),
        at: event.at,
        count,
        sample: sample ?? [event],
        reason: template(event, {
          scenario: def.name,
          key: text,
          count,
          capacity: def.capacity,
          window,
          rate,
        }),
        ...(def.banMs === undefined ? {} : { banMs: def.banMs }),
        action: def.action,
      };
    };

    if (def.type === 'trigger') {
      rt.feed = (event, t) => fire(event, keyOf(event) ?? '', t, 1);
      return rt;
    }

    const leak = def.leakSpeedMs;
    const limit = def.capacity * leak;
    // Keep evidence once the level passes capacity + 1 − sampleSize.
    const sampleFrom = (def.capacity + 1 - sampleSize) * leak;
    const remember = (key: Key, event: ParsedEvent): void => {
      const list = samples.get(key);
      if (list === undefined) samples.set(ownKey(key), [event]);
      else {
        if (list.length >= sampleSize) list.shift();
        list.push(event);
      }
    };
    /** `count`: distinct values seen in this fill for distinct buckets, else the level (events held). */
    const overflowAt = (
      event: ParsedEvent,
      key: Key,
      t: number,
      emptyAt: number,
      distinct = 0,
    ): DetectedOverflow | undefined => {
      buckets.delete(key);
      total--;
      return fire(event, key, t, distinct > 0 ? distinct : Math.ceil((emptyAt - t) / leak - 1e-9));
    };

    if (def.distinct === undefined) {
      const flat = buckets as Map<Key, number>;
      rt.feed = (event, t) => {
        const key = keyOf(event);
        if (key === undefined) return undefined;
        const previous = flat.get(key);
        let emptyAt: number;
        if (previous === undefined) {
          admit(t);
          emptyAt = t + leak;
          flat.set(ownKey(key), emptyAt);
        } else {
          emptyAt = (previous > t ? previous : t) + leak;
          flat.set(key, emptyAt);
        }
        const level = emptyAt - t;
        if (level > sampleFrom) {
          remember(key, event);
          if (level > limit) return overflowAt(event, key, t, emptyAt);
        }
        return undefined;
      };
      return rt;
    }

    const distinctOf = fieldGetter(def.distinct) as (event: ParsedEvent) => string | number | undefined;
    const ringSize = Math.min(2 * (def.capacity + 1), 256);
    const records = buckets as Map<Key, DistinctBucket>;
    rt.feed = (event, t) => {
      const key = keyOf(event);
      if (key === undefined) return undefined;
      const value = distinctOf(event);
      const hash = hash30(value === undefined ? '' : typeof value === 'string' ? value : String(value));
      let record = records.get(key);
      if (record === undefined) {
        admit(t);
        record = { e: t + leak, r: t, h: hash };
        records.set(ownKey(key), record);
      } else {
        if (record.e <= t) {
          // Drained since last seen: a new fill, values seen before count again.
          record.e = t;
          record.h = -1;
        }
        record.r = t;
        const seen = record.h;
        if (typeof seen === 'number') {
          if (seen === hash) return undefined;
          record.h = seen < 0 ? hash : [seen, hash];
        } else {
          if (seen.includes(hash)) return undefined;
          if (seen.length >= ringSize) seen.shift();
          seen.push(hash);
        }
        record.e = (record.e > t ? record.e : t) + leak;
      }
      const emptyAt = record.e;
      const level = emptyAt - t;
      if (level > sampleFrom) {
        remember(key, event);
        if (level > limit)
          return overflowAt(event, key, t, emptyAt, typeof record.h === 'number' ? 1 : record.h.length);
      }
      return undefined;
    };
    return rt;
  }

  function install(defs: readonly ScenarioDef[]): void {
    const previous = new Map(runtimes.map((rt) => [rt.def.name, rt]));
    // Scenarios with the same filter (http-probing and http-slow-scan) share one predicate, and it
    // runs once per event: the second scenario gets the first one's answer.
    const filters = new Map<string, Predicate>();
    const uses = new Map<string, number>();
    for (const def of defs) {
      if (def.filter === undefined) continue;
      const text = JSON.stringify(def.filter);
      uses.set(text, (uses.get(text) ?? 0) + 1);
    }
    for (const [text, count] of uses) {
      const predicate = compileFilter(JSON.parse(text));
      if (count === 1) {
        filters.set(text, predicate);
        continue;
      }
      let lastEvent: ParsedEvent | undefined;
      let lastResult = false;
      filters.set(text, (event) => {
        if (event === lastEvent) return lastResult;
        lastResult = predicate(event);
        lastEvent = event;
        return lastResult;
      });
    }
    const next = defs.map((def) => compile(def, previous.get(def.name), filters));
    // Keys of dropped tables no longer count against the cap.
    const kept = new Set<Map<Key, unknown>>(next.flatMap((rt) => [rt.buckets, rt.cooling]));
    for (const rt of runtimes) {
      for (const table of [rt.buckets, rt.cooling] as Map<Key, unknown>[])
        if (!kept.has(table)) total -= table.size;
    }
    runtimes = next;
    byKind = new Map();
    wildcard = next.filter((rt) => rt.def.kinds.includes('*'));
    for (const rt of next) {
      for (const kind of rt.def.kinds) {
        if (kind === '*') continue;
        const list = byKind.get(kind) ?? [];
        if (!list.includes(rt)) list.push(rt);
        byKind.set(kind, list);
      }
    }
    // Wildcard scenarios join every kind's list, in definition order.
    if (wildcard.length > 0) {
      for (const [kind, list] of byKind)
        byKind.set(
          kind,
          next.filter((rt) => list.includes(rt) || wildcard.includes(rt)),
        );
    }
    lastKind = undefined;
    lastList = [];
    scenarios = defs;
    sweepCursor = 0;
    sweepIterator = undefined;
  }

  function ingest(event: ParsedEvent): readonly DetectedOverflow[] | undefined {
    events++;
    try {
      const at = event.at;
      if (typeof at !== 'number' || !Number.isFinite(at)) {
        invalid++;
        return undefined;
      }
      if (base !== base) base = at;
      const t = at - base;
      let list: Runtime[];
      const kind = event.kind;
      if (kind === lastKind) list = lastList;
      else {
        list = byKind.get(kind) ?? wildcard;
        lastKind = kind;
        lastList = list;
      }
      let out: DetectedOverflow[] | undefined;
      for (let i = 0; i < list.length; i++) {
        const rt = list[i] as Runtime;
        if (rt.filter !== undefined && !rt.filter(event)) continue;
        rt.matched++;
        const overflow = rt.feed(event, t);
        if (overflow !== undefined) {
          if (out === undefined) out = [overflow];
          else out.push(overflow);
        }
      }
      return out;
    } catch {
      // Contract: a hostile event never takes the pipeline down. Count it and move on.
      invalid++;
      return undefined;
    } finally {
      memoEvent = undefined;
    }
  }

  // Incremental sweep state: which table, and a live Map iterator into it.
  let sweepCursor = 0;
  let sweepIterator: MapIterator<[Key, unknown]> | undefined;

  function tables(): {
    rt: Runtime;
    map: Map<Key, unknown>;
    expired: (value: unknown, t: number) => boolean;
  }[] {
    const list: { rt: Runtime; map: Map<Key, unknown>; expired: (value: unknown, t: number) => boolean }[] =
      [];
    for (const rt of runtimes) {
      list.push({ rt, map: rt.buckets, expired: (v, t) => emptyAtOf(v) <= t });
      list.push({ rt, map: rt.cooling, expired: (v, t) => emptyAtOf(v) <= t });
    }
    return list;
  }

  function dropSamples(t: number): void {
    for (const rt of runtimes) {
      if (rt.samples.size === 0) continue;
      for (const key of rt.samples.keys()) {
        const bucket = rt.buckets.get(key);
        if (bucket === undefined || emptyAtOf(bucket) <= t) rt.samples.delete(key);
      }
    }
  }

  function rebase(nowMs: number): void {
    const shift = nowMs - base;
    base = nowMs;
    for (const rt of runtimes) {
      const table = rt.buckets;
      for (const [key, bucket] of table) {
        if (typeof bucket === 'number') table.set(key, bucket - shift);
        else {
          bucket.e -= shift;
          bucket.r -= shift;
        }
      }
      for (const [key, until] of rt.cooling) rt.cooling.set(key, until - shift);
    }
  }

  function sweep(nowMs?: number, maxVisits = Number.POSITIVE_INFINITY): SweepResult {
    const now = nowMs ?? clock?.now() ?? Number.NaN;
    if (!Number.isFinite(now) || base !== base) return { visited: 0, dropped: 0, done: true };
    const t = now - base;
    let visited = 0;
    let dropped = 0;
    const list = tables();
    while (sweepCursor < list.length) {
      const { map, expired, rt } = list[sweepCursor] as (typeof list)[number];
      if (sweepIterator === undefined && maxVisits - visited >= map.size) {
        // Whole table in one pass: forEach allocates nothing per entry.
        visited += map.size;
        map.forEach((value, key) => {
          if (expired(value, t)) {
            map.delete(key);
            if (rt.samples.size > 0) rt.samples.delete(key);
            dropped++;
          }
        });
      } else {
        sweepIterator ??= map.entries();
        for (;;) {
          if (visited >= maxVisits) {
            total -= dropped;
            return { visited, dropped, done: false };
          }
          const next = sweepIterator.next();
          if (next.done) break;
          visited++;
          const [key, value] = next.value;
          if (expired(value, t)) {
            map.delete(key);
            if (rt.samples.size > 0) rt.samples.delete(key);
            dropped++;
          }
        }
        sweepIterator = undefined;
      }
      sweepCursor++;
    }
    sweepCursor = 0;
    total -= dropped;
    dropSamples(t);
    if (Math.abs(t) > REBASE_AFTER_MS) rebase(now);
    return { visited, dropped, done: true };
  }

  function stats(): EngineStats {
    const perScenario: Record<string, ScenarioStats> = {};
    for (const rt of runtimes) {
      perScenario[rt.def.name] = {
        type: rt.def.type,
        matched: rt.matched,
        overflows: rt.overflows,
        suppressed: rt.suppressed,
        buckets: rt.buckets.size,
        cooling: rt.cooling.size,
      };
    }
    return { events, invalid, overflows, evicted, buckets: total, maxBuckets, perScenario };
  }

  /**
   * Forgets what the engine holds against a target (an address, or the CIDR a ban covered): its
   * buckets and cool-downs in every scenario grouped by ip, so that after an unban the next offence
   * fires again instead of being held back as a repeat.
   */
  function release(target: string): number {
    const slash = target.indexOf('/');
    const address = slash < 0 ? target : target.slice(0, slash);
    const range = parseRange(address);
    if (range === undefined) return 0;
    const key = ipKey(address, ipv6Prefix);
    const text = keyText(key, ipv6Prefix);
    let released = 0;
    const drop = (rt: Runtime, k: Key) => {
      if (rt.cooling.delete(k)) released++;
      if (rt.buckets.delete(k)) released++;
      rt.samples.delete(k);
    };
    for (const rt of runtimes) {
      const { groupBy } = rt.def;
      if (groupBy.length === 1 && groupBy[0] === 'ip') {
        drop(rt, key);
      } else if (groupBy[0] === 'ip') {
        // Compound keys (`<ip> <field>`): rare and small; a scan is fine off the hot path.
        const prefix = `${text} `;
        for (const k of [...rt.cooling.keys(), ...rt.buckets.keys()]) {
          if (typeof k === 'string' && k.startsWith(prefix)) drop(rt, k);
        }
      }
    }
    total = Math.max(0, total - released);
    return released;
  }

  install(initial);
  return {
    ingest,
    sweep,
    stats,
    release,
    reload: install,
    get scenarios() {
      return scenarios;
    },
  };
}

/** Buckets survive a reload when they still mean the same thing. */
function sameShape(a: ScenarioDef, b: ScenarioDef): boolean {
  return a.distinct === b.distinct && a.groupBy.join('\0') === b.groupBy.join('\0');
}

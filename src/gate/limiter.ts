/**
 * nginx `limit_req`, per client address, in typed arrays.
 *
 * Semantics (ngx_http_limit_req_module): each key has `excess` in milli-requests and `last`, the
 * millisecond of its last admitted request. A request at `now` computes
 *
 *     excess' = max(0, excess - floor(rate × ms / 1000) + 1000),   ms = now - last
 *
 * with `rate` in milli-requests per second (`10r/s` = 10000, `10r/m` = floor(10000 / 60) = 166).
 * It is rejected when excess' > burst × 1000, and then nothing is charged. A key seen for the first
 * time starts at excess 0 and is always admitted. An admitted request stores excess' (and `last`
 * when ms > 0) and is held for (excess' - delay × 1000) / rate seconds when that is positive;
 * `nodelay` makes delay infinite. Several zones are checked in order; a request rejected by any
 * enforced zone is charged to none; the delay is the largest of the zones'.
 *
 * Dry-run zones report `wouldReject` and evolve as if enforced on their own (a request they would
 * reject is not charged to them); they never reject, delay, or change what enforced zones do.
 *
 * Storage, per zone: an open-addressing hash table (linear probing, backward-shift deletion) in
 * one ArrayBuffer of 24-byte records — `last` as float64, the key as two uint32 words, excess and
 * a tag word (address family, referenced bit) — so a lookup touches one or two cache lines; at
 * most 1.25 slots per tracked key (30 bytes). Keys are packed addresses: IPv4 as one uint32
 * (IPv4-mapped IPv6 unwrapped), IPv6 grouped to `ipv6Prefix` bits (≤ 64 bits exactly; longer
 * prefixes and non-address keys hashed to 64 bits with a per-process seed). The table grows by
 * doubling up to ⌈maxKeys / 0.8⌉ slots. At `maxKeys` a CLOCK hand (a referenced bit set on every
 * lookup, cleared as the hand passes) evicts: among the next 64 keys, one whose excess has fully
 * drained (forgetting it changes nothing), else the first unreferenced one, else the oldest. Each
 * insert also lets the hand drop up to 4 drained keys, so idle clients do not fill the table.
 * No timers.
 */
import { MoatError } from '../core/errors.ts';
import type { ZoneConfig } from '../config/gate.ts';
import { createIpScratch, parseIpInto } from './client-ip.ts';
import type { Limiter, RateDecision } from './types.ts';

export interface LimiterOptions {
  /** IPv6 clients share a limit per this prefix (48–128). Default 64. */
  readonly ipv6Prefix?: number;
  /** Slots a zone starts with before growing (tests). Default 1024. */
  readonly initialSlots?: number;
  /** Hash seed (tests). Default: random per limiter. */
  readonly seed?: number;
  /**
   * A reload: the limiter this one replaces. A zone of the same name and `maxKeys` takes over its
   * clients' state (nginx keeps a `limit_req_zone` across a reload the same way), judged from now
   * on by the zone's new rate, burst and delay; other zones start empty. Nothing carries over when
   * `ipv6Prefix` changed (the keys would mean other clients).
   */
  readonly carryFrom?: GateLimiter;
}

/** What the limiter keeps, for the memory benchmark and metrics. */
export interface ZoneStats {
  readonly zone: string;
  readonly keys: number;
  readonly slots: number;
  /** Bytes held by the zone's typed arrays. */
  readonly bytes: number;
}

/** A decision with the one field the contract leaves out: when the client is back to a full burst. */
export interface LimiterDecision extends RateDecision {
  /** ms until the deciding zone's excess drains to zero (RateLimit-Reset). */
  readonly resetMs: number;
  /** With `wouldReject`: the first dry-run zone that would have rejected. */
  readonly wouldRejectZone?: string;
}

export interface GateLimiter extends Limiter {
  check(zones: readonly string[], key: string, nowMs: number): LimiterDecision;
  /** Per zone: keys, slots and bytes held. */
  stats(): ZoneStats[];
}

const TAG_V4 = 1;
const TAG_V6 = 2;
const TAG_V6_HASHED = 3;
const TAG_OTHER = 4;
const REFERENCED = 0x80;
const TAG_MASK = 0x7f;
const MAX_LOAD = 0.8;
const MAX_BURST = 1_000_000;
const EVICT_SCAN = 64;
const EXPIRE_STEPS = 4;
/** last (float64), key hi, key lo, excess, tag (uint32 each): one 24-byte record per slot. */
const SLOT_BYTES = 24;

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function mixWord(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = rotl(k, 15);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = rotl(h, 13);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function finalMix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function hashKey(seed: number, tag: number, hi: number, lo: number): number {
  let h = mixWord(seed, hi);
  h = mixWord(h, lo);
  h = mixWord(h, tag);
  return finalMix(h ^ 9);
}

/** nginx's rate: `rate × 1000 / scale` in integers; here from requests per second. */
export function milliRate(perSecond: number): number {
  return Math.floor(perSecond * 1000 + 1e-6);
}

class ZoneTable {
  readonly name: string;
  readonly rate: number;
  readonly burst: number;
  readonly delay: number;
  readonly dryRun: boolean;
  readonly maxKeys: number;
  readonly maxSlots: number;
  slots: number;
  /** Slot i: words[6i + 0..1] = last (float64 at f64[3i]), +2 key hi, +3 key lo, +4 excess, +5 tag. */
  words: Uint32Array;
  f64: Float64Array;
  count = 0;
  hand = 0;
  // Per-check scratch (checks are synchronous).
  visit = 0;
  slot = -1;
  next = 0;
  ms = 0;

  constructor(zone: ZoneConfig, index: number, initialSlots: number) {
    this.name = zone.name;
    this.rate = milliRate(zone.rate);
    if (this.rate < 1) {
      throw new MoatError('MOAT_CONFIG_INVALID', `gate.zones[${index}].rate: ${zone.rate}r/s is too slow`, {
        hint: 'Use at least 1r/m (nginx counts in thousandths of a request per second).',
      });
    }
    if (zone.burst > MAX_BURST || (zone.delay ?? 0) > MAX_BURST) {
      throw new MoatError(
        'MOAT_CONFIG_INVALID',
        `gate.zones[${index}]: burst and delay must be at most ${MAX_BURST}`,
        { hint: 'A burst that large is no limit; lower it or remove the zone.' },
      );
    }
    this.burst = zone.burst * 1000;
    this.delay = zone.nodelay ? Infinity : (zone.delay ?? 0) * 1000;
    this.dryRun = zone.dryRun;
    this.maxKeys = zone.maxKeys;
    this.maxSlots = Math.ceil(zone.maxKeys / MAX_LOAD);
    this.slots = Math.min(this.maxSlots, Math.max(16, initialSlots));
    this.words = new Uint32Array(0);
    this.f64 = new Float64Array(0);
    this.allocate(this.slots);
  }

  /** Takes over another table's entries (a reload), sharing its storage. */
  adopt(old: ZoneTable): void {
    this.words = old.words;
    this.f64 = old.f64;
    this.slots = old.slots;
    this.count = old.count;
    this.hand = old.hand;
  }

  allocate(slots: number): void {
    const buffer = new ArrayBuffer(slots * SLOT_BYTES);
    this.words = new Uint32Array(buffer);
    this.f64 = new Float64Array(buffer);
    this.slots = slots;
  }

  home(hash: number): number {
    return Math.floor((hash * this.slots) / 4294967296);
  }

  tag(i: number): number {
    return this.words[i * 6 + 5] as number;
  }

  excess(i: number): number {
    return this.words[i * 6 + 4] as number;
  }

  last(i: number): number {
    return this.f64[i * 3] as number;
  }

  find(hash: number, tag: number, hi: number, lo: number): number {
    const words = this.words;
    const slots = this.slots;
    let i = this.home(hash);
    for (;;) {
      const at = i * 6;
      const t = words[at + 5] as number;
      if (t === 0) return -1;
      if ((t & TAG_MASK) === tag && words[at + 2] === hi && words[at + 3] === lo) return i;
      i++;
      if (i === slots) i = 0;
    }
  }

  /** Whether the entry at `i` has drained so far that a request now would start from zero, like a new key. */
  drained(i: number, now: number): boolean {
    let ms = now - this.last(i);
    if (ms < 0) ms = 0;
    return Math.floor((this.rate * ms) / 1000) >= this.excess(i) + 1000;
  }

  /** Copies slot `from` onto slot `to` (all six words). */
  move(from: number, to: number): void {
    this.words.copyWithin(to * 6, from * 6, from * 6 + 6);
  }

  remove(i: number, seed: number): void {
    const words = this.words;
    const slots = this.slots;
    words[i * 6 + 5] = 0;
    this.count--;
    let hole = i;
    let j = i + 1 === slots ? 0 : i + 1;
    for (;;) {
      const t = words[j * 6 + 5] as number;
      if (t === 0) return;
      const home = this.home(
        hashKey(seed, t & TAG_MASK, words[j * 6 + 2] as number, words[j * 6 + 3] as number),
      );
      // The entry at j may move back to the hole when its home is not cyclically within (hole, j].
      const movable = hole <= j ? home <= hole || home > j : home <= hole && home > j;
      if (movable) {
        this.move(j, hole);
        words[j * 6 + 5] = 0;
        hole = j;
      }
      j = j + 1 === slots ? 0 : j + 1;
    }
  }

  /** Lets the hand drop a few drained entries (nginx drops up to two idle ones per new key). */
  expire(now: number, seed: number): void {
    for (let step = 0; step < EXPIRE_STEPS; step++) {
      const i = this.hand;
      if (this.tag(i) !== 0 && this.drained(i, now)) {
        this.remove(i, seed); // a shifted entry may now sit at i: look at it next
      } else {
        this.hand = i + 1 === this.slots ? 0 : i + 1;
      }
    }
  }

  /**
   * Frees one entry at the cap. CLOCK over at most EVICT_SCAN entries: a drained entry goes at once
   * (forgetting it loses nothing); else the first unreferenced one; else the oldest seen.
   */
  evict(now: number, seed: number): void {
    let candidate = -1;
    let oldest = -1;
    let seen = 0;
    let guard = this.slots * 2;
    while (seen < EVICT_SCAN && guard-- > 0) {
      const i = this.hand;
      const t = this.tag(i);
      this.hand = i + 1 === this.slots ? 0 : i + 1;
      if (t === 0) continue;
      seen++;
      if (this.drained(i, now)) {
        this.remove(i, seed);
        this.hand = i;
        return;
      }
      if ((t & REFERENCED) === 0) {
        if (candidate < 0) candidate = i;
      } else {
        this.words[i * 6 + 5] = t & TAG_MASK;
        if (oldest < 0 || this.last(i) < this.last(oldest)) oldest = i;
      }
    }
    const victim = candidate >= 0 ? candidate : oldest;
    if (victim >= 0) {
      this.remove(victim, seed);
      this.hand = victim;
    }
  }

  grow(seed: number): void {
    const oldSlots = this.slots;
    const old = this.words;
    this.allocate(Math.min(this.maxSlots, oldSlots * 2));
    const words = this.words;
    this.hand = 0;
    for (let i = 0; i < oldSlots; i++) {
      const t = old[i * 6 + 5] as number;
      if (t === 0) continue;
      let j = this.home(hashKey(seed, t & TAG_MASK, old[i * 6 + 2] as number, old[i * 6 + 3] as number));
      while (words[j * 6 + 5] !== 0) j = j + 1 === this.slots ? 0 : j + 1;
      words.set(old.subarray(i * 6, i * 6 + 6), j * 6);
    }
  }

  insert(hash: number, tag: number, hi: number, lo: number, now: number, seed: number): void {
    this.expire(now, seed);
    if (this.count >= this.maxKeys) this.evict(now, seed);
    if (this.count + 1 > this.slots * MAX_LOAD && this.slots < this.maxSlots) this.grow(seed);
    const words = this.words;
    let i = this.home(hash);
    while (words[i * 6 + 5] !== 0) i = i + 1 === this.slots ? 0 : i + 1;
    this.f64[i * 3] = now;
    words[i * 6 + 2] = hi;
    words[i * 6 + 3] = lo;
    words[i * 6 + 4] = 0;
    words[i * 6 + 5] = tag | REFERENCED;
    this.count++;
  }

  /** Charges an admitted request to the entry at `i`. */
  charge(i: number, excess: number, now: number, ms: number): void {
    this.words[i * 6 + 4] = excess;
    if (ms !== 0) this.f64[i * 3] = now;
  }

  reference(i: number): void {
    this.words[i * 6 + 5] = (this.words[i * 6 + 5] as number) | REFERENCED;
  }

  bytes(): number {
    return this.slots * SLOT_BYTES;
  }
}

/** One decision object, in one of two fixed shapes (with or without the dry-run fields). */
function decision(
  allowed: boolean,
  delayMs: number,
  retryAfterMs: number,
  limit: number,
  remaining: number,
  zone: string,
  resetMs: number,
  wouldReject: string | undefined,
): LimiterDecision {
  if (wouldReject === undefined) return { allowed, delayMs, retryAfterMs, limit, remaining, zone, resetMs };
  return {
    allowed,
    delayMs,
    retryAfterMs,
    limit,
    remaining,
    zone,
    resetMs,
    wouldReject: true,
    wouldRejectZone: wouldReject,
  };
}

/** The first `bits` bits of a 32-bit word (all of it at ≥ 32, none at ≤ 0). */
function masked(word: number, bits: number): number {
  if (bits >= 32) return word;
  if (bits <= 0) return 0;
  return (word & ~(0xffffffff >>> bits)) >>> 0;
}

/** FNV-1a over a string with a starting offset, for keys that are not addresses. */
function hashString(text: string, basis: number): number {
  let h = basis >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return finalMix(h);
}

/** What a later limiter needs to take a reloaded one's place (carryFrom). */
const internals = new WeakMap<
  GateLimiter,
  { readonly seed: number; readonly ipv6Prefix: number; readonly byName: Map<string, ZoneTable> }
>();

/** Builds the zones once; `check` does a parse, one hash, and one probe per zone. */
export function createLimiter(zones: readonly ZoneConfig[], options: LimiterOptions = {}): GateLimiter {
  const ipv6Prefix = options.ipv6Prefix ?? 64;
  if (!Number.isInteger(ipv6Prefix) || ipv6Prefix < 1 || ipv6Prefix > 128) {
    throw new MoatError('MOAT_CONFIG_INVALID', `gate.ipv6Prefix: ${ipv6Prefix} is not a prefix length`, {
      hint: 'Use a number between 48 and 128; 64 groups each IPv6 subnet.',
    });
  }
  const previous = options.carryFrom === undefined ? undefined : internals.get(options.carryFrom);
  const carry = previous !== undefined && previous.ipv6Prefix === ipv6Prefix ? previous : undefined;
  // Keys hash with the seed: taking over tables means taking over their seed.
  const seed = carry?.seed ?? (options.seed ?? Math.floor(Math.random() * 4294967296)) | 0;
  const initialSlots = options.initialSlots ?? 1024;
  const byName = new Map<string, ZoneTable>();
  zones.forEach((zone, index) => {
    if (byName.has(zone.name)) {
      throw new MoatError('MOAT_CONFIG_INVALID', `gate.zones[${index}].name: "${zone.name}" is used twice`, {
        hint: 'Give each zone its own name.',
      });
    }
    byName.set(zone.name, new ZoneTable(zone, index, initialSlots));
  });
  // Only once every zone compiled: a reload that fails leaves the old tables alone.
  for (const table of byName.values()) {
    const old = carry?.byName.get(table.name);
    if (old !== undefined && old.maxKeys === table.maxKeys) table.adopt(old);
  }
  const ip = createIpScratch();
  const tables: ZoneTable[] = [];
  let visit = 0;

  // The packed key of the last parse.
  let keyTag = 0;
  let keyHi = 0;
  let keyLo = 0;

  const pack = (key: string): void => {
    if (parseIpInto(key, ip)) {
      if (ip.family === 4) {
        keyTag = TAG_V4;
        keyHi = 0;
        keyLo = ip.v4 >>> 0;
        return;
      }
      const g = ip.groups;
      const w0 = (((g[0] as number) << 16) | (g[1] as number)) >>> 0;
      const w1 = (((g[2] as number) << 16) | (g[3] as number)) >>> 0;
      if (ipv6Prefix <= 64) {
        keyTag = TAG_V6;
        keyHi = masked(w0, ipv6Prefix);
        keyLo = masked(w1, ipv6Prefix - 32);
        return;
      }
      const w2 = masked((((g[4] as number) << 16) | (g[5] as number)) >>> 0, ipv6Prefix - 64);
      const w3 = masked((((g[6] as number) << 16) | (g[7] as number)) >>> 0, ipv6Prefix - 96);
      keyTag = TAG_V6_HASHED;
      keyHi = finalMix(mixWord(mixWord(mixWord(seed ^ 0x5bd1e995, w0), w1), w2) ^ w3);
      keyLo = finalMix(mixWord(mixWord(mixWord(seed ^ 0x27d4eb2f, w3), w2), w1) ^ w0);
      return;
    }
    keyTag = TAG_OTHER;
    keyHi = hashString(key, 0x811c9dc5 ^ seed);
    keyLo = hashString(key, 0x01000193 ^ seed);
  };

  const limiter: GateLimiter = {
    get size(): number {
      let total = 0;
      for (const table of byName.values()) total += table.count;
      return total;
    },

    stats(): ZoneStats[] {
      return [...byName.values()].map((t) => ({
        zone: t.name,
        keys: t.count,
        slots: t.slots,
        bytes: t.bytes(),
      }));
    },

    check(zoneNames: readonly string[], key: string, nowMs: number): LimiterDecision {
      const now = Math.floor(nowMs);
      pack(key);
      const hash = hashKey(seed, keyTag, keyHi, keyLo);
      visit++;
      tables.length = 0;
      let rejected: ZoneTable | undefined;
      let retryAfterMs = 0;
      let wouldReject: string | undefined;

      for (const name of zoneNames) {
        const table = byName.get(name);
        if (table === undefined) throw new Error(`limiter: unknown zone "${name}"`);
        if (table.visit === visit) continue;
        table.visit = visit;
        tables.push(table);
        const i = table.find(hash, keyTag, keyHi, keyLo);
        table.slot = i;
        if (i < 0) {
          table.next = 0;
          table.ms = 0;
          continue;
        }
        table.reference(i);
        let ms = now - table.last(i);
        if (ms < -60000) ms = 1;
        else if (ms < 0) ms = 0;
        table.ms = ms;
        const stored = table.excess(i);
        let next = stored - Math.floor((table.rate * ms) / 1000) + 1000;
        if (next < 0) next = 0;
        table.next = next;
        if (next > table.burst) {
          // When would floor(rate × ms' / 1000) reach stored + 1000 - burst?
          const wait = Math.ceil(((stored + 1000 - table.burst) * 1000) / table.rate) - ms;
          table.next = -1;
          if (table.dryRun) {
            wouldReject ??= table.name;
            continue;
          }
          if (rejected === undefined) rejected = table;
          if (wait > retryAfterMs) retryAfterMs = wait;
        }
      }

      if (rejected !== undefined) {
        let resetMs = 0;
        const i = rejected.slot;
        if (i >= 0) {
          const drained = rejected.excess(i) - Math.floor((rejected.rate * rejected.ms) / 1000);
          resetMs = drained > 0 ? Math.ceil((drained * 1000) / rejected.rate) : 0;
        }
        return decision(
          false,
          0,
          Math.max(1, retryAfterMs),
          rejected.burst / 1000 + 1,
          0,
          rejected.name,
          Math.max(resetMs, retryAfterMs),
          wouldReject,
        );
      }

      let delayMs = 0;
      let binding: ZoneTable | undefined;
      let bindingRemaining = Infinity;
      let bindingEnforced = false;
      for (const table of tables) {
        const next = table.next;
        if (next < 0) continue; // a dry-run zone that would reject: not charged
        if (table.slot < 0) {
          table.insert(hash, keyTag, keyHi, keyLo, now, seed);
        } else {
          table.charge(table.slot, next, now, table.ms);
        }
        if (!table.dryRun && next > table.delay) {
          const delay = Math.floor(((next - table.delay) * 1000) / table.rate);
          if (delay > delayMs) delayMs = delay;
        }
        const remaining = Math.floor((table.burst - next) / 1000);
        const enforced = !table.dryRun;
        if (
          binding === undefined ||
          (enforced && !bindingEnforced) ||
          (enforced === bindingEnforced && remaining <= bindingRemaining)
        ) {
          binding = table;
          bindingRemaining = remaining;
          bindingEnforced = enforced;
        }
      }
      if (binding === undefined) {
        // No zone, or only dry-run zones that would all reject.
        const first = tables[0];
        return decision(
          true,
          0,
          0,
          first === undefined ? 0 : first.burst / 1000 + 1,
          0,
          first?.name ?? '',
          0,
          wouldReject,
        );
      }
      return decision(
        true,
        delayMs,
        0,
        binding.burst / 1000 + 1,
        bindingRemaining,
        binding.name,
        Math.ceil((binding.next * 1000) / binding.rate),
        wouldReject,
      );
    },
  };
  internals.set(limiter, { seed, ipv6Prefix, byName });
  return limiter;
}

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ZoneConfig } from '../config/gate.ts';
import { createLimiter, milliRate } from './limiter.ts';

function zone(name: string, rate: number, extra: Partial<ZoneConfig> = {}): ZoneConfig {
  return { name, rate, burst: 0, nodelay: false, status: 429, dryRun: false, maxKeys: 1_000_000, ...extra };
}

/**
 * A second, deliberately plain reading of nginx's limit_req (a Map per zone, no eviction) that the
 * typed-array limiter must agree with on every request.
 */
function referenceLimiter(zones: readonly ZoneConfig[]) {
  const state = new Map(zones.map((z) => [z.name, new Map<string, { excess: number; last: number }>()]));
  const byName = new Map(zones.map((z) => [z.name, z]));
  return (names: readonly string[], key: string, now: number) => {
    const evaluated: {
      z: ZoneConfig;
      node: { excess: number; last: number } | undefined;
      excess: number;
      ms: number;
    }[] = [];
    let rejected = false;
    let wouldReject = false;
    for (const name of names) {
      const z = byName.get(name)!;
      const node = state.get(name)!.get(key);
      const rate = milliRate(z.rate);
      if (node === undefined) {
        evaluated.push({ z, node, excess: 0, ms: 0 });
        continue;
      }
      let ms = now - node.last;
      if (ms < -60000) ms = 1;
      else if (ms < 0) ms = 0;
      const excess = Math.max(0, node.excess - Math.floor((rate * ms) / 1000) + 1000);
      if (excess > z.burst * 1000) {
        if (z.dryRun) wouldReject = true;
        else rejected = true;
        continue;
      }
      evaluated.push({ z, node, excess, ms });
    }
    if (rejected) return { allowed: false, delayMs: 0, wouldReject };
    let delayMs = 0;
    for (const { z, node, excess, ms } of evaluated) {
      const map = state.get(z.name)!;
      if (node === undefined) map.set(key, { excess: 0, last: now });
      else {
        node.excess = excess;
        if (ms !== 0) node.last = now;
      }
      const delay = z.nodelay ? Infinity : (z.delay ?? 0) * 1000;
      if (!z.dryRun && excess > delay) {
        delayMs = Math.max(delayMs, Math.floor(((excess - delay) * 1000) / milliRate(z.rate)));
      }
    }
    return { allowed: true, delayMs, wouldReject };
  };
}

describe('limiter: nginx limit_req arithmetic', () => {
  it('rate=10r/s burst=5 nodelay admits 6 back to back and rejects the 7th, retry after 100 ms', () => {
    const limiter = createLimiter([zone('z', 10, { burst: 5, nodelay: true })]);
    const results = Array.from({ length: 7 }, () => limiter.check(['z'], '192.0.2.1', 1000));
    assert.deepEqual(
      results.map((r) => r.allowed),
      [true, true, true, true, true, true, false],
    );
    assert.deepEqual(
      results.map((r) => r.delayMs),
      [0, 0, 0, 0, 0, 0, 0],
    );
    assert.deepEqual(
      results.map((r) => r.remaining),
      [5, 4, 3, 2, 1, 0, 0],
    );
    assert.equal(results[0]!.limit, 6);
    assert.equal(results[6]!.retryAfterMs, 100);
    assert.equal(results[6]!.zone, 'z');
    // Rejected requests were not charged: one request's worth has drained 100 ms later.
    assert.equal(limiter.check(['z'], '192.0.2.1', 1099).allowed, false);
    assert.equal(limiter.check(['z'], '192.0.2.1', 1100).allowed, true);
    assert.equal(limiter.check(['z'], '192.0.2.1', 1100).allowed, false);
  });

  it('without nodelay, burst requests are admitted and spaced at the rate', () => {
    const limiter = createLimiter([zone('z', 10, { burst: 5 })]);
    const delays = Array.from({ length: 6 }, () => limiter.check(['z'], '192.0.2.1', 0).delayMs);
    assert.deepEqual(delays, [0, 100, 200, 300, 400, 500]);
    assert.equal(limiter.check(['z'], '192.0.2.1', 0).allowed, false);
  });

  it('delay=2 admits the first two excess requests at once and spaces the rest', () => {
    const limiter = createLimiter([zone('z', 10, { burst: 5, delay: 2 })]);
    const delays = Array.from({ length: 6 }, () => limiter.check(['z'], '192.0.2.1', 0).delayMs);
    assert.deepEqual(delays, [0, 0, 0, 100, 200, 300]);
  });

  it('per-minute rates use nginx integer thousandths: 10r/m needs 6025 ms, not 6000', () => {
    const limiter = createLimiter([zone('z', 10 / 60)]);
    assert.equal(milliRate(10 / 60), 166);
    assert.equal(limiter.check(['z'], '192.0.2.1', 0).allowed, true);
    assert.equal(limiter.check(['z'], '192.0.2.1', 6024).allowed, false);
    assert.equal(limiter.check(['z'], '192.0.2.1', 6025).allowed, true);
  });

  it('30r/m burst=0: one request per 2 s, retry-after counts from the last admitted request', () => {
    const limiter = createLimiter([zone('z', 0.5)]);
    assert.equal(limiter.check(['z'], '192.0.2.1', 10_000).allowed, true);
    const early = limiter.check(['z'], '192.0.2.1', 10_500);
    assert.equal(early.allowed, false);
    assert.equal(early.retryAfterMs, 1500);
    assert.equal(limiter.check(['z'], '192.0.2.1', 11_999).allowed, false);
    assert.equal(limiter.check(['z'], '192.0.2.1', 12_000).allowed, true);
  });

  it('loses the fractional drain of admitted requests, as nginx does with millisecond integers', () => {
    // 1r/s = 1 milli-request per ms: exact. 10r/m = 0.166 per ms: a request 5 ms after the last
    // drains floor(0.83) = 0, and `last` moves on, so the drain is lost.
    const limiter = createLimiter([zone('z', 10 / 60, { burst: 100, nodelay: true })]);
    for (let t = 0; t <= 500; t += 5) limiter.check(['z'], '192.0.2.1', t);
    // 101 requests, none of which drained anything: excess is exactly 100 × 1000 = the burst.
    assert.equal(limiter.check(['z'], '192.0.2.1', 505).allowed, false);
  });

  it('a clock that steps back is treated as no time passing, and more than 60 s back as 1 ms', () => {
    const limiter = createLimiter([zone('z', 1000, { burst: 1, nodelay: true })]);
    assert.equal(limiter.check(['z'], '192.0.2.1', 100_000).allowed, true);
    assert.equal(limiter.check(['z'], '192.0.2.1', 99_000).allowed, true);
    assert.equal(limiter.check(['z'], '192.0.2.1', 50_000).allowed, false, '50 s back: no drain');
    // 70 s back counts as 1 ms: 1000r/s drains one request in 1 ms.
    assert.equal(limiter.check(['z'], '192.0.2.1', 30_000).allowed, true);
  });
});

describe('limiter: zones', () => {
  it('a request rejected by a later zone is charged to none', () => {
    const limiter = createLimiter([zone('wide', 1, { burst: 10, nodelay: true }), zone('narrow', 1)]);
    assert.equal(limiter.check(['wide', 'narrow'], '192.0.2.1', 0).allowed, true);
    for (let i = 0; i < 20; i++) {
      const decision = limiter.check(['wide', 'narrow'], '192.0.2.1', 0);
      assert.equal(decision.allowed, false);
      assert.equal(decision.zone, 'narrow');
    }
    // `wide` saw 21 requests but was charged only for the first: it still has its whole burst.
    for (let i = 0; i < 10; i++) assert.equal(limiter.check(['wide'], '192.0.2.1', 0).allowed, true, `#${i}`);
    assert.equal(limiter.check(['wide'], '192.0.2.1', 0).allowed, false);
  });

  it('the delay is the largest of the zones’, and the binding zone reports the fewest remaining', () => {
    const limiter = createLimiter([zone('fast', 10, { burst: 5 }), zone('slow', 2, { burst: 3 })]);
    limiter.check(['fast', 'slow'], '192.0.2.1', 0);
    const second = limiter.check(['fast', 'slow'], '192.0.2.1', 0);
    assert.equal(second.delayMs, 500);
    assert.equal(second.zone, 'slow');
    assert.equal(second.remaining, 2);
    assert.equal(second.limit, 4);
    assert.equal(second.resetMs, 500);
  });

  it('retry-after is the longest wait among the rejecting zones', () => {
    const limiter = createLimiter([zone('a', 10), zone('b', 1)]);
    limiter.check(['a', 'b'], '192.0.2.1', 0);
    const decision = limiter.check(['a', 'b'], '192.0.2.1', 50);
    assert.equal(decision.allowed, false);
    assert.equal(decision.zone, 'a');
    assert.equal(decision.retryAfterMs, 950);
  });

  it('a dry-run zone reports wouldReject, rejects nothing and does not affect enforced zones', () => {
    const limiter = createLimiter([
      zone('trial', 1, { dryRun: true }),
      zone('real', 10, { burst: 2, nodelay: true }),
    ]);
    const results = Array.from({ length: 4 }, () => limiter.check(['trial', 'real'], '192.0.2.1', 0));
    assert.deepEqual(
      results.map((r) => [r.allowed, r.wouldReject ?? false]),
      [
        [true, false],
        [true, true],
        [true, true],
        [false, true],
      ],
    );
    assert.equal(results[1]!.zone, 'real', 'headers come from enforced zones');
    assert.equal(results[1]!.delayMs, 0);
  });

  it('unknown zone names are a programming error', () => {
    const limiter = createLimiter([zone('z', 1)]);
    assert.throws(() => limiter.check(['nope'], '192.0.2.1', 0), /unknown zone/);
  });

  it('refuses duplicate zone names and rates nginx cannot express', () => {
    assert.throws(() => createLimiter([zone('z', 1), zone('z', 2)]), /used twice/);
    assert.throws(() => createLimiter([zone('z', 0)]), /too slow/);
  });
});

describe('limiter: keys', () => {
  it('keys clients by address, IPv4-mapped IPv6 unwrapped', () => {
    const limiter = createLimiter([zone('z', 1)]);
    assert.equal(limiter.check(['z'], '192.0.2.1', 0).allowed, true);
    assert.equal(limiter.check(['z'], '::ffff:192.0.2.1', 0).allowed, false);
    assert.equal(limiter.check(['z'], '::FFFF:c000:201', 0).allowed, false);
    assert.equal(limiter.check(['z'], '192.0.2.2', 0).allowed, true);
    assert.equal(limiter.size, 2);
  });

  it('groups IPv6 clients by /64 by default', () => {
    const limiter = createLimiter([zone('z', 1)]);
    assert.equal(limiter.check(['z'], '2001:db8:1:2::1', 0).allowed, true);
    assert.equal(limiter.check(['z'], '2001:db8:1:2:ffff:ffff:ffff:ffff', 0).allowed, false);
    assert.equal(limiter.check(['z'], '2001:0db8:0001:0002:0:0:0:9', 0).allowed, false);
    assert.equal(limiter.check(['z'], '2001:db8:1:3::1', 0).allowed, true);
  });

  it('groups by any prefix from 48 to 128', () => {
    const by48 = createLimiter([zone('z', 1)], { ipv6Prefix: 48 });
    assert.equal(by48.check(['z'], '2001:db8:1:2::1', 0).allowed, true);
    assert.equal(by48.check(['z'], '2001:db8:1:ffff::1', 0).allowed, false);
    assert.equal(by48.check(['z'], '2001:db8:2::1', 0).allowed, true);
    const by128 = createLimiter([zone('z', 1)], { ipv6Prefix: 128 });
    assert.equal(by128.check(['z'], '2001:db8::1', 0).allowed, true);
    assert.equal(by128.check(['z'], '2001:db8::2', 0).allowed, true);
    assert.equal(by128.check(['z'], '2001:db8:0::1', 0).allowed, false);
    const by96 = createLimiter([zone('z', 1)], { ipv6Prefix: 96 });
    assert.equal(by96.check(['z'], '2001:db8::1:2:1', 0).allowed, true);
    assert.equal(by96.check(['z'], '2001:db8::1:2:ffff', 0).allowed, false);
  });

  it('an IPv4 key never shares a bucket with an IPv6 prefix whose bits look alike', () => {
    const limiter = createLimiter([zone('z', 1)]);
    assert.equal(limiter.check(['z'], '0.0.0.1', 0).allowed, true);
    assert.equal(limiter.check(['z'], '::1', 0).allowed, true);
    assert.equal(limiter.check(['z'], '0:0:0:1::', 0).allowed, true);
  });

  it('keys that are not addresses still get their own bucket', () => {
    const limiter = createLimiter([zone('z', 1)]);
    assert.equal(limiter.check(['z'], 'unix-socket', 0).allowed, true);
    assert.equal(limiter.check(['z'], 'unix-socket', 0).allowed, false);
    assert.equal(limiter.check(['z'], 'other', 0).allowed, true);
  });
});

describe('limiter: bounded state', () => {
  it('never holds more than maxKeys per zone, and keeps a client that stays active', () => {
    const limiter = createLimiter([zone('z', 1, { burst: 1000, nodelay: true, maxKeys: 1000 })], { seed: 7 });
    let t = 0;
    for (let i = 0; i < 20_000; i++) {
      t++;
      limiter.check(['z'], `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, t);
      // One client keeps coming back, charging its bucket.
      if (i % 50 === 0) limiter.check(['z'], '192.0.2.99', t);
      assert.ok(limiter.size <= 1000);
    }
    assert.equal(limiter.size, 1000);
    // The active client's state survived the flood: its excess is far from zero.
    let admitted = 0;
    while (limiter.check(['z'], '192.0.2.99', t).allowed) admitted++;
    assert.ok(admitted < 1000, `active client kept its state (admitted ${admitted} more)`);
    const [stats] = limiter.stats();
    assert.ok(stats!.slots <= 1250);
  });

  it('drops clients whose excess has drained, so idle clients do not fill the table', () => {
    const limiter = createLimiter([zone('z', 10, { maxKeys: 100_000 })], { initialSlots: 16 });
    for (let i = 0; i < 5000; i++) limiter.check(['z'], `10.0.${i >> 8}.${i & 255}`, 0);
    assert.equal(limiter.size, 5000);
    // A second later every one of them has drained; new clients let the hand sweep them out.
    for (let i = 0; i < 5000; i++) limiter.check(['z'], `10.1.${i >> 8}.${i & 255}`, 1000);
    assert.ok(limiter.size < 8000, `size ${limiter.size}`);
  });

  for (const [maxKeys, pool, live] of [
    [12, 30, 11],
    [100, 300, 95],
  ] as const) {
    it(`keeps every key findable through constant deletions in a full table (cap ${maxKeys})`, () => {
      // Phases of at most `live` clients, 10 s apart: at the cap there is always a drained client
      // to forget, so nothing that matters is lost and every answer must match the plain reading.
      // Probe runs wrap around the table end and entries are deleted all the time.
      let state = 777;
      const random = (): number => {
        state = (Math.imul(state, 1103515245) + 12345) >>> 0;
        return state / 4294967296;
      };
      const zones = [zone('z', 2, { burst: 3, nodelay: true, maxKeys })];
      const limiter = createLimiter(zones, { seed: 3, initialSlots: 16 });
      const reference = referenceLimiter(zones);
      const keys = Array.from({ length: pool }, (_, i) => `172.16.${i >> 8}.${i & 255}`);
      let now = 0;
      for (let phase = 0; phase < 2000; phase++) {
        now += 10_000;
        for (let k = 0; k < live; k++) {
          const j = k + Math.floor(random() * (pool - k));
          [keys[k], keys[j]] = [keys[j]!, keys[k]!];
        }
        const requests = Math.floor(random() * live * 4);
        for (let r = 0; r < requests; r++) {
          now += random() < 0.5 ? 0 : 1;
          const key = keys[Math.floor(random() * live)]!;
          const got = limiter.check(['z'], key, now);
          assert.equal(got.allowed, reference(['z'], key, now).allowed, `phase ${phase}: ${key} at ${now}`);
        }
        assert.ok(limiter.size <= maxKeys);
      }
      assert.equal(limiter.stats()[0]!.slots, Math.ceil(maxKeys / 0.8));
    });
  }

  it('agrees with a plain reading of nginx on random traffic, through growth, expiry and deletions', () => {
    let state = 12345;
    const random = (): number => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return state / 4294967296;
    };
    const zones = [
      zone('a', 10, { burst: 3 }),
      zone('b', 2, { burst: 5, nodelay: true }),
      zone('c', 1, { burst: 4, delay: 2 }),
      zone('d', 30 / 60, { burst: 1, dryRun: true }),
      zone('e', 7 / 60, { burst: 2, nodelay: true }),
    ];
    const limiter = createLimiter(zones, { initialSlots: 16, seed: 99 });
    const reference = referenceLimiter(zones);
    const lists = [['a'], ['b'], ['a', 'b'], ['c', 'd'], ['d'], ['e', 'a'], ['b', 'c', 'd', 'e']];
    let now = 1_000_000;
    const seen = { rejected: 0, delayed: 0, wouldReject: 0 };
    for (let n = 0; n < 60_000; n++) {
      // Mostly close together, now and then a long pause that lets everything drain.
      now += random() < 0.001 ? 120_000 : Math.floor(random() * random() * 50);
      const key =
        random() < 0.2 ? `2001:db8:${Math.floor(random() * 10)}::1` : `10.0.0.${Math.floor(random() * 60)}`;
      const names = lists[Math.floor(random() * lists.length)]!;
      const got = limiter.check(names, key, now);
      const want = reference(names, key, now);
      assert.deepEqual(
        { allowed: got.allowed, delayMs: got.delayMs, wouldReject: got.wouldReject ?? false },
        want,
        `request ${n}: ${names.join('+')} ${key} at ${now}`,
      );
      if (!got.allowed) seen.rejected++;
      if (got.delayMs > 0) seen.delayed++;
      if (got.wouldReject) seen.wouldReject++;
    }
    // The traffic exercised every outcome, and the tables grew from 16 slots.
    assert.ok(seen.rejected > 1000 && seen.delayed > 1000 && seen.wouldReject > 1000, JSON.stringify(seen));
    assert.ok(limiter.stats().some((s) => s.slots > 16));
  });
});

describe('limiter across a reload (carryFrom)', () => {
  const admitted = (
    limiter: ReturnType<typeof createLimiter>,
    zones: string[],
    key: string,
    now: number,
    n: number,
  ) => Array.from({ length: n }, () => limiter.check(zones, key, now).allowed).filter(Boolean).length;

  it('keeps the clients of a zone whose name and maxKeys are unchanged, IPv4 and IPv6 alike', () => {
    const before = createLimiter([zone('api', 1, { burst: 2, nodelay: true })]);
    for (const key of ['203.0.113.7', '2001:db8:1:2::5', '::ffff:198.51.100.4']) {
      assert.equal(admitted(before, ['api'], key, 1_000, 5), 3, key);
    }
    const after = createLimiter([zone('api', 1, { burst: 2, nodelay: true })], { carryFrom: before });
    assert.equal(after.size, 3);
    for (const key of ['203.0.113.7', '2001:db8:1:2::ffff', '198.51.100.4']) {
      assert.equal(after.check(['api'], key, 1_000).allowed, false, `${key} is still over its burst`);
    }
    // A client never seen starts at zero; time drains the carried ones at the zone's rate.
    assert.equal(admitted(after, ['api'], '192.0.2.1', 1_000, 5), 3);
    assert.equal(after.check(['api'], '203.0.113.7', 2_000).allowed, true);
  });

  it('judges carried state by the new rate and burst, as nginx does after a reload', () => {
    const before = createLimiter([zone('api', 1, { burst: 2, nodelay: true })]);
    assert.equal(admitted(before, ['api'], '203.0.113.7', 0, 3), 3);
    // Burst raised from 2 to 4: the client has two more back to back, not five.
    const wider = createLimiter([zone('api', 1, { burst: 4, nodelay: true })], { carryFrom: before });
    assert.equal(admitted(wider, ['api'], '203.0.113.7', 0, 5), 2);
  });

  it('starts empty a zone that is new, renamed, or has another maxKeys, and drops zones gone', () => {
    const before = createLimiter([
      zone('api', 1, { burst: 0, nodelay: true }),
      zone('login', 1, { burst: 0, nodelay: true }),
    ]);
    assert.equal(before.check(['api', 'login'], '203.0.113.7', 0).allowed, true);
    assert.equal(before.check(['api'], '203.0.113.7', 0).allowed, false);
    const after = createLimiter(
      [
        zone('api', 1, { burst: 0, nodelay: true, maxKeys: 500 }),
        zone('upload', 1, { burst: 0, nodelay: true }),
      ],
      { carryFrom: before },
    );
    assert.equal(after.size, 0);
    assert.deepEqual(
      after.stats().map((s) => s.zone),
      ['api', 'upload'],
    );
    assert.equal(after.check(['api'], '203.0.113.7', 0).allowed, true);
  });

  it('carries nothing when ipv6Prefix changed (the keys would name other clients)', () => {
    const before = createLimiter([zone('api', 1, { burst: 0, nodelay: true })], { ipv6Prefix: 64 });
    assert.equal(before.check(['api'], '2001:db8:1:2::5', 0).allowed, true);
    const after = createLimiter([zone('api', 1, { burst: 0, nodelay: true })], {
      ipv6Prefix: 56,
      carryFrom: before,
    });
    assert.equal(after.size, 0);
    assert.equal(after.check(['api'], '2001:db8:1:2::5', 0).allowed, true);
  });

  it('keeps growing and evicting correctly in tables taken over', () => {
    const before = createLimiter([zone('api', 1, { burst: 0, nodelay: true, maxKeys: 5_000 })], {
      initialSlots: 16,
    });
    for (let i = 0; i < 1_000; i++) before.check(['api'], `10.0.${i >> 8}.${i & 255}`, 0);
    const after = createLimiter([zone('api', 1, { burst: 0, nodelay: true, maxKeys: 5_000 })], {
      initialSlots: 16,
      carryFrom: before,
    });
    for (let i = 1_000; i < 6_000; i++) after.check(['api'], `10.0.${i >> 8}.${i & 255}`, 0);
    assert.equal(after.size, 5_000);
    // The most recent keys are there and still limited.
    assert.equal(after.check(['api'], '10.0.23.111', 0).allowed, false);
  });
});

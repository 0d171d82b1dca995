import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { manualClock } from '../core/clock.ts';
import type { ParsedEvent } from '../core/events.ts';
import { createEngine, ipGroupKey } from './engine.ts';
import { validateScenarios } from './load.ts';
import type { DetectedOverflow, ScenarioDef } from './types.ts';

const T0 = Date.parse('2024-10-10T10:00:00Z');
const S = 1000;
const H = 3_600_000;

function scenarios(...raws: Record<string, unknown>[]): ScenarioDef[] {
  return validateScenarios(raws.map((raw) => ({ raw, origin: 'test', lineOf: () => undefined })));
}

const leaky = (extra: Record<string, unknown> = {}) => ({
  name: 'five-in-a-row',
  type: 'leaky',
  kinds: ['http-request'],
  capacity: 5,
  leak: '1/10s',
  reason: '{count} events from {ip} ({key})',
  ...extra,
});

function http(at: number, ip = '203.0.113.7', extra: Partial<ParsedEvent> = {}): ParsedEvent {
  return {
    at: T0 + at,
    source: 'nginx',
    service: 'http',
    kind: 'http-request',
    ip,
    method: 'GET',
    path: '/',
    status: 200,
    ...extra,
  };
}

/** Feeds events; returns every overflow. */
function feed(engine: ReturnType<typeof createEngine>, events: ParsedEvent[]): DetectedOverflow[] {
  return events.flatMap((e) => [...(engine.ingest(e) ?? [])]);
}

describe('leaky buckets', () => {
  it('overflow on the event that exceeds the capacity, not before', () => {
    const engine = createEngine(scenarios(leaky()));
    const results = Array.from({ length: 6 }, (_, i) => engine.ingest(http(i)));
    assert.deepEqual(results.slice(0, 5), [undefined, undefined, undefined, undefined, undefined]);
    assert.equal(results[5]?.length, 1);
    const [overflow] = results[5] ?? [];
    assert.equal(overflow?.scenario, 'five-in-a-row');
    assert.equal(overflow?.key, '203.0.113.7');
    assert.equal(overflow?.ip, '203.0.113.7');
    assert.equal(overflow?.count, 6);
    assert.equal(overflow?.at, T0 + 5);
    assert.equal(overflow?.reason, '6 events from 203.0.113.7 (203.0.113.7)');
    assert.equal(overflow?.action, 'ban');
  });

  it('leak with event time: the same events spread over time never overflow', () => {
    const engine = createEngine(scenarios(leaky()));
    assert.deepEqual(
      feed(
        engine,
        Array.from({ length: 100 }, (_, i) => http(i * 10 * S)),
      ),
      [],
    );
    assert.deepEqual(
      feed(
        engine,
        Array.from({ length: 100 }, (_, i) => http(2000 * S + i * 12 * S)),
      ),
      [],
      'slower than the leak',
    );
    assert.equal(
      feed(
        engine,
        Array.from({ length: 100 }, (_, i) => http(4000 * S + i * 8 * S)),
      ).length,
      1,
      'faster than the leak fills up, slowly',
    );
  });

  it('leak lazily: after a pause of capacity × leak the bucket holds a full capacity again', () => {
    const engine = createEngine(scenarios(leaky()));
    feed(
      engine,
      Array.from({ length: 5 }, (_, i) => http(i)),
    );
    assert.deepEqual(
      feed(
        engine,
        Array.from({ length: 5 }, (_, i) => http(50 * S + i)),
      ),
      [],
    );
    assert.equal(feed(engine, [http(50 * S + 10)]).length, 1);
  });

  it('keep one bucket per key', () => {
    const engine = createEngine(scenarios(leaky()));
    const events = Array.from({ length: 10 }, (_, i) => http(i, `203.0.113.${i % 2}`));
    assert.deepEqual(feed(engine, events), []);
    assert.equal(engine.stats().buckets, 2);
  });

  it('group by any field, or by several', () => {
    const engine = createEngine(scenarios(leaky({ groupBy: ['ip', 'host'] })));
    const out = feed(
      engine,
      Array.from({ length: 6 }, (_, i) => http(i, '203.0.113.7', { host: 'a.example' })),
    );
    assert.equal(out[0]?.key, '203.0.113.7 a.example');
    const byUser = createEngine(scenarios(leaky({ groupBy: 'user' })));
    const users = feed(
      byUser,
      Array.from({ length: 6 }, (_, i) => http(i, `203.0.113.${i}`, { user: 'root' })),
    );
    assert.equal(users[0]?.key, 'root');
    assert.equal(users[0]?.ip, undefined, 'not grouped by ip: no address to ban');
  });

  it('skip events that lack the group-by field', () => {
    const engine = createEngine(scenarios(leaky()));
    const { ip: _, ...noIp } = http(0);
    assert.deepEqual(
      feed(
        engine,
        Array.from({ length: 10 }, () => noIp),
      ),
      [],
    );
    assert.equal(engine.stats().buckets, 0);
  });
});

describe('distinct buckets', () => {
  const distinct = leaky({ name: 'distinct-paths', distinct: 'path', capacity: 3 });

  it('count each value once', () => {
    const engine = createEngine(scenarios(distinct));
    assert.deepEqual(
      feed(
        engine,
        Array.from({ length: 50 }, (_, i) => http(i, undefined, { path: `/p${i % 3}` })),
      ),
      [],
    );
    const out = feed(engine, [http(60, undefined, { path: '/p3' })]);
    assert.equal(out.length, 1);
    assert.equal(out[0]?.count, 4, 'four distinct paths');
  });

  it('forget the values once the bucket is empty', () => {
    const engine = createEngine(scenarios(distinct));
    feed(
      engine,
      ['/a', '/b', '/c'].map((path, i) => http(i, undefined, { path })),
    );
    // 30 s later the bucket has leaked empty: the same three paths count again, a fourth fires.
    assert.deepEqual(
      feed(
        engine,
        ['/a', '/b', '/c'].map((path, i) => http(40 * S + i, undefined, { path })),
      ),
      [],
    );
    assert.equal(feed(engine, [http(40 * S + 5, undefined, { path: '/a' })]).length, 0);
    assert.equal(feed(engine, [http(40 * S + 6, undefined, { path: '/d' })]).length, 1);
  });
});

describe('cool-down', () => {
  it('one overflow per key per ban window; the rest are counted as suppressed', () => {
    const engine = createEngine(scenarios(leaky({ ban: '1h' })));
    const out = feed(
      engine,
      Array.from({ length: 30 }, (_, i) => http(i * 10)),
    );
    assert.equal(out.length, 1);
    assert.equal(out[0]?.banMs, H);
    assert.ok((engine.stats().perScenario['five-in-a-row']?.suppressed ?? 0) >= 3);
    assert.equal(
      feed(
        engine,
        Array.from({ length: 6 }, (_, i) => http(H + S + i)),
      ).length,
      1,
      'fires again after the window',
    );
  });

  it('uses the engine cool-down when the scenario sets neither cooldown nor ban', () => {
    const engine = createEngine(scenarios(leaky()), { cooldownMs: 10 * S });
    assert.equal(
      feed(
        engine,
        Array.from({ length: 6 }, (_, i) => http(i)),
      ).length,
      1,
    );
    assert.equal(
      feed(
        engine,
        Array.from({ length: 6 }, (_, i) => http(5 * S + i)),
      ).length,
      0,
    );
    assert.equal(
      feed(
        engine,
        Array.from({ length: 6 }, (_, i) => http(11 * S + i)),
      ).length,
      1,
    );
  });
});

describe('triggers', () => {
  const trigger = {
    name: 'env-file',
    type: 'trigger',
    kinds: ['http-request'],
    filter: { path: { regex: '/\\.env' } },
    reason: 'asked for {path}',
  };

  it('fire on one matching event, once per key per cool-down', () => {
    const engine = createEngine(scenarios(trigger));
    assert.equal(engine.ingest(http(0, undefined, { path: '/index.html' })), undefined);
    const out = feed(engine, [
      http(1, undefined, { path: '/.env' }),
      http(2, undefined, { path: '/.env.bak' }),
      http(3, '198.51.100.1', { path: '/.env' }),
    ]);
    assert.deepEqual(
      out.map((o) => [o.key, o.count, o.reason, o.sample.length]),
      [
        ['203.0.113.7', 1, 'asked for /.env', 1],
        ['198.51.100.1', 1, 'asked for /.env', 1],
      ],
    );
  });

  it('fire without an address when the event has none (the decider then only alerts)', () => {
    const engine = createEngine(
      scenarios({
        ...trigger,
        kinds: ['redis-rdb-write-failed'],
        filter: { 'fields.dir': { startsWith: '/var/spool/cron' } },
      }),
    );
    const out = feed(engine, [
      {
        at: T0,
        source: 'redis',
        service: 'redis',
        kind: 'redis-rdb-write-failed',
        fields: { dir: '/var/spool/cron' },
      },
    ]);
    assert.equal(out.length, 1);
    assert.equal(out[0]?.ip, undefined);
    assert.equal(out[0]?.key, '');
  });

  it('carry action alert', () => {
    const engine = createEngine(scenarios({ ...trigger, action: 'alert' }));
    assert.equal(feed(engine, [http(0, undefined, { path: '/.env' })])[0]?.action, 'alert');
  });
});

describe('the engine', () => {
  it('only shows an event to scenarios of its kind', () => {
    const engine = createEngine(scenarios(leaky(), leaky({ name: 'ssh', kinds: ['ssh-auth-failed'] })));
    feed(engine, [
      http(0),
      { at: T0, source: 'auth', service: 'ssh', kind: 'ssh-auth-failed', ip: '203.0.113.7' },
    ]);
    const stats = engine.stats().perScenario;
    assert.deepEqual([stats['five-in-a-row']?.matched, stats['ssh']?.matched], [1, 1]);
  });

  it('shows every event to a wildcard scenario', () => {
    const engine = createEngine(scenarios(leaky({ kinds: ['*'] })));
    feed(engine, [http(0), { at: T0, source: 'x', service: 'x', kind: 'something-new', ip: '203.0.113.7' }]);
    assert.equal(engine.stats().perScenario['five-in-a-row']?.matched, 2);
  });

  it('returns undefined (no allocation) when nothing fires', () => {
    const engine = createEngine(scenarios(leaky()));
    for (let i = 0; i < 1000; i++)
      assert.equal(engine.ingest(http(i * 20 * S, `10.0.${i >> 8}.${i & 255}`)), undefined);
  });

  it('keeps the last events before an overflow as evidence', () => {
    const engine = createEngine(scenarios(leaky()), { sampleSize: 3 });
    const events = Array.from({ length: 6 }, (_, i) => http(i, undefined, { path: `/p${i}` }));
    const [overflow] = feed(engine, events);
    assert.deepEqual(
      overflow?.sample.map((e) => e.path),
      ['/p3', '/p4', '/p5'],
    );
  });

  it('groups IPv6 clients by /64 by default, by address with ipv6Prefix 128', () => {
    const v6 = (i: number) => http(i, `2001:db8:1:2:${i + 1}::9`);
    const grouped = createEngine(scenarios(leaky()));
    const out = feed(
      grouped,
      Array.from({ length: 6 }, (_, i) => v6(i)),
    );
    assert.equal(out[0]?.key, '2001:db8:1:2::/64');
    assert.equal(out[0]?.ip, '2001:db8:1:2:6::9');
    const single = createEngine(scenarios(leaky()), { ipv6Prefix: 128 });
    assert.deepEqual(
      feed(
        single,
        Array.from({ length: 6 }, (_, i) => v6(i)),
      ),
      [],
    );
  });

  it('treats an IPv4-mapped IPv6 client as the IPv4 one', () => {
    const engine = createEngine(scenarios(leaky()));
    const out = feed(
      engine,
      Array.from({ length: 6 }, (_, i) => http(i, i % 2 ? '::ffff:203.0.113.7' : '203.0.113.7')),
    );
    assert.equal(out[0]?.key, '203.0.113.7');
  });

  it('never throws on hostile events: NaN times, missing fields, wrong types, 1 MB values', () => {
    const engine = createEngine(scenarios(leaky({ distinct: 'path', filter: { path: { regex: 'x' } } })));
    const hostile = [
      { ...http(0), at: Number.NaN },
      { ...http(0), at: '2024' as unknown as number },
      { ...http(0), ip: 12 as unknown as string },
      { ...http(0), path: `x${'a'.repeat(1 << 20)}` },
      { ...http(0), ip: '\u0000\ud800', path: 'x\u0000' },
      { at: T0 } as unknown as ParsedEvent,
      null as unknown as ParsedEvent,
    ];
    for (const event of hostile) assert.doesNotThrow(() => engine.ingest(event));
    assert.equal(engine.stats().invalid, 3, 'NaN and string times, and null, are counted as invalid');
  });

  it('handles events out of order and far apart (replay of old files, months of uptime)', () => {
    const engine = createEngine(scenarios(leaky()));
    assert.deepEqual(feed(engine, [http(5 * S), http(0), http(3 * S)]), []);
    const later = 90 * 24 * H;
    engine.sweep(T0 + later);
    const out = feed(
      engine,
      Array.from({ length: 6 }, (_, i) => http(later + i)),
    );
    assert.equal(out.length, 1);
    assert.equal(out[0]?.at, T0 + later + 5);
  });
});

describe('sweep and memory', () => {
  it('sweep drops empty buckets and ended cool-downs, and nothing else', () => {
    const clock = manualClock(T0);
    const engine = createEngine(scenarios(leaky({ ban: '1m' })), { clock });
    feed(engine, [http(0, '198.51.100.1'), ...Array.from({ length: 6 }, (_, i) => http(i, '203.0.113.7'))]);
    feed(engine, [http(30 * S, '198.51.100.2')]);
    assert.equal(engine.stats().buckets, 3, 'two buckets and one cool-down');
    clock.set(T0 + 35 * S);
    assert.deepEqual(
      engine.sweep(),
      { visited: 3, dropped: 1, done: true },
      'only 198.51.100.1 has leaked empty',
    );
    assert.equal(engine.sweep(T0 + 2 * 60 * S).dropped, 2);
    assert.equal(engine.stats().buckets, 0);
  });

  it('sweep can work in slices that resume where they stopped', () => {
    const engine = createEngine(scenarios(leaky()));
    feed(
      engine,
      Array.from({ length: 100 }, (_, i) => http(0, `10.0.0.${i}`)),
    );
    const first = engine.sweep(T0 + H, 30);
    assert.deepEqual(first, { visited: 30, dropped: 30, done: false });
    let dropped = first.dropped;
    for (let r = engine.sweep(T0 + H, 30); ; r = engine.sweep(T0 + H, 30)) {
      dropped += r.dropped;
      if (r.done) break;
    }
    assert.equal(dropped, 100);
    assert.equal(engine.stats().buckets, 0);
  });

  it('caps tracked keys, evicting an empty bucket first, else the oldest', () => {
    const engine = createEngine(scenarios(leaky()), { maxBuckets: 10 });
    // Ten full-ish buckets (level 3), then a burst of new clients.
    feed(
      engine,
      Array.from({ length: 30 }, (_, i) => http(0, `10.0.0.${i % 10}`)),
    );
    feed(
      engine,
      Array.from({ length: 5 }, (_, i) => http(S, `10.0.1.${i}`)),
    );
    const stats = engine.stats();
    assert.equal(stats.buckets, 10);
    assert.equal(stats.evicted, 5);
    // The five oldest (10.0.0.0-4) were evicted: they start again from empty.
    assert.deepEqual(
      feed(
        engine,
        Array.from({ length: 5 }, () => http(S, '10.0.0.0')),
      ),
      [],
    );
  });

  it('evicts an empty bucket rather than a live one', () => {
    const engine = createEngine(scenarios(leaky()), { maxBuckets: 2 });
    feed(engine, [http(0, '10.0.0.1'), ...Array.from({ length: 4 }, () => http(60 * S, '10.0.0.2'))]);
    // 10.0.0.1 (oldest) has leaked empty by now; 10.0.0.2 is live and must keep its level of 4.
    feed(engine, [http(61 * S, '10.0.0.3')]);
    assert.equal(feed(engine, [http(61 * S, '10.0.0.2'), http(61 * S, '10.0.0.2')]).length, 1);
  });

  it('evicts, among live distinct buckets, the least recently touched rather than the oldest', () => {
    const engine = createEngine(
      scenarios(leaky({ name: 'paths', distinct: 'path', capacity: 3, leak: '1/h' })),
      { maxBuckets: 2 },
    );
    const probe = (at: number, ip: string, path: string) => http(at, ip, { path, status: 404 });
    // 10.0.0.1 is created first but keeps probing; 10.0.0.2 is created later and goes quiet.
    feed(engine, [probe(0, '10.0.0.1', '/a'), probe(S, '10.0.0.2', '/a'), probe(2 * S, '10.0.0.2', '/b')]);
    feed(engine, [probe(3 * S, '10.0.0.1', '/b'), probe(4 * S, '10.0.0.1', '/c')]);
    // A third client makes room: the quiet 10.0.0.2 goes, the older but active 10.0.0.1 stays.
    feed(engine, [probe(5 * S, '10.0.0.3', '/a')]);
    assert.equal(engine.stats().evicted, 1);
    const [overflow] = feed(engine, [probe(6 * S, '10.0.0.1', '/d')]);
    assert.equal(overflow?.key, '10.0.0.1', 'its fourth distinct path overflows: its bucket was kept');
    assert.equal(overflow?.count, 4);
  });
});

describe('reload', () => {
  it('keeps the buckets of scenarios that stay, drops those of removed ones', () => {
    const engine = createEngine(scenarios(leaky(), leaky({ name: 'other' })));
    feed(
      engine,
      Array.from({ length: 5 }, (_, i) => http(i)),
    );
    assert.equal(engine.stats().buckets, 2);
    engine.reload(scenarios(leaky({ capacity: 5, reason: 'tuned' })));
    assert.equal(engine.stats().buckets, 1);
    const [overflow] = feed(engine, [http(10)]);
    assert.equal(
      overflow?.reason,
      'tuned',
      'the sixth event overflows the kept bucket under the new definition',
    );
    assert.deepEqual(
      engine.scenarios.map((s) => s.name),
      ['five-in-a-row'],
    );
  });

  it('starts afresh when a scenario changes what it counts', () => {
    const engine = createEngine(scenarios(leaky()));
    feed(
      engine,
      Array.from({ length: 5 }, (_, i) => http(i)),
    );
    engine.reload(scenarios(leaky({ distinct: 'path' })));
    assert.equal(engine.stats().buckets, 0);
  });
});

describe('ipGroupKey', () => {
  const cases: [string, string][] = [
    ['203.0.113.7', '203.0.113.7'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2:'],
    ['2001:db8::1', '2001:db8:0:0:'],
    ['2001:0DB8:0001:0002::1', '2001:db8:1:2:'],
    ['2001:db8:1:2::', '2001:db8:1:2:'],
    ['::ffff:10.1.2.3', '10.1.2.3'],
    ['not:an:address', 'not:an:address'],
  ];
  for (const [ip, key] of cases) it(`${ip} → ${key}`, () => assert.equal(ipGroupKey(ip, 64), key));
});

describe('release (after an unban)', () => {
  const burst = (engine: ReturnType<typeof createEngine>, start: number, ip: string) =>
    feed(
      engine,
      Array.from({ length: 6 }, (_, i) => http(start + i, ip)),
    );

  it('an address fires again at once after release; without release it stays quiet', () => {
    const engine = createEngine(scenarios(leaky()));
    assert.equal(burst(engine, 0, '203.0.113.7').length, 1);
    assert.equal(burst(engine, 100, '203.0.113.7').length, 0, 'cooling down: a repeat is held back');
    assert.ok(engine.release('203.0.113.7') > 0);
    assert.equal(burst(engine, 200, '203.0.113.7').length, 1);
    assert.equal(engine.release('198.51.100.1'), 0, 'an address the engine never saw');
  });

  it('an IPv6 ban of a /64 releases every address of that network', () => {
    const engine = createEngine(scenarios(leaky()));
    assert.equal(burst(engine, 0, '2001:db8:1:2::7').length, 1);
    assert.ok(engine.release('2001:db8:1:2::/64') > 0);
    assert.equal(burst(engine, 100, '2001:db8:1:2::99').length, 1);
  });

  it('compound keys that start with the address are released too', () => {
    const engine = createEngine(scenarios(leaky({ groupBy: ['ip', 'path'] })));
    assert.equal(burst(engine, 0, '203.0.113.7').length, 1);
    assert.equal(burst(engine, 100, '203.0.113.7').length, 0);
    engine.release('203.0.113.7');
    assert.equal(burst(engine, 200, '203.0.113.7').length, 1);
  });
});

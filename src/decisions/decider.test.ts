import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { manualClock } from '../core/clock.ts';
import { isMoatError } from '../core/errors.ts';
import type { Decision } from '../core/events.ts';
import {
  createDecider,
  type DecisionInput,
  type DecisionPolicy,
  isRefusal,
  type Refusal,
  resolvePolicy,
} from './decider.ts';

const H = 3_600_000;
const DAY = 24 * H;
const T0 = Date.parse('2024-10-10T10:00:00Z');

function overflow(ip: string | undefined, at = T0, extra: Partial<DecisionInput> = {}): DecisionInput {
  return {
    scenario: 'http-probing',
    key: ip ?? '',
    ...(ip === undefined ? {} : { ip }),
    at,
    count: 11,
    sample: [],
    reason: '11 4xx responses on distinct paths',
    ...extra,
  };
}

function decider(
  policy: Partial<DecisionPolicy> = {},
  sessions: readonly string[] = [],
  local: readonly string[] = [],
) {
  return createDecider(policy, {
    clock: manualClock(T0),
    sshSessions: () => sessions,
    localAddresses: () => local,
  });
}

function decision(result: Decision | Refusal): Decision {
  assert.ok(!isRefusal(result), `expected a decision, got refusal ${isRefusal(result) ? result.code : ''}`);
  return result;
}

function refusal(result: Decision | Refusal): Refusal {
  assert.ok(isRefusal(result), `expected a refusal, got a ban of ${(result as Decision).target}`);
  return result;
}

describe('decide: what gets banned, for how long', () => {
  it('bans an IPv4 client for the base duration, at the event time', () => {
    const d = decision(decider().decide(overflow('203.0.113.7')));
    assert.deepEqual(d, {
      target: '203.0.113.7',
      scenario: 'http-probing',
      reason: '11 4xx responses on distinct paths',
      origin: 'scenario',
      durationMs: 4 * H,
      at: T0,
    });
  });

  it("uses the scenario's ban duration when it sets one", () => {
    assert.equal(
      decision(decider().decide(overflow('203.0.113.7', T0, { banMs: 7 * DAY }))).durationMs,
      7 * DAY,
    );
  });

  it('doubles the ban for each earlier ban within the repeat window, up to the maximum', () => {
    const d = decider({ banMs: H, maxBanMs: 5 * H, repeatWindowMs: DAY });
    const durations: number[] = [];
    let at = T0;
    for (let i = 0; i < 5; i++) {
      const result = decision(d.decide(overflow('203.0.113.7', at)));
      durations.push(result.durationMs);
      at += result.durationMs + 60_000; // comes back a minute after the ban expired
    }
    assert.deepEqual(durations, [H, 2 * H, 4 * H, 5 * H, 5 * H]);
  });

  it('forgets an offender whose last ban is older than the repeat window', () => {
    const d = decider({ banMs: H, repeatWindowMs: DAY });
    decision(d.decide(overflow('203.0.113.7', T0)));
    assert.equal(decision(d.decide(overflow('203.0.113.7', T0 + DAY + 2 * H))).durationMs, H);
  });

  it('does not escalate with escalationFactor 1', () => {
    const d = decider({ banMs: H, escalationFactor: 1 });
    decision(d.decide(overflow('203.0.113.7', T0)));
    assert.equal(decision(d.decide(overflow('203.0.113.7', T0 + 2 * H))).durationMs, H);
  });

  it('bans the /64 of an IPv6 client, or the address with ipv6Prefix 128', () => {
    assert.equal(decision(decider().decide(overflow('2001:db8:1:2:aaaa::7'))).target, '2001:db8:1:2::/64');
    assert.equal(
      decision(decider({ ipv6Prefix: 128 }).decide(overflow('2001:db8:1:2:aaaa::7'))).target,
      '2001:db8:1:2:aaaa::7',
    );
  });

  it('narrows an IPv6 ban to the address when its /64 holds an SSH session, and says so', () => {
    const d = decision(decider({}, ['2001:db8:1:2::22']).decide(overflow('2001:db8:1:2:aaaa::7')));
    assert.equal(d.target, '2001:db8:1:2:aaaa::7');
    assert.match(d.reason, /only the address is banned/);
  });

  it('refuses a duplicate while the target is banned, and upgrades when a scenario asks for longer', () => {
    const d = decider();
    decision(d.decide(overflow('203.0.113.7', T0)));
    const duplicate = refusal(
      d.decide(overflow('203.0.113.7', T0 + 1000, { scenario: 'http-sensitive-files' })),
    );
    assert.equal(duplicate.code, 'already-banned');
    assert.equal(duplicate.alert, false);
    const upgrade = decision(
      d.decide(overflow('203.0.113.7', T0 + 2000, { scenario: 'redis-hijack', banMs: 7 * DAY })),
    );
    assert.equal(upgrade.durationMs, 7 * DAY);
    assert.doesNotMatch(upgrade.reason, /repeat/, 'an upgrade is not a repeat offence');
  });
});

describe('decide: never lock out the operator', () => {
  const cases: [string, string, Partial<DecisionPolicy>, string[], string[], string][] = [
    ['loopback IPv4', '127.0.0.1', {}, [], [], 'loopback'],
    ['loopback IPv6', '::1', {}, [], [], 'loopback'],
    ['IPv4-mapped loopback', '::ffff:127.0.0.1', {}, [], [], 'loopback'],
    ['a current SSH session', '198.51.100.22', {}, ['198.51.100.22'], [], 'ssh-session'],
    ['an address of this host', '172.17.0.1', {}, [], ['172.17.0.1'], 'local-address'],
    ['an allowlisted range', '10.1.2.3', { allowlist: ['10.0.0.0/8'] }, [], [], 'allowlisted'],
    ['an allowlisted IPv6 range', '2001:db8::5', { allowlist: ['2001:db8::/32'] }, [], [], 'allowlisted'],
  ];
  for (const [what, ip, policy, sessions, local, code] of cases) {
    it(`refuses to ban ${what} (${ip}) and says why`, () => {
      const r = refusal(decider(policy, sessions, local).decide(overflow(ip)));
      assert.equal(r.code, code);
      assert.equal(r.alert, false);
      assert.match(r.reason, /not banning/);
      assert.equal(r.scenario, 'http-probing');
    });
  }

  it('a test rig may name loopback stand-ins for attackers: exactly those lose the loopback rule', () => {
    const rig = createDecider(
      { allowlist: ['127.0.0.9'] },
      { clock: manualClock(T0), testOnlyBannableLoopback: ['127.0.0.2', '127.0.0.9'] },
    );
    assert.equal(decision(rig.decide(overflow('127.0.0.2'))).target, '127.0.0.2');
    assert.equal(refusal(rig.decide(overflow('127.0.0.3'))).code, 'loopback');
    assert.equal(refusal(rig.decide(overflow('127.0.0.9'))).code, 'allowlisted', 'other rules still apply');
    assert.throws(() => rig.manual({ target: '127.0.0.0/24' }), /loopback/);
  });

  it('alerts instead of banning when the overflow has no address, or the scenario only alerts', () => {
    const none = refusal(decider().decide(overflow(undefined, T0, { scenario: 'redis-rdb-to-cron-ssh' })));
    assert.deepEqual([none.code, none.alert], ['no-address', true]);
    const alertOnly = refusal(decider().decide(overflow('203.0.113.7', T0, { action: 'alert' })));
    assert.deepEqual([alertOnly.code, alertOnly.alert], ['alert-only', true]);
  });

  it('refuses addresses that are not client addresses', () => {
    for (const ip of ['not-an-ip', '0.0.0.0', '::', '10.0.0.0/8', '\u0000', 'x'.repeat(1 << 20)]) {
      assert.equal(refusal(decider().decide(overflow(ip))).code, 'invalid-address', ip.slice(0, 20));
    }
  });

  it('bans nothing when the SSH session provider fails', () => {
    const d = createDecider(
      {},
      {
        clock: manualClock(T0),
        sshSessions: () => {
          throw new Error('utmp unreadable');
        },
      },
    );
    const r = refusal(d.decide(overflow('203.0.113.7')));
    assert.deepEqual([r.code, r.alert], ['protection-unavailable', true]);
    assert.match(r.reason, /utmp unreadable/);
  });

  it('reads the SSH sessions at decision time, not at creation', () => {
    let sessions: string[] = [];
    const d = createDecider({}, { clock: manualClock(T0), sshSessions: () => sessions });
    sessions = ['203.0.113.7'];
    assert.equal(refusal(d.decide(overflow('203.0.113.7'))).code, 'ssh-session');
  });
});

describe('manual bans', () => {
  it('bans an address or range for the given duration at the clock time', () => {
    const d = decider();
    assert.deepEqual(d.manual({ target: '203.0.113.0/24', durationMs: H, reason: 'abuse report' }), {
      target: '203.0.113.0/24',
      scenario: 'manual',
      reason: 'abuse report',
      origin: 'manual',
      durationMs: H,
      at: T0,
    });
    assert.equal(d.manual({ target: '2001:db8::7' }).durationMs, 4 * H);
  });

  it('fails with a clear error when the range contains the SSH session, loopback, this host or the allowlist', () => {
    const d = decider({ allowlist: ['192.0.2.0/24'] }, ['198.51.100.22'], ['172.17.0.1']);
    const cases: [string, RegExp][] = [
      [
        '198.51.100.0/24',
        /198\.51\.100\.0\/24 contains 198\.51\.100\.22, the address of a current SSH session/,
      ],
      // 0.0.0.0/0 is not loopback: it contains it.
      ['0.0.0.0/0', /0\.0\.0\.0\/0 contains loopback addresses/],
      ['127.0.0.0/8', /127\.0\.0\.0\/8 is loopback/],
      ['172.16.0.0/12', /contains 172\.17\.0\.1, an address of this host/],
      ['192.0.2.128/25', /overlaps allowlisted 192\.0\.2\.0\/24/],
      ['::1', /is loopback/],
    ];
    for (const [target, message] of cases) {
      assert.throws(
        () => d.manual({ target }),
        (error: unknown) =>
          isMoatError(error) &&
          error.code === 'MOAT_LOCKOUT' &&
          message.test(error.message) &&
          error.message.startsWith(`refusing to ban`),
        target,
      );
    }
  });

  it('fails on a target that is not an address or range, and on a zero duration', () => {
    assert.throws(
      () => decider().manual({ target: 'example.com' }),
      (e: unknown) => isMoatError(e) && e.code === 'MOAT_USAGE',
    );
    assert.throws(() => decider().manual({ target: '203.0.113.7', durationMs: 0 }), /greater than 0/);
  });

  it('protectedReason answers without banning', () => {
    const d = decider({}, ['198.51.100.22']);
    assert.match(d.protectedReason('198.51.100.0/24') ?? '', /SSH session/);
    assert.equal(d.protectedReason('203.0.113.7'), undefined);
  });
});

describe('offender memory', () => {
  it('remember() restores escalation after a restart, forget() clears it', () => {
    const d = decider({ banMs: H });
    d.remember({ target: '203.0.113.7', at: T0 - 3 * H, durationMs: H });
    assert.equal(decision(d.decide(overflow('203.0.113.7'))).durationMs, 2 * H);
    d.forget('203.0.113.7');
    assert.equal(decision(d.decide(overflow('203.0.113.7', T0 + 3 * H))).durationMs, H);
  });

  it('remember() of a ban still running de-duplicates the next overflow', () => {
    const d = decider();
    d.remember({ target: '203.0.113.7', at: T0 - H, durationMs: 4 * H });
    assert.equal(refusal(d.decide(overflow('203.0.113.7'))).code, 'already-banned');
  });

  it('sweep() drops offenders past their window, and memory is capped', () => {
    const d = decider({ repeatWindowMs: DAY, maxOffenders: 3 });
    for (let i = 1; i <= 5; i++) decision(d.decide(overflow(`203.0.113.${i}`)));
    assert.equal(d.offenders, 3);
    assert.equal(d.sweep(T0 + 2 * DAY), 3);
    assert.equal(d.offenders, 0);
  });
});

describe('resolvePolicy', () => {
  it('fills defaults', () => {
    assert.deepEqual(
      { ...resolvePolicy({}) },
      {
        banMs: 4 * H,
        maxBanMs: 7 * DAY,
        escalationFactor: 2,
        repeatWindowMs: 7 * DAY,
        ipv6Prefix: 64,
        allowlist: [],
        maxOffenders: 100_000,
      },
    );
  });

  it('names each invalid key', () => {
    assert.throws(
      () => resolvePolicy({ banMs: 0, maxBanMs: -1, ipv6Prefix: 20, allowlist: ['10.0.0.0/8', 'office'] }),
      (e: unknown) =>
        isMoatError(e) &&
        e.code === 'MOAT_CONFIG_INVALID' &&
        /banMs must be greater than 0/.test(e.message) &&
        /ipv6Prefix/.test(e.message) &&
        /allowlist\[1\]: "office"/.test(e.message),
    );
  });
});

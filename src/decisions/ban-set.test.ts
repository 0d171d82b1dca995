import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { manualClock } from '../core/clock.ts';
import { createBanSet } from './ban-set.ts';

const T0 = 1_700_000_000_000;

describe('BanSet', () => {
  it('answers for addresses and ranges until they expire', () => {
    const clock = manualClock(T0);
    const bans = createBanSet(clock);
    bans.add('203.0.113.7', T0 + 1000);
    bans.add('2001:db8:1:2::/64', T0 + 2000);
    bans.add('198.51.100.0/24', T0 + 1000);
    assert.equal(bans.isBanned('203.0.113.7'), true);
    assert.equal(bans.isBanned('203.0.113.8'), false);
    assert.equal(bans.isBanned('2001:db8:1:2::99'), true);
    assert.equal(bans.isBanned('2001:db8:1:3::1'), false);
    assert.equal(bans.isBanned('198.51.100.200'), true);
    clock.advance(1000);
    assert.equal(bans.isBanned('203.0.113.7'), false, 'expired at expiresAt');
    assert.equal(bans.isBanned('198.51.100.200'), false, 'an expired range too');
    assert.equal(bans.isBanned('2001:db8:1:2::99'), true, 'the other range stays');
    assert.equal(bans.sweep(), 2);
    assert.equal(bans.isBanned('2001:db8:1:2::99'), true);
    assert.equal(bans.size, 1);
  });

  it('remove and replace take effect at once', () => {
    const clock = manualClock(T0);
    const bans = createBanSet(clock);
    bans.add('203.0.113.7/32', T0 + 1000);
    assert.equal(bans.isBanned('203.0.113.7'), true, 'a /32 is the address');
    bans.remove('203.0.113.7');
    assert.equal(bans.isBanned('203.0.113.7'), false);
    bans.add('2001:db8:1:2::/64', T0 + 1000);
    assert.equal(bans.isBanned('2001:db8:1:2::1'), true);
    bans.replace([{ target: '192.0.2.1', expiresAt: T0 + 5 }]);
    assert.equal(bans.isBanned('2001:db8:1:2::1'), false);
    assert.equal(bans.isBanned('192.0.2.1'), true);
    assert.equal(bans.isBanned('not an address'), false);
  });
});

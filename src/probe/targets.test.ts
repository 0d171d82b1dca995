import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MoatError } from '../core/errors.ts';
import { expandTargets, parsePorts } from './targets.ts';

const noDns = async (name: string): Promise<string[]> => {
  throw new Error(`unexpected lookup of ${name}`);
};
const options = { maxTargets: 256, yes: false, lookup: noDns };

async function rejectsWith(promise: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof MoatError);
    assert.equal(error.code, code);
    if (message) assert.match(error.message, message);
    return true;
  });
}

describe('parsePorts', () => {
  test('reads single ports and ranges, sorted and without duplicates', () => {
    assert.deepEqual(parsePorts('443,22, 80,1000-1003,22'), [22, 80, 443, 1000, 1001, 1002, 1003]);
  });

  test('accepts the whole range 1-65535', () => {
    assert.equal(parsePorts('1-65535').length, 65_535);
  });

  for (const bad of ['', '0', '65536', '22,', 'http', '10-5', '1-2-3', '22;80', '-5', '80-']) {
    test(`refuses "${bad}" with MOAT_PROBE_PORTS`, () => {
      assert.throws(
        () => parsePorts(bad),
        (error: unknown) => error instanceof MoatError && error.code === 'MOAT_PROBE_PORTS',
      );
    });
  }
});

describe('expandTargets', () => {
  test('keeps addresses in order and drops duplicates; v6 is normalised', async () => {
    assert.deepEqual(await expandTargets(['192.0.2.7', '2001:DB8:0:0::1', '192.0.2.7', '[::1]'], options), [
      '192.0.2.7',
      '2001:db8::1',
      '::1',
    ]);
  });

  test('expands an IPv4 CIDR to every address in it, from the network address', async () => {
    const addresses = await expandTargets(['198.51.100.13/30'], options);
    assert.deepEqual(addresses, ['198.51.100.12', '198.51.100.13', '198.51.100.14', '198.51.100.15']);
  });

  test('expands an IPv6 CIDR', async () => {
    assert.deepEqual(await expandTargets(['2001:db8::/126'], options), [
      '2001:db8::',
      '2001:db8::1',
      '2001:db8::2',
      '2001:db8::3',
    ]);
  });

  test('resolves host names to all their addresses (v4 and v6)', async () => {
    const lookup = async (name: string) => (name === 'db.example' ? ['192.0.2.1', '2001:db8::5'] : []);
    assert.deepEqual(await expandTargets(['db.example'], { ...options, lookup }), [
      '192.0.2.1',
      '2001:db8::5',
    ]);
  });

  test('a name that does not resolve is MOAT_PROBE_TARGET', async () => {
    const lookup = async (): Promise<string[]> => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND nowhere.invalid'), { code: 'ENOTFOUND' });
    };
    await rejectsWith(
      expandTargets(['nowhere.invalid'], { ...options, lookup }),
      'MOAT_PROBE_TARGET',
      /does not resolve/,
    );
  });

  for (const bad of [
    '10.0.0.0/33',
    '10.0.0.1/8/2',
    'not a host',
    '300.1.2.3',
    '-bad-.example',
    '::1/129',
    '10.0.0.0/x',
  ]) {
    test(`"${bad}" is MOAT_PROBE_TARGET`, async () => {
      await rejectsWith(expandTargets([bad], options), 'MOAT_PROBE_TARGET');
    });
  }

  test('no target at all is MOAT_PROBE_TARGET', async () => {
    await rejectsWith(expandTargets([], options), 'MOAT_PROBE_TARGET');
  });

  test('exactly maxTargets addresses are allowed without --yes', async () => {
    assert.equal((await expandTargets(['10.1.0.0/24'], options)).length, 256);
  });

  test('more than maxTargets addresses need --yes (MOAT_PROBE_TOO_MANY)', async () => {
    await rejectsWith(
      expandTargets(['10.1.0.0/23'], options),
      'MOAT_PROBE_TOO_MANY',
      /512 addresses; probe\.maxTargets allows 256/,
    );
    await rejectsWith(
      expandTargets(['10.1.0.0/24', '10.2.0.1'], options),
      'MOAT_PROBE_TOO_MANY',
      /more than 256/,
    );
    assert.equal((await expandTargets(['10.1.0.0/23'], { ...options, yes: true })).length, 512);
  });

  test('the limit counts addresses, not targets: overlapping ranges are counted once', async () => {
    assert.equal((await expandTargets(['10.1.0.0/24', '10.1.0.0/25', '10.1.0.7'], options)).length, 256);
  });

  test('a huge IPv6 range is refused at once even with --yes, without enumerating it', async () => {
    await rejectsWith(
      expandTargets(['2001:db8::/64'], { ...options, yes: true }),
      'MOAT_PROBE_TOO_MANY',
      /hard limit/,
    );
  });
});

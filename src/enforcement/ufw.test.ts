import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { manualClock } from '../core/clock.ts';
import { MoatError } from '../core/errors.ts';
import { createUfwFirewall, parseUfwShowAdded, type UfwOptions } from './ufw.ts';

const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const HEADER = "Added user rules (see 'ufw status' for running firewall):";

/**
 * A fake ufw holding `show added` lines: prepend/plain add/delete edit them the way ufw does (a
 * plain add of a rule differing only in its comment replaces it), and every argv is recorded.
 */
function fakeUfw(
  lines: string[] = [],
  options: { failOn?: (args: string[]) => boolean; status?: string } = {},
) {
  const calls: string[][] = [];
  const rules = [...lines];
  const key = (line: string) => line.replace(/ comment '.*'$/, '');
  const runner: NonNullable<UfwOptions['runner']> = async (command, args) => {
    calls.push([command, ...args]);
    const a = command === 'ip' ? args.slice(4) : [...args];
    if (options.failOn?.(a)) throw new MoatError('MOAT_COMMAND_FAILED', 'ufw failed');
    if (a[0] === 'status') return options.status ?? 'Status: active\n';
    if (a[0] === 'show') return `${HEADER}\n${rules.length === 0 ? '(None)' : rules.join('\n')}\n`;
    const del = a[0] === 'delete';
    const prepend = a[0] === 'prepend';
    const rest = del || prepend ? a.slice(1) : a;
    const at = rest.indexOf('comment');
    const words = (at === -1 ? rest : rest.slice(0, at)).filter(
      (w, i, all) => !(w === 'to' && all[i + 1] === 'any') && !(w === 'any' && all[i - 1] === 'to'),
    );
    const line = `ufw ${words.join(' ')}${at === -1 ? '' : ` comment '${rest[at + 1]}'`}`;
    const index = rules.findIndex((r) => key(r) === key(line));
    if (del) {
      if (index !== -1) rules.splice(index, 1);
    } else if (index !== -1) {
      if (!prepend) rules[index] = line;
    } else if (prepend) rules.unshift(line);
    else rules.push(line);
    return 'ok\n';
  };
  const changes = () => calls.map((c) => c.slice(1)).filter((a) => a[0] !== 'show' && a[0] !== 'status');
  return { calls, rules, runner, changes };
}

describe('ufw backend command lines', () => {
  it('bans a new target with one prepended deny rule whose comment carries the expiry', async () => {
    const ufw = fakeUfw(['ufw allow 80/tcp']);
    const fw = createUfwFirewall({ runner: ufw.runner, clock: manualClock(T0) });
    await fw.block('203.0.113.7', 60_000);
    await fw.block('2001:DB8:1:2::5/64');
    assert.deepEqual(ufw.changes(), [
      [
        'prepend',
        'deny',
        'from',
        '203.0.113.7',
        'to',
        'any',
        'comment',
        'moat until 2030-01-01T00:01:00.000Z',
      ],
      ['prepend', 'deny', 'from', '2001:db8:1:2::/64', 'to', 'any', 'comment', 'moat'],
    ]);
    assert.equal(ufw.rules.at(-1), 'ufw allow 80/tcp');
  });

  it('refreshes a ban by rewriting its comment in place, never deleting it first', async () => {
    const ufw = fakeUfw(["ufw deny from 192.0.2.10 comment 'moat until 2030-01-01T00:00:10.000Z'"]);
    const fw = createUfwFirewall({ runner: ufw.runner, clock: manualClock(T0) });
    await fw.block('192.0.2.10', 3_600_000);
    assert.deepEqual(ufw.changes(), [
      ['deny', 'from', '192.0.2.10', 'to', 'any', 'comment', 'moat until 2030-01-01T01:00:00.000Z'],
    ]);
    assert.deepEqual(await fw.list(), [{ target: '192.0.2.10', expiresInMs: 3_600_000 }]);
  });

  it("leaves the operator's own deny for the same address alone, and does not list it as moat's", async () => {
    const ufw = fakeUfw(['ufw deny from 192.0.2.5', "ufw reject from 192.0.2.6 comment 'scanner'"]);
    const fw = createUfwFirewall({ runner: ufw.runner, clock: manualClock(T0) });
    await fw.block('192.0.2.5', 60_000);
    await fw.block('192.0.2.6');
    await fw.release('192.0.2.5');
    await fw.teardown();
    assert.deepEqual(ufw.changes(), []);
    assert.deepEqual(await fw.list(), []);
  });

  it("refuses with MOAT_LOCKOUT to override the operator's allow rule, changing nothing", async () => {
    const ufw = fakeUfw(['ufw allow from 198.51.100.0/24']);
    const fw = createUfwFirewall({ runner: ufw.runner, clock: manualClock(T0) });
    await assert.rejects(fw.block('198.51.100.77/24'), { code: 'MOAT_LOCKOUT' });
    await assert.rejects(fw.blockMany([{ target: '192.0.2.1' }, { target: '198.51.100.0/24' }]), {
      code: 'MOAT_LOCKOUT',
    });
    assert.deepEqual(ufw.changes(), []);
  });

  it("release deletes moat's rule without its comment (ufw matches it) and skips what is not blocked", async () => {
    const ufw = fakeUfw(["ufw deny from 203.0.113.7 comment 'moat'"]);
    const fw = createUfwFirewall({ runner: ufw.runner, clock: manualClock(T0) });
    await fw.release('203.0.113.7');
    await fw.release('203.0.113.7');
    await fw.release('192.0.2.99');
    assert.deepEqual(ufw.changes(), [['delete', 'deny', 'from', '203.0.113.7', 'to', 'any']]);
  });

  it('expire deletes exactly the rules whose time has come and returns their targets', async () => {
    const clock = manualClock(T0);
    const ufw = fakeUfw([
      "ufw deny from 192.0.2.1 comment 'moat until 2030-01-01T00:00:00.000Z'",
      "ufw deny from 192.0.2.2 comment 'moat until 2030-01-01T00:00:00.001Z'",
      "ufw deny from 192.0.2.3 comment 'moat'",
      "ufw deny from 192.0.2.4 comment 'moat until someday'",
      "ufw deny from 192.0.2.5 comment 'not moat until 2000-01-01T00:00:00.000Z'",
    ]);
    const fw = createUfwFirewall({ runner: ufw.runner, clock });
    assert.deepEqual(await fw.expire(), ['192.0.2.1']);
    assert.deepEqual(await fw.expire(T0 + 1), ['192.0.2.2']);
    clock.advance(365 * 86_400_000);
    assert.deepEqual(await fw.expire(), []);
    assert.equal(ufw.rules.length, 3);
  });

  it('list removes expired bans first, so it shows only what should be enforced', async () => {
    const clock = manualClock(T0);
    const ufw = fakeUfw([
      "ufw deny from 192.0.2.1 comment 'moat until 2030-01-01T00:00:30.000Z'",
      "ufw deny from 2001:db8::/64 comment 'moat until 2030-01-01T00:10:00.000Z'",
      "ufw deny from 192.0.2.3 comment 'moat'",
    ]);
    const fw = createUfwFirewall({ runner: ufw.runner, clock });
    clock.advance(60_000);
    assert.deepEqual(await fw.list(), [
      { target: '2001:db8::/64', expiresInMs: 540_000 },
      { target: '192.0.2.3' },
    ]);
    assert.deepEqual(ufw.changes(), [['delete', 'deny', 'from', '192.0.2.1', 'to', 'any']]);
  });

  it('blockMany reads the rules once and, when ufw fails part-way, takes back what the batch added', async () => {
    const ufw = fakeUfw(["ufw deny from 192.0.2.9 comment 'moat until 2030-01-01T00:00:01.000Z'"], {
      failOn: (a) => a.includes('192.0.2.3') && a[0] === 'prepend',
    });
    const fw = createUfwFirewall({ runner: ufw.runner, clock: manualClock(T0) });
    await assert.rejects(
      fw.blockMany([
        { target: '192.0.2.1' },
        { target: '192.0.2.9', ttlMs: 60_000 },
        { target: '192.0.2.2', ttlMs: 1000 },
        { target: '192.0.2.3' },
      ]),
      { code: 'MOAT_COMMAND_FAILED' },
    );
    assert.equal(ufw.calls.filter((c) => c[1] === 'show').length, 1);
    assert.deepEqual(ufw.rules, ["ufw deny from 192.0.2.9 comment 'moat until 2030-01-01T00:01:00.000Z'"]);
  });

  it('refuses a batch with a bad target before running anything', async () => {
    const ufw = fakeUfw();
    const fw = createUfwFirewall({ runner: ufw.runner });
    for (const bad of ['not-an-ip', '0.0.0.0/0', '192.0.2.1 comment x', "1.2.3.4'; reboot", '\u0000']) {
      await assert.rejects(fw.blockMany([{ target: '192.0.2.30' }, { target: bad }]), { code: 'MOAT_USAGE' });
      await assert.rejects(fw.block(bad), { code: 'MOAT_USAGE' });
      await assert.rejects(fw.release(bad), { code: 'MOAT_USAGE' });
    }
    await fw.blockMany([]);
    assert.deepEqual(ufw.calls, []);
  });

  it('init refuses when ufw is inactive (its rules would not be enforced) and never enables it', async () => {
    const ufw = fakeUfw([], { status: 'Status: inactive\n' });
    await assert.rejects(createUfwFirewall({ runner: ufw.runner }).init(), {
      code: 'MOAT_FIREWALL_INACTIVE',
      message: /ufw is inactive/,
    });
    assert.deepEqual(ufw.calls, [['ufw', 'status']]);
  });

  it('init keeps live bans and drops the ones that expired while moat was down', async () => {
    const ufw = fakeUfw([
      "ufw deny from 192.0.2.1 comment 'moat until 2029-12-31T00:00:00.000Z'",
      "ufw deny from 192.0.2.2 comment 'moat until 2030-01-02T00:00:00.000Z'",
    ]);
    await createUfwFirewall({ runner: ufw.runner, clock: manualClock(T0) }).init();
    assert.deepEqual(ufw.changes(), [['delete', 'deny', 'from', '192.0.2.1', 'to', 'any']]);
  });

  it("teardown deletes moat's rules only", async () => {
    const ufw = fakeUfw([
      "ufw deny from 192.0.2.1 comment 'moat'",
      'ufw allow 22/tcp',
      'ufw deny from 192.0.2.2',
      "ufw deny from 2001:db8::1 comment 'moat until 2030-01-01T00:00:05.000Z'",
    ]);
    await createUfwFirewall({ runner: ufw.runner, clock: manualClock(T0) }).teardown();
    assert.deepEqual(ufw.rules, ['ufw allow 22/tcp', 'ufw deny from 192.0.2.2']);
  });

  it('refuses a tag that ufw could not keep in a comment', () => {
    for (const tag of ["it's", 'two words', '', 'x'.repeat(65)]) {
      assert.throws(() => createUfwFirewall({ tag }), { code: 'MOAT_USAGE' });
    }
  });

  it('runs ufw inside the network namespace it is given, with a custom tag', async () => {
    const ufw = fakeUfw();
    await createUfwFirewall({ runner: ufw.runner, netns: 'test-ns', tag: 'moat-test' }).block('192.0.2.1');
    assert.deepEqual(ufw.calls, [
      ['ip', 'netns', 'exec', 'test-ns', 'ufw', 'show', 'added'],
      [
        'ip',
        'netns',
        'exec',
        'test-ns',
        'ufw',
        'prepend',
        'deny',
        'from',
        '192.0.2.1',
        'to',
        'any',
        'comment',
        'moat-test',
      ],
    ]);
  });
});

describe('parseUfwShowAdded', () => {
  // Real `ufw show added` output from ufw 0.36.2 (test/e2e/ufw-netns.test.ts runs the real thing).
  const output = [
    HEADER,
    'ufw allow from 1.2.3.8',
    'ufw deny from 1.2.3.4',
    'ufw reject from 1.2.3.5',
    'ufw deny from 1.2.3.7 to any port 22',
    'ufw deny in on lo from 1.2.3.9',
    'ufw route deny from 1.2.3.10',
    'ufw limit from 1.2.3.11',
    'ufw deny log from 1.2.3.12',
    'ufw deny out from 1.2.3.14',
    'ufw allow 22/tcp',
    'ufw allow from any',
    "ufw deny from 198.51.100.0/24 comment 'moat'",
    "ufw deny from 2001:0db8::1 comment 'moat until 2031-01-01T00:00:00.000Z'",
    '\u0000\uFFFD garbage',
    '',
  ].join('\n');

  it('reads the rules that match only a source, with action and comment, targets normalised', () => {
    assert.deepEqual(parseUfwShowAdded(output), [
      { action: 'allow', target: '1.2.3.8' },
      { action: 'deny', target: '1.2.3.4' },
      { action: 'reject', target: '1.2.3.5' },
      { action: 'limit', target: '1.2.3.11' },
      { action: 'deny', target: '1.2.3.12' },
      { action: 'deny', target: '198.51.100.0/24', comment: 'moat' },
      { action: 'deny', target: '2001:db8::1', comment: 'moat until 2031-01-01T00:00:00.000Z' },
    ]);
  });

  it('reads nothing from an empty rule list', () => {
    assert.deepEqual(parseUfwShowAdded(`${HEADER}\n(None)\n`), []);
  });
});

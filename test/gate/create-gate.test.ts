/** `createGate` (the `moat/gate` library entry): options checked by the config schema, bans from moat's store. */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { isMoatError } from '../../src/core/errors.ts';
import { createGate } from '../../src/gate/index.ts';
import { openSqliteStore } from '../../src/storage/sqlite.ts';

const request = (socketIp: string) => ({ socketIp, method: 'GET', url: '/', headers: {} });

describe('createGate', () => {
  it("enforces the store's bans and follows changes another process makes", async () => {
    const stateDir = mkdtempSync(path.join(tmpdir(), 'moat-create-gate-'));
    const cli = openSqliteStore(path.join(stateDir, 'moat.db'));
    const now = Date.now();
    const ban = {
      target: '203.0.113.7',
      scenario: 'manual',
      reason: 'by hand',
      origin: 'manual' as const,
      durationMs: 3_600_000,
      at: now,
    };
    await cli.addBan(ban, now + ban.durationMs);
    const gate = await createGate({ gate: { bans: { refresh: 100 } }, stateDir });
    try {
      const first = gate.policy.check(request('203.0.113.7'), Date.now());
      assert.equal(first.action === 'reject' && first.reason, 'banned');
      assert.equal(gate.policy.check(request('203.0.113.8'), Date.now()).action, 'pass');

      await cli.removeBan('203.0.113.7', Date.now());
      await cli.addBan({ ...ban, target: '198.51.100.0/24' }, Date.now() + ban.durationMs);
      const deadline = Date.now() + 2000;
      while (gate.policy.check(request('203.0.113.7'), Date.now()).action !== 'pass') {
        assert.ok(Date.now() < deadline, 'the unban reached the gate');
        await sleep(20);
      }
      const ranged = gate.policy.check(request('198.51.100.9'), Date.now());
      assert.equal(ranged.action === 'reject' && ranged.reason, 'banned');
    } finally {
      await gate.close();
      await cli.close();
    }
  });

  it('refuses bad options naming the key', async () => {
    await assert.rejects(
      createGate({ gate: { zones: [{ name: 'api', rate: 'ten per second' }] } }),
      (error: unknown) =>
        isMoatError(error) && /gate\.zones\[0\]\.rate|gate\.zones\.0\.rate/.test(error.message),
    );
  });
});

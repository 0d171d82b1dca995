/**
 * The gate hosted by the daemon (`startWatch({ components: [gateComponent(…)] })`), as `moat gate`
 * runs it: its requests feed the one engine, so a prober is banned by the built-in scenarios and
 * refused by the gate; a ban added by `moat bans add` from another process is refused within 1 s.
 * Loopback is never banned, so the clients here are documentation addresses behind a trusted
 * proxy on 127.0.0.1 (X-Forwarded-For).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parseConfig } from '../../src/config/load.ts';
import { systemClock } from '../../src/core/clock.ts';
import { startWatch, type WatchDaemon } from '../../src/daemon/watch.ts';
import { createDryRunFirewall } from '../../src/enforcement/dry-run.ts';
import { gateComponent } from '../../src/gate/component.ts';
import type { GateServer } from '../../src/gate/server.ts';
import { type RecordingUpstream, request, startRecordingUpstream } from '../helpers/gate-http.ts';
import { until } from '../helpers/until.ts';
import { captureLogger } from '../helpers/log.ts';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');

describe('gate in the daemon', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'moat-gate-daemon-'));
  const configFile = path.join(dir, 'moat.yaml');
  let upstream: RecordingUpstream;
  let daemon: WatchDaemon;
  let gate: GateServer | undefined;
  const logger = captureLogger();

  before(async () => {
    upstream = await startRecordingUpstream();
    writeFileSync(
      configFile,
      `stateDir: ${dir}\ngate:\n  listen: 127.0.0.1:0\n  upstream: ${upstream.origin}\n  trustProxies: [127.0.0.1/32]\n`,
    );
    const config = parseConfig({
      stateDir: dir,
      gate: { listen: '127.0.0.1:0', upstream: upstream.origin, trustProxies: ['127.0.0.1/32'] },
    });
    daemon = await startWatch({
      config,
      stateDir: dir,
      logger,
      clock: systemClock,
      firewall: createDryRunFirewall(),
      sources: false,
      components: [gateComponent(config.gate, config.cdn, { onStart: (server) => (gate = server) })],
    });
  });
  after(async () => {
    await daemon.stop();
    await upstream.close();
  });

  const from = (client: string, target: string) =>
    request(gate!.address.port, { path: target, headers: { 'X-Forwarded-For': client } });

  it('bans a prober through the engine’s scenarios and refuses it from then on', async () => {
    assert.equal((await from('203.0.113.60', '/home')).status, 200);
    // http-sensitive-files fires on one request for /.env; the gate passed it (no deny rule here).
    await from('203.0.113.60', '/.env');
    await until(
      async () => (await daemon.store.activeBans(Date.now())).some((b) => b.target === '203.0.113.60'),
      'the ban',
    );
    await until(
      async () => (await from('203.0.113.60', '/home')).status === 403,
      'the gate to refuse the prober',
      2000,
    );
    assert.equal((await from('203.0.113.61', '/home')).status, 200, 'others are served');
  });

  it('refuses an address banned with `moat bans add` from another process within 1 s', async (t) => {
    assert.equal((await from('203.0.113.50', '/before')).status, 200);
    const { stdout } = await run(
      process.execPath,
      [
        path.join(root, 'bin/moat.js'),
        '-c',
        configFile,
        'bans',
        'add',
        '203.0.113.50',
        '--state-dir',
        dir,
        '--reason',
        'test',
      ],
      { cwd: root },
    );
    assert.match(stdout, /banned 203\.0\.113\.50/);
    const added = Date.now();
    let refusedAfterMs = -1;
    while (Date.now() - added < 3000) {
      if ((await from('203.0.113.50', '/after')).status === 403) {
        refusedAfterMs = Date.now() - added;
        break;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.ok(refusedAfterMs >= 0, 'the ban added from another process is never enforced by the gate');
    t.diagnostic(`refused ${refusedAfterMs} ms after \`moat bans add\` returned`);
    assert.ok(refusedAfterMs <= 1000, `refused ${refusedAfterMs} ms after \`moat bans add\` returned`);
  });
});

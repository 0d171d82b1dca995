/**
 * SIGHUP and the gate: the real `moat gate` process picks up new deny rules and upstreams without a
 * restart, keeps its clients' rate-limit state, names the keys that only a restart applies, and keeps
 * the old configuration whole when the new one is bad; and a renewed TLS certificate is served to
 * new connections after a reload.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/config/load.ts';
import { createGatePolicy } from '../../src/gate/policy.ts';
import { request, startRecordingUpstream } from '../helpers/gate-http.ts';
import { startMoatGate } from '../helpers/moat-process.ts';
import { noBans, startTestGate } from '../helpers/gate-server.ts';
import { selfSignedCertificate } from '../helpers/tls.ts';

function gateYaml(dir: string, lines: string[]): string {
  return [`stateDir: ${dir}`, 'gate:', ...lines.map((line) => `  ${line}`), ''].join('\n');
}

describe('moat gate on SIGHUP', () => {
  it('applies new deny rules and upstreams, keeps rate-limit state, and keeps the old config when the new one is bad', async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'moat-gate-reload-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const configFile = path.join(dir, 'moat.yaml');
    const first = await startRecordingUpstream();
    t.after(() => first.close());
    const second = await startRecordingUpstream();
    t.after(() => second.close());
    // One request a minute with a burst of 2: a client that used its burst stays limited for the
    // whole test, however slow the machine.
    const zone = '- { name: api, rate: 1r/m, burst: 2, nodelay: true }';
    const writeConfig = (upstream: string, limit: string, deny: string, ...more: string[]) =>
      writeFileSync(
        configFile,
        gateYaml(dir, [
          'listen: 127.0.0.1:0',
          `upstream: ${upstream}`,
          'zones:',
          `  ${zone}`,
          `limit: [${limit}]`,
          `deny: ${deny}`,
          ...more,
        ]),
      );
    writeConfig(first.origin, 'api', "[{ paths: ['*.php'] }]");
    const gate = await startMoatGate(['-c', configFile, 'gate']);
    t.after(() => gate.stop());
    const port = gate.port;
    const from = (localAddress: string, requestPath = '/') =>
      request(port, { path: requestPath, localAddress }).then((r) => r.status);

    // Client .2 uses its burst (3 back to back), the 4th is refused.
    const burst: number[] = [];
    for (let i = 0; i < 4; i++) burst.push(await from('127.0.0.2', `/b${i}`));
    assert.deepEqual(burst, [200, 200, 200, 429]);
    assert.equal(await from('127.0.0.3', '/secret/a'), 200);
    assert.equal(first.seen.length, 4);

    // New deny rule and upstream, same zone; a websocket setting only a restart applies.
    writeConfig(
      second.origin,
      'api',
      "[{ paths: ['*.php', '/secret/**'] }]",
      'websocket: { idleTimeout: 2h }',
    );
    gate.child.kill('SIGHUP');
    await gate.waitFor('configuration reloaded', 10_000);
    assert.equal(gate.logs('gate reloaded').length, 1);
    assert.deepEqual(
      gate.logs('gate settings that apply only after a restart changed; they keep their old values')[0]?.[
        'keys'
      ],
      ['gate.websocket'],
    );
    assert.equal(await from('127.0.0.3', '/secret/b'), 404, 'the new deny rule applies');
    assert.equal(await from('127.0.0.3', '/fine'), 200);
    assert.deepEqual(
      second.seen.map((r) => r.url),
      ['/fine'],
      'the new upstream gets the traffic',
    );
    assert.equal(first.seen.length, 4, 'the old upstream gets nothing more');
    assert.equal(await from('127.0.0.2', '/after'), 429, 'the client that used its burst is still limited');

    // A file that fails the gate's own checks (a zone no one defined): nothing changes.
    writeConfig(first.origin, 'nope', '[]');
    gate.child.kill('SIGHUP');
    await gate.waitFor('reload failed; the previous configuration stays in force', 10_000);
    assert.equal(gate.logs('configuration reloaded').length, 1);
    assert.equal(await from('127.0.0.3', '/secret/c'), 404, 'the deny rules in force stay');
    assert.equal(await from('127.0.0.4', '/fine2'), 200);
    assert.deepEqual(
      second.seen.map((r) => r.url),
      ['/fine', '/fine2'],
    );
    assert.equal(await from('127.0.0.2', '/again'), 429);

    assert.equal(await gate.stop(), 0, gate.stderr());
  });
});

describe('gate reload and TLS', () => {
  /** The CN of the certificate a new TLS connection to the gate is shown. */
  const servedName = (port: number) =>
    new Promise<string>((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
        const subject = socket.getPeerCertificate().subject;
        socket.destroy();
        resolve(String(subject?.CN ?? ''));
      });
      socket.on('error', reject);
    });

  it('serves a renewed certificate to new connections, and keeps the old one when the new cannot be read', async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'moat-gate-reload-tls-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const live = selfSignedCertificate(dir, 1, 'before-renewal');
    const upstream = await startRecordingUpstream();
    const section = { upstream: upstream.origin, tls: { cert: live.cert, key: live.key } };
    const gate = await startTestGate(section);
    try {
      assert.equal(await servedName(gate.port), 'before-renewal');
      // certbot-style renewal: new files moved over the old paths.
      const renewedDir = mkdtempSync(path.join(tmpdir(), 'moat-gate-renewed-'));
      t.after(() => rmSync(renewedDir, { recursive: true, force: true }));
      const renewed = selfSignedCertificate(renewedDir, 90, 'after-renewal');
      renameSync(renewed.cert, live.cert);
      renameSync(renewed.key, live.key);
      const config = parseConfig({ gate: { listen: '127.0.0.1:0', ...section } }).gate;
      assert.deepEqual(await gate.server.reload(config, createGatePolicy(config, { bans: noBans })), []);
      assert.equal(await servedName(gate.port), 'after-renewal');

      const missing = parseConfig({
        gate: { listen: '127.0.0.1:0', ...section, tls: { cert: path.join(dir, 'gone.pem'), key: live.key } },
      }).gate;
      await assert.rejects(
        gate.server.reload(missing, createGatePolicy(missing, { bans: noBans })),
        /gate\.tls\.cert/,
      );
      assert.equal(await servedName(gate.port), 'after-renewal');
    } finally {
      await gate.close();
      await upstream.close();
    }
  });
});

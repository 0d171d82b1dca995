/** The memcached probe against real memcached processes on free loopback ports (TCP and UDP). */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { runProbe } from '../../src/probe/index.ts';
import { memcachedMissing, type RunningServer, startMemcached } from './servers.ts';

const config = { timeoutMs: 1500, concurrency: 16, maxTargets: 256 };

describe('memcached probe (real memcached)', { skip: memcachedMissing() }, () => {
  let withUdp: RunningServer;
  let tcpOnly: RunningServer;
  before(async () => {
    [withUdp, tcpOnly] = await Promise.all([startMemcached({ udp: true }), startMemcached({ udp: false })]);
  });
  after(async () => {
    await Promise.all([withUdp?.stop(), tcpOnly?.stop()]);
  });

  test('memcached with UDP on answers `version` over TCP and `stats` over UDP: both reported', async () => {
    const report = await runProbe({ targets: ['127.0.0.1'], ports: [withUdp.port], config });
    const byId = new Map(report.findings.map((f) => [f.id, f]));
    const tcp = byId.get('probe-memcached-no-auth');
    const udp = byId.get('probe-memcached-udp-amplifier');
    assert.equal(tcp?.severity, 'high');
    assert.match(
      tcp?.evidence[0]?.detail ?? '',
      new RegExp(`^127\\.0\\.0\\.1:${withUdp.port} answered \`version\` with "VERSION \\d`),
    );
    assert.equal(udp?.severity, 'high');
    assert.match(
      udp?.evidence[0]?.detail ?? '',
      new RegExp(
        `^127\\.0\\.0\\.1:${withUdp.port}/udp answered a 15-byte \`stats\` request with \\d+ datagram\\(s\\), the first \\d+ bytes \\(×\\d+`,
      ),
    );
  });

  test('memcached with -U 0 is reported over TCP only', async () => {
    const report = await runProbe({ targets: ['127.0.0.1'], ports: [tcpOnly.port], config });
    const ids = report.findings.map((f) => f.id).sort();
    assert.deepEqual(ids, ['probe-memcached-no-auth', 'probe-port-open']);
  });
});

/**
 * The Redis probe against real redis-server instances on loopback.
 *
 * Protected mode: Redis counts only 127.0.0.1 and ::1 (and Unix sockets) as local clients. The
 * probe's `sourceAddress` (`--source`) lets a test connect from 127.0.0.2, which Redis treats as a
 * remote client, so the -DENIED reply is the real one, not a responder's.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { runProbe } from '../../src/probe/index.ts';
import { freePort, type RedisServer, redisServerMissing, startRedisServer } from '../helpers/redis-server.ts';

const skip = redisServerMissing();
const config = { timeoutMs: 1500, concurrency: 16, maxTargets: 256 };

function ids(report: { findings: readonly { id: string }[] }): string[] {
  return report.findings.map((finding) => finding.id).filter((id) => id !== 'probe-port-open');
}

describe('redis probe (real redis-server)', { skip }, () => {
  const servers: RedisServer[] = [];
  let open: RedisServer;
  let password: RedisServer;
  let protectedServer: RedisServer;
  let replica: RedisServer;
  let deadMasterPort: number;

  before(async () => {
    deadMasterPort = await freePort();
    [open, password, protectedServer, replica] = await Promise.all([
      startRedisServer({ args: ['--protected-mode', 'no'] }),
      startRedisServer({ args: ['--requirepass', 'correct-horse-battery-staple'] }),
      startRedisServer({ bind: ['127.0.0.1', '127.0.0.2'], args: ['--protected-mode', 'yes'] }),
      startRedisServer({ args: ['--protected-mode', 'no', '--replicaof', `127.0.0.1 ${deadMasterPort}`] }),
    ]);
    servers.push(open, password, protectedServer, replica);
  });
  after(async () => {
    await Promise.all(servers.map((server) => server.stop()));
  });

  test('reports a Redis that answers PING without a password as critical, naming host:port and version', async () => {
    const report = await runProbe({ targets: ['127.0.0.1'], ports: [open.port], config });
    assert.deepEqual(ids(report), ['probe-redis-no-auth']);
    const [finding] = report.findings;
    assert.equal(finding?.severity, 'critical');
    assert.match(
      finding?.evidence[0]?.detail ?? '',
      new RegExp(`^127\\.0\\.0\\.1:${open.port} answered PING with \\+PONG`),
    );
    assert.match(finding?.evidence[0]?.detail ?? '', /redis_version:\d+\.\d+/);
    assert.match(finding?.evidence[0]?.detail ?? '', /role:master/);
  });

  test('reports requirepass as authentication required (info), not as open', async () => {
    const report = await runProbe({ targets: ['127.0.0.1'], ports: [password.port], config });
    assert.deepEqual(ids(report), ['probe-redis-auth-required']);
    const finding = report.findings.find((f) => f.id === 'probe-redis-auth-required');
    assert.equal(finding?.severity, 'info');
    assert.match(finding?.evidence[0]?.detail ?? '', /answered PING with -NOAUTH/);
  });

  test('a client from 127.0.0.2 gets -DENIED from protected mode: reported low, not critical', async () => {
    const report = await runProbe({
      targets: ['127.0.0.2'],
      ports: [protectedServer.port],
      config,
      sourceAddress: '127.0.0.2',
    });
    assert.deepEqual(ids(report), ['probe-redis-protected-mode']);
    assert.equal(report.findings[0]?.severity, 'low');
    assert.match(
      report.findings[0]?.evidence[0]?.detail ?? '',
      /^127\.0\.0\.2:\d+ answered PING with -DENIED/,
    );
  });

  test('the same protected-mode server lets 127.0.0.1 in: Redis counts it as local', async () => {
    const report = await runProbe({ targets: ['127.0.0.1'], ports: [protectedServer.port], config });
    assert.deepEqual(ids(report), ['probe-redis-no-auth']);
  });

  test('a replica of a master reports role and master (the REPLICAOF incident) besides the missing password', async () => {
    const report = await runProbe({ targets: ['127.0.0.1'], ports: [replica.port], config });
    assert.deepEqual(ids(report).sort(), ['probe-redis-no-auth', 'probe-redis-replica']);
    const finding = report.findings.find((f) => f.id === 'probe-redis-replica');
    assert.equal(finding?.severity, 'high'); // a loopback master; a public one is critical
    assert.equal(finding?.title, `Redis is a replica of 127.0.0.1:${deadMasterPort}`);
    assert.match(
      finding?.evidence[0]?.detail ?? '',
      new RegExp(
        `role:slave, master_host:127\\.0\\.0\\.1, master_port:${deadMasterPort}, master_link_status:down`,
      ),
    );
  });

  test('finds Redis on a port that is not its usual one by its answer to PING', async () => {
    const report = await runProbe({ targets: ['127.0.0.1'], ports: [open.port], config });
    const openPort = report.findings.find((f) => f.id === 'probe-port-open');
    assert.match(
      openPort?.evidence[0]?.detail ?? '',
      /accepts TCP connections \(Redis [\d.]+ \(no password\)\)/,
    );
  });

  test('sends only read-only commands: MONITOR sees PING and INFO, nothing else', async () => {
    const monitor = net.connect({ host: open.host, port: open.port });
    let seen = '';
    monitor.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
    });
    await new Promise<void>((resolve) => monitor.once('connect', () => resolve()));
    monitor.write('MONITOR\r\n');
    await waitFor(() => seen.startsWith('+OK'));
    await runProbe({ targets: ['127.0.0.1'], ports: [open.port], config });
    await waitFor(() => (seen.match(/"INFO"/g) ?? []).length >= 2);
    monitor.destroy();
    const commands = [...seen.matchAll(/\] "([A-Za-z]+)"/g)].map((match) => match[1]?.toUpperCase());
    assert.ok(commands.length >= 3, seen);
    assert.deepEqual([...new Set(commands)].sort(), ['INFO', 'PING']);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The TCP connect scan and runProbe's plumbing (progress, limits) on loopback. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { MoatError } from '../../src/core/errors.ts';
import { type ProbeProgress, runProbe } from '../../src/probe/index.ts';
import { scanPorts } from '../../src/probe/scanner.ts';
import { freePort } from '../helpers/redis-server.ts';

function listen(host: string): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((socket) => socket.on('error', () => {}));
    server.once('error', reject);
    server.listen(0, host, () => resolve(server));
  });
}
const portOf = (server: net.Server) => (server.address() as net.AddressInfo).port;

async function closedPorts(count: number, taken: ReadonlySet<number>): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) {
    const port = await freePort();
    if (!taken.has(port)) ports.add(port);
  }
  return [...ports];
}

const ipv6 = await new Promise<boolean>((resolve) => {
  const server = net.createServer();
  server.once('error', () => resolve(false));
  server.listen(0, '::1', () => server.close(() => resolve(true)));
});

describe('scanPorts', () => {
  const servers: net.Server[] = [];
  let open: number[];
  let closed: number[];
  before(async () => {
    servers.push(...(await Promise.all(Array.from({ length: 20 }, () => listen('127.0.0.1')))));
    open = servers.map(portOf);
    closed = await closedPorts(300, new Set(open));
  });
  after(() => {
    for (const server of servers) server.close();
  });

  test('finds exactly the listening ports among refused ones, without waiting for timeouts', async () => {
    const started = performance.now();
    const result = await scanPorts({
      hosts: ['127.0.0.1'],
      ports: [...closed, ...open],
      concurrency: 64,
      timeoutMs: 5000,
    });
    const elapsedMs = performance.now() - started;
    assert.deepEqual(
      result.open.map((entry) => entry.port).sort((a, b) => a - b),
      [...open].sort((a, b) => a - b),
    );
    assert.equal(result.closed, 300);
    assert.equal(result.filtered, 0);
    assert.ok(elapsedMs < 1000, `took ${elapsedMs} ms: refused ports must not wait for the 5 s timeout`);
  });

  test('returns open ports in target order, then port order, and counts every port once', async () => {
    const ports = [...open].sort((a, b) => b - a);
    let calls = 0;
    const result = await scanPorts({
      hosts: ['127.0.0.1'],
      ports,
      concurrency: 7,
      timeoutMs: 1000,
      onPortDone: (done, total) => {
        calls++;
        assert.equal(total, ports.length);
        assert.ok(done <= total);
      },
    });
    assert.deepEqual(
      result.open.map((entry) => entry.port),
      ports,
    );
    assert.equal(calls, ports.length);
  });

  test('IPv6: finds a listener on ::1', { skip: ipv6 ? undefined : 'no IPv6 loopback here' }, async () => {
    const server = await listen('::1');
    try {
      const result = await scanPorts({
        hosts: ['::1'],
        ports: [portOf(server), closed[0]!],
        concurrency: 4,
        timeoutMs: 1000,
      });
      assert.deepEqual(
        result.open.map((entry) => [entry.host, entry.port]),
        [['::1', portOf(server)]],
      );
      assert.equal(result.closed, 1);
    } finally {
      server.close();
    }
  });
});

/**
 * Loopback ports that hang like filtered ones: a child process listens with backlog 1 and then blocks
 * its event loop (Atomics.wait), so it never accepts; once two connections fill each accept queue,
 * the kernel drops further SYNs and connects wait for their timeout.
 */
async function hangingPorts(count: number): Promise<{ ports: number[]; stop: () => void }> {
  const code = `
    import net from 'node:net';
    const servers = await Promise.all(Array.from({ length: ${count} }, () => new Promise((resolve) => {
      const server = net.createServer();
      server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => resolve(server));
    })));
    process.stdout.write(JSON.stringify(servers.map((server) => server.address().port)) + '\\n', () => {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
    });`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ports = await new Promise<number[]>((resolve) =>
    child.stdout.once('data', (data: Buffer) => resolve(JSON.parse(data.toString()))),
  );
  const held: net.Socket[] = [];
  for (const port of ports) {
    for (let index = 0; index < 2; index++) {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.on('error', () => {});
      held.push(socket);
      await new Promise((resolve) => socket.once('connect', resolve));
    }
  }
  return {
    ports,
    stop: () => {
      child.kill('SIGKILL');
      for (const socket of held) socket.destroy();
    },
  };
}

describe('scanPorts on ports that never answer', () => {
  test('counts them filtered after the timeout, and never has more than `concurrency` connects in flight', async () => {
    const hanging = await hangingPorts(12);
    try {
      const timeoutMs = 200;
      const timed = async (concurrency: number) => {
        const started = performance.now();
        const result = await scanPorts({
          hosts: ['127.0.0.1'],
          ports: hanging.ports,
          concurrency,
          timeoutMs,
        });
        return { result, ms: performance.now() - started };
      };
      const narrow = await timed(3);
      assert.equal(narrow.result.filtered, 12);
      assert.equal(narrow.result.open.length, 0);
      // 12 ports, 3 at a time, 200 ms each: four rounds.
      assert.ok(narrow.ms >= 4 * timeoutMs - 20, `concurrency 3 took ${narrow.ms} ms, expected at least 780`);
      const wide = await timed(12);
      assert.equal(wide.result.filtered, 12);
      assert.ok(wide.ms < 2 * timeoutMs + 100, `concurrency 12 took ${wide.ms} ms, expected one round`);
    } finally {
      hanging.stop();
    }
  });
});

describe('runProbe', () => {
  const config = { timeoutMs: 1000, concurrency: 32, maxTargets: 256 };

  test('reports progress to onProgress, and draws it only on a TTY stream', async () => {
    const server = await listen('127.0.0.1');
    try {
      const ports = [portOf(server), ...(await closedPorts(30, new Set([portOf(server)])))];
      const events: ProbeProgress[] = [];
      let tty = '';
      let pipe = '';
      await runProbe({
        targets: ['127.0.0.1'],
        ports,
        config,
        onProgress: (progress) => events.push(progress),
        stderr: { isTTY: true, write: (text: string) => (tty += text) },
      });
      await runProbe({
        targets: ['127.0.0.1'],
        ports,
        config,
        stderr: { isTTY: false, write: (text: string) => (pipe += text) },
      });
      const scans = events.filter((event) => event.phase === 'scan');
      assert.equal(scans.length, 31);
      assert.deepEqual(scans.at(-1), { phase: 'scan', done: 31, total: 31 });
      assert.deepEqual(
        events.filter((event) => event.phase === 'probe'),
        [{ phase: 'probe', done: 1, total: 1 }],
      );
      assert.match(tty, /moat probe: 31\/31 ports scanned/);
      assert.ok(tty.endsWith('\r\x1b[K'), 'the status line is cleared at the end');
      assert.equal(pipe, '');
    } finally {
      server.close();
    }
  });

  test('an open port that answers nothing is still reported, as silent', async () => {
    const server = await listen('127.0.0.1');
    try {
      const report = await runProbe({
        targets: ['127.0.0.1'],
        ports: [portOf(server)],
        config: { ...config, timeoutMs: 200 },
      });
      assert.deepEqual(
        report.findings.map((f) => [f.id, f.evidence[0]?.detail]),
        [
          [
            'probe-port-open',
            `127.0.0.1:${portOf(server)} accepts TCP connections (silent (sent nothing in reply to PING))`,
          ],
        ],
      );
      assert.deepEqual(report.summary.open, 1);
    } finally {
      server.close();
    }
  });

  test('refuses more than probe.maxTargets addresses before connecting anywhere', async () => {
    await assert.rejects(
      runProbe({ targets: ['10.0.0.0/23'], config }),
      (error: unknown) => error instanceof MoatError && error.code === 'MOAT_PROBE_TOO_MANY',
    );
  });

  test('a --source that is not an address is a usage error', async () => {
    await assert.rejects(
      runProbe({ targets: ['127.0.0.1'], ports: [1], config, sourceAddress: 'eth0' }),
      (error: unknown) => error instanceof MoatError && error.code === 'MOAT_USAGE',
    );
  });
});

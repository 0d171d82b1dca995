import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { parseConfig } from '../../config/load.ts';
import { createHost } from '../host.ts';
import { decodeIpv4, decodeIpv6, parsePasswd, parseProcNet, socketsCollector } from './sockets.ts';

// Real lines, copied from /proc/net/tcp and /proc/net/tcp6 of the machine moat is developed on:
// listeners on 127.0.0.1 and 0.0.0.0, one TIME_WAIT (06) and two ESTABLISHED (01) connections.
const PROC_NET_TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     
   0: 0100007F:6448 00000000:0000 0A 00000000:00000000 00:00000000 00000000   106        0 6215 1 000000009f6fc9fa 100 0 0 10 0                      
   1: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1160 1 0000000067fa2030 100 0 0 10 0                      
   2: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000   107        0 8517 1 00000000654cab5f 100 0 0 10 0                      
   3: 0100007F:18EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3580 1 00000000fdd076e2 100 0 0 10 0                      
   4: 0100007F:1111 0100007F:8288 06 00000000:00000000 03:00000FBA 00000000     0        0 0 3 0000000026925724                                      
   5: 0100007F:1111 0100007F:BAC0 01 00000000:00000000 00:00000000 00000000   106        0 6218 1 000000000767cb82 20 4 31 11 -1                     
   6: 0100007F:BAC0 0100007F:1111 01 00000000:00000000 00:00000000 00000000   106        0 6217 1 000000006b80d1b1 20 4 30 11 -1                     
`;
const PROC_NET_TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:18EB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3581 1 000000002ca6d085 100 0 0 10 0
   1: 00000000000000000000000001000000:1111 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000   106        0 5375 1 00000000f78469a9 100 0 0 10 0
`;
// A dual-stack listener ([::]:443), an IPv4-mapped one, and a UDP table with a bound and a connected socket.
const PROC_NET_TCP6_MORE = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 21547 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 21600 1 0000000000000000 100 0 0 10 0
   2: B80D0120000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 21601 1 0000000000000000 100 0 0 10 0
`;
const PROC_NET_UDP = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops            
  300: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 17820 2 0000000000000000 0         
  301: 0A00000A:A1F2 08080808:0035 01 00000000:00000000 00:00000000 00000000  1000        0 17999 2 0000000000000000 0         
`;

describe('decoding /proc/net addresses', () => {
  it('reads IPv4 as one little-endian word', () => {
    assert.equal(decodeIpv4('0100007F'), '127.0.0.1');
    assert.equal(decodeIpv4('00000000'), '0.0.0.0');
    assert.equal(decodeIpv4('0A00000A'), '10.0.0.10');
    assert.equal(decodeIpv4('XYZ'), undefined);
  });

  it('reads IPv6 as four little-endian words', () => {
    assert.equal(decodeIpv6('00000000000000000000000001000000'), '::1');
    assert.equal(decodeIpv6('00000000000000000000000000000000'), '::');
    assert.equal(decodeIpv6('0000000000000000FFFF00000100007F'), '::ffff:127.0.0.1');
    assert.equal(decodeIpv6('B80D0120000000000000000001000000'), '2001:db8::1');
  });
});

describe('parsing /proc/net files', () => {
  it('keeps listening TCP sockets only, with address, port, owner uid, inode and line', () => {
    const sockets = parseProcNet(PROC_NET_TCP, 'tcp', 4, '/proc/net/tcp');
    assert.deepEqual(
      sockets.map((s) => [s.address, s.port, s.uid, s.inode, s.line]),
      [
        ['127.0.0.1', 25672, 106, 6215, 2],
        ['0.0.0.0', 2024, 0, 1160, 3],
        ['127.0.0.1', 3306, 107, 8517, 4],
        ['127.0.0.1', 6379, 0, 3580, 5],
      ],
    );
  });

  it('reads tcp6 listeners, dual-stack and IPv4-mapped ones included', () => {
    assert.deepEqual(
      parseProcNet(PROC_NET_TCP6, 'tcp', 6, '/proc/net/tcp6').map((s) => `${s.address} ${s.port}`),
      ['::1 6379', '::1 4369'],
    );
    assert.deepEqual(
      parseProcNet(PROC_NET_TCP6_MORE, 'tcp', 6, '/proc/net/tcp6').map((s) => `${s.address} ${s.port}`),
      [':: 443', '::ffff:127.0.0.1 8080', '2001:db8::1 22'],
    );
  });

  it('keeps bound UDP sockets without a peer and leaves connected ones out', () => {
    assert.deepEqual(
      parseProcNet(PROC_NET_UDP, 'udp', 4, '/proc/net/udp').map((s) => `${s.address}:${s.port}`),
      ['127.0.0.53:53'],
    );
  });

  it('skips garbage lines instead of failing', () => {
    assert.deepEqual(
      parseProcNet('header\nnot a line\n  0: zz:zz 00:00 0A\n', 'tcp', 4, '/proc/net/tcp'),
      [],
    );
  });

  it('names users from /etc/passwd', () => {
    const users = parsePasswd(
      'root:x:0:0:root:/root:/bin/bash\nredis:x:106:112::/var/lib/redis:/usr/sbin/nologin\n# comment\n',
    );
    assert.equal(users.get(106), 'redis');
    assert.equal(users.get(0), 'root');
  });
});

describe('sockets collector', () => {
  const roots: string[] = [];
  const servers: Server[] = [];
  after(async () => {
    for (const server of servers) server.close();
    for (const root of roots) await rm(root, { recursive: true, force: true });
  });

  it('says so in skipped when there is no /proc/net/tcp', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'moat-sockets-'));
    roots.push(root);
    const result = await socketsCollector.collect({
      host: createHost({ root }),
      config: parseConfig({}),
      composeFiles: [],
    });
    assert.equal(result.facts, undefined);
    assert.match(result.skipped?.[0]?.reason ?? '', /no \/proc\/net\/tcp/);
  });

  it('reads a copied tree: sockets and users, no processes', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'moat-sockets-'));
    roots.push(root);
    await mkdir(path.join(root, 'proc/net'), { recursive: true });
    await mkdir(path.join(root, 'etc'), { recursive: true });
    await writeFile(path.join(root, 'proc/net/tcp'), PROC_NET_TCP);
    await writeFile(
      path.join(root, 'etc/passwd'),
      'root:x:0:0::/root:/bin/bash\nmysql:x:107:113::/nonexistent:/bin/false\n',
    );
    const result = await socketsCollector.collect({
      host: createHost({ root }),
      config: parseConfig({}),
      composeFiles: [],
    });
    assert.equal(result.facts?.processesMapped, false);
    const mysql = result.facts?.sockets.find((s) => s.port === 3306);
    assert.equal(mysql?.user, 'mysql');
    assert.equal(mysql?.pid, undefined);
  });

  it('finds a real listener on this machine and maps it to this process and user', async () => {
    const server = createServer();
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    assert.ok(address !== null && typeof address === 'object');
    const started = performance.now();
    const result = await socketsCollector.collect({
      host: createHost(),
      config: parseConfig({}),
      composeFiles: [],
    });
    const elapsedMs = performance.now() - started;
    const mine = result.facts?.sockets.find((s) => s.port === address.port && s.protocol === 'tcp');
    assert.ok(mine, `listener on 127.0.0.1:${address.port} not found`);
    assert.equal(mine.address, '127.0.0.1');
    assert.equal(mine.pid, process.pid);
    assert.equal(mine.process, readFileSync('/proc/self/comm', 'utf8').trim());
    assert.equal(mine.user, userInfo().username);
    assert.equal(result.facts?.processesMapped, true);
    assert.ok(elapsedMs < 1000, `took ${elapsedMs} ms`);
  });
});

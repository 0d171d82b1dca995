import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { parseConfig } from '../../config/load.ts';
import { createHost, type Host } from '../host.ts';
import { type NginxDirective, nginxCollector, splitNginxDump } from './nginx.ts';

const roots: string[] = [];
after(async () => {
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

async function tree(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'moat-nginx-'));
  roots.push(root);
  for (const [file, text] of Object.entries(files)) {
    await mkdir(path.join(root, path.dirname(file)), { recursive: true });
    await writeFile(path.join(root, file), text);
  }
  return root;
}

async function collect(files: Record<string, string>, config: unknown = {}) {
  const root = await tree(files);
  return nginxCollector.collect({
    host: createHost({ root }),
    config: parseConfig(config),
    composeFiles: [],
  });
}

/** Every directive in the tree as `name@file:line`, depth first. */
function flat(directives: readonly NginxDirective[]): string[] {
  return directives.flatMap((d) => [`${d.name}@${d.file}:${d.line}`, ...flat(d.block ?? [])]);
}

const MAIN =
  'events {}\nhttp {\n  include mime.types;\n  include /etc/nginx/conf.d/*.conf;\n  include sites-enabled/*;\n}\n';

describe('nginx collector (files)', () => {
  it('is skipped when there is no nginx.conf', async () => {
    const result = await collect({ 'etc/hosts': '127.0.0.1 localhost\n' });
    assert.equal(result.facts, undefined);
    assert.match(result.skipped?.[0]?.reason ?? '', /no \/etc\/nginx\/nginx.conf/);
  });

  it('expands includes in place (globs sorted, relative to /etc/nginx), keeping each file and line', async () => {
    const { facts, skipped } = await collect({
      'etc/nginx/nginx.conf': MAIN,
      'etc/nginx/mime.types': 'types { text/html html; }\n',
      'etc/nginx/conf.d/b.conf': 'limit_req_zone $binary_remote_addr zone=z:1m rate=1r/s;\n',
      'etc/nginx/conf.d/a.conf': '\nreal_ip_header CF-Connecting-IP;\n',
      'etc/nginx/conf.d/ignored.txt': 'nonsense {\n',
      'etc/nginx/sites-enabled/app': 'server {\n  listen 80;\n}\n',
    });
    assert.equal(skipped, undefined);
    assert.equal(facts?.source, 'files');
    assert.deepEqual(facts?.files, [
      '/etc/nginx/nginx.conf',
      '/etc/nginx/mime.types',
      '/etc/nginx/conf.d/a.conf',
      '/etc/nginx/conf.d/b.conf',
      '/etc/nginx/sites-enabled/app',
    ]);
    assert.deepEqual(flat(facts?.directives ?? []), [
      'events@/etc/nginx/nginx.conf:1',
      'http@/etc/nginx/nginx.conf:2',
      'types@/etc/nginx/mime.types:1',
      'text/html@/etc/nginx/mime.types:1',
      'real_ip_header@/etc/nginx/conf.d/a.conf:2',
      'limit_req_zone@/etc/nginx/conf.d/b.conf:1',
      'server@/etc/nginx/sites-enabled/app:1',
      'listen@/etc/nginx/sites-enabled/app:2',
    ]);
  });

  it('notes an include of an absent file in skipped, and an empty glob not at all', async () => {
    const { facts, skipped } = await collect({ 'etc/nginx/nginx.conf': MAIN });
    assert.ok(facts);
    assert.deepEqual(skipped, [
      { check: 'nginx', reason: '/etc/nginx/nginx.conf:3 includes /etc/nginx/mime.types, which is absent' },
    ]);
  });

  it('turns a file with unbalanced braces into an unparsable-file finding and keeps the rest', async () => {
    const result = await collect({
      'etc/nginx/nginx.conf': MAIN,
      'etc/nginx/mime.types': 'types { text/html html; }\n',
      'etc/nginx/sites-enabled/broken': '\nserver {\n  location / {\n    proxy_pass http://app;\n}\n',
      'etc/nginx/sites-enabled/good': 'server { listen 8080; }\n',
    });
    assert.deepEqual(
      result.findings?.map((f) => [f.id, f.evidence[0]?.file, f.evidence[0]?.line]),
      [['unparsable-file', '/etc/nginx/sites-enabled/broken', 2]],
    );
    assert.ok(flat(result.facts?.directives ?? []).includes('listen@/etc/nginx/sites-enabled/good:1'));
    assert.ok(!flat(result.facts?.directives ?? []).some((d) => d.includes('broken')));
  });

  it('stops an include loop with a finding', async () => {
    const result = await collect({ 'etc/nginx/nginx.conf': 'include nginx.conf;\nevents {}\n' });
    assert.equal(result.findings?.[0]?.id, 'unparsable-file');
    assert.match(result.findings?.[0]?.evidence[0]?.detail ?? '', /loops back/);
  });

  it('follows sites-enabled symlinks inside the --root tree', async () => {
    const root = await tree({
      'etc/nginx/nginx.conf': 'http { include /etc/nginx/sites-enabled/*; }\n',
      'etc/nginx/sites-available/app': 'server { listen 443; }\n',
    });
    await mkdir(path.join(root, 'etc/nginx/sites-enabled'));
    await symlink('/etc/nginx/sites-available/app', path.join(root, 'etc/nginx/sites-enabled/app'));
    const { facts } = await nginxCollector.collect({
      host: createHost({ root }),
      config: parseConfig({}),
      composeFiles: [],
    });
    assert.deepEqual(flat(facts?.directives ?? []).slice(-1), ['listen@/etc/nginx/sites-enabled/app:1']);
  });

  it('carries the built-in Cloudflare list, or the one from cdn.rangesFile', async () => {
    const builtin = await collect({ 'etc/nginx/nginx.conf': 'events {}\n' });
    assert.match(
      builtin.facts?.cdn.source ?? '',
      /built-in list of Cloudflare ranges \(taken \d{4}-\d{2}-\d{2}\)/,
    );

    const dir = await tree({ 'ranges.txt': '# mine\n198.51.100.0/24\n' });
    const custom = await collect(
      { 'etc/nginx/nginx.conf': 'events {}\n' },
      { cdn: { rangesFile: path.join(dir, 'ranges.txt') } },
    );
    assert.deepEqual(
      custom.facts?.cdn.cidrs.map((c) => c.text),
      ['198.51.100.0/24'],
    );

    const broken = await collect(
      { 'etc/nginx/nginx.conf': 'events {}\n' },
      { cdn: { rangesFile: path.join(dir, 'absent.txt') } },
    );
    assert.match(
      broken.skipped?.[0]?.reason ?? '',
      /cdn.rangesFile: cannot read .*absent.txt: ENOENT; using the built-in list/,
    );
    assert.ok((broken.facts?.cdn.cidrs.length ?? 0) > 10);
  });
});

describe('nginx -T on the live host', () => {
  const dump = [
    '# configuration file /etc/nginx/nginx.conf:',
    'events {}',
    'http {',
    '    include /etc/nginx/conf.d/*.conf;',
    '}',
    '',
    '# configuration file /etc/nginx/conf.d/app.conf:',
    'server {',
    '    listen 80;',
    '}',
    '',
    '',
  ].join('\n');

  const liveHost = (
    result: { code: number; stdout: string; stderr: string },
    files: Record<string, string> = {},
  ): Host => ({
    root: '/',
    live: true,
    problems: [],
    readText: async (p) => files[p],
    readHead: async () => undefined,
    list: async () => undefined,
    isFile: async () => false,
    isDirectory: async () => false,
    readLink: async () => undefined,
    run: async (command) => (command === 'nginx' ? result : undefined),
  });

  it('splits the dump back into files', () => {
    const files = splitNginxDump(dump);
    assert.deepEqual([...files.keys()], ['/etc/nginx/nginx.conf', '/etc/nginx/conf.d/app.conf']);
    assert.equal(files.get('/etc/nginx/conf.d/app.conf'), 'server {\n    listen 80;\n}\n');
  });

  it('maps every directive back to its own file and line', async () => {
    const { facts } = await nginxCollector.collect({
      host: liveHost({
        code: 0,
        stdout: dump,
        stderr: 'nginx: configuration file /etc/nginx/nginx.conf test is successful\n',
      }),
      config: parseConfig({}),
      composeFiles: [],
    });
    assert.equal(facts?.source, 'nginx -T');
    assert.deepEqual(flat(facts?.directives ?? []), [
      'events@/etc/nginx/nginx.conf:1',
      'http@/etc/nginx/nginx.conf:2',
      'server@/etc/nginx/conf.d/app.conf:1',
      'listen@/etc/nginx/conf.d/app.conf:2',
    ]);
  });

  it('falls back to the files when nginx -T fails, and says so', async () => {
    const result = await nginxCollector.collect({
      host: liveHost(
        {
          code: 1,
          stdout: '',
          stderr: 'nginx: [emerg] open() "/run/nginx.pid" failed (13: Permission denied)\n',
        },
        { '/etc/nginx/nginx.conf': 'events {}\n' },
      ),
      config: parseConfig({}),
      composeFiles: [],
    });
    assert.equal(result.facts?.source, 'files');
    assert.match(result.skipped?.[0]?.reason ?? '', /nginx -T failed \(exit 1: .*Permission denied\)/);
  });
});

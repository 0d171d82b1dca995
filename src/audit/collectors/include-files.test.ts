import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expandIncludeGlob, hasGlob } from './include-files.ts';

const dirs: Record<string, string[]> = {
  '/': ['etc'],
  '/etc': ['nginx'],
  '/etc/nginx': ['conf.d', 'sites-enabled'],
  '/etc/nginx/conf.d': ['.hidden.conf', 'b.conf', 'a.conf', 'c.conf.bak'],
  '/etc/nginx/sites-enabled': ['one', 'two'],
};
const list = async (dir: string) => dirs[dir];

describe('expandIncludeGlob', () => {
  it('returns a pattern without wildcards as it is, whether or not it exists', async () => {
    assert.deepEqual(await expandIncludeGlob('/etc/nginx/absent.conf', list), ['/etc/nginx/absent.conf']);
    assert.equal(hasGlob('/etc/nginx/mime.types'), false);
  });

  it('matches like glob(3): sorted, no hidden files unless the pattern starts with a dot', async () => {
    assert.deepEqual(await expandIncludeGlob('/etc/nginx/conf.d/*.conf', list), [
      '/etc/nginx/conf.d/a.conf',
      '/etc/nginx/conf.d/b.conf',
    ]);
    assert.deepEqual(await expandIncludeGlob('/etc/nginx/conf.d/.*.conf', list), [
      '/etc/nginx/conf.d/.hidden.conf',
    ]);
  });

  it('expands wildcards in directory components too', async () => {
    assert.deepEqual(await expandIncludeGlob('/etc/nginx/*/t*', list), ['/etc/nginx/sites-enabled/two']);
  });

  it('returns nothing when a directory is absent', async () => {
    assert.deepEqual(await expandIncludeGlob('/etc/nginx/modules-enabled/*.conf', list), []);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isMoatError } from '../../core/errors.ts';
import { type FilterFileReader, readFail2banFilterFiles } from './load.ts';

/** An in-memory file tree. */
function reader(files: Record<string, string>): FilterFileReader {
  return {
    readText: async (path) => files[path],
    listDir: async (dir) =>
      Object.keys(files)
        .filter((p) => p.startsWith(`${dir}/`) && !p.slice(dir.length + 1).includes('/'))
        .map((p) => p.slice(dir.length + 1)),
  };
}

describe('reading a filter with its includes', () => {
  it('merges includes before and after, .d/ files and .local files in fail2ban’s order', async () => {
    const ini = await readFail2banFilterFiles(
      '/f/x.conf',
      reader({
        '/f/x.conf': '[INCLUDES]\nbefore = common.conf\nafter = sub/after.conf\n[Definition]\nv = conf',
        '/f/common.conf': '[DEFAULT]\nd = common',
        '/f/common.local': '[DEFAULT]\nd = common-local',
        '/f/sub/after.conf': '[Definition]\nw = after',
        '/f/x.d/20-b.conf': '[Definition]\nv = d20',
        '/f/x.d/10-a.conf': '[Definition]\nv = d10',
        '/f/x.local': '[Definition]\nv = local',
        '/f/x.d/99.local': '[Definition]\nv = d-local',
      }),
    );
    assert.deepEqual(ini.files, [
      '/f/common.conf',
      '/f/common.local',
      '/f/x.conf',
      '/f/sub/after.conf',
      '/f/x.d/10-a.conf',
      '/f/x.d/20-b.conf',
      '/f/x.local',
      '/f/x.d/99.local',
    ]);
    assert.equal(ini.get('Definition', 'v'), 'd-local');
    assert.equal(ini.get('Definition', 'd'), 'common-local');
    assert.equal(ini.main, '/f/x.conf');
  });

  it('skips includes that do not exist and includes that loop', async () => {
    const ini = await readFail2banFilterFiles(
      '/f/a.conf',
      reader({
        '/f/a.conf': '[INCLUDES]\nbefore = b.conf\n           missing.conf\n[A]\nx = a',
        '/f/b.conf': '[INCLUDES]\nbefore = a.conf\n[A]\ny = b',
      }),
    );
    assert.deepEqual(ini.files, ['/f/b.conf', '/f/a.conf']);
  });

  it('fails with MOAT_FAIL2BAN_FILTER naming the file when the filter cannot be read or parsed', async () => {
    await assert.rejects(
      readFail2banFilterFiles('/f/none.conf', reader({})),
      (e) => isMoatError(e) && /none\.conf/.test(e.message),
    );
    await assert.rejects(
      readFail2banFilterFiles('/f/bad.conf', reader({ '/f/bad.conf': 'no section here' })),
      (e) => isMoatError(e) && e.code === 'MOAT_FAIL2BAN_FILTER' && /bad\.conf:1/.test(e.message),
    );
  });
});

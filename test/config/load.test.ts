import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig, parseConfig, parseConfigText } from '../../src/config/load.ts';
import { isMoatError } from '../../src/core/errors.ts';

const dir = path.join(import.meta.dirname, '..', 'fixtures', 'config');

describe('config loading', () => {
  it('gives every key its default when the default file is absent', async () => {
    // /etc/moat/moat.yaml does not exist on test machines; if it ever does, this test says so.
    const loaded = await loadConfig();
    assert.equal(loaded.path, undefined);
    assert.equal(loaded.config.probe.timeoutMs, 1500);
    assert.deepEqual(loaded.config.audit.skip, []);
    assert.equal(loaded.config.cdn.provider, 'none');
  });

  it('fails with MOAT_CONFIG_NOT_FOUND when --config names a missing file', async () => {
    await assert.rejects(loadConfig(path.join(dir, 'nope.yaml')), { code: 'MOAT_CONFIG_NOT_FOUND' });
  });

  it('returns a frozen object that cannot be changed at run time', () => {
    const config = parseConfig({ audit: { skip: ['redis-no-auth'] } });
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.audit.skip));
    assert.throws(() => {
      (config.audit.skip as string[]).push('x');
    }, TypeError);
  });

  for (const file of readdirSync(path.join(dir, 'valid'))) {
    it(`accepts valid/${file}`, async () => {
      const { config } = await loadConfig(path.join(dir, 'valid', file));
      assert.equal(typeof config.probe.concurrency, 'number');
    });
  }

  // One invalid fixture per validation rule; its first line says the code and the message expected.
  for (const file of readdirSync(path.join(dir, 'invalid'))) {
    it(`rejects invalid/${file} naming the key and the fix`, () => {
      const text = readFileSync(path.join(dir, 'invalid', file), 'utf8');
      const expectation = /^# expect: (\S+) (.*)$/m.exec(text);
      assert.ok(expectation, 'fixture must start with "# expect: CODE message"');
      const [, code, message] = expectation;
      const source = `invalid/${file}`;
      try {
        parseConfigText(text, source);
        assert.fail('expected the config to be rejected');
      } catch (error) {
        assert.ok(isMoatError(error), String(error));
        assert.equal(error.code, code);
        assert.ok(
          error.message.includes(message!.replaceAll('%FILE%', source)),
          `message:\n${error.message}\nshould contain:\n${message}`,
        );
      }
    });
  }
});

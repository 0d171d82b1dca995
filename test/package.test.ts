/**
 * The published package works where users put it: inside node_modules, where Node does not strip
 * types. `npm pack` (which builds dist/) → unpacked under a node_modules folder → the `moat` command
 * runs from it, and `moat/gate` serves as middleware in a plain node:http app.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

const top = path.join(import.meta.dirname, '..');
// Under the repository's node_modules, so that moat's own dependencies resolve as they would in an app.
const app = path.join(top, 'node_modules', '.moat-package-test');
const installed = path.join(app, 'node_modules', 'moat');

describe('the packed package, installed', () => {
  before(() => {
    rmSync(app, { recursive: true, force: true });
    const packDir = mkdtempSync(path.join(tmpdir(), 'moat-pack-'));
    execFileSync('npm', ['pack', '--pack-destination', packDir, '--silent'], {
      cwd: top,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, PATH: `${path.dirname(process.execPath)}:${process.env['PATH'] ?? ''}` },
    });
    const tarball = readdirSync(packDir).find((name) => name.endsWith('.tgz'));
    assert.ok(tarball, 'npm pack wrote a tarball');
    mkdirSync(installed, { recursive: true });
    execFileSync('tar', ['-xzf', path.join(packDir, tarball), '-C', installed, '--strip-components=1']);
    rmSync(packDir, { recursive: true, force: true });
  });
  after(() => rmSync(app, { recursive: true, force: true }));

  it('holds the compiled code and no TypeScript sources', () => {
    const files = readdirSync(installed);
    assert.ok(files.includes('dist') && files.includes('bin'), files.join(', '));
    assert.ok(!files.includes('src'), 'sources are not shipped: an installed moat runs dist/');
    assert.ok(readdirSync(path.join(installed, 'dist/detection/scenarios')).includes('http-probing.yaml'));
  });

  it('runs the moat command from node_modules', () => {
    const run = (...args: string[]) =>
      execFileSync(process.execPath, [path.join(installed, 'bin/moat.js'), ...args], { encoding: 'utf8' });
    assert.match(run('--version'), /^\d+\.\d+\.\d+/);
    const config = path.join(app, 'moat.yaml');
    writeFileSync(
      config,
      'gate:\n  upstream: http://127.0.0.1:3000\n  zones: [{ name: api, rate: 10r/s }]\n',
    );
    assert.match(run('-c', config, 'config', 'check'), /ok|valid/i);
    const report = JSON.parse(
      run('audit', '--root', path.join(top, 'test/fixtures/hosts/hardened/root'), '--json'),
    );
    assert.ok(Array.isArray(report.findings), 'the audit ran with its built-in rules');
  });

  // 10r/m (one request back every 6 s): "back to back" holds however slowly a loaded machine sends
  // the seven requests one after another (at 10r/s, 100 ms between two of them was enough to fail).
  it('serves `moat/gate` as node:http middleware: 10r/m burst 5 nodelay admits 6 back to back', async () => {
    const script = path.join(app, 'gate-app.mjs');
    writeFileSync(
      script,
      `import http from 'node:http';
import { createGate } from 'moat/gate';
const gate = await createGate({ gate: { zones: [{ name: 'api', rate: '10r/m', burst: 5, nodelay: true }], limit: ['api'], deny: [{ paths: ['*.php'] }] } });
const server = http.createServer(gate.wrap((req, res) => res.end('app')));
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = 'http://127.0.0.1:' + server.address().port;
const statuses = [];
for (let i = 0; i < 7; i++) statuses.push((await fetch(url + '/')).status);
statuses.push((await fetch(url + '/x/index.php')).status);
console.log(JSON.stringify(statuses));
server.close();
await gate.close();
`,
    );
    const out = execFileSync(process.execPath, [script], { cwd: app, encoding: 'utf8' });
    // The php probe comes after the limit was reached: deny rules answer before rate limits.
    assert.deepEqual(JSON.parse(out), [200, 200, 200, 200, 200, 200, 429, 404]);
  });
});

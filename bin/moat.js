#!/usr/bin/env node
// moat's entry. Plain JavaScript so that it can refuse an old runtime with a clear message before
// loading moat: the TypeScript sources in a checkout (Node's type stripping, 22.18+), or the
// compiled dist/ in an installed package (Node does not strip types inside node_modules).
import { existsSync } from 'node:fs';
import module from 'node:module';
import { URL, fileURLToPath } from 'node:url';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `error: moat needs Node.js 22.18 or newer; this is ${process.version}\n` +
      'hint: run it as `npx moat` inside the moat folder after `npm ci` (that brings Node 24), or install Node.js 24 LTS\n' +
      '  (code MOAT_RUNTIME_TOO_OLD)\n',
  );
  process.exitCode = 2;
} else {
  // V8's compiled code (and, for the TypeScript sources, their stripped text) is kept inside moat's
  // own folder, not in a shared temporary one: every later start is about 0.25 s shorter. Where that
  // folder cannot be written, nothing is cached and nothing else changes.
  module.enableCompileCache?.(fileURLToPath(new URL('../node_modules/.cache/moat', import.meta.url)));
  const source = new URL('../src/cli/main.ts', import.meta.url);
  const { main } = await import(existsSync(source) ? source.href : '../dist/cli/main.js');
  process.exitCode = await main(process.argv.slice(2));
}

/**
 * Builds the published package: the TypeScript sources compiled to JavaScript in dist/ (Node does
 * not strip types inside node_modules, so an installed moat and its middleware run from dist/),
 * with declarations, and the built-in scenario files beside the code that loads them.
 *
 *   node scripts/build.ts [--out-dir DIR]
 */
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import path from 'node:path';

const top = path.join(import.meta.dirname, '..');
const at = process.argv.indexOf('--out-dir');
const outDir = path.resolve(at === -1 ? path.join(top, 'dist') : (process.argv[at + 1] as string));
rmSync(outDir, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [
    path.join(top, 'node_modules/typescript/bin/tsc'),
    '-p',
    path.join(top, 'tsconfig.build.json'),
    '--outDir',
    outDir,
  ],
  { stdio: 'inherit' },
);
cpSync(path.join(top, 'src/detection/scenarios'), path.join(outDir, 'detection/scenarios'), {
  recursive: true,
});
process.stdout.write(`built ${path.relative(process.cwd(), outDir) || '.'}\n`);

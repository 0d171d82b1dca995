import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import { generatedFiles } from '../scripts/generated-docs.ts';

const top = path.join(import.meta.dirname, '..');

for (const [file, content] of Object.entries(generatedFiles())) {
  it(`${file} matches the code (run \`npm run docs\` after changing rules, errors or config)`, () => {
    assert.equal(readFileSync(path.join(top, file), 'utf8'), content);
  });
}

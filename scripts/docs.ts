/** Writes the generated docs (see generated-docs.ts). */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generatedFiles } from './generated-docs.ts';

const top = path.join(import.meta.dirname, '..');
for (const [file, content] of Object.entries(generatedFiles())) {
  mkdirSync(path.dirname(path.join(top, file)), { recursive: true });
  writeFileSync(path.join(top, file), content);
  process.stdout.write(`wrote ${file}\n`);
}

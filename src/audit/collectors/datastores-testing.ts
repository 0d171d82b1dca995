/** Test support for the datastore collectors: host trees in a temp dir. */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../config/load.ts';
import { createHost, type Host } from '../host.ts';
import type { CollectContext } from '../types.ts';

const roots: string[] = [];

/** Writes `files` (host path → content) under a fresh temp root and returns a --root host on it. */
export async function treeHost(files: Readonly<Record<string, string>>): Promise<Host> {
  const root = await mkdtemp(path.join(tmpdir(), 'moat-ds-'));
  roots.push(root);
  for (const [hostPath, content] of Object.entries(files)) {
    const real = path.join(root, hostPath);
    await mkdir(path.dirname(real), { recursive: true });
    await writeFile(real, content);
  }
  return createHost({ root });
}

export function contextFor(host: Host): CollectContext {
  return { host, config: parseConfig({}), composeFiles: [] };
}

/** Removes every tree made by treeHost (call from `after`). */
export async function removeTrees(): Promise<void> {
  await Promise.all(roots.splice(0).map((root) => rm(root, { recursive: true, force: true })));
}

/** The file reader loadFail2banFilter needs, over node:fs (src/parsing itself does no IO; the daemon and CLI own the IO). */
import { readdir, readFile } from 'node:fs/promises';
import type { FilterFileReader } from '../parsing/fail2ban/index.ts';

export const fsReader: FilterFileReader = {
  async readText(path) {
    try {
      return await readFile(path, 'utf8');
    } catch {
      return undefined;
    }
  },
  async listDir(path) {
    try {
      return await readdir(path);
    } catch {
      return [];
    }
  },
};

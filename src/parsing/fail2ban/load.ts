/**
 * Reading a fail2ban filter from disk the way fail2ban does: `NAME.conf`, `NAME.d/*.conf`,
 * `NAME.local`, `NAME.d/*.local`, and for each file its `[INCLUDES] before`/`after` files (relative
 * to the including file's directory, each followed by its own `.local` when present), recursively and
 * loop-safe. Missing includes are skipped, as in fail2ban (`common.local` usually does not exist).
 * The files come through a reader the caller passes: src/parsing does no IO of its own.
 */
import { dirname, isAbsolute, join } from 'node:path';
import { filterError } from './errors.ts';
import { compileFail2banFilter } from './filter.ts';
import { Ini, IniError, type IniFile, parseIniFile } from './ini.ts';
import type { Fail2banFilter, Fail2banFilterOptions } from './types.ts';

export interface FilterFileReader {
  /** The file's text, or undefined when it does not exist or cannot be read. */
  readText(path: string): Promise<string | undefined>;
  /** Names of the entries of a directory, or [] when it does not exist. */
  listDir(path: string): Promise<string[]>;
}

/** Reads the filter and everything it includes, in fail2ban's merge order. */
export async function readFail2banFilterFiles(path: string, reader: FilterFileReader): Promise<Ini> {
  const base = path.replace(/\.(conf|local)$/, '');
  const mainText = await reader.readText(path);
  if (mainText === undefined) {
    throw filterError(
      path,
      'cannot be read',
      'Check the path; Debian keeps filters in /etc/fail2ban/filter.d/.',
    );
  }
  const candidates = [
    path,
    ...(await listMatching(reader, `${base}.d`, '.conf')),
    ...(path.endsWith('.local') ? [] : [`${base}.local`]),
    ...(await listMatching(reader, `${base}.d`, '.local')),
  ];
  const parsed = new Map<string, IniFile | null>();
  const load = async (file: string): Promise<IniFile | undefined> => {
    if (parsed.has(file)) return parsed.get(file) ?? undefined;
    const text = file === path ? mainText : await reader.readText(file);
    let ini: IniFile | null = null;
    if (text !== undefined) {
      try {
        ini = parseIniFile(text, file);
      } catch (error) {
        if (error instanceof IniError) throw filterError(path, error.message);
        throw error;
      }
    }
    parsed.set(file, ini);
    return ini ?? undefined;
  };

  const withLocal = async (files: readonly string[]): Promise<string[]> => {
    const out: string[] = [];
    for (const file of files) {
      out.push(file);
      const local = file.replace(/\.[^./]*$/, '') + '.local';
      if (local !== file && !files.includes(local) && (await load(local))) out.push(local);
    }
    return out;
  };

  const includes = async (files: readonly string[], seen: readonly string[]): Promise<string[]> => {
    const out: string[] = [];
    for (const file of await withLocal(files)) out.push(...(await uncached(file, seen)));
    return out;
  };

  const uncached = async (file: string, seen: readonly string[]): Promise<string[]> => {
    const ini = await load(file);
    if (!ini) return [];
    const lists: Record<'before' | 'after', string[]> = { before: [], after: [] };
    const section = ini.sections.get('INCLUDES');
    for (const which of ['before', 'after'] as const) {
      const value = section?.get(which);
      if (value === undefined) continue;
      for (const entry of value.split('\n')) {
        if (!entry.trim()) continue;
        const target = isAbsolute(entry) ? entry : join(dirname(file), entry);
        if (seen.includes(target)) continue;
        lists[which].push(...(await includes([target], [...seen, file])));
      }
    }
    return [...lists.before, file, ...lists.after];
  };

  const existing: string[] = [];
  for (const file of candidates) if (await load(file)) existing.push(file);
  const order = await includes(existing, []);
  const files: IniFile[] = [];
  for (const file of order) {
    const ini = parsed.get(file);
    if (ini) files.push(ini);
  }
  // the filter itself first in `files` names it; the merge order is kept inside Ini
  return new Ini(files, path);
}

async function listMatching(reader: FilterFileReader, dir: string, ext: string): Promise<string[]> {
  return (await reader.listDir(dir))
    .filter((name) => name.endsWith(ext))
    .sort()
    .map((name) => join(dir, name));
}

/**
 * Reads and compiles a fail2ban filter with its includes. The parsing stage does no IO itself, so the
 * caller passes the reader (see README.md for one over node:fs). Throws a MoatError naming the file
 * when it cannot be read or fail2ban would reject it.
 */
export async function loadFail2banFilter(
  path: string,
  options: Fail2banFilterOptions,
  reader: FilterFileReader,
): Promise<Fail2banFilter> {
  return compileFail2banFilter(await readFail2banFilterFiles(path, reader), options);
}

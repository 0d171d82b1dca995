/**
 * Helpers for config files that include others (sshd_config, nginx.conf).
 *
 * expandIncludeGlob expands an `Include`/`include` pattern the way glob(3) does for sshd and nginx: wildcards (`*`, `?`,
 * `[…]`) in any path component, hidden files only when the pattern's component starts with a dot,
 * results sorted. Directory listing is injected so the same code serves the host and an `nginx -T` dump.
 */
import path from 'node:path';
import picomatch from 'picomatch';
import type { Host } from '../host.ts';

/** Lists the entry names of a directory (host path), or undefined when it is absent. */
export type ListDirectory = (hostPath: string) => Promise<readonly string[] | undefined>;

const GLOB_CHARS = /[*?[]/;

export function hasGlob(pattern: string): boolean {
  return GLOB_CHARS.test(pattern);
}

/**
 * The absolute host paths a pattern names. A pattern without wildcards is returned as is (whether it
 * exists is for the reader to find out); a pattern with wildcards yields only the entries that exist.
 */
export async function expandIncludeGlob(pattern: string, list: ListDirectory): Promise<string[]> {
  const absolute = path.posix.resolve('/', pattern);
  if (!hasGlob(absolute)) return [absolute];
  let bases = ['/'];
  for (const part of absolute.split('/').filter((p) => p !== '')) {
    const next: string[] = [];
    if (!hasGlob(part)) {
      for (const base of bases) next.push(path.posix.join(base, part));
    } else {
      const matches = picomatch(part, { dot: part.startsWith('.') });
      for (const base of bases) {
        const names = (await list(base)) ?? [];
        for (const name of names) if (matches(name)) next.push(path.posix.join(base, name));
      }
    }
    bases = next;
    if (bases.length === 0) return [];
  }
  return bases.sort();
}

/**
 * Reads a config file through the host. With --root, a symlink (sites-enabled/x → /etc/nginx/
 * sites-available/x) is resolved inside the copied tree, never against the auditing machine's own
 * files; on the live host the kernel follows links as usual.
 */
export async function readConfigText(host: Host, hostPath: string): Promise<string | undefined> {
  let current = hostPath;
  if (!host.live) {
    for (let hops = 0; hops < 8; hops++) {
      const target = await host.readLink(current);
      if (target === undefined) break;
      current = path.posix.resolve(path.posix.dirname(current), target);
    }
  }
  return host.readText(current);
}

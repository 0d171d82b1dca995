/**
 * The files collector: the crontabs and authorized_keys files an attacker targets with Redis's
 * `CONFIG SET dir` + `dbfilename` + `SAVE`. Reads only the first bytes of each (host.readHead) to
 * spot the `REDIS0…` magic of an RDB dump written where a crontab or key file belongs.
 * Bounded: at most MAX_FILES_PER_DIR entries per directory and MAX_HOMES home directories.
 */
import type { Host } from '../host.ts';
import type { Collector } from '../types.ts';

export type ScannedKind = 'cron' | 'authorized_keys';

export interface ScannedFile {
  /** Host path. */
  readonly path: string;
  readonly kind: ScannedKind;
  /** The account it belongs to, read from its path: the crontab's name, or the home's owner. */
  readonly user?: string;
  /** The RDB magic when the file is a Redis dump, e.g. `REDIS0009`. */
  readonly rdbMagic?: string;
  /** The first bytes, printable ASCII kept and the rest as \xNN, for evidence. */
  readonly head: string;
}

export interface FilesFacts {
  readonly files: readonly ScannedFile[];
  /** Directories that held more entries than were read. */
  readonly truncated: readonly string[];
}

export const MAX_FILES_PER_DIR = 200;
export const MAX_HOMES = 500;
const HEAD_BYTES = 32;
const SHOWN_BYTES = 24;

/** System crontab files, and directories holding crontabs (name = user where `userFromName`). */
const CRON_FILES = ['/etc/crontab'];
const CRON_DIRS: readonly { dir: string; userFromName: boolean }[] = [
  { dir: '/etc/cron.d', userFromName: false },
  { dir: '/etc/cron.hourly', userFromName: false },
  { dir: '/etc/cron.daily', userFromName: false },
  { dir: '/etc/cron.weekly', userFromName: false },
  { dir: '/etc/cron.monthly', userFromName: false },
  // RHEL: /var/spool/cron/<user>; Debian: /var/spool/cron/crontabs/<user>; SUSE: /var/spool/cron/tabs/<user>
  { dir: '/var/spool/cron', userFromName: true },
  { dir: '/var/spool/cron/crontabs', userFromName: true },
  { dir: '/var/spool/cron/tabs', userFromName: true },
];
/** Homes that are not homes: never worth listing. */
const NOT_HOMES = new Set([
  '/',
  '/nonexistent',
  '/dev/null',
  '/bin',
  '/sbin',
  '/usr/bin',
  '/usr/sbin',
  '/proc',
]);

/** `REDIS` + four-digit RDB version, as written by SAVE/BGSAVE since Redis 1.0. */
const RDB_MAGIC = /^REDIS\d{4}/;

function printable(head: Buffer): string {
  let text = '';
  for (const byte of head.subarray(0, SHOWN_BYTES)) {
    text +=
      byte >= 0x20 && byte < 0x7f && byte !== 0x5c
        ? String.fromCharCode(byte)
        : `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return text;
}

async function scan(
  host: Host,
  path: string,
  kind: ScannedKind,
  user: string | undefined,
): Promise<ScannedFile | undefined> {
  const head = await host.readHead(path, HEAD_BYTES);
  if (head === undefined) return undefined;
  const magic = RDB_MAGIC.exec(head.toString('latin1'))?.[0];
  return {
    path,
    kind,
    ...(user !== undefined ? { user } : {}),
    ...(magic !== undefined ? { rdbMagic: magic } : {}),
    head: printable(head),
  };
}

/** Entry names of a directory, capped; notes the directory when it held more. */
async function listCapped(host: Host, dir: string, truncated: string[]): Promise<string[]> {
  const names = (await host.list(dir)) ?? [];
  if (names.length > MAX_FILES_PER_DIR) truncated.push(dir);
  return names.slice(0, MAX_FILES_PER_DIR);
}

/** Home directories with their owners: /root, /home/*, and every home in /etc/passwd. */
async function homes(host: Host, truncated: string[]): Promise<Map<string, string | undefined>> {
  const found = new Map<string, string | undefined>();
  const passwd = (await host.readText('/etc/passwd', 4 * 1024 * 1024)) ?? '';
  for (const line of passwd.split('\n')) {
    const fields = line.split(':');
    const [name, home] = [fields[0], fields[5]];
    if (!name || !home?.startsWith('/') || NOT_HOMES.has(home.replace(/\/+$/, '') || '/')) continue;
    if (!found.has(home)) found.set(home, name);
  }
  if (!found.has('/root')) found.set('/root', 'root');
  for (const name of await listCapped(host, '/home', truncated)) {
    const home = `/home/${name}`;
    if (!found.has(home)) found.set(home, name);
  }
  if (found.size > MAX_HOMES) truncated.push('/etc/passwd homes');
  return new Map([...found].slice(0, MAX_HOMES));
}

export const filesCollector: Collector<'files'> = {
  name: 'files',
  async collect({ host }) {
    const truncated: string[] = [];
    const jobs: Promise<ScannedFile | undefined>[] = CRON_FILES.map((file) =>
      scan(host, file, 'cron', 'root'),
    );

    const cronLists = await Promise.all(
      CRON_DIRS.map(async ({ dir, userFromName }) => ({
        dir,
        userFromName,
        names: await listCapped(host, dir, truncated),
      })),
    );
    for (const { dir, userFromName, names } of cronLists) {
      for (const name of names)
        jobs.push(scan(host, `${dir}/${name}`, 'cron', userFromName ? name : undefined));
    }

    const homeList = await homes(host, truncated);
    const sshLists = await Promise.all(
      [...homeList].map(async ([home, user]) => {
        const dir = `${home === '/' ? '' : home.replace(/\/+$/, '')}/.ssh`;
        return { dir, user, names: await listCapped(host, dir, truncated) };
      }),
    );
    for (const { dir, user, names } of sshLists) {
      for (const name of names) {
        if (name.startsWith('authorized_keys'))
          jobs.push(scan(host, `${dir}/${name}`, 'authorized_keys', user));
      }
    }

    const files = (await Promise.all(jobs)).filter((file) => file !== undefined);
    if (files.length === 0) {
      return {
        skipped: [
          {
            check: 'files',
            reason: 'no crontab (/etc/crontab, /etc/cron.d, /var/spool/cron) or authorized_keys file found',
          },
        ],
      };
    }
    return { facts: { files, truncated } };
  },
};

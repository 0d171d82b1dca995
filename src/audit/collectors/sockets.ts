/**
 * Listening sockets from /proc/net/{tcp,tcp6,udp,udp6}: TCP sockets in LISTEN state (0A) and UDP
 * sockets bound without a peer. On the live host each socket's inode is mapped to the process that
 * holds it (one pass over /proc/<pid>/fd/* links `socket:[inode]`), with its name
 * (/proc/<pid>/comm) and user (Uid in /proc/<pid>/status, named through /etc/passwd). With --root
 * the proc tree holds only the net files: sockets are known, processes are not.
 *
 * Addresses are read as the kernel prints them on little-endian machines (x86, arm64): IPv4 as one
 * 32-bit word, IPv6 as four, each in host byte order.
 */
import type { Host } from '../host.ts';
import type { Collector } from '../types.ts';

export interface ListeningSocket {
  readonly protocol: 'tcp' | 'udp';
  readonly family: 4 | 6;
  /** `0.0.0.0`, `127.0.0.1`, `::`, `::1`, `::ffff:127.0.0.1`… */
  readonly address: string;
  readonly port: number;
  readonly inode: number;
  /** Owner of the socket as the kernel records it. */
  readonly uid: number;
  readonly user?: string;
  readonly pid?: number;
  /** Process name (comm), e.g. `redis-server`. */
  readonly process?: string;
  /** Where the socket was read: `/proc/net/tcp` and the line. */
  readonly file: string;
  readonly line: number;
}

export interface SocketsFacts {
  readonly sockets: readonly ListeningSocket[];
  /** True when sockets were mapped to processes (live host). */
  readonly processesMapped: boolean;
}

const NET_FILES = [
  { file: '/proc/net/tcp', protocol: 'tcp', family: 4 },
  { file: '/proc/net/tcp6', protocol: 'tcp', family: 6 },
  { file: '/proc/net/udp', protocol: 'udp', family: 4 },
  { file: '/proc/net/udp6', protocol: 'udp', family: 6 },
] as const;

const TCP_LISTEN = '0A';
const UDP_UNCONNECTED = '07';

/** `0100007F` → `127.0.0.1` (one little-endian 32-bit word). */
export function decodeIpv4(hex: string): string | undefined {
  if (!/^[0-9A-Fa-f]{8}$/.test(hex)) return undefined;
  const bytes = [6, 4, 2, 0].map((at) => Number.parseInt(hex.slice(at, at + 2), 16));
  return bytes.join('.');
}

/** 32 hex digits, four little-endian 32-bit words → compressed IPv6 text (`::1`, `::ffff:127.0.0.1`). */
export function decodeIpv6(hex: string): string | undefined {
  if (!/^[0-9A-Fa-f]{32}$/.test(hex)) return undefined;
  const bytes: number[] = [];
  for (let word = 0; word < 4; word++) {
    const chunk = hex.slice(word * 8, word * 8 + 8);
    for (const at of [6, 4, 2, 0]) bytes.push(Number.parseInt(chunk.slice(at, at + 2), 16));
  }
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  // IPv4-mapped: ::ffff:a.b.c.d
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${bytes.slice(12).join('.')}`;
  }
  return compressIpv6(groups);
}

function compressIpv6(groups: number[]): string {
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength && j - i >= 2) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) return hex.join(':');
  const head = hex.slice(0, bestStart).join(':');
  const tail = hex.slice(bestStart + bestLength).join(':');
  return `${head}::${tail}`;
}

/** Parses one /proc/net/{tcp,udp}[6] file. Lines it cannot read are skipped. */
export function parseProcNet(
  text: string,
  protocol: 'tcp' | 'udp',
  family: 4 | 6,
  file: string,
): ListeningSocket[] {
  const sockets: ListeningSocket[] = [];
  text.split('\n').forEach((raw, index) => {
    if (index === 0) return; // header
    const fields = raw.trim().split(/\s+/);
    if (fields.length < 10) return;
    const [, local, remote, state] = fields;
    const uid = Number(fields[7]);
    const inode = Number(fields[9]);
    if (local === undefined || remote === undefined || state === undefined) return;
    if (protocol === 'tcp' && state !== TCP_LISTEN) return;
    if (protocol === 'udp' && (state !== UDP_UNCONNECTED || !remote.endsWith(':0000'))) return;
    const [addressHex, portHex] = local.split(':');
    if (addressHex === undefined || portHex === undefined || !/^[0-9A-Fa-f]{4}$/.test(portHex)) return;
    const address = family === 4 ? decodeIpv4(addressHex) : decodeIpv6(addressHex);
    const port = Number.parseInt(portHex, 16);
    if (address === undefined || port === 0 || !Number.isInteger(uid) || !Number.isInteger(inode)) return;
    sockets.push({ protocol, family, address, port, inode, uid, file, line: index + 1 });
  });
  return sockets;
}

/** `name:x:uid:…` lines → uid → name. */
export function parsePasswd(text: string | undefined): Map<number, string> {
  const users = new Map<number, string>();
  for (const line of (text ?? '').split('\n')) {
    const [name, , uid] = line.split(':');
    if (name && uid !== undefined && /^\d+$/.test(uid) && !users.has(Number(uid)))
      users.set(Number(uid), name);
  }
  return users;
}

const BATCH = 32;

interface Owner {
  readonly pid: number;
}

/**
 * One pass over /proc/<pid>/fd: finds which process holds each wanted socket inode. Stops as soon as
 * every inode is found. Without root, only processes of our own user are looked at (others' fd
 * directories are unreadable anyway).
 */
async function ownersOf(host: Host, inodes: ReadonlySet<number>): Promise<Map<number, Owner>> {
  const owners = new Map<number, Owner>();
  const pids = ((await host.list('/proc')) ?? []).filter((name) => /^\d+$/.test(name)).map(Number);
  const myUid = process.getuid?.();
  const root = myUid === 0;
  for (let at = 0; at < pids.length && owners.size < inodes.size; at += BATCH) {
    await Promise.all(
      pids.slice(at, at + BATCH).map(async (pid) => {
        if (!root) {
          const status = await host.readText(`/proc/${pid}/status`);
          const uid = status === undefined ? undefined : /^Uid:\s+(\d+)/m.exec(status)?.[1];
          if (uid === undefined || Number(uid) !== myUid) return;
        }
        const fds = await host.list(`/proc/${pid}/fd`);
        if (!fds) return;
        await Promise.all(
          fds.map(async (fd) => {
            const target = await host.readLink(`/proc/${pid}/fd/${fd}`);
            const match = target === undefined ? undefined : /^socket:\[(\d+)\]$/.exec(target);
            if (!match) return;
            const inode = Number(match[1]);
            if (inodes.has(inode) && !owners.has(inode)) owners.set(inode, { pid });
          }),
        );
      }),
    );
  }
  return owners;
}

export const socketsCollector: Collector<'sockets'> = {
  name: 'sockets',
  async collect({ host }) {
    const texts = await Promise.all(NET_FILES.map((entry) => host.readText(entry.file)));
    if (texts.every((text) => text === undefined)) {
      return { skipped: [{ check: 'sockets', reason: 'no /proc/net/tcp (listening sockets unknown)' }] };
    }
    const parsed = NET_FILES.flatMap((entry, index) => {
      const text = texts[index];
      return text === undefined ? [] : parseProcNet(text, entry.protocol, entry.family, entry.file);
    });
    const passwd = parsePasswd(await host.readText('/etc/passwd'));
    if (!host.live || parsed.length === 0) {
      return {
        facts: {
          sockets: parsed.map((socket) => withUser(socket, passwd.get(socket.uid))),
          processesMapped: false,
        },
      };
    }
    const owners = await ownersOf(
      host,
      new Set(parsed.map((socket) => socket.inode).filter((inode) => inode > 0)),
    );
    const pids = [...new Set([...owners.values()].map((owner) => owner.pid))];
    const details = new Map(
      await Promise.all(
        pids.map(async (pid) => {
          const [comm, status] = await Promise.all([
            host.readText(`/proc/${pid}/comm`),
            host.readText(`/proc/${pid}/status`),
          ]);
          const uid = status === undefined ? undefined : /^Uid:\s+(\d+)/m.exec(status)?.[1];
          return [pid, { process: comm?.trim(), uid: uid === undefined ? undefined : Number(uid) }] as const;
        }),
      ),
    );
    const sockets = parsed.map((socket): ListeningSocket => {
      const owner = owners.get(socket.inode);
      const detail = owner ? details.get(owner.pid) : undefined;
      const uid = detail?.uid ?? socket.uid;
      return {
        ...withUser(socket, passwd.get(uid)),
        ...(owner ? { pid: owner.pid } : {}),
        ...(detail?.process ? { process: detail.process } : {}),
      };
    });
    return { facts: { sockets, processesMapped: true } };
  },
};

function withUser(socket: ListeningSocket, user: string | undefined): ListeningSocket {
  return user === undefined ? socket : { ...socket, user };
}

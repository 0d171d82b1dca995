/**
 * Who must never be banned, read from this host: the client addresses of current SSH sessions
 * (established TCP connections to sshd's ports, from /proc/net/tcp and tcp6) and the host's own
 * interface addresses. Cached briefly: the decider calls these on every decision.
 */
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { decodeIpv4, decodeIpv6 } from '../audit/collectors/sockets.ts';

const ESTABLISHED = '01';

/** Remote addresses of established connections to `ports`, from /proc/net/tcp{,6} text. */
export function sshClientsFromProcNet(text: string, family: 4 | 6, ports: ReadonlySet<number>): string[] {
  const clients: string[] = [];
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const [, local, remote, state] = fields;
    if (state !== ESTABLISHED || local === undefined || remote === undefined) continue;
    const localPort = Number.parseInt(local.slice(local.indexOf(':') + 1), 16);
    if (!ports.has(localPort)) continue;
    const hex = remote.slice(0, remote.indexOf(':'));
    const address = family === 4 ? decodeIpv4(hex) : decodeIpv6(hex);
    if (address !== undefined) clients.push(address.startsWith('::ffff:') ? address.slice(7) : address);
  }
  return clients;
}

export function createHostProtection(sshPorts: readonly number[], cacheMs = 2000) {
  const ports = new Set(sshPorts);
  let sessions: string[] = [];
  let sessionsAt = Number.NEGATIVE_INFINITY;
  let locals: string[] = [];
  let localsAt = Number.NEGATIVE_INFINITY;
  const read = (file: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch {
      return '';
    }
  };
  return {
    sshSessions(): readonly string[] {
      const now = Date.now();
      if (now - sessionsAt > cacheMs) {
        sessions = [
          ...sshClientsFromProcNet(read('/proc/net/tcp'), 4, ports),
          ...sshClientsFromProcNet(read('/proc/net/tcp6'), 6, ports),
        ];
        sessionsAt = now;
      }
      return sessions;
    },
    localAddresses(): readonly string[] {
      const now = Date.now();
      if (now - localsAt > cacheMs * 30) {
        locals = Object.values(networkInterfaces())
          .flatMap((list) => list ?? [])
          .map((i) => i.address.split('%')[0]!);
        localsAt = now;
      }
      return locals;
    },
  };
}

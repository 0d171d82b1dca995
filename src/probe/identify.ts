/**
 * Identifies what speaks on a port that is not a protocol's usual one (or where the usual probe did
 * not recognise the answer). Servers that speak first (SSH, SMTP, FTP, MySQL) are known by their
 * banner; to the others it sends `PING\r\n`, harmless to every text protocol: Redis answers
 * +PONG / -NOAUTH / -DENIED, memcached `ERROR`, HTTP servers `400`, TLS servers an alert.
 */
import { anything, converse, ProbeIoError } from './net.ts';
import type { ProbeContext } from './types.ts';

export type Identified = 'ssh' | 'redis' | 'http' | 'memcached' | 'tls';

export interface Identification {
  readonly protocol?: Identified;
  /** The first line of what the server sent, printable characters only, at most 80. */
  readonly banner?: string;
  /** Set when nothing came back: the server closed the connection, or stayed silent. */
  readonly silent?: 'closed' | 'timeout';
}

export function classify(first: Buffer): Identification {
  const text = first.toString('latin1');
  const banner = printable(text.split(/\r?\n/)[0] ?? '');
  const withBanner = (protocol?: Identified): Identification => ({
    ...(protocol === undefined ? {} : { protocol }),
    ...(banner.length > 0 ? { banner } : {}),
  });
  if (text.startsWith('SSH-')) return withBanner('ssh');
  if (/^(\+PONG|-NOAUTH|-DENIED|-ERR |-WRONGPASS)/.test(text)) return withBanner('redis');
  if (/^HTTP\/\d/.test(text)) return withBanner('http');
  if (/^(ERROR|CLIENT_ERROR)\r?\n/.test(text)) return withBanner('memcached');
  // A TLS alert record (content type 21) or handshake record (22), version 3.x.
  if (first.length >= 3 && (first[0] === 0x15 || first[0] === 0x16) && first[1] === 0x03)
    return { protocol: 'tls' };
  const mysql = mysqlVersion(first);
  if (mysql !== undefined) return { banner: `MySQL protocol 10, server ${mysql}` };
  return withBanner();
}

/** MySQL and MariaDB speak first: a packet (3-byte length, sequence 0) holding protocol 10 and a version. */
function mysqlVersion(first: Buffer): string | undefined {
  if (first.length < 6 || first[3] !== 0 || first[4] !== 10) return undefined;
  const end = first.indexOf(0, 5);
  if (end < 0 || end - 5 > 60) return undefined;
  const version = first.subarray(5, end).toString('latin1');
  return /^\d+\.\d+[\x20-\x7e]*$/.test(version) ? version : undefined;
}

function printable(text: string): string {
  const clean = text.replace(/[^\x20-\x7e]/g, '.');
  return clean.length > 80 ? `${clean.slice(0, 80)}…` : clean;
}

/** How long to listen for a server that speaks first (SSH, SMTP, FTP, MySQL) before sending PING. */
export const LISTEN_FIRST_MS = 250;

/**
 * Connects and listens briefly: a server that speaks first is classified by its banner without
 * being sent anything (MySQL counts garbage handshakes towards blocking the client host). Otherwise
 * it sends `PING\r\n` and classifies the first bytes that come back (or none).
 */
export async function identify(context: ProbeContext): Promise<Identification> {
  const conversation = await converse(context);
  try {
    try {
      return classify(await conversation.read(anything, Math.min(LISTEN_FIRST_MS, context.timeoutMs)));
    } catch (error) {
      if (!(error instanceof ProbeIoError)) throw error;
      if (error.reason !== 'timeout') return { silent: 'closed' };
    }
    conversation.write('PING\r\n');
    try {
      return classify(await conversation.read(anything));
    } catch (error) {
      if (error instanceof ProbeIoError) return { silent: error.reason === 'timeout' ? 'timeout' : 'closed' };
      throw error;
    }
  } finally {
    conversation.close();
  }
}

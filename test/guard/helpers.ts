/**
 * Real parts for the guard's tests: a RESP client that connects from a chosen loopback address
 * (the "attacker"; ioredis cannot pick its source address), the services of a real daemon
 * (startWatch with a dry-run firewall) with its alerts and events captured, and a local HTTP
 * receiver for webhook alerts.
 */
import { mkdtempSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Alert } from '../../src/alerts/types.ts';
import type { MoatConfig } from '../../src/config/schema.ts';
import { systemClock } from '../../src/core/clock.ts';
import type { ParsedEvent } from '../../src/core/events.ts';
import type { Logger } from '../../src/daemon/log.ts';
import { captureLogger, type LogLine } from '../helpers/log.ts';
import type { DaemonServices } from '../../src/daemon/services.ts';
import { startWatch } from '../../src/daemon/watch.ts';
import { createDryRunFirewall } from '../../src/enforcement/dry-run.ts';
import type { Store } from '../../src/storage/types.ts';

export type Reply = string | number | null | Error | Reply[];

/** A minimal RESP2 client over one socket bound to `localAddress` (127.0.0.x). */
export interface RespClient {
  send(...args: (string | number)[]): Promise<Reply>;
  /** Resolves when the server closes the connection (e.g. CLIENT KILL). */
  readonly closed: Promise<void>;
  readonly isClosed: boolean;
  close(): void;
}

const openClients = new Set<net.Socket>();

/** Closes every RespClient still open (for `after()`: a failed assertion must not leave one behind). */
export function closeClients(): void {
  for (const socket of openClients) socket.destroy();
  openClients.clear();
}

export async function connectFrom(
  localAddress: string,
  port: number,
  host = '127.0.0.1',
): Promise<RespClient> {
  const socket = net.connect({ host, port, localAddress });
  openClients.add(socket);
  socket.once('close', () => openClients.delete(socket));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let buffer = Buffer.alloc(0);
  const waiting: ((reply: Reply) => void)[] = [];
  let isClosed = false;
  const closed = new Promise<void>((resolve) => {
    socket.once('close', () => {
      isClosed = true;
      resolve();
    });
  });
  socket.on('error', () => {});

  /** Parses one reply at `at`; returns it and the offset after it, or undefined when incomplete. */
  const parse = (at: number): [Reply, number] | undefined => {
    const end = buffer.indexOf('\r\n', at);
    if (end < 0) return undefined;
    const type = String.fromCharCode(buffer[at] as number);
    const line = buffer.toString('utf8', at + 1, end);
    if (type === '+') return [line, end + 2];
    if (type === '-') return [new Error(line), end + 2];
    if (type === ':') return [Number(line), end + 2];
    if (type === '$') {
      const length = Number(line);
      if (length < 0) return [null, end + 2];
      if (buffer.length < end + 2 + length + 2) return undefined;
      return [buffer.toString('utf8', end + 2, end + 2 + length), end + 2 + length + 2];
    }
    if (type === '*') {
      const count = Number(line);
      if (count < 0) return [null, end + 2];
      const items: Reply[] = [];
      let next = end + 2;
      for (let i = 0; i < count; i++) {
        const item = parse(next);
        if (item === undefined) return undefined;
        items.push(item[0]);
        next = item[1];
      }
      return [items, next];
    }
    throw new Error(`unexpected RESP type ${type}`);
  };
  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      const parsed = parse(0);
      if (parsed === undefined) break;
      buffer = buffer.subarray(parsed[1]);
      waiting.shift()?.(parsed[0]);
    }
  });
  return {
    send(...args) {
      const body = args.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join('');
      socket.write(`*${args.length}\r\n${body}`);
      return new Promise((resolve) => waiting.push(resolve));
    },
    closed,
    get isClosed() {
      return isClosed;
    },
    close: () => socket.destroy(),
  };
}

/** A short-lived admin connection from 127.0.0.1 (allowed), for reading the server's state. */
export async function admin(port: number, ...args: (string | number)[]): Promise<Reply> {
  const client = await connectFrom('127.0.0.1', port);
  try {
    return await client.send(...args);
  } finally {
    client.close();
  }
}

export async function infoField(
  port: number,
  section: string,
  key: string,
  password?: string,
): Promise<string | undefined> {
  const client = await connectFrom('127.0.0.1', port);
  let text: string;
  try {
    if (password !== undefined) await client.send('AUTH', password);
    text = String(await client.send('INFO', section));
  } finally {
    client.close();
  }
  return new RegExp(`^${key}:(.*)\\r?$`, 'm').exec(text)?.[1];
}

export interface TestServices extends DaemonServices {
  /** Alerts the guard sent (through these services). */
  readonly sent: Alert[];
  /** Alerts the daemon itself sent: its ban alerts, which the queue merges by incident key. */
  readonly daemonSent: Alert[];
  readonly events: ParsedEvent[];
  readonly logger: Logger & { lines: LogLine[] };
  readonly store: Store;
  close(): Promise<void>;
}

export interface TestServicesOptions {
  /**
   * TEST ONLY (the daemon's `testOnlyBannableLoopback`): loopback addresses that stand in for
   * outside attackers, since tests may only use 127.0.0.0/8. Every other protection applies.
   */
  readonly testOnlyBannableLoopback?: readonly string[];
}

/**
 * The real daemon (startWatch: engine, decider, SQLite store, dry-run firewall) without log
 * sources, its services captured: the alerts it is handed and the events the guard feeds it.
 */
export async function createTestServices(
  config: MoatConfig,
  options: TestServicesOptions = {},
): Promise<TestServices> {
  const logger = captureLogger();
  const sent: Alert[] = [];
  const daemonSent: Alert[] = [];
  const events: ParsedEvent[] = [];
  const daemon = await startWatch({
    config,
    stateDir: mkdtempSync(path.join(tmpdir(), 'moat-guard-')),
    logger,
    clock: systemClock,
    firewall: createDryRunFirewall(),
    sources: false,
    alerts: { send: (alert) => void daemonSent.push(alert) },
    ...(options.testOnlyBannableLoopback === undefined
      ? {}
      : { testOnlyBannableLoopback: options.testOnlyBannableLoopback }),
  });
  const { services } = daemon;
  return {
    ...services,
    logger,
    store: daemon.store,
    sent,
    daemonSent,
    events,
    alerts: { send: (alert) => void sent.push(alert) },
    ingest(event) {
      events.push(event);
      services.ingest(event);
    },
    close: () => daemon.stop(),
  };
}

/** A local HTTP server that records every POSTed JSON body (a webhook receiver). */
export async function startReceiver(): Promise<{
  url: string;
  bodies: Record<string, unknown>[];
  close(): Promise<void>;
}> {
  const bodies: Record<string, unknown>[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      try {
        bodies.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>);
      } catch {
        bodies.push({ unparsable: true });
      }
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}/hook`,
    bodies,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

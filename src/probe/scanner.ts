/**
 * TCP connect scan with bounded concurrency. A refused port is known as soon as the RST arrives
 * (milliseconds on loopback); only silent (filtered) ports wait for the timeout. Open connections
 * are reset at once (no TIME_WAIT pile-up, nothing sent to the service).
 */
import net from 'node:net';
import { localAddressFor } from './net.ts';

export type PortState = 'open' | 'closed' | 'filtered';

export interface OpenPort {
  readonly host: string;
  readonly port: number;
  /** Time to connect, in milliseconds. */
  readonly elapsedMs: number;
}

export interface ScanResult {
  /** Open ports in target order, then port order. */
  readonly open: readonly OpenPort[];
  readonly closed: number;
  readonly filtered: number;
  /** Connect errors other than refusal and timeout, `host:port: EHOSTUNREACH`, at most 20 kept. */
  readonly errors: readonly string[];
}

export interface ScanOptions {
  readonly hosts: readonly string[];
  readonly ports: readonly number[];
  readonly concurrency: number;
  readonly timeoutMs: number;
  readonly sourceAddress?: string | undefined;
  /** Called after every port with the count done so far and the total. */
  readonly onPortDone?: (done: number, total: number) => void;
}

/** Errors that mean "we ran out of sockets for a moment", worth a short wait and a retry. */
const TRANSIENT = new Set(['EMFILE', 'ENFILE', 'EADDRNOTAVAIL', 'ENOBUFS', 'EAGAIN']);
const MAX_RETRIES = 5;

export async function scanPorts(options: ScanOptions): Promise<ScanResult> {
  const { hosts, ports } = options;
  const total = hosts.length * ports.length;
  const states = new Map<number, OpenPort>();
  let next = 0;
  let done = 0;
  let closed = 0;
  let filtered = 0;
  const errors: string[] = [];

  const worker = async () => {
    while (next < total) {
      const index = next++;
      const host = hosts[Math.floor(index / ports.length)]!;
      const port = ports[index % ports.length]!;
      const outcome = await connectOnce(host, port, options);
      if (outcome.state === 'open') states.set(index, { host, port, elapsedMs: outcome.elapsedMs });
      else if (outcome.state === 'closed') closed++;
      else {
        filtered++;
        if (outcome.error !== undefined && errors.length < 20)
          errors.push(`${host}:${port}: ${outcome.error}`);
      }
      done++;
      options.onPortDone?.(done, total);
    }
  };
  const workers = Math.max(1, Math.min(options.concurrency, total));
  await Promise.all(Array.from({ length: workers }, worker));
  const open = [...states.entries()].sort(([a], [b]) => a - b).map(([, value]) => value);
  return { open, closed, filtered, errors };
}

interface Outcome {
  readonly state: PortState;
  readonly elapsedMs: number;
  readonly error?: string;
}

async function connectOnce(host: string, port: number, options: ScanOptions): Promise<Outcome> {
  for (let attempt = 0; ; attempt++) {
    const outcome = await tryConnect(host, port, options);
    if (outcome.error === undefined || !TRANSIENT.has(outcome.error) || attempt >= MAX_RETRIES)
      return outcome;
    await new Promise((resolve) => setTimeout(resolve, 20 * (attempt + 1)));
  }
}

function tryConnect(host: string, port: number, options: ScanOptions): Promise<Outcome & { error?: string }> {
  return new Promise((resolve) => {
    const started = performance.now();
    const localAddress = localAddressFor(host, options.sourceAddress);
    const socket = net.connect({ host, port, ...(localAddress === undefined ? {} : { localAddress }) });
    let settled = false;
    const settle = (state: PortState, error?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (state === 'open') socket.resetAndDestroy();
      else socket.destroy();
      const elapsedMs = performance.now() - started;
      resolve(error === undefined ? { state, elapsedMs } : { state, elapsedMs, error });
    };
    const timer = setTimeout(() => settle('filtered'), options.timeoutMs);
    socket.once('connect', () => settle('open'));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED') settle('closed');
      else settle('filtered', error.code ?? error.message);
    });
  });
}

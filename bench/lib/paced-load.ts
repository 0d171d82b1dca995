/**
 * An open-loop HTTP/1.1 load generator: requests go out at a fixed rate whatever the server does
 * (wrk cannot pace: it sends the next request when the last answer arrives, so a slow server is
 * asked less and its latency looks better than it is). Keep-alive connections over raw sockets, one
 * request in flight per connection; a request due while every connection is busy waits in a queue,
 * and that wait counts.
 *
 * Two latencies per request: from its scheduled time (open-loop: includes any wait for a free
 * connection and the generator's own timer granularity, ~1 ms) and from the moment it was written
 * (service time). Requests are pre-formatted buffers, cycled in order.
 */
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface PacedLoadOptions {
  readonly host: string;
  readonly port: number;
  /** Requests per second. */
  readonly rate: number;
  readonly durationMs: number;
  /** Keep-alive connections (one request in flight on each). */
  readonly connections: number;
  /** Complete requests (`GET / HTTP/1.1\r\n…\r\n\r\n`), sent in turn. */
  readonly requests: readonly Buffer[];
}

export interface PacedLoadResult {
  readonly scheduled: number;
  readonly completed: number;
  readonly errors: number;
  /** Responses by status class, e.g. { '2xx': 9990, '4xx': 10 }. */
  readonly statuses: Readonly<Record<string, number>>;
  /** Milliseconds from scheduled time to the end of the response, sorted. */
  readonly fromScheduleMs: Float64Array;
  /** Milliseconds from the write to the end of the response, sorted. */
  readonly serviceMs: Float64Array;
  /** Completed requests per second over the run. */
  readonly achievedRate: number;
}

export function percentileMs(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

interface Connection {
  readonly socket: net.Socket;
  busy: boolean;
  scheduledAt: number;
  writtenAt: number;
  buffer: Buffer;
}

/**
 * Where the response at the start of `buffer` ends, and its status; undefined when incomplete.
 * Understands Content-Length and chunked bodies (no trailers), which is what proxies send here.
 */
export function responseEnd(buffer: Buffer): { end: number; status: number } | undefined {
  const headEnd = buffer.indexOf('\r\n\r\n');
  if (headEnd === -1) return undefined;
  const head = buffer.toString('latin1', 0, headEnd);
  const status = Number(head.slice(9, 12));
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (length !== null) {
    const end = headEnd + 4 + Number(length[1]);
    return buffer.length >= end ? { end, status } : undefined;
  }
  if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
    let at = headEnd + 4;
    for (;;) {
      const lineEnd = buffer.indexOf('\r\n', at);
      if (lineEnd === -1) return undefined;
      const size = parseInt(buffer.toString('latin1', at, lineEnd), 16);
      at = lineEnd + 2 + size + 2;
      if (buffer.length < at) return undefined;
      if (size === 0) return { end: at, status };
    }
  }
  // 1xx/204/304 carry no body.
  return { end: headEnd + 4, status };
}

export async function pacedLoad(options: PacedLoadOptions): Promise<PacedLoadResult> {
  const { rate, durationMs, requests } = options;
  const total = Math.floor((rate * durationMs) / 1000);
  const fromSchedule = new Float64Array(total);
  const service = new Float64Array(total);
  const statuses: Record<string, number> = {};
  let completed = 0;
  let errors = 0;
  let next = 0; // index of the next request to schedule
  const queue: number[] = []; // scheduled times of requests waiting for a connection
  const idle: Connection[] = [];

  const connections = await Promise.all(
    Array.from({ length: options.connections }, async () => {
      const socket = net.connect(options.port, options.host);
      socket.setNoDelay(true);
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      });
      const conn: Connection = { socket, busy: false, scheduledAt: 0, writtenAt: 0, buffer: Buffer.alloc(0) };
      socket.on('data', (chunk: Buffer) => {
        conn.buffer = conn.buffer.length === 0 ? chunk : Buffer.concat([conn.buffer, chunk]);
        const done = responseEnd(conn.buffer);
        if (done === undefined) return;
        const now = performance.now();
        conn.buffer = conn.buffer.subarray(done.end);
        if (completed < total) {
          fromSchedule[completed] = now - conn.scheduledAt;
          service[completed] = now - conn.writtenAt;
          completed++;
        }
        const cls = `${Math.floor(done.status / 100)}xx`;
        statuses[cls] = (statuses[cls] ?? 0) + 1;
        conn.busy = false;
        dispatch(conn);
      });
      socket.on('error', () => {
        errors++;
      });
      socket.on('close', () => {
        if (conn.busy) errors++;
        conn.busy = true; // never used again
      });
      return conn;
    }),
  );
  idle.push(...connections);

  let sentIndex = 0;
  function send(conn: Connection, scheduledAt: number): void {
    conn.busy = true;
    conn.scheduledAt = scheduledAt;
    conn.writtenAt = performance.now();
    conn.socket.write(requests[sentIndex++ % requests.length]!);
  }
  function dispatch(conn: Connection): void {
    const waiting = queue.shift();
    if (waiting !== undefined) send(conn, waiting);
    else if (!conn.socket.destroyed) idle.push(conn);
  }

  const intervalMs = 1000 / rate;
  const start = performance.now();
  while (next < total) {
    const now = performance.now();
    while (next < total && start + next * intervalMs <= now) {
      const scheduledAt = start + next * intervalMs;
      next++;
      let conn = idle.pop();
      while (conn !== undefined && conn.socket.destroyed) conn = idle.pop();
      if (conn !== undefined) send(conn, scheduledAt);
      else queue.push(scheduledAt);
    }
    await sleep(1);
  }
  const deadline = performance.now() + 3_000;
  while (completed + errors < total && performance.now() < deadline) await sleep(5);
  const elapsedMs = performance.now() - start;
  for (const conn of connections) conn.socket.destroy();

  const sorted = (xs: Float64Array) => xs.subarray(0, completed).sort();
  return {
    scheduled: total,
    completed,
    errors,
    statuses,
    fromScheduleMs: sorted(fromSchedule),
    serviceMs: sorted(service),
    achievedRate: (completed * 1000) / elapsedMs,
  };
}

/**
 * The upstream side of the proxy: HTTP/1.1 over a keep-alive connection pool per upstream origin.
 *
 * Written for the gate's hot path rather than on top of `http.request`: one head write per request,
 * one `data` listener per connection for its whole life, and the strict ResponseReader for answers
 * (Node's ClientRequest/IncomingMessage/Agent machinery cost more per proxied request than
 * everything else the gate does). The request head is built from what Node's strict server parser
 * already accepted, and every value is checked again for CR, LF and NUL before it is written.
 *
 * One exchange per connection at a time (no pipelining). The outcome is reported once: a response
 * head (then the body, then its end or a break), or a failure before any head that says whether the
 * upstream timed out, refused, or failed otherwise.
 */
import net from 'node:net';
import tls from 'node:tls';
import { type ResponseHead, ResponseReader } from './response-reader.ts';

/** Sockets per upstream: enough for a busy small site, a ceiling that protects the app from a flood. */
const MAX_SOCKETS = 512;
/** Idle sockets kept for reuse. */
const MAX_IDLE_SOCKETS = 128;
/** An idle pooled socket is closed after this long (below Node's and most servers' 5 s keep-alive). */
const IDLE_SOCKET_TIMEOUT_MS = 4000;
/** How often idle connections are checked against that limit. */
const IDLE_SWEEP_MS = 1000;

export type UpstreamFailure = 'timeout' | 'refused' | 'error';

export interface ForwardHandlers {
  /** The upstream answered; the body follows through onData, then onEnd (or onBroken). */
  onResponse(head: ResponseHead): void;
  /**
   * A piece of the response body; `last` when it completes a body framed by length (onEnd follows
   * at once). False: the exchange pauses until `resume()`.
   */
  onData(chunk: Buffer, last: boolean): boolean;
  onEnd(): void;
  /** The upstream failed after the head: the answer is cut short. */
  onBroken(error: Error): void;
  /**
   * The upstream failed before answering. `retryable`: a reused connection closed before a single
   * byte came back, so a request without a body can safely go again on a fresh one.
   */
  onFailure(kind: UpstreamFailure, error: Error, retryable: boolean): void;
}

export interface ForwardRequest {
  readonly method: string;
  /** Origin-form target, passed as the client sent it. */
  readonly path: string;
  /** Flat [name, value, …] list, Host included. */
  readonly headers: readonly string[];
  /** `chunked`: the body is framed in chunks here (the client sent it chunked). */
  readonly body: 'none' | 'length' | 'chunked';
  /** Idle time allowed: waiting for a connection and for the head, and between body reads. */
  readonly timeoutMs: number;
}

export interface UpstreamExchange {
  /** Request body bytes (already de-framed by the server's parser). False: wait for `onDrain`. */
  write(chunk: Buffer): boolean;
  /** The request body is complete. */
  end(): void;
  /** Called once when a write that returned false may be retried. */
  onDrain: (() => void) | undefined;
  /** Resumes a response paused by onData returning false. */
  resume(): void;
  /** The client left or was refused: the connection is closed, no callback follows. */
  abort(): void;
}

export interface Upstream {
  /** The configured origin. */
  readonly url: URL;
  /** Sockets open now (busy and idle), for tests and metrics. */
  readonly sockets: number;
  readonly idleSockets: number;
}

export interface UpstreamPool {
  /** The upstream for a configured origin (`http://127.0.0.1:3000`); one pool per distinct origin. */
  get(origin: string): Upstream;
  /** Closes idle connections and fails queued exchanges; exchanges in flight finish, then close. */
  destroy(): void;
}

const UNSAFE = /[\0\r\n]/;
const UNSAFE_TARGET = /[\0-\x20\x7f]/;

/** Thrown by forward() when a head value would break the request framing. */
export class UnsafeHeadError extends Error {
  override readonly name = 'UnsafeHeadError';
}

function requestHead(request: ForwardRequest): string {
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(request.method)) {
    throw new UnsafeHeadError(`method ${JSON.stringify(request.method)} is not a token`);
  }
  if (UNSAFE_TARGET.test(request.path) || request.path === '') {
    throw new UnsafeHeadError('the request target holds a space or control character');
  }
  let head = `${request.method} ${request.path} HTTP/1.1\r\n`;
  const headers = request.headers;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    const value = headers[i + 1] as string;
    if (UNSAFE.test(name) || UNSAFE.test(value) || name.includes(':')) {
      throw new UnsafeHeadError(`header ${JSON.stringify(name.slice(0, 40))} holds CR, LF, NUL or a colon`);
    }
    head += `${name}: ${value}\r\n`;
  }
  return `${head}\r\n`;
}

interface Waiter {
  readonly exchange: Exchange;
  timer: NodeJS.Timeout | undefined;
}

class Pool implements Upstream {
  readonly url: URL;
  readonly #secure: boolean;
  readonly #host: string;
  readonly #port: number;
  readonly #idle: Connection[] = [];
  readonly #waiting: Waiter[] = [];
  #open = 0;
  #destroyed = false;
  #sweep: NodeJS.Timeout | undefined;

  constructor(url: URL) {
    this.url = url;
    this.#secure = url.protocol === 'https:';
    // URL keeps IPv6 literals in brackets; the socket API wants them bare.
    this.#host = url.hostname.replace(/^\[|\]$/g, '');
    this.#port = url.port === '' ? (this.#secure ? 443 : 80) : Number(url.port);
  }

  get sockets(): number {
    return this.#open;
  }

  get idleSockets(): number {
    return this.#idle.length;
  }

  /** Gives the exchange a connection: the newest idle one, a new one, or a place in the queue. */
  acquire(exchange: Exchange): void {
    if (this.#destroyed) {
      exchange.fail('error', new Error('the upstream pool is closed'), false);
      return;
    }
    const idle = this.#idle.pop();
    if (idle !== undefined) {
      idle.start(exchange);
      return;
    }
    if (this.#open < MAX_SOCKETS) {
      this.#open++;
      new Connection(this, this.#connect()).start(exchange);
      return;
    }
    const waiter: Waiter = { exchange, timer: undefined };
    if (exchange.timeoutMs > 0) {
      waiter.timer = setTimeout(() => {
        this.cancel(exchange);
        exchange.fail(
          'timeout',
          new Error(`no upstream connection free for ${exchange.timeoutMs} ms`),
          false,
        );
      }, exchange.timeoutMs);
    }
    exchange.waiting = true;
    this.#waiting.push(waiter);
  }

  /** An exchange that left (or timed out) while queued. */
  cancel(exchange: Exchange): void {
    const at = this.#waiting.findIndex((w) => w.exchange === exchange);
    if (at < 0) return;
    const [waiter] = this.#waiting.splice(at, 1);
    if (waiter?.timer !== undefined) clearTimeout(waiter.timer);
    exchange.waiting = false;
  }

  /** The first queued exchange, taken out of the queue (its wait timer stopped). */
  #dequeue(): Exchange | undefined {
    const waiter = this.#waiting.shift();
    if (waiter === undefined) return undefined;
    if (waiter.timer !== undefined) clearTimeout(waiter.timer);
    waiter.exchange.waiting = false;
    return waiter.exchange;
  }

  /** A connection finished an exchange cleanly: next in the queue, else kept idle (or closed). */
  release(connection: Connection): void {
    const next = this.#dequeue();
    if (next !== undefined) {
      connection.start(next);
      return;
    }
    if (this.#destroyed || this.#idle.length >= MAX_IDLE_SOCKETS) {
      connection.destroy();
      return;
    }
    connection.idle(Date.now());
    this.#idle.push(connection);
    this.#sweep ??= setInterval(() => this.#closeStale(), IDLE_SWEEP_MS).unref();
  }

  /** Closes connections idle for longer than IDLE_SOCKET_TIMEOUT_MS (oldest first, at the bottom). */
  #closeStale(): void {
    const before = Date.now() - IDLE_SOCKET_TIMEOUT_MS;
    while (this.#idle.length > 0 && (this.#idle[0] as Connection).idleSince < before) {
      (this.#idle[0] as Connection).destroy();
    }
    if (this.#idle.length === 0 && this.#sweep !== undefined) {
      clearInterval(this.#sweep);
      this.#sweep = undefined;
    }
  }

  /** A connection closed (idle or busy). */
  closed(connection: Connection): void {
    this.#open--;
    const at = this.#idle.indexOf(connection);
    if (at >= 0) this.#idle.splice(at, 1);
    // A slot came free: a queued exchange gets a new connection.
    const next = this.#destroyed ? undefined : this.#dequeue();
    if (next !== undefined) this.acquire(next);
  }

  destroy(): void {
    this.#destroyed = true;
    if (this.#sweep !== undefined) clearInterval(this.#sweep);
    this.#sweep = undefined;
    for (const connection of this.#idle.splice(0)) connection.destroy();
    for (const waiter of this.#waiting.splice(0)) {
      if (waiter.timer !== undefined) clearTimeout(waiter.timer);
      waiter.exchange.fail('error', new Error('the upstream pool is closed'), false);
    }
  }

  #connect(): net.Socket {
    const socket = this.#secure
      ? tls.connect({
          host: this.#host,
          port: this.#port,
          ALPNProtocols: ['http/1.1'],
          ...(net.isIP(this.#host) === 0 ? { servername: this.#host } : {}),
        })
      : net.connect({ host: this.#host, port: this.#port });
    socket.setNoDelay(true);
    return socket;
  }
}

class Connection {
  readonly #pool: Pool;
  readonly #socket: net.Socket;
  readonly #reader: ResponseReader;
  #exchange: Exchange | undefined;
  #uses = 0;
  #closed = false;
  /** A byte of the current exchange's answer arrived. */
  #heard = false;
  #timeoutMs = 0;

  constructor(pool: Pool, socket: net.Socket) {
    this.#pool = pool;
    this.#socket = socket;
    this.#reader = new ResponseReader({
      onHead: (head) => this.#exchange?.head(head),
      onData: (chunk, last) => {
        const exchange = this.#exchange;
        if (exchange !== undefined && !exchange.data(chunk, last)) socket.pause();
      },
      onEnd: (reusable) => this.#end(reusable),
      onError: (error) => {
        const exchange = this.#exchange;
        this.destroy();
        exchange?.broken(error);
      },
    });
    socket.on('data', (chunk: Buffer) => {
      if (this.#exchange === undefined) {
        // Bytes while idle: the upstream is out of step; this connection is done.
        this.destroy();
        return;
      }
      this.#heard = true;
      this.#reader.feed(chunk);
    });
    socket.on('timeout', () => {
      const exchange = this.#exchange;
      this.destroy();
      exchange?.timedOut();
    });
    socket.on('drain', () => this.#exchange?.drained());
    socket.on('error', (error: NodeJS.ErrnoException) => this.#lost(error));
    socket.on('close', () => this.#lost(new Error('the upstream closed the connection')));
    // A close-delimited body ends with the upstream's FIN.
    socket.on('end', () => {
      if (this.#exchange !== undefined && !this.#heard) {
        // Closed before a byte of the answer: the same as a reset (retryable on a reused connection).
        this.#lost(new Error('the upstream closed the connection before answering'));
        return;
      }
      if (this.#exchange !== undefined) this.#reader.close();
      this.destroy();
    });
  }

  get socket(): net.Socket {
    return this.#socket;
  }

  start(exchange: Exchange): void {
    exchange.connection = this;
    exchange.reused = this.#uses > 0;
    this.#uses++;
    this.#exchange = exchange;
    this.#heard = false;
    this.#reader.expect(exchange.method === 'HEAD');
    // The socket's timeout is the exchange's; re-armed only when it changes (it rarely does).
    if (exchange.timeoutMs !== this.#timeoutMs) {
      this.#timeoutMs = exchange.timeoutMs;
      this.#socket.setTimeout(exchange.timeoutMs);
    }
    exchange.connected();
  }

  /** Parked in the pool since (ms, Date.now()); the pool's sweep closes it after a while. */
  idleSince = 0;

  idle(now: number): void {
    this.idleSince = now;
    // Paused by the last answer's back-pressure: read again, to notice the upstream closing.
    if (this.#socket.isPaused()) this.#socket.resume();
  }

  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#exchange = undefined;
    this.#socket.destroy();
    this.#pool.closed(this);
  }

  /** The exchange is over from the client's side (it left): the connection cannot be reused. */
  abandon(exchange: Exchange): void {
    if (this.#exchange === exchange) this.destroy();
  }

  #end(reusable: boolean): void {
    const exchange = this.#exchange;
    this.#exchange = undefined;
    const keep = reusable && exchange?.requestEnded === true && !this.#reader.sawExtraBytes;
    if (exchange !== undefined) exchange.ended();
    if (this.#closed) return;
    if (keep) this.#pool.release(this);
    else this.destroy();
  }

  #lost(error: NodeJS.ErrnoException): void {
    if (this.#closed) return;
    const exchange = this.#exchange;
    this.destroy();
    if (exchange === undefined) return;
    if (exchange.answered) {
      exchange.broken(error);
      return;
    }
    const kind: UpstreamFailure = error.code === 'ECONNREFUSED' ? 'refused' : 'error';
    // Nothing came back on a reused connection: the upstream had closed it as the request went out.
    exchange.fail(kind, error, exchange.reused && !exchange.sentBody && !this.#heard);
  }
}

class Exchange implements UpstreamExchange {
  readonly method: string;
  readonly timeoutMs: number;
  readonly #pool: Pool;
  readonly #handlers: ForwardHandlers;
  readonly #chunked: boolean;
  /** Head and body bytes written before a connection was assigned. */
  #pending: (string | Buffer)[] | undefined;
  #settled = false;
  onDrain: (() => void) | undefined = undefined;
  connection: Connection | undefined = undefined;
  waiting = false;
  reused = false;
  answered = false;
  requestEnded: boolean;
  sentBody = false;

  constructor(pool: Pool, request: ForwardRequest, handlers: ForwardHandlers) {
    this.method = request.method;
    this.timeoutMs = request.timeoutMs;
    this.#pool = pool;
    this.#handlers = handlers;
    this.#chunked = request.body === 'chunked';
    this.requestEnded = request.body === 'none';
    this.#pending = [requestHead(request)];
  }

  /** A connection was assigned: what was written so far goes out. */
  connected(): void {
    const pending = this.#pending;
    this.#pending = undefined;
    if (pending === undefined) return;
    const socket = (this.connection as Connection).socket;
    for (const piece of pending) {
      if (typeof piece === 'string') socket.write(piece, 'latin1');
      else socket.write(piece);
    }
    if (socket.writableNeedDrain) return;
    this.drained();
  }

  write(chunk: Buffer): boolean {
    if (this.#settled || this.requestEnded || chunk.length === 0) return true;
    this.sentBody = true;
    if (this.#pending !== undefined) {
      if (this.#chunked) this.#pending.push(`${chunk.length.toString(16)}\r\n`, chunk, '\r\n');
      else this.#pending.push(chunk);
      return false;
    }
    const socket = (this.connection as Connection).socket;
    if (this.#chunked) {
      socket.cork();
      socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
      socket.write(chunk);
      socket.write('\r\n', 'latin1');
      socket.uncork();
      return !socket.writableNeedDrain;
    }
    return socket.write(chunk);
  }

  end(): void {
    if (this.#settled || this.requestEnded) return;
    this.requestEnded = true;
    if (!this.#chunked) return;
    if (this.#pending !== undefined) this.#pending.push('0\r\n\r\n');
    else (this.connection as Connection).socket.write('0\r\n\r\n', 'latin1');
  }

  resume(): void {
    if (!this.#settled) this.connection?.socket.resume();
  }

  abort(): void {
    if (this.#settled) return;
    this.#settled = true;
    if (this.waiting) this.#pool.cancel(this);
    this.connection?.abandon(this);
  }

  drained(): void {
    if (!this.#settled) this.onDrain?.();
  }

  head(head: ResponseHead): void {
    if (this.#settled) return;
    this.answered = true;
    this.#handlers.onResponse(head);
  }

  data(chunk: Buffer, last: boolean): boolean {
    if (this.#settled) return true;
    return this.#handlers.onData(chunk, last);
  }

  ended(): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#handlers.onEnd();
  }

  broken(error: Error): void {
    if (this.#settled) return;
    if (!this.answered) {
      this.fail('error', error, false);
      return;
    }
    this.#settled = true;
    this.#handlers.onBroken(error);
  }

  timedOut(): void {
    const error = new Error(`the upstream sent nothing for ${this.timeoutMs} ms`);
    if (this.answered) this.broken(error);
    else this.fail('timeout', error, false);
  }

  fail(kind: UpstreamFailure, error: Error, retryable: boolean): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#handlers.onFailure(kind, error, retryable);
  }
}

export function createUpstreamPool(): UpstreamPool {
  const pools = new Map<string, Pool>();
  return {
    get(origin) {
      let pool = pools.get(origin);
      if (pool === undefined) {
        pool = new Pool(new URL(origin));
        pools.set(origin, pool);
      }
      return pool;
    },
    destroy() {
      for (const pool of pools.values()) pool.destroy();
    },
  };
}

/**
 * Sends one request upstream; the caller writes the body (`write`/`end`) when it has one. Throws
 * UnsafeHeadError synchronously, before anything is sent, when a head value would break framing.
 */
export function forward(
  upstream: Upstream,
  request: ForwardRequest,
  handlers: ForwardHandlers,
): UpstreamExchange {
  const pool = upstream as Pool;
  const exchange = new Exchange(pool, request, handlers);
  pool.acquire(exchange);
  return exchange;
}

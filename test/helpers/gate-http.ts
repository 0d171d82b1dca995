/**
 * Real sockets for the gate's tests: an upstream that records every request it receives, a client
 * that speaks from a chosen loopback source address, and a raw client that writes exact bytes.
 */
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';

export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
  readonly body: Buffer;
  readonly remotePort: number;
}

export interface RecordingUpstream {
  readonly port: number;
  readonly origin: string;
  /** Requests whose head arrived (body filled in when it ends). */
  readonly seen: SeenRequest[];
  /** Connections the upstream accepted. */
  readonly connections: () => number;
  close(): Promise<void>;
}

export type UpstreamHandler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

const echo: UpstreamHandler = (req, res, body) => {
  res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Upstream': 'yes' });
  res.end(`${req.method} ${req.url} ${body.length}`);
};

/**
 * An upstream on 127.0.0.1 that records each request, then answers through `handler` once the body
 * has arrived (default: `METHOD URL BODYLENGTH`). `streaming`: the handler is called at once, with
 * an empty body, and reads the request itself.
 */
export async function startRecordingUpstream(
  handler: UpstreamHandler = echo,
  options: { streaming?: boolean } = {},
): Promise<RecordingUpstream> {
  const seen: SeenRequest[] = [];
  let connections = 0;
  const server = http.createServer((req, res) => {
    const entry = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      body: Buffer.alloc(0),
      remotePort: req.socket.remotePort ?? 0,
    };
    seen.push(entry);
    if (options.streaming) {
      handler(req, res, Buffer.alloc(0));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      entry.body = Buffer.concat(chunks);
      handler(req, res, entry.body);
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    seen,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export interface ClientResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
  readonly body: string;
  /** The body as received, for answers that are not text. */
  readonly bytes: Buffer;
}

export interface ClientRequestOptions {
  readonly method?: string;
  readonly path?: string;
  readonly headers?: Record<string, string | string[]>;
  readonly body?: string | Buffer | AsyncIterable<Buffer>;
  /** The source address, e.g. 127.0.0.2: a distinct client on loopback. */
  readonly localAddress?: string;
  readonly agent?: http.Agent | false;
}

/** One request to the gate; resolves with the whole answer. */
export function request(port: number, options: ClientRequestOptions = {}): Promise<ClientResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: options.method ?? 'GET',
        path: options.path ?? '/',
        headers: options.headers ?? {},
        agent: options.agent ?? false,
        ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const bytes = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body: bytes.toString('utf8'),
            bytes,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    const body = options.body;
    if (body === undefined) req.end();
    else if (typeof body === 'string' || Buffer.isBuffer(body)) req.end(body);
    else {
      (async () => {
        for await (const chunk of body) {
          if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
        }
        req.end();
      })().catch(reject);
    }
  });
}

export interface RawExchange {
  /** Everything the gate sent back before closing (or until `waitMs`). */
  readonly text: string;
  /** True when the gate closed the connection (rather than the wait running out). */
  readonly closedByPeer: boolean;
  readonly elapsedMs: number;
}

/** Writes exact bytes to the gate and collects the answer until the gate closes or `waitMs` passes. */
export function rawExchange(
  port: number,
  bytes: string | Buffer,
  options: { waitMs?: number; localAddress?: string } = {},
): Promise<RawExchange> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = net.connect({
      host: '127.0.0.1',
      port,
      ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
    });
    const chunks: Buffer[] = [];
    let closedByPeer = false;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({
        text: Buffer.concat(chunks).toString('latin1'),
        closedByPeer,
        elapsedMs: Date.now() - started,
      });
    };
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => {
      closedByPeer = true;
      finish();
    });
    socket.on('close', () => {
      closedByPeer = true;
      finish();
    });
    socket.on('error', () => {
      closedByPeer = true;
      finish();
    });
    const timer = setTimeout(finish, options.waitMs ?? 2000);
  });
}

/** The status code of the first response in a raw answer, or 0. */
export function statusOf(text: string): number {
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(text);
  return match ? Number(match[1]) : 0;
}

/**
 * The probe's only contact with the network: TCP (optionally TLS) conversations, one UDP exchange,
 * and one HTTP(S) GET. Every wait is bounded by a timeout; nothing here retries or writes state.
 */
import dgram from 'node:dgram';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';

/** Why a conversation ended before the reply we waited for. */
export class ProbeIoError extends Error {
  override readonly name = 'ProbeIoError';
  readonly reason: 'timeout' | 'closed' | 'error';
  /** What had arrived, unconsumed, when it ended. */
  readonly received: Buffer;
  constructor(reason: 'timeout' | 'closed' | 'error', message: string, received: Buffer = Buffer.alloc(0)) {
    super(message);
    this.reason = reason;
    this.received = received;
  }
}

export interface Endpoint {
  /** An IP address (v4 or v6), never a name: targets are resolved before probing. */
  readonly host: string;
  readonly port: number;
  readonly timeoutMs: number;
  /** Local address to connect from (ignored when its family differs from the target's). */
  readonly sourceAddress?: string | undefined;
}

/** `host:port`, with IPv6 in brackets: how evidence names an endpoint. */
export function endpointText(host: string, port: number): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

export function localAddressFor(host: string, sourceAddress: string | undefined): string | undefined {
  if (sourceAddress === undefined) return undefined;
  return net.isIP(host) === net.isIP(sourceAddress) ? sourceAddress : undefined;
}

/** A parser over the unconsumed bytes: a value and how many bytes it used, or undefined for "need more". */
export type Parse<T> = (buffer: Buffer) => { readonly value: T; readonly consumed: number } | undefined;

/** One TCP (or TLS) connection driven step by step: write, then read until a parser is satisfied. */
export interface Conversation {
  readonly socket: net.Socket;
  write(data: Buffer | string): void;
  /** Resolves with the first value `parse` returns; rejects with ProbeIoError on timeout or close. */
  read<T>(parse: Parse<T>, timeoutMs?: number): Promise<T>;
  /** Bytes received and not yet consumed. */
  pending(): Buffer;
  close(): void;
}

export interface ConnectOptions extends Endpoint {
  /** Wrap in TLS (certificates are read, never verified: the probe reports them). */
  readonly tls?: boolean;
  /** TLS SNI; defaults to none for addresses. */
  readonly servername?: string | undefined;
}

/** Opens a connection; rejects with the socket error (ECONNREFUSED…) or a ProbeIoError timeout. */
export function converse(options: ConnectOptions): Promise<Conversation> {
  return new Promise((resolve, reject) => {
    const localAddress = localAddressFor(options.host, options.sourceAddress);
    const base = {
      host: options.host,
      port: options.port,
      ...(localAddress === undefined ? {} : { localAddress }),
    };
    const socket: net.Socket = options.tls
      ? tls.connect({
          ...base,
          rejectUnauthorized: false,
          ...(options.servername === undefined ? {} : { servername: options.servername }),
        })
      : net.connect(base);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ProbeIoError('timeout', `no connection within ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    const onError = (error: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    socket.once('error', onError);
    socket.once(options.tls ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve(wrap(socket, options.timeoutMs));
    });
  });
}

/** Upgrades a plain conversation to TLS in place (PostgreSQL's SSLRequest, STARTTLS). */
export function upgradeToTls(
  conversation: Conversation,
  timeoutMs: number,
  servername?: string,
): Promise<Conversation> {
  return new Promise((resolve, reject) => {
    conversation.socket.removeAllListeners('data');
    const secure = tls.connect({
      socket: conversation.socket,
      rejectUnauthorized: false,
      ...(servername === undefined ? {} : { servername }),
    });
    const timer = setTimeout(() => {
      secure.destroy();
      reject(new ProbeIoError('timeout', `no TLS handshake within ${timeoutMs} ms`));
    }, timeoutMs);
    secure.once('error', (error) => {
      clearTimeout(timer);
      secure.destroy();
      reject(error);
    });
    secure.once('secureConnect', () => {
      clearTimeout(timer);
      secure.removeAllListeners('error');
      resolve(wrap(secure, timeoutMs));
    });
  });
}

const MAX_BUFFER_BYTES = 1024 * 1024;

function wrap(socket: net.Socket, defaultTimeoutMs: number): Conversation {
  let buffer: Buffer = Buffer.alloc(0);
  let ended: ProbeIoError | undefined;
  let wake: (() => void) | undefined;
  socket.on('data', (chunk: Buffer) => {
    buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
    if (buffer.length > MAX_BUFFER_BYTES) {
      ended = new ProbeIoError('error', 'reply larger than 1 MiB');
      socket.destroy();
    }
    wake?.();
  });
  socket.on('end', () => {
    ended ??= new ProbeIoError('closed', 'the server closed the connection');
    wake?.();
  });
  socket.on('close', () => {
    ended ??= new ProbeIoError('closed', 'the connection closed');
    wake?.();
  });
  socket.on('error', (error) => {
    ended ??= new ProbeIoError('error', error.message);
    wake?.();
  });

  return {
    socket,
    write(data) {
      if (!socket.destroyed) socket.write(data);
    },
    pending: () => buffer,
    close() {
      socket.destroy();
    },
    read<T>(parse: Parse<T>, timeoutMs = defaultTimeoutMs): Promise<T> {
      return new Promise((resolve, reject) => {
        const attempt = (): boolean => {
          let parsed: ReturnType<Parse<T>>;
          try {
            parsed = parse(buffer);
          } catch (error) {
            finish();
            reject(error);
            return true;
          }
          if (parsed !== undefined) {
            buffer = buffer.subarray(parsed.consumed);
            finish();
            resolve(parsed.value);
            return true;
          }
          if (ended) {
            finish();
            reject(new ProbeIoError(ended.reason, ended.message, buffer));
            return true;
          }
          return false;
        };
        const timer = setTimeout(() => {
          finish();
          reject(new ProbeIoError('timeout', `no complete reply within ${timeoutMs} ms`, buffer));
        }, timeoutMs);
        const finish = () => {
          clearTimeout(timer);
          wake = undefined;
        };
        if (!attempt()) wake = () => void attempt();
      });
    },
  };
}

/** Parses one CRLF- (or LF-) terminated line. */
export const line: Parse<string> = (buffer) => {
  const end = buffer.indexOf(10);
  if (end < 0) return undefined;
  return { value: buffer.subarray(0, end).toString('latin1').replace(/\r$/, ''), consumed: end + 1 };
};

/** Resolves with whatever the first chunk is (at least one byte). */
export const anything: Parse<Buffer> = (buffer) =>
  buffer.length > 0 ? { value: Buffer.from(buffer), consumed: buffer.length } : undefined;

/**
 * Sends one datagram and waits for one reply. The socket is connected, so an ICMP port-unreachable
 * comes back as ECONNREFUSED at once instead of a timeout. Resolves undefined on timeout or refusal.
 */
export function udpExchange(endpoint: Endpoint, payload: Buffer): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket(net.isIPv6(endpoint.host) ? 'udp6' : 'udp4');
    let done = false;
    const finish = (value: Buffer | undefined) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.close();
      resolve(value);
    };
    const timer = setTimeout(() => finish(undefined), endpoint.timeoutMs);
    socket.on('error', () => finish(undefined));
    socket.on('message', (message) => finish(message));
    const localAddress = localAddressFor(endpoint.host, endpoint.sourceAddress);
    const connect = () =>
      socket.connect(endpoint.port, endpoint.host, () => {
        socket.send(payload, (error) => {
          if (error) finish(undefined);
        });
      });
    if (localAddress === undefined) connect();
    else socket.bind({ address: localAddress, port: 0 }, connect);
  });
}

export interface CertificateInfo {
  readonly subject: string;
  readonly issuer: string;
  /** Subject alternative names, e.g. `DNS:example.com`. */
  readonly altNames: readonly string[];
  readonly validFromMs: number;
  readonly validToMs: number;
  readonly selfSigned: boolean;
  /** SHA-256 fingerprint, colon-separated hex. */
  readonly fingerprint256: string;
}

export interface HttpReply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  /** The first 64 KiB of the body. */
  readonly body: Buffer;
  readonly certificate?: CertificateInfo;
}

export interface HttpGetOptions extends Endpoint {
  readonly tls: boolean;
  readonly path: string;
  /** Host header; defaults to the endpoint. */
  readonly hostHeader?: string;
  /** TLS SNI. */
  readonly servername?: string;
}

const MAX_BODY_BYTES = 64 * 1024;

/** One GET with no redirects, no keep-alive, certificates read but not verified. */
export function httpGet(options: HttpGetOptions): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const localAddress = localAddressFor(options.host, options.sourceAddress);
    const requestOptions: https.RequestOptions = {
      host: options.host,
      port: options.port,
      path: options.path,
      method: 'GET',
      agent: false,
      headers: {
        host: options.hostHeader ?? endpointText(options.host, options.port),
        'user-agent': 'moat-probe',
        accept: '*/*',
        connection: 'close',
      },
      ...(localAddress === undefined ? {} : { localAddress }),
      ...(options.tls
        ? { rejectUnauthorized: false, ...(options.servername ? { servername: options.servername } : {}) }
        : {}),
    };
    const request = (options.tls ? https : http).request(requestOptions, (response) => {
      const certificate = options.tls ? certificateOf(response.socket as tls.TLSSocket) : undefined;
      const chunks: Buffer[] = [];
      let size = 0;
      const done = () => {
        clearTimeout(timer);
        request.destroy();
        resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          body: Buffer.concat(chunks).subarray(0, MAX_BODY_BYTES),
          ...(certificate === undefined ? {} : { certificate }),
        });
      };
      response.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        size += chunk.length;
        if (size >= MAX_BODY_BYTES) done();
      });
      response.on('end', done);
      response.on('error', done);
    });
    const timer = setTimeout(() => {
      request.destroy(new ProbeIoError('timeout', `no HTTP reply within ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    request.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    request.end();
  });
}

export function certificateOf(socket: tls.TLSSocket): CertificateInfo | undefined {
  const peer = socket.getPeerCertificate?.(false);
  if (!peer || Object.keys(peer).length === 0) return undefined;
  const subject = distinguishedName(peer.subject);
  const issuer = distinguishedName(peer.issuer);
  return {
    subject,
    issuer,
    altNames: (peer.subjectaltname ?? '')
      .split(',')
      .map((name) => name.trim())
      .filter(Boolean),
    validFromMs: Date.parse(peer.valid_from),
    validToMs: Date.parse(peer.valid_to),
    selfSigned: subject === issuer,
    fingerprint256: peer.fingerprint256,
  };
}

function distinguishedName(name: tls.Certificate | undefined): string {
  if (!name) return '';
  return Object.entries(name)
    .map(([key, value]) => `${key}=${Array.isArray(value) ? value.join('+') : String(value)}`)
    .join(', ');
}

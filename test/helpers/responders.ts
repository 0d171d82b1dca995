/**
 * Minimal wire responders for services no real server can be had for in tests (Elasticsearch,
 * MongoDB, Docker API, a PostgreSQL that asks for SCRAM). Each speaks the documented reply of its
 * protocol, written here independently of moat's own encoders, and listens on a free loopback port.
 * Tests that use them say "responder" in their names.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { unlessInCi } from './requirement.ts';

export interface Responder {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

function listening(server: net.Server, host: string, port = 0): Promise<Responder> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  // A TLS server reports its sockets on 'secureConnection' too, but 'connection' sees the raw ones.
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const address = server.address() as net.AddressInfo;
      resolve({
        host,
        port: address.port,
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

/** A raw TCP responder: `onConnection` gets every socket. */
export function startTcpResponder(
  onConnection: (socket: net.Socket) => void,
  host = '127.0.0.1',
): Promise<Responder> {
  return listening(net.createServer(onConnection), host);
}

export interface TlsMaterial {
  readonly key: string;
  readonly cert: string;
}

/** Undefined when openssl is available, else a skip reason. */
export function opensslMissing(): string | undefined {
  return unlessInCi(spawnSync('openssl', ['version']).status === 0 ? undefined : 'openssl is not installed');
}

/** A self-signed certificate from the openssl CLI, valid for `days` from now, for `names` (SANs). */
export function selfSignedCertificate(names: readonly string[], days = 30): TlsMaterial {
  const dir = mkdtempSync(path.join(tmpdir(), 'moat-cert-'));
  try {
    const keyFile = path.join(dir, 'key.pem');
    const certFile = path.join(dir, 'cert.pem');
    const result = spawnSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        keyFile,
        '-out',
        certFile,
        '-days',
        String(days),
        '-subj',
        `/CN=${names[0] ?? 'localhost'}`,
        '-addext',
        `subjectAltName=${names.map((name) => (net.isIP(name) ? `IP:${name}` : `DNS:${name}`)).join(',')}`,
      ],
      { encoding: 'utf8' },
    );
    if (result.status !== 0) throw new Error(`openssl failed: ${result.stderr}`);
    return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** An HTTP (or, with `tls`, HTTPS) responder. */
export function startHttpResponder(
  handler: http.RequestListener,
  options: { host?: string; port?: number; tls?: TlsMaterial | ((servername: string) => TlsMaterial) } = {},
): Promise<Responder> {
  const host = options.host ?? '127.0.0.1';
  const given = options.tls;
  if (given === undefined) return listening(http.createServer(handler), host, options.port);
  const material = typeof given === 'function' ? given : () => given;
  const fallback = material('');
  const server = https.createServer(
    {
      key: fallback.key,
      cert: fallback.cert,
      SNICallback: (servername, callback) => {
        const chosen = material(servername);
        callback(null, tlsContext(chosen));
      },
    },
    handler,
  );
  return listening(server, host, options.port);
}

function tlsContext(material: TlsMaterial): tls.SecureContext {
  return tls.createSecureContext({ key: material.key, cert: material.cert });
}

function json(
  response: http.ServerResponse,
  status: number,
  body: unknown,
  headers: http.OutgoingHttpHeaders = {},
) {
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(JSON.stringify(body));
}

/**
 * Elasticsearch responder: `GET /` answers the documented root JSON (name, cluster_name,
 * version.number, tagline); with `auth: true` it answers 401 with `WWW-Authenticate: Basic
 * realm="security"` and a security_exception body, as Elasticsearch does with security enabled.
 */
export function startElasticsearchResponder(options: {
  auth: boolean;
  tls?: TlsMaterial;
}): Promise<Responder> {
  return startHttpResponder(
    (request, response) => {
      if (options.auth) {
        json(
          response,
          401,
          {
            error: {
              root_cause: [
                {
                  type: 'security_exception',
                  reason: 'missing authentication credentials for REST request [/]',
                },
              ],
              type: 'security_exception',
            },
            status: 401,
          },
          { 'www-authenticate': 'Basic realm="security" charset="UTF-8"' },
        );
        return;
      }
      if (request.url === '/') {
        json(response, 200, {
          name: 'es-node-1',
          cluster_name: 'mastodon-search',
          cluster_uuid: 'hNj0q8bTQbKCl0zNB0lm5w',
          version: { number: '7.17.21', build_flavor: 'default', lucene_version: '8.11.3' },
          tagline: 'You Know, for Search',
        });
        return;
      }
      json(response, 404, { error: 'not found' });
    },
    options.tls === undefined ? {} : { tls: options.tls },
  );
}

/** Docker Engine API responder: `GET /_ping` → `OK` with `Api-Version`, `GET /version` → the version JSON. */
export function startDockerResponder(): Promise<Responder> {
  return startHttpResponder((request, response) => {
    const headers = {
      'api-version': '1.45',
      'docker-experimental': 'false',
      server: 'Docker/26.1.4 (linux)',
    };
    if (request.url === '/_ping') {
      response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', ...headers });
      response.end('OK');
    } else if (request.url === '/version') {
      json(
        response,
        200,
        {
          Version: '26.1.4',
          ApiVersion: '1.45',
          MinAPIVersion: '1.24',
          Os: 'linux',
          Arch: 'amd64',
          KernelVersion: '6.1.0-21-amd64',
        },
        headers,
      );
    } else {
      json(response, 404, { message: 'page not found' }, headers);
    }
  });
}

// ---- MongoDB: OP_MSG replies, BSON written by hand ------------------------------------------------

type Plain = string | number | boolean | readonly Plain[] | { readonly [key: string]: Plain };

function bsonDocument(value: { readonly [key: string]: Plain } | readonly Plain[]): Buffer {
  const entries = Array.isArray(value)
    ? value.map((item, index) => [String(index), item] as const)
    : Object.entries(value);
  const parts = entries.map(([key, item]) => {
    const name = Buffer.from(`${key}\0`);
    if (typeof item === 'string') {
      const text = Buffer.from(`${item}\0`);
      const size = Buffer.alloc(4);
      size.writeInt32LE(text.length);
      return Buffer.concat([Buffer.from([0x02]), name, size, text]);
    }
    if (typeof item === 'boolean')
      return Buffer.concat([Buffer.from([0x08]), name, Buffer.from([item ? 1 : 0])]);
    if (typeof item === 'number') {
      const number = Buffer.alloc(8);
      number.writeDoubleLE(item);
      return Buffer.concat([Buffer.from([0x01]), name, number]);
    }
    return Buffer.concat([
      Buffer.from([Array.isArray(item) ? 0x04 : 0x03]),
      name,
      bsonDocument(item as never),
    ]);
  });
  const body = Buffer.concat(parts);
  const size = Buffer.alloc(4);
  size.writeInt32LE(body.length + 5);
  return Buffer.concat([size, body, Buffer.from([0])]);
}

/** The first key of an OP_MSG body document (the command name), read by hand. */
function commandName(message: Buffer): string {
  const documentStart = 16 + 4 + 1;
  const type = message[documentStart + 4];
  if (type === undefined) return '';
  const nameEnd = message.indexOf(0, documentStart + 5);
  return message.subarray(documentStart + 5, nameEnd).toString('utf8');
}

/**
 * MongoDB responder speaking OP_MSG (opCode 2013): `hello` → isWritablePrimary/maxWireVersion,
 * `buildInfo` → version, `listDatabases` → the list, or with `auth: true` the documented
 * `{ ok: 0, code: 13, codeName: 'Unauthorized' }`.
 */
export function startMongoResponder(options: { auth: boolean }): Promise<Responder> {
  return startTcpResponder((socket) => {
    let buffer = Buffer.alloc(0);
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      while (buffer.length >= 16 && buffer.length >= buffer.readInt32LE(0)) {
        const length = buffer.readInt32LE(0);
        const message = buffer.subarray(0, length);
        buffer = buffer.subarray(length);
        const requestId = message.readInt32LE(4);
        const name = commandName(message);
        let reply: { readonly [key: string]: Plain };
        if (name === 'hello' || name === 'isMaster') {
          reply = {
            isWritablePrimary: true,
            maxBsonObjectSize: 16777216,
            maxWireVersion: 21,
            minWireVersion: 0,
            ok: 1,
          };
        } else if (name === 'buildInfo') {
          reply = { version: '7.0.12', gitVersion: 'b6513ce0781db6818e24619e8a461eae90bc94fc', ok: 1 };
        } else if (name === 'listDatabases' && !options.auth) {
          reply = {
            databases: [
              { name: 'admin', sizeOnDisk: 40960, empty: false },
              { name: 'shop', sizeOnDisk: 73728, empty: false },
            ],
            totalSize: 114688,
            ok: 1,
          };
        } else {
          reply = {
            ok: 0,
            errmsg: `Command ${name} requires authentication`,
            code: 13,
            codeName: 'Unauthorized',
          };
        }
        const body = bsonDocument(reply);
        const header = Buffer.alloc(21);
        header.writeInt32LE(21 + body.length, 0);
        header.writeInt32LE(requestId + 1000, 4);
        header.writeInt32LE(requestId, 8);
        header.writeInt32LE(2013, 12);
        header.writeUInt32LE(0, 16);
        header.writeUInt8(0, 20);
        socket.write(Buffer.concat([header, body]));
      }
    });
  });
}

/**
 * PostgreSQL responder that answers every StartupMessage with AuthenticationSASL (R, type 10,
 * mechanisms SCRAM-SHA-256), as a server with `scram-sha-256` in pg_hba.conf does.
 */
export function startPostgresScramResponder(): Promise<Responder> {
  return startTcpResponder((socket) => {
    socket.on('error', () => {});
    socket.once('data', () => {
      const mechanisms = Buffer.from('SCRAM-SHA-256\0\0');
      const header = Buffer.alloc(9);
      header.write('R', 0, 'latin1');
      header.writeInt32BE(4 + 4 + mechanisms.length, 1);
      header.writeInt32BE(10, 5);
      socket.write(Buffer.concat([header, mechanisms]));
    });
  });
}

function pgMessage(type: string, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.write(type, 0, 'latin1');
  header.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([header, body]);
}

/**
 * PostgreSQL responder for a pg_hba.conf with only `hostssl … trust`: a plain StartupMessage gets the
 * documented FATAL 28000 "no pg_hba.conf entry … no encryption"; an SSLRequest gets 'S', a TLS
 * handshake, and then AuthenticationOk, ParameterStatus server_version and ReadyForQuery.
 */
export function startPostgresHostsslResponder(material: TlsMaterial): Promise<Responder> {
  const refuse = pgMessage(
    'E',
    Buffer.from(
      'SFATAL\0VFATAL\0C28000\0Mno pg_hba.conf entry for host "127.0.0.1", user "postgres", database "postgres", no encryption\0Fauth.c\0L543\0RClientAuthentication\0\0',
    ),
  );
  const trust = Buffer.concat([
    pgMessage('R', Buffer.from([0, 0, 0, 0])),
    pgMessage('S', Buffer.from('server_version\x0016.3\0')),
    pgMessage('Z', Buffer.from('I')),
  ]);
  return startTcpResponder((socket) => {
    socket.on('error', () => {});
    socket.once('data', (first: Buffer) => {
      if (first.length === 8 && first.readInt32BE(4) === 80877103) {
        socket.write('S');
        const secure = new tls.TLSSocket(socket, { isServer: true, key: material.key, cert: material.cert });
        secure.on('error', () => {});
        secure.once('data', () => secure.write(trust));
        return;
      }
      socket.end(refuse);
    });
  });
}

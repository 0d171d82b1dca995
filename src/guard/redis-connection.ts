/**
 * One ioredis connection per watched instance: short timeouts, no offline queue (a poll against a
 * dead server fails at once instead of piling up), reconnects in the background. The password
 * (URL or passwordFile) goes to ioredis only; logs and alerts see `redactUrl()`.
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Redis } from 'ioredis';
import type { RedisInstanceConfig } from '../config/guard.ts';
import { MoatError } from '../core/errors.ts';
import { redactUrl } from './redis-url.ts';

export interface RedisTarget {
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
  readonly username?: string;
  readonly password?: string;
}

/** Parses a `redis://` / `rediss://` URL. Throws MOAT_CONFIG_INVALID naming the key. */
export function parseRedisUrl(text: string, key = 'guard.redis[].url'): RedisTarget {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new MoatError('MOAT_CONFIG_INVALID', `${key}: not a URL: ${redactUrl(text)}`, {
      hint: 'Write it like redis://127.0.0.1:6379 or rediss://user:password@host:6380.',
    });
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new MoatError('MOAT_CONFIG_INVALID', `${key}: ${url.protocol} is not redis: or rediss:`, {
      hint: 'Write it like redis://127.0.0.1:6379 or rediss://user:password@host:6380.',
    });
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const username = decodeURIComponent(url.username);
  const password = decodeURIComponent(url.password);
  return {
    host,
    port: url.port === '' ? 6379 : Number(url.port),
    tls: url.protocol === 'rediss:',
    ...(username === '' ? {} : { username }),
    ...(password === '' ? {} : { password }),
  };
}

export { redactUrl };

export const hostPort = (host: string, port: number): string =>
  `${host.includes(':') ? `[${host}]` : host}:${port}`;

export interface RedisConnection {
  readonly target: RedisTarget;
  /** Runs commands in one round trip; each result is its reply or an Error. */
  pipeline(commands: readonly (readonly (string | number)[])[]): Promise<(unknown | Error)[]>;
  /** One command; rejects on a Redis error or a timeout. */
  call(...args: (string | number)[]): Promise<unknown>;
  /** The last connection-level error (ECONNREFUSED, WRONGPASS…), if any since the last success. */
  readonly lastError: string | undefined;
  close(): Promise<void>;
}

export interface ConnectOptions {
  readonly timeoutMs: number;
  /** Delay between reconnect attempts. */
  readonly retryMs: number;
}

/** Opens the connection lazily (the first command connects); never throws on a dead server. */
export function openRedisConnection(instance: RedisInstanceConfig, options: ConnectOptions): RedisConnection {
  const target = parseRedisUrl(instance.url);
  let password = target.password;
  if (instance.passwordFile !== undefined) {
    try {
      password = readFileSync(instance.passwordFile, 'utf8').split('\n')[0]?.trimEnd() ?? '';
    } catch (error) {
      throw new MoatError(
        'MOAT_CONFIG_INVALID',
        `guard.redis passwordFile ${instance.passwordFile}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
        { hint: 'Give a readable file holding the password on its first line.' },
      );
    }
  }
  let tls: ConnectionOptions | undefined;
  if (target.tls) {
    const read = (file: string | undefined, what: string) => {
      if (file === undefined) return undefined;
      try {
        return readFileSync(file);
      } catch (error) {
        throw new MoatError(
          'MOAT_CONFIG_INVALID',
          `guard.redis tls.${what} ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
          { hint: 'Give a readable PEM file.' },
        );
      }
    };
    const ca = read(instance.tls?.ca, 'ca');
    const cert = read(instance.tls?.cert, 'cert');
    const key = read(instance.tls?.key, 'key');
    tls = {
      ...(ca === undefined ? {} : { ca }),
      ...(cert === undefined ? {} : { cert }),
      ...(key === undefined ? {} : { key }),
      servername: instance.tls?.servername ?? target.host,
      rejectUnauthorized: instance.tls?.insecure !== true,
    };
  }
  let lastError: string | undefined;
  const client = new Redis({
    host: target.host,
    port: target.port,
    ...(target.username === undefined ? {} : { username: target.username }),
    ...(password === undefined ? {} : { password }),
    ...(tls === undefined ? {} : { tls }),
    lazyConnect: true,
    connectTimeout: options.timeoutMs,
    commandTimeout: options.timeoutMs,
    enableOfflineQueue: false,
    enableReadyCheck: false,
    maxRetriesPerRequest: 0,
    autoResubscribe: false,
    connectionName: 'moat-guard',
    retryStrategy: () => options.retryMs,
  });
  // ioredis reports connection trouble as events; keep the last for the next failed poll's message.
  client.on('error', (error: Error) => {
    lastError = describeError(error);
  });
  client.on('ready', () => {
    lastError = undefined;
  });
  let connecting: Promise<void> | undefined;
  const ensureConnected = async () => {
    if (client.status === 'wait' || client.status === 'end') {
      connecting ??= client.connect().finally(() => {
        connecting = undefined;
      });
      await connecting;
    } else if (connecting !== undefined) {
      await connecting;
    }
  };
  return {
    target,
    get lastError() {
      return lastError;
    },
    async pipeline(commands) {
      await ensureConnected();
      const pipe = client.pipeline();
      for (const [name, ...args] of commands) pipe.call(String(name), ...args);
      const results = (await pipe.exec()) ?? [];
      return results.map(([error, value]) => (error ? (error as Error) : value));
    },
    async call(...args) {
      await ensureConnected();
      const [name, ...rest] = args;
      return client.call(String(name), ...rest);
    },
    async close() {
      client.disconnect(false);
    },
  };
}

/** A connection error in one line, without secrets (ioredis never puts the password in messages). */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    const message = error.message.split('\n')[0] ?? '';
    return code !== undefined && !message.includes(code) ? `${code}: ${message}` : message;
  }
  return String(error);
}

/** JSON-lines logger with an injected stream (tests capture it). Secrets are never passed to it. */
export type Level = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  log(level: Level, message: string, fields?: Readonly<Record<string, unknown>>): void;
}

export function createJsonLogger(
  stream: { write(chunk: string): unknown },
  now: () => number = Date.now,
): Logger {
  return {
    log(level, message, fields) {
      stream.write(
        `${JSON.stringify({ time: new Date(now()).toISOString(), level, msg: message, ...fields })}\n`,
      );
    },
  };
}

/** What a command may touch: injected streams and environment, so tests capture everything. */
export interface OutStream {
  write(chunk: string): unknown;
  readonly isTTY?: boolean;
}

export interface CliContext {
  readonly stdout: OutStream;
  readonly stderr: OutStream;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Set by commands; main() returns it. 0 ok, 1 findings at or above --fail-on, 2 error. */
  exitCode: number;
}

export function processContext(): CliContext {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, exitCode: 0 };
}

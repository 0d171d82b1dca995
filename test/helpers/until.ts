/** Waiting on real processes and sockets, for every test that does. */
import { setTimeout as sleep } from 'node:timers/promises';

/** Polls `check` every 10 ms until it holds, or fails after `timeoutMs` naming `what`. */
export async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(10);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** One HTTP POST with a timeout, turned into a DeliveryError the queue understands. Secrets scrubbed. */
import type { Redactor } from './secrets.ts';

/**
 * Why a delivery failed. `permanent`: retrying cannot help (404 webhook deleted, 401 bad token,
 * recipient refused); `retryAfterMs`: the service asked us to wait at least this long.
 */
export class DeliveryError extends Error {
  override readonly name = 'DeliveryError';
  readonly permanent: boolean;
  readonly retryAfterMs: number | undefined;

  constructor(message: string, options: { permanent?: boolean; retryAfterMs?: number } = {}) {
    super(message);
    this.permanent = options.permanent ?? false;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** A network-level failure (refused, reset, DNS, timeout) in one line, without the URL. */
export function describeNetworkError(error: unknown, timeoutMs: number): string {
  if (error instanceof Error) {
    if (error.name === 'TimeoutError' || error.name === 'AbortError')
      return `timed out after ${timeoutMs} ms`;
    const cause = (error as { cause?: unknown }).cause;
    if (cause instanceof Error) {
      const code = (cause as NodeJS.ErrnoException).code;
      return code !== undefined && !cause.message.includes(code)
        ? `${code}: ${cause.message}`
        : cause.message;
    }
    return error.message;
  }
  return String(error);
}

/** 4xx answers other than these mean the request itself is wrong: retrying cannot help. */
const TRANSIENT_4XX = new Set([408, 425, 429]);

/** `Retry-After` as seconds or an HTTP date, in ms from now. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export interface PostOptions {
  readonly url: string;
  readonly body: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly redactor: Redactor;
}

export interface PostResult {
  readonly status: number;
  readonly text: string;
}

/**
 * POSTs a JSON body; resolves for any 2xx, rejects with a DeliveryError otherwise. The error message
 * is `HTTP <status>` plus the start of the answer, scrubbed of every known secret.
 */
export async function postJson(options: PostOptions): Promise<PostResult> {
  let response: Response;
  try {
    response = await fetch(options.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'moat-alerts', ...options.headers },
      body: options.body,
      redirect: 'error',
      signal: AbortSignal.timeout(options.timeoutMs),
    });
  } catch (error) {
    throw new DeliveryError(options.redactor.redact(describeNetworkError(error, options.timeoutMs)));
  }
  let text = '';
  try {
    text = await response.text();
  } catch (error) {
    if (response.ok) {
      throw new DeliveryError(options.redactor.redact(describeNetworkError(error, options.timeoutMs)));
    }
  }
  if (response.ok) return { status: response.status, text };
  const snippet = text.replace(/\s+/g, ' ').trim().slice(0, 200);
  const message = `HTTP ${response.status}${snippet === '' ? '' : `: ${snippet}`}`;
  const wait = retryAfterMs(response.headers.get('retry-after'));
  throw new DeliveryError(options.redactor.redact(message), {
    permanent: response.status >= 400 && response.status < 500 && !TRANSIENT_4XX.has(response.status),
    ...(wait === undefined ? {} : { retryAfterMs: wait }),
  });
}

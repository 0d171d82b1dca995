/**
 * A strict, streaming reader of one HTTP/1.1 response at a time (RFC 9112), for the gate's upstream
 * connections. Pure: bytes in, callbacks out, no sockets and no timers.
 *
 *   head ──▶ 1xx interim answers skipped ──▶ framing (RFC 9112 §6.3):
 *     HEAD request, 204, 304        no body
 *     Transfer-Encoding … chunked   chunked (chunk extensions ignored, trailers dropped)
 *     Transfer-Encoding other       until the connection closes
 *     Content-Length                exactly that many bytes
 *     neither                       until the connection closes
 *
 * What it refuses (the answer becomes a 502, and the connection is not reused): a head over
 * `maxHeadBytes`, a bad status line, a 101 nobody asked for, obs-fold, a header line without a
 * colon or with a name that is not a token, control characters in a value, several different or
 * non-numeric Content-Length values, a chunk size that is not hex (or too long), missing CRLF after
 * a chunk. Everything a well-behaved server sends passes. A connection is reusable only when the
 * answer was framed by length or chunks, was HTTP/1.1, did not say `Connection: close`, did not carry
 * both Transfer-Encoding and Content-Length, and no byte followed it.
 */

export interface ResponseHead {
  readonly status: number;
  /** The reason phrase; empty when the server sent none. */
  readonly statusMessage: string;
  /** Flat [name, value, …] as sent (Content-Length left out when Transfer-Encoding framed the body). */
  readonly rawHeaders: string[];
}

export interface ResponseEvents {
  onHead(head: ResponseHead): void;
  /**
   * A piece of the body, de-chunked; `last` when it completes a body framed by length (onEnd
   * follows at once). False asks the caller to stop feeding until it can take more.
   */
  onData(chunk: Buffer, last: boolean): boolean | void;
  /** The response is complete. `reusable`: the connection may carry another request. */
  onEnd(reusable: boolean): void;
  onError(error: ResponseError): void;
}

/** The upstream broke the protocol; `message` says how. */
export class ResponseError extends Error {
  override readonly name = 'ResponseError';
}

/** Where the reader is in the answer. */
const Phase = {
  Head: 0,
  Length: 1,
  ChunkSize: 2,
  ChunkData: 3,
  ChunkDataEnd: 4,
  Trailers: 5,
  UntilClose: 6,
  Done: 7,
  Failed: 8,
} as const;
type Phase = (typeof Phase)[keyof typeof Phase];

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A field value's characters (VCHAR, obs-text, SP, HTAB); Node's writeHead accepts the same set. */
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: ([\t\x20-\x7e\x80-\xff]*))?$/;
const DIGITS = /^\d{1,15}$/;
const CHUNK_SIZE = /^([0-9A-Fa-f]{1,12})[\t ]*(?:;.*)?$/;
const CRLF_CRLF = Buffer.from('\r\n\r\n');
/** A chunk-size line or a trailer line longer than this is refused. */
const MAX_LINE = 4096;
const MAX_TRAILER_BYTES = 16 * 1024;

/** A field value without its optional whitespace (SP and HTAB only, as RFC 9110 §5.5 says). */
function trimOws(value: string): string {
  let from = 0;
  let to = value.length;
  while (from < to && (value.charCodeAt(from) === 32 || value.charCodeAt(from) === 9)) from++;
  while (to > from && (value.charCodeAt(to - 1) === 32 || value.charCodeAt(to - 1) === 9)) to--;
  return from === 0 && to === value.length ? value : value.slice(from, to);
}

export interface ResponseReaderOptions {
  /** The head (status line and headers) may not be longer. Default 64 KiB. */
  readonly maxHeadBytes?: number;
}

export class ResponseReader {
  readonly #events: ResponseEvents;
  readonly #maxHead: number;
  #phase: Phase = Phase.Done;
  #headRequest = false;
  /** Head bytes seen so far, while the head spans several chunks. */
  #pending: Buffer | undefined;
  /** Body bytes left (Length), or left in the current chunk (ChunkData). */
  #left = 0;
  /** A partial chunk-size or trailer line. */
  #line = '';
  #trailerBytes = 0;
  #reusable = false;
  /** Bytes arrived that belong to no request: the connection is never reused. */
  #extra = false;

  constructor(events: ResponseEvents, options: ResponseReaderOptions = {}) {
    this.#events = events;
    this.#maxHead = options.maxHeadBytes ?? 64 * 1024;
  }

  /** Starts reading the answer to one request (`head`: the request was HEAD, so no body follows). */
  expect(head: boolean): void {
    this.#phase = Phase.Head;
    this.#headRequest = head;
    this.#pending = undefined;
    this.#line = '';
    this.#trailerBytes = 0;
    this.#reusable = false;
  }

  /** Bytes arrived that belonged to no request; the connection must not be reused. */
  get sawExtraBytes(): boolean {
    return this.#extra;
  }

  /** True between expect() and the answer's end or failure. */
  get busy(): boolean {
    return this.#phase !== Phase.Done && this.#phase !== Phase.Failed;
  }

  /** The connection closed. Ends a close-delimited body; otherwise the answer was cut short. */
  close(): void {
    if (this.#phase === Phase.UntilClose) {
      this.#phase = Phase.Done;
      this.#events.onEnd(false);
    } else if (this.busy) {
      this.#fail(
        this.#phase === Phase.Head
          ? 'the upstream closed the connection before answering'
          : 'the upstream closed the connection mid-body',
      );
    }
  }

  /** Bytes from the connection. */
  feed(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      switch (this.#phase) {
        case Phase.Head:
          at = this.#readHead(chunk, at);
          break;
        case Phase.Length: {
          const take = Math.min(this.#left, chunk.length - at);
          const piece = at === 0 && take === chunk.length ? chunk : chunk.subarray(at, at + take);
          at += take;
          this.#left -= take;
          if (this.#left === 0) this.#phase = Phase.Done;
          this.#events.onData(piece, this.#left === 0);
          if (this.#phase === Phase.Done) this.#finish(chunk.length - at);
          break;
        }
        case Phase.ChunkSize:
        case Phase.Trailers:
        case Phase.ChunkDataEnd:
          at = this.#readLine(chunk, at);
          break;
        case Phase.ChunkData: {
          const take = Math.min(this.#left, chunk.length - at);
          const piece = chunk.subarray(at, at + take);
          at += take;
          this.#left -= take;
          if (this.#left === 0) this.#phase = Phase.ChunkDataEnd;
          this.#events.onData(piece, false);
          break;
        }
        case Phase.UntilClose: {
          const piece = at === 0 ? chunk : chunk.subarray(at);
          at = chunk.length;
          this.#events.onData(piece, false);
          break;
        }
        case Phase.Done:
          // Bytes after the answer, or with no request outstanding: the connection is not reused.
          this.#extra = true;
          return;
        case Phase.Failed:
          return;
      }
    }
  }

  #readHead(chunk: Buffer, at: number): number {
    const pending = this.#pending;
    const source = pending === undefined ? chunk : Buffer.concat([pending, chunk.subarray(at)]);
    const start = pending === undefined ? at : 0;
    const end = source.indexOf(CRLF_CRLF, start);
    if (end < 0) {
      // Up to three bytes of the blank line that ends the head may be here already.
      if (source.length - start > this.#maxHead + 3) {
        this.#fail(`the response head is over ${this.#maxHead} bytes`);
      } else {
        this.#pending = start === 0 ? source : source.subarray(start);
      }
      return chunk.length;
    }
    if (end - start > this.#maxHead) {
      this.#fail(`the response head is over ${this.#maxHead} bytes`);
      return chunk.length;
    }
    this.#pending = undefined;
    // Where the head ends, as a position in `chunk`.
    const next = pending === undefined ? end + 4 : at + end + 4 - pending.length;
    this.#parseHead(source.toString('latin1', start, end), chunk.length - next);
    return next;
  }

  /** `leftover`: bytes after the head in this chunk (an answer without a body must have none). */
  #parseHead(text: string, leftover: number): void {
    const lines = text.split('\r\n');
    const statusLine = STATUS_LINE.exec(lines[0] as string);
    if (statusLine === null) {
      this.#fail(`bad status line ${JSON.stringify((lines[0] as string).slice(0, 80))}`);
      return;
    }
    const status = Number(statusLine[2]);
    const http10 = statusLine[1] === '0';
    const rawHeaders: string[] = [];
    let contentLength: string | undefined;
    let transferEncoding: string | undefined;
    let connection = '';
    let seenLength = false;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i] as string;
      const colon = line.indexOf(':');
      if (colon <= 0) {
        const first = line.charCodeAt(0);
        this.#fail(
          first === 32 || first === 9
            ? 'obs-fold in the response head'
            : 'a response header line without a name',
        );
        return;
      }
      const name = line.slice(0, colon);
      if (!TOKEN.test(name)) {
        this.#fail(`bad response header name ${JSON.stringify(name.slice(0, 40))}`);
        return;
      }
      const raw = line.slice(colon + 1);
      if (BAD_VALUE.test(raw)) {
        this.#fail(`control character in response header ${name}`);
        return;
      }
      const value = trimOws(raw);
      const lower = name.length === 14 || name.length === 17 || name.length === 10 ? name.toLowerCase() : '';
      if (lower === 'content-length') {
        // `Content-Length: 5, 5` and repeated equal values are one length; anything else is refused.
        for (const part of value.split(',')) {
          const digits = trimOws(part);
          if (!DIGITS.test(digits) || (contentLength !== undefined && contentLength !== digits)) {
            this.#fail(`bad or conflicting Content-Length ${JSON.stringify(value.slice(0, 40))}`);
            return;
          }
          contentLength = digits;
        }
        // Passed on once, as one number (a repeated or listed equal length is one length).
        if (seenLength) continue;
        seenLength = true;
        rawHeaders.push(name, contentLength as string);
        continue;
      } else if (lower === 'transfer-encoding') {
        transferEncoding = transferEncoding === undefined ? value : `${transferEncoding}, ${value}`;
      } else if (lower === 'connection') {
        connection = connection === '' ? value.toLowerCase() : `${connection}, ${value.toLowerCase()}`;
      }
      rawHeaders.push(name, value);
    }
    if (status < 200) {
      if (status === 101) {
        this.#fail('101 Switching Protocols to a request that asked for no upgrade');
        return;
      }
      // An interim answer (100 Continue, 103 Early Hints): the final one follows.
      return;
    }
    const closes = http10 || /(?:^|,)\s*close\s*(?:,|$)/.test(connection);
    const statusMessage = statusLine[3] ?? '';
    if (this.#headRequest || status === 204 || status === 304) {
      this.#reusable = !closes;
      this.#phase = Phase.Done;
      this.#events.onHead({ status, statusMessage, rawHeaders });
      this.#finish(leftover);
      return;
    }
    if (transferEncoding !== undefined) {
      if (contentLength !== undefined) {
        // Both: Transfer-Encoding wins, the length is not passed on, the connection is not reused.
        for (let i = rawHeaders.length - 2; i >= 0; i -= 2) {
          if ((rawHeaders[i] as string).toLowerCase() === 'content-length') rawHeaders.splice(i, 2);
        }
      }
      const codings = transferEncoding.toLowerCase().split(',');
      const chunked = (codings[codings.length - 1] as string).trim() === 'chunked';
      this.#reusable = chunked && !closes && contentLength === undefined;
      this.#phase = chunked ? Phase.ChunkSize : Phase.UntilClose;
      this.#events.onHead({ status, statusMessage, rawHeaders });
      return;
    }
    if (contentLength !== undefined) {
      this.#reusable = !closes;
      this.#left = Number(contentLength);
      this.#phase = this.#left === 0 ? Phase.Done : Phase.Length;
      this.#events.onHead({ status, statusMessage, rawHeaders });
      if (this.#phase === Phase.Done) this.#finish(leftover);
      return;
    }
    this.#reusable = false;
    this.#phase = Phase.UntilClose;
    this.#events.onHead({ status, statusMessage, rawHeaders });
  }

  /** Chunk-size lines, the CRLF after chunk data, and trailer lines. */
  #readLine(chunk: Buffer, at: number): number {
    const lf = chunk.indexOf(10, at);
    const end = lf < 0 ? chunk.length : lf;
    if (this.#line.length + (end - at) > MAX_LINE) {
      this.#fail('a chunk-size or trailer line is too long');
      return chunk.length;
    }
    this.#line += chunk.toString('latin1', at, end);
    if (lf < 0) return chunk.length;
    const line = this.#line;
    this.#line = '';
    if (!line.endsWith('\r')) {
      this.#fail('a bare LF in the chunked body');
      return chunk.length;
    }
    const content = line.slice(0, -1);
    const next = lf + 1;
    if (this.#phase === Phase.ChunkDataEnd) {
      if (content !== '') {
        this.#fail('chunk data longer than its size');
        return chunk.length;
      }
      this.#phase = Phase.ChunkSize;
      return next;
    }
    if (this.#phase === Phase.ChunkSize) {
      const size = CHUNK_SIZE.exec(content);
      if (size === null) {
        this.#fail(`bad chunk size ${JSON.stringify(content.slice(0, 40))}`);
        return chunk.length;
      }
      this.#left = Number.parseInt(size[1] as string, 16);
      this.#phase = this.#left === 0 ? Phase.Trailers : Phase.ChunkData;
      return next;
    }
    // Trailers: dropped (nginx drops them too); an empty line ends the answer.
    if (content === '') {
      this.#phase = Phase.Done;
      this.#finish(chunk.length - next);
      return next;
    }
    this.#trailerBytes += line.length + 1;
    if (this.#trailerBytes > MAX_TRAILER_BYTES) {
      this.#fail('the trailers are too large');
      return chunk.length;
    }
    if (content.indexOf(':') <= 0) {
      this.#fail('a trailer line without a name');
      return chunk.length;
    }
    return next;
  }

  #finish(leftover: number): void {
    const reusable = this.#reusable && leftover === 0 && !this.#extra;
    this.#events.onEnd(reusable);
    if (leftover > 0) this.#extra = true;
  }

  #fail(message: string): void {
    this.#phase = Phase.Failed;
    this.#pending = undefined;
    this.#events.onError(new ResponseError(message));
  }
}

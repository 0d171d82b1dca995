/**
 * Splits a byte stream into lines. Keeps a partial trailing line until its newline arrives; a line
 * longer than maxLineBytes is cut there and counted (the rest up to its newline is dropped), so a
 * 1 MB line or a binary blob without newlines can never grow memory without bound.
 * Bytes are decoded as UTF-8 with replacement characters: invalid input becomes visible text that no
 * parser matches, never an exception.
 */
import { isAscii } from 'node:buffer';

/**
 * Complete lines are decoded this many bytes at a time at most. A text this small is an ordinary
 * string in V8's young generation (from about 1 MB on, Node makes external strings, whose slices
 * V8 reads more slowly; large ones cost fresh pages), dies young once its lines are parsed, and a
 * line kept as evidence pins no more than this. Smaller is better for memory: the text being parsed
 * when a scavenge comes survives it and is copied to the old generation, and a cache or sample that
 * keeps one of its lines pins all of it. 16 KiB against 64 KiB: a 1M-line replay copies 15 MB to
 * the old generation instead of 23 MB, and its young generation grows to 34 MB instead of 67 MB.
 */
const DECODE_BYTES = 16 * 1024;

/** Receives a batch of lines as ranges of one text (see LineSplitter.pushRanges). */
export type LineRangesConsumer = (text: string, bounds: readonly number[], count: number) => void;

export interface SplitterStats {
  lines: number;
  oversized: number;
}

export class LineSplitter {
  readonly stats: SplitterStats = { lines: 0, oversized: 0 };
  readonly #maxLineBytes: number;
  readonly #decoder = new TextDecoder('utf-8', { fatal: false });
  /** For the second and later runs decoded from one chunk: a BOM there is text, as it was when one decode() covered the chunk. */
  readonly #decoderKeepingBom = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
  readonly #bounds: number[] = [];
  readonly #singleBounds: number[] = [0, 0];
  #partial: Buffer[] = [];
  #partialBytes = 0;
  /** True while skipping the tail of an oversized line up to its newline. */
  #discarding = false;

  constructor(maxLineBytes = 64 * 1024) {
    this.#maxLineBytes = maxLineBytes;
  }

  /** Feeds bytes; returns the complete lines they finish (without `\n`, `\r\n` trimmed to text). */
  push(chunk: Buffer): string[] {
    const out: string[] = [];
    this.#split(chunk, out, undefined);
    return out;
  }

  /**
   * Like push, but hands the lines over as ranges of the decoded text, in batches (one per decoded
   * piece of at most about DECODE_BYTES, a line finished from an earlier chunk alone), as soon as
   * each is decoded: no substring per line, and a consumer done with a batch when `each` returns
   * lets its text die young. Line i of a batch is `text.slice(bounds[2 * i], bounds[2 * i + 1])`;
   * the character at a line's end is its `\n` or `\r`, or the end is the text's length. `bounds`
   * is reused: read it during the call.
   */
  pushRanges(chunk: Buffer, each: LineRangesConsumer): void {
    this.#split(chunk, [], each);
  }

  #split(chunk: Buffer, out: string[], each: LineRangesConsumer | undefined): void {
    let start = 0;
    while (start < chunk.length) {
      const newline = chunk.indexOf(10, start);
      if (newline === -1) {
        this.#keep(chunk.subarray(start));
        break;
      }
      if (this.#partialBytes > 0 || this.#discarding) {
        // Finish the line that began in an earlier chunk (cut at maxLineBytes if it overflowed).
        this.#keep(chunk.subarray(start, newline));
        this.#emit(out);
        if (each !== undefined) this.#single(out.pop() as string, each);
        start = newline + 1;
        continue;
      }
      // Fast path: the whole run of complete lines left in this chunk is decoded at once, in
      // pieces of at most DECODE_BYTES cut at newlines.
      const last = chunk.lastIndexOf(10);
      let first = true;
      for (;;) {
        let end = last;
        if (last - start > DECODE_BYTES) {
          end = chunk.lastIndexOf(10, start + DECODE_BYTES);
          if (end < start) end = chunk.indexOf(10, start); // one line longer than DECODE_BYTES
        }
        const text = this.#decode(chunk.subarray(start, end), first);
        if (each === undefined) this.#emitText(text, out);
        else this.#emitRanges(text, each);
        first = false;
        start = end + 1;
        if (end === last) break;
      }
    }
  }

  /** UTF-8 → text. ASCII (nearly every log line) is copied byte for byte, which is the same text. */
  #decode(bytes: Buffer, first: boolean): string {
    if (isAscii(bytes)) return bytes.toString('latin1');
    return (first ? this.#decoder : this.#decoderKeepingBom).decode(bytes);
  }

  /** The buffered partial line, emitted as a line (at rotation or end of input), or nothing. */
  flush(): string[] {
    const out: string[] = [];
    if (this.#partialBytes > 0 || this.#discarding) this.#emit(out);
    return out;
  }

  /** Bytes held in an unfinished line (for position bookkeeping). */
  get pendingBytes(): number {
    return this.#partialBytes;
  }

  #emitText(text: string, out: string[]): void {
    let from = 0;
    for (;;) {
      const at = text.indexOf('\n', from);
      const line = at === -1 ? text.slice(from) : text.slice(from, at);
      this.#accept(line, out);
      if (at === -1) break;
      from = at + 1;
    }
  }

  /** #emitText for pushRanges: the same lines (`\r` trimmed, oversized ones cut and counted), as ranges. */
  #emitRanges(text: string, each: LineRangesConsumer): void {
    const bounds = this.#bounds;
    let count = 0;
    let from = 0;
    for (;;) {
      const at = text.indexOf('\n', from);
      let end = at === -1 ? text.length : at;
      if (end > from && text.charCodeAt(end - 1) === 13) end--;
      if (end - from > this.#maxLineBytes) {
        // cut: handed over alone, as its own text (what follows the cut is not a line end)
        if (count > 0) each(text, bounds, count);
        count = 0;
        this.stats.oversized++;
        this.stats.lines++;
        this.#single(text.slice(from, from + this.#maxLineBytes), each);
      } else {
        this.stats.lines++;
        bounds[2 * count] = from;
        bounds[2 * count + 1] = end;
        count++;
      }
      if (at === -1) break;
      from = at + 1;
    }
    if (count > 0) each(text, bounds, count);
  }

  #single(line: string, each: LineRangesConsumer): void {
    const bounds = this.#singleBounds;
    bounds[1] = line.length;
    each(line, bounds, 1);
  }

  #accept(line: string, out: string[]): void {
    let text = line.charCodeAt(line.length - 1) === 13 ? line.slice(0, -1) : line;
    if (text.length > this.#maxLineBytes) {
      text = text.slice(0, this.#maxLineBytes);
      this.stats.oversized++;
    }
    this.stats.lines++;
    out.push(text);
  }

  #keep(bytes: Buffer): void {
    if (this.#discarding || bytes.length === 0) return;
    const room = this.#maxLineBytes - this.#partialBytes;
    if (bytes.length > room) {
      if (room > 0) this.#partial.push(Buffer.from(bytes.subarray(0, room)));
      this.#partialBytes += Math.max(0, room);
      this.#discarding = true;
      this.stats.oversized++;
      return;
    }
    this.#partial.push(Buffer.from(bytes));
    this.#partialBytes += bytes.length;
  }

  #emit(out: string[]): void {
    const text = this.#decoder.decode(Buffer.concat(this.#partial, this.#partialBytes));
    this.#partial = [];
    this.#partialBytes = 0;
    this.#discarding = false;
    const line = text.charCodeAt(text.length - 1) === 13 ? text.slice(0, -1) : text;
    this.stats.lines++;
    out.push(line);
  }
}

/**
 * Splits a byte stream into lines. Keeps a partial trailing line until its newline arrives; a line
 * longer than maxLineBytes is cut there and counted (the rest up to its newline is dropped), so a
 * 1 MB line or a binary blob without newlines can never grow memory without bound.
 * Bytes are decoded as UTF-8 with replacement characters: invalid input becomes visible text that no
 * parser matches, never an exception.
 */
export interface SplitterStats {
  lines: number;
  oversized: number;
}

export class LineSplitter {
  readonly stats: SplitterStats = { lines: 0, oversized: 0 };
  readonly #maxLineBytes: number;
  readonly #decoder = new TextDecoder('utf-8', { fatal: false });
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
        start = newline + 1;
        continue;
      }
      // Fast path: the whole run of complete lines left in this chunk is decoded at once.
      const last = chunk.lastIndexOf(10);
      this.#emitText(this.#decoder.decode(chunk.subarray(start, last)), out);
      start = last + 1;
    }
    return out;
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

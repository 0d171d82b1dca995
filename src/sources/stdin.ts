/** Lines from a readable stream (standard input by default), through the same LineSplitter. */
import { LineSplitter } from './line-splitter.ts';

export async function readLines(
  input: AsyncIterable<Buffer | string>,
  onLines: (lines: string[]) => void | Promise<void>,
  maxLineBytes?: number,
): Promise<{ lines: number; oversized: number }> {
  const splitter = new LineSplitter(maxLineBytes);
  for await (const chunk of input) {
    const lines = splitter.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
    if (lines.length > 0) await onLines(lines);
  }
  const rest = splitter.flush();
  if (rest.length > 0) await onLines(rest);
  return splitter.stats;
}

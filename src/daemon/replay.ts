/**
 * `moat replay`: the watch pipeline over files, as fast as the machine allows. Time comes from the
 * lines themselves, so a day of logs replays in seconds with the same decisions the daemon would
 * have taken. Nothing is enforced or stored.
 */
import { open } from 'node:fs/promises';
import type { MoatConfig, SourceConfig } from '../config/schema.ts';
import { systemClock } from '../core/clock.ts';
import { MoatError } from '../core/errors.ts';
import type { Decision } from '../core/events.ts';
import { LineSplitter } from '../sources/line-splitter.ts';
import { buildDecider, buildEngine, buildParser } from './build.ts';
import { createPipeline, type PipelineStats } from './pipeline.ts';

export interface ReplayResult {
  readonly decisions: readonly Decision[];
  readonly stats: PipelineStats;
  readonly oversizedLines: number;
  readonly elapsedMs: number;
}

/**
 * Bytes per read. Two buffers of this size are the only memory replay takes per file; 1 MiB reads
 * as fast as 4 MiB from the page cache and touches 6 MiB less fresh memory.
 */
const CHUNK_BYTES = 1024 * 1024;

export async function replayFiles(
  files: readonly string[],
  source: Omit<SourceConfig, 'path' | 'journal' | 'stdin' | 'name' | 'from'>,
  config: MoatConfig,
): Promise<ReplayResult> {
  const clock = systemClock;
  const decisions: Decision[] = [];
  const pipeline = createPipeline(buildEngine(config, clock), buildDecider(config, { clock }), {
    onDecision: (decision) => decisions.push(decision),
  });
  const started = performance.now();
  let oversizedLines = 0;
  // Two buffers: the next chunk is read (on libuv's thread pool) while this one is parsed.
  let buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  let spare = Buffer.allocUnsafe(CHUNK_BYTES);
  for (const file of files) {
    pipeline.addSource(file, await buildParser({ ...source, path: file, from: 'start' }, clock));
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(file, 'r');
    } catch (error) {
      throw new MoatError(
        'MOAT_FILE_NOT_FOUND',
        `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      );
    }
    let reading: Promise<{ bytesRead: number }> | undefined;
    try {
      if (!(await handle.stat()).isFile())
        throw new MoatError('MOAT_FILE_NOT_FOUND', `${file} is not a file`);
      const splitter = new LineSplitter();
      const readAtMs = clock.now();
      reading = handle.read(buffer, 0, CHUNK_BYTES, null);
      for (;;) {
        const { bytesRead } = await reading;
        reading = undefined;
        if (bytesRead === 0) break;
        const chunk = buffer.subarray(0, bytesRead);
        [buffer, spare] = [spare, buffer];
        reading = handle.read(buffer, 0, CHUNK_BYTES, null);
        splitter.pushRanges(chunk, (text, bounds, count) =>
          pipeline.ingestRanges(file, text, bounds, count, readAtMs),
        );
      }
      pipeline.ingestLines(file, splitter.flush(), readAtMs);
      oversizedLines += splitter.stats.oversized;
    } finally {
      // a read still in flight (the pipeline threw) settles before the file closes
      await reading?.catch(() => undefined);
      await handle.close();
    }
  }
  return { decisions, stats: pipeline.stats(), oversizedLines, elapsedMs: performance.now() - started };
}

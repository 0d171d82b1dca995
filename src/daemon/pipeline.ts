/**
 * The one engine every input flows through: lines → parser (per source) → scenarios → decider.
 * Pure composition: no IO. What to do with a decision (store, firewall, print) is the caller's
 * hook; `moat replay` collects them, `moat watch` persists and enforces them.
 */
import type { Decision, ParsedEvent } from '../core/events.ts';
import { isRefusal, type Decider, type Refusal } from '../decisions/decider.ts';
import type { DetectedOverflow, Engine } from '../detection/types.ts';
import type { Parser } from '../parsing/index.ts';
import type { RangeParser } from '../parsing/types.ts';

export interface SourceCounts {
  lines: number;
  parsed: number;
  unparsed: number;
}

export interface PipelineStats {
  readonly lines: number;
  readonly parsed: number;
  readonly unparsed: number;
  readonly perSource: Readonly<Record<string, SourceCounts>>;
  /** Overflows per scenario. */
  readonly perScenario: Readonly<Record<string, number>>;
  readonly decisions: number;
  /** Refusals per code (allowlisted, already-banned, …). */
  readonly refusals: Readonly<Record<string, number>>;
}

export interface PipelineHooks {
  onDecision(decision: Decision, overflow: DetectedOverflow): void;
  onRefusal?(refusal: Refusal): void;
}

export interface Pipeline {
  addSource(name: string, parser: Parser): void;
  /** Feeds raw lines of one source; `readAtMs` stands in for lines without their own time. */
  ingestLines(source: string, lines: readonly string[], readAtMs: number): void;
  /**
   * ingestLines for lines held as ranges of one text (LineSplitter.pushRanges): line i is
   * `text.slice(bounds[2 * i], bounds[2 * i + 1])`. A parser that reads lines in place gets the
   * ranges; any other gets the substrings.
   */
  ingestRanges(
    source: string,
    text: string,
    bounds: readonly number[],
    count: number,
    readAtMs: number,
  ): void;
  /** Feeds an already-typed event (gate requests, guard observations). */
  ingestEvent(event: ParsedEvent): void;
  stats(): PipelineStats;
  readonly engine: Engine;
}

export function createPipeline(
  engine: Engine,
  decider: Pick<Decider, 'decide'>,
  hooks: PipelineHooks,
): Pipeline {
  const parsers = new Map<string, Parser>();
  const perSource: Record<string, SourceCounts> = {};
  const perScenario: Record<string, number> = {};
  const refusals: Record<string, number> = {};
  let decisions = 0;

  const onOverflows = (overflows: readonly DetectedOverflow[]) => {
    for (const overflow of overflows) {
      perScenario[overflow.scenario] = (perScenario[overflow.scenario] ?? 0) + 1;
      const result = decider.decide(overflow);
      if (isRefusal(result)) {
        refusals[result.code] = (refusals[result.code] ?? 0) + 1;
        hooks.onRefusal?.(result);
      } else {
        decisions++;
        hooks.onDecision(result, overflow);
      }
    }
  };

  function ingestLines(source: string, lines: readonly string[], readAtMs: number): void {
    const parser = parsers.get(source);
    const counts = perSource[source];
    if (!parser || !counts) throw new Error(`no parser for source ${source}`);
    counts.lines += lines.length;
    // One LogLine record for the whole batch, its text replaced per line: parsers read it during
    // parse() and never keep it.
    const line = { source, text: '', readAtMs };
    for (let i = 0; i < lines.length; i++) {
      line.text = lines[i] as string;
      const event = parser.parse(line);
      if (event === undefined) {
        counts.unparsed++;
        continue;
      }
      counts.parsed++;
      const overflows = engine.ingest(event);
      if (overflows !== undefined) onOverflows(overflows);
    }
  }

  return {
    engine,
    addSource(name, parser) {
      parsers.set(name, parser);
      perSource[name] ??= { lines: 0, parsed: 0, unparsed: 0 };
    },
    ingestLines,
    ingestRanges(source, text, bounds, count, readAtMs) {
      const parser = parsers.get(source);
      const counts = perSource[source];
      if (!parser || !counts) throw new Error(`no parser for source ${source}`);
      const inPlace = (parser as Partial<RangeParser>).parseRange;
      if (inPlace === undefined) {
        const lines: string[] = [];
        for (let i = 0; i < count; i++) lines.push(text.slice(bounds[2 * i], bounds[2 * i + 1]));
        ingestLines(source, lines, readAtMs);
        return;
      }
      counts.lines += count;
      for (let i = 0; i < count; i++) {
        const event = inPlace(text, bounds[2 * i] as number, bounds[2 * i + 1] as number, source, readAtMs);
        if (event === undefined) {
          counts.unparsed++;
          continue;
        }
        counts.parsed++;
        const overflows = engine.ingest(event);
        if (overflows !== undefined) onOverflows(overflows);
      }
    },
    ingestEvent(event) {
      const overflows = engine.ingest(event);
      if (overflows !== undefined) onOverflows(overflows);
    },
    stats() {
      let lines = 0;
      let parsed = 0;
      let unparsed = 0;
      for (const counts of Object.values(perSource)) {
        lines += counts.lines;
        parsed += counts.parsed;
        unparsed += counts.unparsed;
      }
      return { lines, parsed, unparsed, perSource, perScenario, decisions, refusals };
    },
  };
}

import { MoatError } from './errors.ts';

const UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `1500ms`, `30s`, `5m`, `2h`, `7d` (or a bare number of milliseconds) into milliseconds. */
export function parseDurationMs(text: string | number, what = 'duration'): number {
  if (typeof text === 'number') {
    if (Number.isFinite(text) && text >= 0) return text;
  } else {
    const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
    if (match) return Math.round(Number(match[1]) * (UNITS_MS[match[2] ?? 'ms'] ?? 1));
  }
  throw new MoatError('MOAT_USAGE', `${what}: "${text}" is not a duration`, {
    hint: 'Use a number with a unit: 500ms, 30s, 5m, 2h, 7d.',
  });
}

/** `300000` → `5m`, `90000` → `1m30s`, `21600000` → `6h`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const units: [string, number][] = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ];
  let rest = Math.round(ms / 1000) * 1000;
  let out = '';
  let used = 0;
  for (const [unit, size] of units) {
    if (rest >= size && used < 2) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
      used++;
    } else if (used > 0) {
      break;
    }
  }
  return out;
}

/**
 * load → validate → freeze. A missing default file means "all defaults"; a missing file named with
 * --config is an error. Every problem names the key path (and line), says what is wrong and the fix.
 */
import { readFile } from 'node:fs/promises';
import { isMap, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { MoatError } from '../core/errors.ts';
import { configSchema, type MoatConfig } from './schema.ts';

export const DEFAULT_CONFIG_PATH = '/etc/moat/moat.yaml';

/** Keys that were renamed: a config using the old name fails with "use X instead". */
const RENAMED: Record<string, string> = {};

export interface LoadedConfig {
  readonly config: MoatConfig;
  /** The file read, or undefined when the default file was absent and defaults apply. */
  readonly path: string | undefined;
}

export async function loadConfig(explicitPath?: string): Promise<LoadedConfig> {
  const path = explicitPath ?? DEFAULT_CONFIG_PATH;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (explicitPath === undefined && code === 'ENOENT') return { config: parseConfig({}), path: undefined };
    throw new MoatError('MOAT_CONFIG_NOT_FOUND', `cannot read config ${path}: ${code ?? String(error)}`);
  }
  return { config: parseConfigText(text, path), path };
}

/** Parses YAML text and validates it. `source` names the file in messages. */
export function parseConfigText(text: string, source: string): MoatConfig {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const syntax = document.errors[0];
  if (syntax) {
    const at = lineCounter.linePos(syntax.pos[0]);
    throw new MoatError(
      'MOAT_CONFIG_SYNTAX',
      `${source}:${at.line}:${at.col}: ${syntax.message.split('\n')[0]}`,
    );
  }
  const raw: unknown = document.toJS() ?? {};
  // The line of the key, or of its nearest parent when the key itself is missing.
  const lineOf = (path: readonly PropertyKey[]): number | undefined => {
    for (let depth = path.length; depth > 0; depth--) {
      const node = document.getIn(path.slice(0, depth) as unknown[], true) as
        { range?: [number, number, number] } | undefined;
      if (node?.range) return lineCounter.linePos(node.range[0]).line;
    }
    return undefined;
  };
  if (raw !== null && typeof raw === 'object' && !Array.isArray(raw) && isMap(document.contents)) {
    return validate(raw, source, lineOf);
  }
  if (raw === null || (typeof raw === 'object' && Object.keys(raw).length === 0)) return parseConfig({});
  throw new MoatError('MOAT_CONFIG_INVALID', `${source}: the top level must be a mapping of keys`, {
    hint: 'Start from the example in docs/config.md.',
  });
}

/** Validates an already-parsed object (tests, defaults). */
export function parseConfig(raw: unknown): MoatConfig {
  return validate(raw, 'config', () => undefined);
}

function validate(
  raw: unknown,
  source: string,
  lineOf: (path: readonly PropertyKey[]) => number | undefined,
): MoatConfig {
  const result = configSchema.safeParse(raw);
  if (result.success) return deepFreeze(result.data);
  const problems = result.error.issues.flatMap((issue) => describeIssue(issue, source, lineOf));
  throw new MoatError(
    'MOAT_CONFIG_INVALID',
    `${source} is not valid:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    { hint: 'Every key is documented with its default in docs/config.md; `moat config check` re-checks.' },
  );
}

function describeIssue(
  issue: z.core.$ZodIssue,
  source: string,
  lineOf: (path: readonly PropertyKey[]) => number | undefined,
): string[] {
  const where = (path: readonly PropertyKey[]) => {
    const line = lineOf(path);
    const key = path.length === 0 ? '(top level)' : path.map(String).join('.');
    return line === undefined ? key : `${key} (${source}:${line})`;
  };
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => {
      const path = [...issue.path, key];
      const dotted = path.map(String).join('.');
      const renamed = RENAMED[dotted];
      if (renamed) return `${where(path)}: renamed; use ${renamed} instead`;
      const known = knownKeys(issue.path);
      const guess = closest(key, known);
      const fix = guess ? `did you mean "${guess}"?` : `known keys here: ${known.join(', ') || 'none'}`;
      return `${where(path)}: unknown key; ${fix}`;
    });
  }
  return [`${where(issue.path)}: ${issue.message}${fixFor(issue)}`];
}

function fixFor(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_value':
      return `; use one of: ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_small':
      return issue.origin === 'array' ? '; add at least one entry or remove the key' : '; raise the value';
    case 'too_big':
      return '; lower the value';
    case 'invalid_type':
      return `; write a ${issue.expected} here`;
    default:
      return '';
  }
}

/** Keys of the strict object at `path` in the schema, for "did you mean". */
function knownKeys(path: readonly PropertyKey[]): string[] {
  let schema: unknown = configSchema;
  for (const segment of path) {
    schema = unwrap(schema);
    const shape = (schema as { shape?: Record<string, unknown> }).shape;
    if (!shape || typeof segment !== 'string') return [];
    schema = shape[segment];
  }
  const shape = (unwrap(schema) as { shape?: Record<string, unknown> }).shape;
  return shape ? Object.keys(shape) : [];
}

function unwrap(schema: unknown): unknown {
  let current = schema as { _zod?: { def?: { innerType?: unknown } } } | undefined;
  while (current?._zod?.def?.innerType) current = current._zod.def.innerType as typeof current;
  return current;
}

function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const candidate of candidates) {
    const distance = levenshtein(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function levenshtein(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

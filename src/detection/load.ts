/**
 * Scenario files → validated ScenarioDef[]. Pure: the caller reads the files (the stage does no IO)
 * and passes a `readText` function, at start-up or reload. Every problem names the file, line,
 * scenario and key, and says the fix.
 *
 *   loadBuiltinScenarios((path) => readFileSync(path, 'utf8'), config.watch.scenarios)
 */
import { fileURLToPath } from 'node:url';
import { LineCounter, parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { parseDurationMs } from '../core/duration.ts';
import { MoatError } from '../core/errors.ts';
import { compileFilter, FilterError, fieldGetter, unknownFieldMessage } from './filter.ts';
import { compileTemplate } from './template.ts';
import type { ScenarioDef } from './types.ts';

/** The folder of the built-in scenarios (shipped with the package). */
export const BUILTIN_SCENARIO_DIR = fileURLToPath(new URL('./scenarios/', import.meta.url));

/** The built-in scenario files, in BUILTIN_SCENARIO_DIR (a test keeps this list and the folder in step). */
export const BUILTIN_SCENARIO_FILES: readonly string[] = Object.freeze([
  'fail2ban-filter.yaml',
  'http-bad-user-agent.yaml',
  'http-flood.yaml',
  'http-php-probe.yaml',
  'http-probing.yaml',
  'http-sensitive-files.yaml',
  'http-slow-scan.yaml',
  'nginx-limit-req.yaml',
  'redis-dangerous-command.yaml',
  'redis-hijack.yaml',
  'redis-rdb-to-cron-ssh.yaml',
  'redis-rogue-replica.yaml',
  'ssh-bruteforce.yaml',
  'ssh-invalid-user.yaml',
]);

/** Reads a file's text; the caller's IO (e.g. `(path) => readFileSync(path, 'utf8')`). */
export type ReadText = (path: string) => string;

/** Per-scenario overrides from config: `{ 'php-probe': { enabled: false }, 'http-flood': { capacity: 800 } }`. */
export type ScenarioOverrides = Readonly<Record<string, Readonly<Record<string, unknown>>>>;

/** One scenario as read from YAML, before validation. */
export interface RawScenario {
  readonly raw: Readonly<Record<string, unknown>>;
  readonly origin: string;
  /** The line of a key path in the source, when known. */
  readonly lineOf: (path: readonly (string | number)[]) => number | undefined;
}

const durationText = z.union([z.string(), z.number()]);
const stringOrList = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

const scenarioSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'use lowercase letters, digits and dashes, e.g. http-probing'),
  description: z.string().default(''),
  type: z.enum(['leaky', 'trigger']),
  kinds: stringOrList,
  enabled: z.boolean().default(true),
  filter: z.record(z.string(), z.unknown()).optional(),
  groupBy: stringOrList.default('ip'),
  distinct: z.string().min(1).optional(),
  capacity: z.number().int().min(1).max(1_000_000).optional(),
  leak: z.string().optional(),
  leakSpeed: durationText.optional(),
  leakSpeedMs: z.number().positive().optional(),
  ban: durationText.optional(),
  cooldown: durationText.optional(),
  action: z.enum(['ban', 'alert']).default('ban'),
  reason: z.string().min(1).optional(),
});

type Issue = { path: (string | number)[]; message: string };

/** `10/s`, `1/12m`, `30/6h`, `2/min`, `1/30s` → ms per leaked event. Undefined when malformed. */
export function parseLeakRate(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*\/\s*(\d+(?:\.\d+)?)?\s*(ms|s|sec|m|min|h|d)\s*$/.exec(text);
  if (!match) return undefined;
  const events = Number(match[1]);
  const amount = match[2] === undefined ? 1 : Number(match[2]);
  const unit =
    { ms: 1, s: 1000, sec: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 }[match[3] as string] ??
    1;
  if (!(events > 0) || !(amount > 0)) return undefined;
  return (amount * unit) / events;
}

function duration(value: string | number, issues: Issue[], path: (string | number)[]): number | undefined {
  try {
    const ms = parseDurationMs(value);
    if (ms <= 0) throw new Error('zero');
    return ms;
  } catch {
    issues.push({ path, message: `"${value}" is not a duration; use 30s, 10m, 4h, 7d` });
    return undefined;
  }
}

function checkField(name: string, issues: Issue[], path: (string | number)[]): void {
  if (fieldGetter(name) === undefined) issues.push({ path, message: unknownFieldMessage(name) });
}

/** Validates one raw scenario into a ScenarioDef; collects every problem. */
function validateOne(input: RawScenario, issues: Issue[]): (ScenarioDef & { enabled: boolean }) | undefined {
  const parsed = scenarioSchema.safeParse(input.raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
      if (issue.code === 'unrecognized_keys') {
        const known = Object.keys(scenarioSchema.shape);
        for (const key of issue.keys) {
          const near = known.find((k) => editDistance(k.toLowerCase(), key.toLowerCase()) <= 2);
          issues.push({
            path: [...path, key],
            message: `unknown key${near ? `; did you mean ${near}?` : ''} Scenario keys are ${known.join(', ')}`,
          });
        }
        continue;
      }
      issues.push({ path, message: issue.message });
    }
    return undefined;
  }
  const s = parsed.data;
  const before = issues.length;
  const kinds = typeof s.kinds === 'string' ? [s.kinds] : s.kinds;
  const groupBy = typeof s.groupBy === 'string' ? [s.groupBy] : s.groupBy;
  groupBy.forEach((field, i) => {
    checkField(field, issues, typeof s.groupBy === 'string' ? ['groupBy'] : ['groupBy', i]);
  });
  if (s.distinct !== undefined) checkField(s.distinct, issues, ['distinct']);

  let leakSpeedMs = 0;
  let capacity = 0;
  if (s.type === 'leaky') {
    if (s.capacity === undefined)
      issues.push({ path: ['capacity'], message: 'a leaky scenario needs capacity: N' });
    else capacity = s.capacity;
    const forms = [s.leak, s.leakSpeed, s.leakSpeedMs].filter((f) => f !== undefined).length;
    if (forms !== 1) {
      issues.push({
        path: ['leak'],
        message: `a leaky scenario needs exactly one of leak (e.g. "10/s", "1/12m"), leakSpeed (e.g. 10s) or leakSpeedMs${forms > 1 ? '; several were given' : ''}`,
      });
    } else if (s.leak !== undefined) {
      const ms = parseLeakRate(s.leak);
      if (ms === undefined)
        issues.push({
          path: ['leak'],
          message: `"${s.leak}" is not a rate; use EVENTS/PERIOD like 10/s, 1/12m, 30/6h`,
        });
      else leakSpeedMs = ms;
    } else if (s.leakSpeed !== undefined) {
      leakSpeedMs = duration(s.leakSpeed, issues, ['leakSpeed']) ?? 0;
    } else {
      leakSpeedMs = s.leakSpeedMs ?? 0;
    }
    // Integer milliseconds keep the bucket math exact (and its numbers small integers).
    leakSpeedMs = Math.max(1, Math.round(leakSpeedMs));
  } else {
    for (const key of ['capacity', 'leak', 'leakSpeed', 'leakSpeedMs', 'distinct'] as const) {
      if (s[key] !== undefined)
        issues.push({
          path: [key],
          message: `${key} is for leaky scenarios; a trigger fires on every matching event`,
        });
    }
  }
  const banMs = s.ban === undefined ? undefined : duration(s.ban, issues, ['ban']);
  const cooldownMs = s.cooldown === undefined ? undefined : duration(s.cooldown, issues, ['cooldown']);

  if (s.filter !== undefined) {
    try {
      compileFilter(s.filter, ['filter']);
    } catch (error) {
      if (!(error instanceof FilterError)) throw error;
      issues.push({ path: [...error.path], message: error.message });
    }
  }
  const reason = s.reason ?? (s.description || s.name);
  try {
    compileTemplate(reason);
  } catch (error) {
    issues.push({ path: ['reason'], message: (error as Error).message });
  }
  if (issues.length > before) return undefined;
  return {
    name: s.name,
    description: s.description,
    type: s.type,
    kinds,
    ...(s.filter === undefined ? {} : { filter: s.filter }),
    groupBy,
    ...(s.distinct === undefined ? {} : { distinct: s.distinct }),
    capacity: s.type === 'leaky' ? capacity : 0,
    leakSpeedMs: s.type === 'leaky' ? leakSpeedMs : 0,
    ...(banMs === undefined ? {} : { banMs }),
    ...(cooldownMs === undefined ? {} : { cooldownMs }),
    action: s.action,
    reason,
    origin: input.origin,
    enabled: s.enabled,
  };
}

/**
 * Validates scenarios, applies overrides (shallow: each key replaces the scenario's key), drops
 * disabled ones and freezes the rest. Throws one MoatError listing every problem.
 */
export function validateScenarios(
  raws: readonly RawScenario[],
  overrides: ScenarioOverrides = {},
): ScenarioDef[] {
  const problems: string[] = [];
  const names = new Map<string, string>();
  for (const { raw, origin } of raws) {
    const name = typeof raw['name'] === 'string' ? raw['name'] : undefined;
    if (name === undefined) continue;
    const first = names.get(name);
    if (first !== undefined)
      problems.push(`${origin}: scenario "${name}" is also defined in ${first}; names must be unique`);
    else names.set(name, origin);
  }
  for (const name of Object.keys(overrides)) {
    if (!names.has(name)) {
      problems.push(
        `override for "${name}": no scenario has that name; known: ${[...names.keys()].join(', ')}`,
      );
    }
  }
  const defs: ScenarioDef[] = [];
  for (const input of raws) {
    const name = typeof input.raw['name'] === 'string' ? input.raw['name'] : undefined;
    const override = name === undefined ? undefined : overrides[name];
    const merged: RawScenario =
      override === undefined ? input : { ...input, raw: { ...input.raw, ...override } };
    const issues: Issue[] = [];
    const def = validateOne(merged, issues);
    for (const issue of issues) {
      const line = input.lineOf(issue.path);
      const where = `${input.origin}${line === undefined ? '' : `:${line}`}`;
      const key = issue.path.length > 0 ? issue.path.join('.') : '(top)';
      const fromOverride =
        override !== undefined && issue.path[0] !== undefined && String(issue.path[0]) in override;
      problems.push(
        `${where}: scenario ${name ?? '(unnamed)'}: ${key}: ${issue.message}${fromOverride ? ' (from the config override)' : ''}`,
      );
    }
    if (def?.enabled) {
      const { enabled: _, ...rest } = def;
      defs.push(deepFreeze(rest));
    }
  }
  if (problems.length > 0) {
    throw new MoatError(
      'MOAT_CONFIG_INVALID',
      `scenarios are not valid:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
      {
        hint: 'See src/detection/README.md (docs/watch.md) for the scenario format.',
      },
    );
  }
  return defs;
}

/** Parses a YAML text holding one scenario, or several as `---`-separated documents. */
export function parseScenarioText(text: string, origin: string): RawScenario[] {
  const lineCounter = new LineCounter();
  const documents = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const list = Array.isArray(documents) ? documents : [documents];
  const out: RawScenario[] = [];
  for (const document of list) {
    const syntax = document.errors[0];
    if (syntax) {
      const at = lineCounter.linePos(syntax.pos[0]);
      throw new MoatError(
        'MOAT_CONFIG_SYNTAX',
        `${origin}:${at.line}:${at.col}: ${syntax.message.split('\n')[0]}`,
      );
    }
    const raw: unknown = document.toJS();
    if (raw === null || raw === undefined) continue;
    if (typeof raw !== 'object' || Array.isArray(raw)) {
      throw new MoatError(
        'MOAT_CONFIG_INVALID',
        `${origin}: a scenario file holds mappings (name:, type:, kinds:, …)`,
      );
    }
    out.push({
      raw: raw as Record<string, unknown>,
      origin,
      lineOf: (path) => {
        for (let depth = path.length; depth > 0; depth--) {
          const node = document.getIn(path.slice(0, depth), true) as
            { range?: [number, number, number] } | undefined;
          if (node?.range) return lineCounter.linePos(node.range[0]).line;
        }
        return undefined;
      },
    });
  }
  return out;
}

/** Reads (through the caller's `readText`) and validates scenario files. */
export function loadScenarioFiles(
  paths: readonly string[],
  readText: ReadText,
  overrides: ScenarioOverrides = {},
): ScenarioDef[] {
  const raws: RawScenario[] = [];
  for (const path of paths) {
    let text: string;
    try {
      text = readText(path);
    } catch (error) {
      throw new MoatError(
        'MOAT_CONFIG_NOT_FOUND',
        `cannot read scenario file ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      );
    }
    raws.push(...parseScenarioText(text, path));
  }
  return validateScenarios(raws, overrides);
}

/** The built-in scenarios' paths. */
export function builtinScenarioPaths(): string[] {
  return BUILTIN_SCENARIO_FILES.map((file) => `${BUILTIN_SCENARIO_DIR}${file}`);
}

/** The built-in scenarios, validated, with overrides applied. */
export function loadBuiltinScenarios(readText: ReadText, overrides: ScenarioOverrides = {}): ScenarioDef[] {
  return loadScenarioFiles(builtinScenarioPaths(), readText, overrides);
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        (previous[j] as number) + 1,
        (current[j - 1] as number) + 1,
        (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length] as number;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

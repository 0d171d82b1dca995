/**
 * Scenario filters: data in, one predicate closure out. Everything that can be decided at load
 * (regexes, globs, status ranges, CIDR lists, case folding) is decided here, once; a compiled
 * predicate does property reads, compares, `Set.has`, `includes` and `RegExp.test`, nothing else.
 *
 * ```yaml
 * filter:
 *   status: 4xx                      # equals; Nxx / N0x / 400-499 are status ranges
 *   method: [GET, HEAD]              # a list means "any of"
 *   path: { regex: '\.php\d?$', ignoreCase: true }
 *   userAgent: { not: { contains: [Googlebot, bingbot] } }
 *   fields.dir: { startsWith: /var/spool/cron }
 *   ip: { not: { cidr: [127.0.0.0/8, '::1'] } }
 *   bytes: { gt: 1000000 }
 *   any: [ { path: { glob: '/admin/**' } }, { status: 401 } ]
 * ```
 * Keys are ANDed; `any: [...]` ORs filters, `all: [...]` ANDs them, `not: {...}` negates one. A
 * condition on a field the event lacks is false (so `not:` of it is true), except `exists: false`.
 */
import picomatch from 'picomatch';
import type { ParsedEvent } from '../core/events.ts';
import { createCidrSet } from '../decisions/cidr-set.ts';

export type Predicate = (event: ParsedEvent) => boolean;
type Value = string | number | undefined;
type Getter = (event: ParsedEvent) => Value;
type Test = (value: Value) => boolean;

/** Fields a filter, `groupBy`, `distinct` or a reason template may name; `fields.NAME` reaches extras. */
export const EVENT_FIELDS = [
  'ip',
  'service',
  'kind',
  'source',
  'method',
  'path',
  'status',
  'bytes',
  'userAgent',
  'referer',
  'host',
  'user',
  'at',
] as const;
const NUMERIC_FIELDS = new Set(['status', 'bytes', 'at']);

const OPERATORS = [
  'equals',
  'in',
  'regex',
  'glob',
  'contains',
  'startsWith',
  'endsWith',
  'gt',
  'gte',
  'lt',
  'lte',
  'cidr',
  'exists',
  'ignoreCase',
  'not',
] as const;

/** Thrown for a filter that cannot compile; `path` is the key path inside the scenario. */
export class FilterError extends Error {
  readonly path: readonly (string | number)[];
  constructor(path: readonly (string | number)[], message: string) {
    super(message);
    this.path = path;
  }
}

/** A getter for a field name, or undefined when the name is not a field. */
export function fieldGetter(name: string): Getter | undefined {
  switch (name) {
    case 'ip':
      return (e) => e.ip;
    case 'service':
      return (e) => e.service;
    case 'kind':
      return (e) => e.kind;
    case 'source':
      return (e) => e.source;
    case 'method':
      return (e) => e.method;
    case 'path':
      return (e) => e.path;
    case 'status':
      return (e) => e.status;
    case 'bytes':
      return (e) => e.bytes;
    case 'userAgent':
      return (e) => e.userAgent;
    case 'referer':
      return (e) => e.referer;
    case 'host':
      return (e) => e.host;
    case 'user':
      return (e) => e.user;
    case 'at':
      return (e) => e.at;
  }
  if (name.startsWith('fields.') && name.length > 7) {
    const key = name.slice(7);
    return (e) => {
      const fields = e.fields;
      return fields === undefined || !Object.hasOwn(fields, key) ? undefined : fields[key];
    };
  }
  return undefined;
}

export function unknownFieldMessage(name: string): string {
  return `"${name}" is not an event field; use one of ${EVENT_FIELDS.join(', ')}, or fields.NAME for a parser's extra field`;
}

/** Compiles a filter mapping into one predicate. Throws FilterError with the failing key path. */
export function compileFilter(filter: unknown, path: readonly (string | number)[] = ['filter']): Predicate {
  if (filter === null || typeof filter !== 'object' || Array.isArray(filter)) {
    throw new FilterError(path, 'a filter is a mapping of field: condition (or all/any/not)');
  }
  const parts: { cost: number; test: Predicate }[] = [];
  for (const [key, spec] of Object.entries(filter)) {
    const at = [...path, key];
    if (key === 'all' || key === 'any') {
      if (!Array.isArray(spec) || spec.length === 0)
        throw new FilterError(at, `${key} takes a non-empty list of filters`);
      const subs = spec.map((sub, i) => compileFilter(sub, [...at, i]));
      parts.push({ cost: 10 * subs.length, test: key === 'all' ? and(subs) : or(subs) });
    } else if (key === 'not') {
      const inner = compileFilter(spec, at);
      parts.push({ cost: 10, test: (e) => !inner(e) });
    } else {
      if (fieldGetter(key) === undefined) throw new FilterError(at, unknownFieldMessage(key));
      const numeric = NUMERIC_FIELDS.has(key);
      const { test, cost } = compileCondition(spec, numeric, at);
      parts.push(numeric ? { cost: 0, test: bindTable(key, test) } : { cost, test: bindField(key, test) });
    }
  }
  if (parts.length === 0)
    throw new FilterError(path, 'an empty filter matches everything; leave the key out instead');
  // Cheap tests first: a status compare short-circuits a regex.
  parts.sort((a, b) => a.cost - b.cost);
  return and(parts.map((p) => p.test));
}

/** `test(event[field])` with the property read inlined (one closure call fewer per test). */
function bindField(field: string, test: Test): Predicate {
  switch (field) {
    case 'ip':
      return (e) => test(e.ip);
    case 'method':
      return (e) => test(e.method);
    case 'path':
      return (e) => test(e.path);
    case 'status':
      return (e) => test(e.status);
    case 'userAgent':
      return (e) => test(e.userAgent);
    case 'host':
      return (e) => test(e.host);
    case 'user':
      return (e) => test(e.user);
    default: {
      const get = fieldGetter(field) as Getter;
      return (e) => test(get(e));
    }
  }
}

/** Small integers a numeric condition is answered for in advance (status codes, mostly). */
const TABLE_SIZE = 1024;

/**
 * A numeric field's condition as a lookup table over the integers 0 to TABLE_SIZE − 1 (every test
 * is a pure function of the value, so the table holds exactly its answers), falling back to the
 * test itself for any other value: `status: { in: [4xx], not: { in: [401, 429] } }` becomes one
 * property read and one array read instead of five closure calls.
 */
function bindTable(field: string, test: Test): Predicate {
  const table = new Uint8Array(TABLE_SIZE);
  for (let i = 0; i < TABLE_SIZE; i++) table[i] = test(i) ? 1 : 0;
  const lookup = (v: Value): boolean =>
    typeof v === 'number' && v >= 0 && v < TABLE_SIZE && (v | 0) === v ? table[v] === 1 : test(v);
  if (field === 'status') {
    return (e) => {
      const v = e.status;
      return typeof v === 'number' && v >= 0 && v < TABLE_SIZE && (v | 0) === v ? table[v] === 1 : test(v);
    };
  }
  const get = fieldGetter(field) as Getter;
  return (e) => lookup(get(e));
}

function and(tests: readonly Predicate[]): Predicate {
  if (tests.length === 1) return tests[0] as Predicate;
  if (tests.length === 2) {
    const [a, b] = tests as [Predicate, Predicate];
    return (e) => a(e) && b(e);
  }
  return (e) => {
    for (let i = 0; i < tests.length; i++) if (!(tests[i] as Predicate)(e)) return false;
    return true;
  };
}

function or(tests: readonly Predicate[]): Predicate {
  if (tests.length === 1) return tests[0] as Predicate;
  return (e) => {
    for (let i = 0; i < tests.length; i++) if ((tests[i] as Predicate)(e)) return true;
    return false;
  };
}

function andTests(tests: readonly Test[]): Test {
  if (tests.length === 1) return tests[0] as Test;
  if (tests.length === 2) {
    const [a, b] = tests as [Test, Test];
    return (v) => a(v) && b(v);
  }
  return (v) => {
    for (let i = 0; i < tests.length; i++) if (!(tests[i] as Test)(v)) return false;
    return true;
  };
}

type Scalar = string | number | boolean;

function isScalar(x: unknown): x is Scalar {
  return typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean';
}

/** `4xx`, `40x`, `400-499` → [lo, hi]; undefined when the text is not a range. */
export function parseNumericRange(text: string): [number, number] | undefined {
  const xx = /^([1-9])(x|\d)x$/i.exec(text);
  if (xx) {
    const hundreds = Number(xx[1]) * 100;
    if ((xx[2] as string).toLowerCase() === 'x') return [hundreds, hundreds + 99];
    const tens = hundreds + Number(xx[2]) * 10;
    return [tens, tens + 9];
  }
  const dash = /^(\d+)\s*-\s*(\d+)$/.exec(text);
  if (dash) {
    const lo = Number(dash[1]);
    const hi = Number(dash[2]);
    if (lo <= hi) return [lo, hi];
  }
  return undefined;
}

function toNumber(v: Value): number {
  return typeof v === 'number' ? v : typeof v === 'string' && v !== '' ? Number(v) : Number.NaN;
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** Tests a value against a list of exact values and ranges (status: [401, 403, 5xx]). */
function membership(
  values: readonly Scalar[],
  numeric: boolean,
  ignoreCase: boolean,
  at: readonly (string | number)[],
): Test {
  if (values.length === 0) throw new FilterError(at, 'the list is empty');
  if (numeric) {
    const exact = new Set<number>();
    const ranges: [number, number][] = [];
    for (const value of values) {
      if (typeof value === 'number') exact.add(value);
      else if (typeof value === 'string' && /^\d+$/.test(value)) exact.add(Number(value));
      else if (typeof value === 'string' && parseNumericRange(value))
        ranges.push(parseNumericRange(value) as [number, number]);
      else
        throw new FilterError(at, `"${String(value)}" is not a number or a range like 4xx, 40x or 400-499`);
    }
    if (ranges.length === 0) {
      if (exact.size === 1) {
        const only = [...exact][0] as number;
        return (v) => toNumber(v) === only;
      }
      return (v) => exact.has(toNumber(v));
    }
    if (exact.size === 0 && ranges.length === 1) {
      const [lo, hi] = ranges[0] as [number, number];
      return (v) => {
        const n = toNumber(v);
        return n >= lo && n <= hi;
      };
    }
    return (v) => {
      const n = toNumber(v);
      if (exact.has(n)) return true;
      for (const [lo, hi] of ranges) if (n >= lo && n <= hi) return true;
      return false;
    };
  }
  const strings = values.map(String);
  if (ignoreCase) {
    const re = new RegExp(`^(?:${strings.map(escapeRegex).join('|')})$`, 'i');
    return (v) => v !== undefined && re.test(typeof v === 'string' ? v : String(v));
  }
  if (strings.length === 1) {
    const only = strings[0] as string;
    return (v) => (typeof v === 'string' ? v === only : v !== undefined && String(v) === only);
  }
  const set = new Set(strings);
  return (v) => v !== undefined && set.has(typeof v === 'string' ? v : String(v));
}

function stringList(spec: unknown, at: readonly (string | number)[]): string[] {
  const list = Array.isArray(spec) ? spec : [spec];
  if (list.length === 0) throw new FilterError(at, 'the list is empty');
  return list.map((item, i) => {
    if (typeof item !== 'string' && typeof item !== 'number') {
      throw new FilterError(Array.isArray(spec) ? [...at, i] : at, 'expected a string');
    }
    return String(item);
  });
}

/** Entries in each pattern test's result cache (a power of two). */
const MEMO_SLOTS = 2048;
/**
 * Only values this long go through the cache: comparing two fresh strings costs ~30 ns, more than
 * a regex over a short path, far less than a 40-way case-insensitive regex over a user agent.
 */
const MEMO_MIN_CHARS = 48;
/** Longer values are tested directly (and never pinned by the cache). */
const MEMO_MAX_CHARS = 512;

/**
 * A regex test behind a small direct-mapped cache. Logs repeat themselves (the same few hundred
 * user agents and asset paths), and comparing a value with the cached one is far cheaper than
 * running a 40-way case-insensitive regex over 120 characters. The slot comes from the length and
 * five sampled characters (no full hash: the value is a fresh string from the parser, so its hash
 * is not cached yet); a hit needs full equality, so the cache can only change speed, never results.
 * It pins at most MEMO_SLOTS short strings (and the lines they were cut from) per test.
 */
function memoize(re: RegExp): Test {
  const keys: (string | undefined)[] = new Array(MEMO_SLOTS).fill(undefined);
  const results = new Uint8Array(MEMO_SLOTS);
  const mask = MEMO_SLOTS - 1;
  return (v) => {
    if (typeof v !== 'string') return v !== undefined && re.test(String(v));
    const n = v.length;
    if (n < MEMO_MIN_CHARS || n > MEMO_MAX_CHARS) return re.test(v);
    // Eight sampled characters: the ends (where file names, extensions and queries differ), a few inside.
    const slot =
      (n * 31 +
        v.charCodeAt(n - 1) * 3 +
        v.charCodeAt(n - 2) * 7 +
        v.charCodeAt(n - 3) * 11 +
        v.charCodeAt(n - 5) * 13 +
        v.charCodeAt(n - 7) * 17 +
        v.charCodeAt(n >> 1) * 19 +
        v.charCodeAt(n >> 2) * 23 +
        v.charCodeAt((n * 3) >> 2) * 29) &
      mask;
    if (keys[slot] === v) return results[slot] === 1;
    const result = re.test(v);
    keys[slot] = v;
    results[slot] = result ? 1 : 0;
    return result;
  };
}

function asString(v: Value): string | undefined {
  return typeof v === 'string' ? v : v === undefined ? undefined : String(v);
}

/** Compiles one field condition. `cost` orders tests cheapest first. */
export function compileCondition(
  spec: unknown,
  numeric: boolean,
  at: readonly (string | number)[],
): { test: Test; cost: number } {
  if (isScalar(spec)) return { test: membership([spec], numeric, false, at), cost: 1 };
  if (Array.isArray(spec)) {
    spec.forEach((item, i) => {
      if (!isScalar(item))
        throw new FilterError([...at, i], 'a list condition holds plain values; use any: for alternatives');
    });
    return { test: membership(spec as Scalar[], numeric, false, at), cost: 2 };
  }
  if (spec === null || typeof spec !== 'object')
    throw new FilterError(at, 'expected a value, a list or a mapping of operators');
  const ops = spec as Record<string, unknown>;
  const ignoreCase = ops['ignoreCase'] === true;
  if ('ignoreCase' in ops && typeof ops['ignoreCase'] !== 'boolean') {
    throw new FilterError([...at, 'ignoreCase'], 'ignoreCase is true or false');
  }
  const tests: { test: Test; cost: number }[] = [];
  for (const [op, arg] of Object.entries(ops)) {
    const where = [...at, op];
    switch (op) {
      case 'ignoreCase':
        break;
      case 'equals':
        if (!isScalar(arg)) throw new FilterError(where, 'equals takes one value');
        tests.push({ test: membership([arg], numeric, ignoreCase, where), cost: 1 });
        break;
      case 'in':
        if (!Array.isArray(arg) || !arg.every(isScalar))
          throw new FilterError(where, 'in takes a list of values');
        tests.push({ test: membership(arg, numeric, ignoreCase, where), cost: 2 });
        break;
      case 'regex': {
        const sources = stringList(arg, where);
        const regexes = sources.map((source, i) => {
          try {
            return new RegExp(source, ignoreCase ? 'i' : '');
          } catch (error) {
            throw new FilterError(
              Array.isArray(arg) ? [...where, i] : where,
              `invalid regex: ${(error as Error).message}`,
            );
          }
        });
        const re =
          regexes.length === 1
            ? (regexes[0] as RegExp)
            : new RegExp(regexes.map((r) => `(?:${r.source})`).join('|'), ignoreCase ? 'i' : '');
        tests.push({ test: memoize(re), cost: 5 });
        break;
      }
      case 'glob': {
        const globs = stringList(arg, where);
        const res = globs.map((glob) => picomatch.makeRe(glob, { dot: true, nocase: ignoreCase }));
        const re =
          res.length === 1
            ? (res[0] as RegExp)
            : new RegExp(res.map((r) => `(?:${r.source})`).join('|'), ignoreCase ? 'i' : '');
        tests.push({ test: memoize(re), cost: 5 });
        break;
      }
      case 'contains':
      case 'startsWith':
      case 'endsWith': {
        const needles = stringList(arg, where);
        if (needles.some((n) => n === ''))
          throw new FilterError(where, `${op} of an empty string matches everything`);
        if (op === 'contains' && !ignoreCase && needles.length > 1 && needles.length <= 8) {
          // A few includes() beat one regex call.
          const test: Test = (v) => {
            const s = asString(v);
            if (s === undefined) return false;
            for (let i = 0; i < needles.length; i++) if (s.includes(needles[i] as string)) return true;
            return false;
          };
          tests.push({ test, cost: 3 });
        } else if (ignoreCase || needles.length > 1) {
          const body = needles.map(escapeRegex).join('|');
          const source =
            op === 'contains' ? `(?:${body})` : op === 'startsWith' ? `^(?:${body})` : `(?:${body})$`;
          const re = new RegExp(source, ignoreCase ? 'i' : '');
          tests.push({ test: memoize(re), cost: 4 });
        } else {
          const needle = needles[0] as string;
          const test: Test =
            op === 'contains'
              ? (v) => asString(v)?.includes(needle) === true
              : op === 'startsWith'
                ? (v) => asString(v)?.startsWith(needle) === true
                : (v) => asString(v)?.endsWith(needle) === true;
          tests.push({ test, cost: 3 });
        }
        break;
      }
      case 'gt':
      case 'gte':
      case 'lt':
      case 'lte': {
        if (typeof arg !== 'number' || !Number.isFinite(arg))
          throw new FilterError(where, `${op} takes a number`);
        const n = arg;
        const test: Test =
          op === 'gt'
            ? (v) => toNumber(v) > n
            : op === 'gte'
              ? (v) => toNumber(v) >= n
              : op === 'lt'
                ? (v) => toNumber(v) < n
                : (v) => toNumber(v) <= n;
        tests.push({ test, cost: 1 });
        break;
      }
      case 'cidr': {
        const entries = stringList(arg, where);
        const set = createCidrSet(entries);
        if (set.invalid.length > 0) {
          throw new FilterError(
            where,
            `not an address or CIDR: ${set.invalid.join(', ')} (use forms like 10.0.0.0/8, 2001:db8::/32)`,
          );
        }
        tests.push({ test: (v) => typeof v === 'string' && set.has(v), cost: 4 });
        break;
      }
      case 'exists': {
        if (typeof arg !== 'boolean') throw new FilterError(where, 'exists is true or false');
        tests.push({ test: arg ? (v) => v !== undefined : (v) => v === undefined, cost: 0 });
        break;
      }
      case 'not': {
        const inner = compileCondition(arg, numeric, where);
        tests.push({ test: (v) => !inner.test(v), cost: inner.cost });
        break;
      }
      default:
        throw new FilterError(where, `unknown operator "${op}"; use one of ${OPERATORS.join(', ')}`);
    }
  }
  if (tests.length === 0) throw new FilterError(at, 'the condition has no operator');
  tests.sort((a, b) => a.cost - b.cost);
  return { test: andTests(tests.map((t) => t.test)), cost: tests.reduce((sum, t) => sum + t.cost, 0) };
}

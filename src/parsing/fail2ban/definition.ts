/**
 * From merged filter files to the filter's definition: what fail2ban's FilterReader does with
 * `[Definition]`, `[Init]`, filter parameters (`sshd[mode=aggressive]`) and `<tag>` substitution
 * (`<mdre-<mode>>`, `<block>`, `<__prefix_line>`…). Pure.
 */
import { type Ini, IniError } from './ini.ts';

/** The filter as fail2ban would hand it to its server: plain strings, tags like `<HOST>` still in. */
export interface Fail2banDefinition {
  readonly prefregex: string | undefined;
  readonly failregex: readonly string[];
  readonly ignoreregex: readonly string[];
  /** Raw `datepattern` (after `%%` → `%`), one template per line; undefined: fail2ban's defaults. */
  readonly datepattern: string | undefined;
  readonly maxlines: number;
  /** Each journalmatch line split like a shell would (`_SYSTEMD_UNIT=sshd.service + _COMM=sshd`). */
  readonly journalmatch: readonly (readonly string[])[];
  readonly usedns: string | undefined;
  /** The parameters in effect after `[Init]`: e.g. `mode`, `logtype`, `publickey`. */
  readonly parameters: Readonly<Record<string, string>>;
}

export class DefinitionError extends Error {
  override readonly name = 'DefinitionError';
}

const CONFIG_OPTIONS = [
  'usedns',
  'prefregex',
  'ignoreregex',
  'failregex',
  'maxlines',
  'datepattern',
  'journalmatch',
];
const TAG = /<([^ <>]+)>/g;
const MAX_TAG_REPLACE_COUNT = 25;

function isMissing(error: unknown): boolean {
  return error instanceof IniError && (error.kind === 'no-section' || error.kind === 'no-option');
}

/** fail2ban's substituteRecursiveTags. */
function substituteRecursiveTags(
  input: Record<string, string>,
  ignore: ReadonlySet<string>,
  addrepl: (tag: string) => string | undefined,
): Record<string, string> {
  const tags: Record<string, string> = { ...input };
  const done = new Set<string>();
  const repCounts = new Map<string, Map<string, number>>();
  for (;;) {
    let repeat = false;
    for (const tag of Object.keys(tags)) {
      if (ignore.has(tag) || done.has(tag)) continue;
      const original = tags[tag]!;
      let value = original;
      const counts = repCounts.get(tag) ?? new Map<string, number>();
      TAG.lastIndex = 0;
      let m = TAG.exec(value);
      while (m) {
        const rtag = m[1]!;
        if (ignore.has(rtag)) {
          m = TAG.exec(value);
          continue;
        }
        if (rtag === tag || (counts.get(rtag) ?? 1) > MAX_TAG_REPLACE_COUNT) {
          throw new DefinitionError(
            `"${tag}" refers to itself through <${rtag}> and cannot be resolved (value: ${value.slice(0, 200)})`,
          );
        }
        const repl = tags[rtag] ?? addrepl(rtag);
        if (repl === undefined) {
          // unknown tags stay: <HOST>, <F-USER>, (?P<name>…) are for the regex compiler
          m = TAG.exec(value);
          continue;
        }
        value = value.replaceAll(`<${rtag}>`, repl);
        counts.set(rtag, (counts.get(rtag) ?? 0) + 1);
        TAG.lastIndex = m.index;
        m = TAG.exec(value);
      }
      if (value !== original) {
        TAG.lastIndex = 0;
        if (TAG.test(value)) {
          repCounts.set(tag, counts);
          repeat = true;
        }
        tags[tag] = value;
      }
      if (!value.includes('<')) done.add(tag);
    }
    if (!repeat) return tags;
  }
}

/** Splits a journalmatch line like Python's shlex.split. */
export function shellSplit(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: string | undefined;
  for (let k = 0; k < line.length; k++) {
    const c = line[k]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && (line[k + 1] === '"' || line[k + 1] === '\\'))
        word += line[++k];
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\' && k + 1 < line.length) {
      word += line[++k];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else if (c === '#' && !inWord) {
      break;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new DefinitionError(`journalmatch has an unclosed quote: ${line}`);
  if (inWord) words.push(word);
  return words;
}

/**
 * Resolves the definition the way fail2ban's client does for `filter = NAME[parameters]`.
 * Throws DefinitionError or IniError (interpolation) with a message naming the option.
 */
export function resolveDefinition(
  ini: Ini,
  parameters: Readonly<Record<string, string>> = {},
): Fail2banDefinition {
  const initOpts: Record<string, string> = { ...parameters };
  const pOpts: Record<string, string> = { ...parameters };
  const opts: Record<string, string> = {};
  if (ini.hasSection('Definition')) {
    for (const name of CONFIG_OPTIONS) {
      if (name in pOpts) continue;
      try {
        opts[name] = ini.get('Definition', name, pOpts);
      } catch (error) {
        if (!isMissing(error)) throw error;
      }
    }
  }
  if (ini.hasSection('Init')) {
    for (const opt of ini.ownOptions('Init')) {
      if (opt === '__name__') continue;
      const value = ini.get('Init', opt);
      if (!opt.startsWith('known/')) initOpts[`known/${opt}`] = value;
      if (!(opt in initOpts)) initOpts[opt] = value;
    }
  }
  const combined: Record<string, string> = { ...opts, ...initOpts };
  const ignore = new Set<string>();
  for (const name of Object.keys(combined)) {
    const cond = /^(\w+)(\?.+)$/.exec(name);
    if (cond) ignore.add(cond[1]!);
  }
  const cache = new Map<string, string | undefined>();
  const combOption = (name: string): string | undefined => {
    if (cache.has(name)) return cache.get(name);
    let value: string | undefined;
    try {
      value = ini.getEx('Definition', name, pOpts);
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
    cache.set(name, value);
    return value;
  };
  const resolved = substituteRecursiveTags(combined, ignore, combOption);

  const lines = (value: string | undefined): string[] => (value ?? '').split('\n').filter((l) => l !== '');
  let maxlines = 1;
  if (resolved['maxlines'] !== undefined) {
    const n = Number(resolved['maxlines'].trim());
    if (!Number.isInteger(n) || n <= 0) {
      throw new DefinitionError(
        `maxlines must be a whole number greater than zero, not "${resolved['maxlines']}"`,
      );
    }
    maxlines = n;
  }
  const parameterNames = new Set([...Object.keys(initOpts)].filter((k) => !k.startsWith('known/')));
  const effective: Record<string, string> = {};
  for (const name of parameterNames) effective[name] = resolved[name] ?? initOpts[name]!;
  return {
    prefregex: resolved['prefregex'] ? resolved['prefregex'] : undefined,
    failregex: lines(resolved['failregex']),
    ignoreregex: lines(resolved['ignoreregex']),
    datepattern: resolved['datepattern'],
    maxlines,
    journalmatch: lines(resolved['journalmatch']).map(shellSplit),
    usedns: resolved['usedns'],
    parameters: effective,
  };
}

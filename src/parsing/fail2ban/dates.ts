/**
 * fail2ban's date handling: `datepattern` templates (strftime-like `%Y-%m-%d %H:%M:%S` with fail2ban's
 * `%Ex…` and `%k` additions, `{^LN-BEG}`, `{DATE}`, `{DEFAULT}`, `{NONE}`, `{UNB}`, `EPOCH`, `LEPOCH`,
 * `TAI64N`), the default templates (syslog `Mon DD HH:MM:SS`, ISO 8601, `DD/Mon/YYYY:HH:MM:SS +ZZZZ`,
 * epoch, …), the word/line boundaries fail2ban adds around them, and turning the matched fields into
 * a time (year and day assumed from "now" when the log leaves them out). Templates compile once; the
 * detector keeps the template that matched last and tries it first, as fail2ban does. Pure.
 */
import { translatePythonRegex } from './python-regex.ts';
import type { Zone } from './time-zone.ts';
import { parseZoneOffset } from './time-zone.ts';

const TZ_ABBR = String.raw`[A-Z](?:[A-Z]{2,4})?`;

/** strptime directives as Python regex (fail2ban's strptime.timeRE). */
const TIME_RE: Readonly<Record<string, string>> = {
  a: '(?P<a>mon|tue|wed|thu|fri|sat|sun)',
  A: '(?P<A>wednesday|thursday|saturday|tuesday|monday|friday|sunday)',
  b: '(?P<b>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)',
  B: '(?P<B>september|february|november|december|january|october|august|march|april|june|july|may)',
  d: String.raw`(?P<d>[1-2]\d|[0 ]?[1-9]|3[0-1])`,
  f: '(?P<f>[0-9]{1,6})',
  H: String.raw`(?P<H>[0-1]?\d|2[0-3])`,
  I: String.raw`(?P<I>1[0-2]|0[1-9]|[1-9])`,
  j: String.raw`(?P<j>36[0-6]|3[0-5]\d|[1-2]\d\d|0[1-9]\d|00[1-9]|[1-9]\d|0[1-9]|[1-9])`,
  k: String.raw` ?(?P<H>[0-2]?\d)`,
  l: String.raw` ?(?P<I>1?\d)`,
  m: '(?P<m>0?[1-9]|1[0-2])',
  M: String.raw`(?P<M>[0-5]?\d)`,
  p: '(?P<p>am|pm)',
  S: String.raw`(?P<S>[0-5]?\d|6[0-1])`,
  u: '(?P<u>[1-7])',
  U: String.raw`(?P<U>5[0-3]|[0-4]\d|\d)`,
  V: String.raw`(?P<V>5[0-3]|0[1-9]|[1-4]\d|\d)`,
  w: '(?P<w>[0-6])',
  W: String.raw`(?P<W>5[0-3]|[0-4]\d|\d)`,
  y: String.raw`(?P<y>\d\d)`,
  Y: String.raw`(?P<Y>\d{4})`,
  G: String.raw`(?P<G>\d\d\d\d)`,
  z: String.raw`(?P<z>Z|UTC|GMT|[+-][01]\d(?::?\d{2})?)`,
  Z: '(?P<Z>Z|[A-Z]{3,5})',
  X: String.raw`(?P<H>2[0-3]|[0-1]\d|\d):(?P<M>[0-5]\d|\d):(?P<S>6[0-1]|[0-5]\d|\d)`,
  x: String.raw`(?P<m>1[0-2]|0[1-9]|[1-9])/(?P<d>3[0-1]|[1-2]\d|0[1-9]|[1-9]| [1-9])/(?P<y>\d\d)`,
  c: String.raw`(?P<a>mon|tue|wed|thu|fri|sat|sun)\s+(?P<b>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)\s+(?P<d>3[0-1]|[1-2]\d|0[1-9]|[1-9]| [1-9])\s+(?P<H>2[0-3]|[0-1]\d|\d):(?P<M>[0-5]\d|\d):(?P<S>6[0-1]|[0-5]\d|\d)\s+(?P<Y>\d\d\d\d)`,
  // fail2ban's exact forms. %ExY: fail2ban allows the years around "now"; moat takes 2000–2099.
  ExY: String.raw`(?P<Y>20\d\d)`,
  Exy: String.raw`(?P<y>\d{2})`,
  Exm: '(?P<m>0[1-9]|1[0-2])',
  Exd: String.raw`(?P<d>[1-2]\d|0[1-9]|3[0-1])`,
  ExH: String.raw`(?P<H>[0-1]\d|2[0-3])`,
  Exk: String.raw` ?(?P<H>[0-1]?\d|2[0-3])`,
  Exl: String.raw` ?(?P<I>1[0-2]|\d)`,
  ExM: String.raw`(?P<M>[0-5]\d)`,
  ExS: String.raw`(?P<S>[0-5]\d|6[0-1])`,
  ExZ: `(?P<Z>${TZ_ABBR})`,
  Exz: String.raw`(?P<z>(?:${TZ_ABBR})?[+-][01]\d(?::?\d{2})?|${TZ_ABBR})`,
};

const NAMES: Readonly<Record<string, string>> = {
  a: 'DAY',
  A: 'DAYNAME',
  b: 'MON',
  B: 'MONTH',
  d: 'Day',
  H: '24hour',
  I: '12hour',
  j: 'Yearday',
  m: 'Month',
  M: 'Minute',
  p: 'AMPM',
  S: 'Second',
  U: 'Yearweek',
  w: 'Weekday',
  W: 'Yearweek',
  y: 'Year2',
  Y: 'Year',
  z: 'Zone offset',
  f: 'Microseconds',
  Z: 'Zone name',
};

const DIRECTIVE = new RegExp(
  `%(%|${Object.keys(TIME_RE)
    .filter((k) => k.length > 1)
    .join('|')}|[${Object.keys(TIME_RE)
    .filter((k) => k.length === 1)
    .join('')}])`,
  'g',
);

function directiveName(key: string): string {
  if (key === '%') return '%';
  const name =
    NAMES[key] ?? (key.startsWith('Ex') && NAMES[key.slice(2)] ? `Ex${NAMES[key.slice(2)]}` : undefined);
  return name ?? `%${key}`;
}

export class DatePatternError extends Error {
  override readonly name = 'DatePatternError';
}

const LINE_BEGIN = 8;
const LINE_END = 4;
const WORD_BEGIN = 2;
const WORD_END = 1;

const RE_GLOBALFLAGS = /((?:^|(?!<\\))\(\?[a-z]+\))/;
const RE_NO_WRD_BOUND_BEG = /^\(*(?:\(\?\w+\))?(?:\^|\(*\*\*|\((?:\?:)?\^)/;
const RE_NO_WRD_BOUND_END = /(?<!\\)(?:\$\)?|\\b|\\s|\*\*\)*)$/;
const RE_GROUPED = /(?<!(?:\(\?))(?<!\\)\((?!\?)/;
const RE_GROUP = /^((?:\(\?\w+\))?\^?(?:\(\?\w+\))?)(.*?)(\$?)$/s;
const RE_DEL_WRD_BOUNDS = /^\(*(?:\(\?\w+\))?\(*\*\*|(?<!\\)\*\*\)*$/g;
const RE_LINE_BOUND_BEG = /^(?:\(\?\w+\))?(?:\^|\((?:\?:)?\^(?!\|))/;
const RE_LINE_BOUND_END = /(?<![\\|])(?:\$\)?)$/;
const RE_ALPHA_PATTERN = /(?<!%)%[aAbBpc]/;
const RE_EPOCH_PATTERN = /(?<!\\)\{L?EPOCH\}/i;
const RE_DATE_PREMATCH = /(?<!\\)\{DATE\}/gi;

type WordBegin = boolean | 'start';

interface TemplateSpec {
  readonly name: string;
  /** The datepattern it came from (absent for epoch/TAI64N templates). */
  readonly pattern: string | undefined;
  readonly regex: string;
  readonly flags: number;
  readonly kind: 'pattern' | 'epoch' | 'long-epoch' | 'tai64n';
  /** Group holding the value (2 for `{EPOCH}` inside a pattern). */
  readonly valueGroup: number;
}

/** DateTemplate.setRegex: adds fail2ban's boundaries and the group 1 around the date. */
function bounded(name: string, input: string, wordBegin: WordBegin, wordEnd: boolean) {
  let regex = input.trim();
  let outName = name;
  const gf = RE_GLOBALFLAGS.exec(regex);
  if (gf) regex = regex.replace(RE_GLOBALFLAGS, '');
  const boundBegin = wordBegin !== false && !RE_NO_WRD_BOUND_BEG.test(regex);
  const boundEnd = wordEnd && !RE_NO_WRD_BOUND_END.test(regex);
  if (!RE_GROUPED.test(regex)) regex = regex.replace(RE_GROUP, '$1($2)$3');
  let flags = 0;
  if (boundBegin) {
    flags |= wordBegin !== 'start' ? WORD_BEGIN : LINE_BEGIN;
    if (wordBegin !== 'start') {
      // fail2ban writes (?=^|\b|\W): false only between two word characters, which this says directly
      regex = String.raw`(?!(?<=\w)\w)${regex}`;
    } else {
      regex = String.raw`^(?:\W{0,2})?${regex}`;
      if (!outName.startsWith('{^LN-BEG}')) outName = `{^LN-BEG}${outName}`;
    }
  }
  if (boundEnd) {
    flags |= WORD_END;
    // fail2ban's (?=\b|\W|$), in the equivalent form that is cheaper to run
    regex += String.raw`(?!(?<=\w)\w)`;
  }
  if (!(flags & LINE_BEGIN) && RE_LINE_BOUND_BEG.test(regex)) flags |= LINE_BEGIN;
  if (!(flags & LINE_END) && RE_LINE_BOUND_END.test(regex)) flags |= LINE_END;
  regex = regex.replace(RE_DEL_WRD_BOUNDS, (m) => m.replaceAll('**', ''));
  if (gf) regex = gf[1] + regex;
  return { name: outName, regex, flags };
}

/** DatePatternRegex: a strftime-style pattern. */
function patternTemplate(pattern: string, wordBeginIn: WordBegin = true, wordEndIn = true): TemplateSpec {
  let text = pattern;
  let wordBegin = wordBeginIn;
  let wordEnd = wordEndIn;
  if (text.startsWith('{UNB}')) {
    text = text.slice(5);
    wordBegin = false;
    wordEnd = false;
  }
  if (wordBegin !== false && text.startsWith('{^LN-BEG}')) {
    text = text.slice(9);
    wordBegin = 'start';
  }
  let name = '';
  let regex = '';
  let last = 0;
  DIRECTIVE.lastIndex = 0;
  for (const m of text.matchAll(DIRECTIVE)) {
    const literal = text.slice(last, m.index);
    if (literal.includes('%')) {
      throw new DatePatternError(
        `datepattern "${pattern}": unknown directive near "${literal.slice(literal.indexOf('%'))}" (write %% for a literal %)`,
      );
    }
    const key = m[1]!;
    name += literal + directiveName(key);
    regex += literal + (key === '%' ? '%' : TIME_RE[key]!);
    last = m.index + m[0].length;
  }
  const rest = text.slice(last);
  if (rest.includes('%')) {
    throw new DatePatternError(
      `datepattern "${pattern}": unknown directive near "${rest.slice(rest.indexOf('%'))}" (write %% for a literal %)`,
    );
  }
  name += rest;
  regex += rest;
  if (RE_ALPHA_PATTERN.test(text)) regex = `(?iu)${regex}`;
  const b = bounded(name, regex, wordBegin, wordEnd);
  return { name: b.name, pattern, regex: b.regex, flags: b.flags, kind: 'pattern', valueGroup: 1 };
}

function epochTemplate(lineBeginOnly: boolean, pattern?: string, long = false): TemplateSpec {
  const epoch = long
    ? String.raw`\d{10,11}(?:\d{3}(?:\.\d{1,6}|\d{3})?)?`
    : String.raw`\d{10,11}\b(?:\.\d{3,6})?`;
  const kind = long ? 'long-epoch' : 'epoch';
  const baseName = pattern ?? (long ? 'LongEpoch' : 'Epoch');
  if (pattern) {
    const regex = `(${pattern.replace(new RegExp(RE_EPOCH_PATTERN.source, 'gi'), `(${epoch})`)})`;
    const b = bounded(baseName, regex, true, true);
    return { name: b.name, pattern, regex: b.regex, flags: b.flags, kind, valueGroup: 2 };
  }
  if (!lineBeginOnly) {
    const regex = String.raw`((?:^|(?P<square>(?<=^\[))|(?P<selinux>(?<=\baudit\()))${epoch})(?:(?(selinux)(?=:\d+\)))|(?(square)(?=\])))`;
    const b = bounded(baseName, regex, false, true);
    return { name: b.name, pattern, regex: b.regex, flags: b.flags, kind, valueGroup: 1 };
  }
  const regex = String.raw`((?P<square>(?<=^\[))?${epoch})(?(square)(?=\]))`;
  const b = bounded(baseName, regex, 'start', true);
  return { name: b.name, pattern, regex: b.regex, flags: b.flags, kind, valueGroup: 1 };
}

function tai64nTemplate(wordBegin: WordBegin): TemplateSpec {
  const b = bounded('TAI64N', '@[0-9a-f]{24}', wordBegin, true);
  return { name: b.name, pattern: undefined, regex: b.regex, flags: b.flags, kind: 'tai64n', valueGroup: 1 };
}

/** _getPatternTemplate: EPOCH/LEPOCH/TAI64N keywords or a strftime pattern. */
function templateFor(pattern: string, keyIn?: string): TemplateSpec {
  const key = keyIn ?? (pattern.includes('%') ? pattern : pattern.toUpperCase());
  if (key.includes('EPOCH')) {
    if (RE_EPOCH_PATTERN.test(pattern)) return epochTemplate(false, pattern, key.includes('LEPOCH'));
    if (key === 'EPOCH' || key === '{^LN-BEG}EPOCH' || key === '^EPOCH')
      return epochTemplate(key !== 'EPOCH');
    if (key === 'LEPOCH' || key === '{^LN-BEG}LEPOCH' || key === '^LEPOCH') {
      return epochTemplate(key !== 'LEPOCH', undefined, true);
    }
  }
  if (key === 'TAI64N' || key === '{^LN-BEG}TAI64N' || key === '^TAI64N') {
    return tai64nTemplate(key !== 'TAI64N' ? 'start' : false);
  }
  return patternTemplate(pattern);
}

const DEFAULT_PATTERNS = [
  // ISO 8601, simple date: 2005-01-23T21:59:59.981746, 2005-01-23 21:59:59, 2005/01/23 21:59:59
  String.raw`%ExY(?P<_sep>[-/.])%m(?P=_sep)%d(?:T|  ?)%H:%M:%S(?:[.,]%f)?(?:\s*%z)?`,
  // asctime, syslog: Sun Jan 23 21:59:59.011 2005, Jan 23 21:59:59
  String.raw`(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?`,
  String.raw`(?:%a )?%b %d %ExY %k:%M:%S(?:\.%f)?`,
  // 23/01/2005 21:59:59, 23/01/05 21:59:59, 17-07-2008 17:23:25
  String.raw`%d(?P<_sep>[-/])%m(?P=_sep)(?:%ExY|%Exy) %k:%M:%S`,
  // Apache/nginx: [31/Oct/2006:09:22:55 -0000], 26-Jul-2007 15:20:52
  String.raw`%d(?P<_sep>[-/])%b(?P=_sep)%ExY[ :]?%H:%M:%S(?:\.%f)?(?: %z)?`,
  // CPanel 05/20/2008:01:57:39
  '%m/%d/%ExY:%H:%M:%S',
  // 01-27-2012 16:22:44.252
  String.raw`%m-%d-%ExY %k:%M:%S(?:\.%f)?`,
  'EPOCH',
  '{^LN-BEG}%H:%M:%S',
  '^<%m/%d/%Exy@%H:%M:%S>',
  // MySQL: 130322 11:46:11
  '%Exy%Exm%Exd  ?%H:%M:%S',
  // Apache Tomcat
  '%b %d, %ExY %I:%M:%S %p',
  // ASSP: Apr-27-13 02:33:06
  '^%b-%d-%Exy %k:%M:%S',
  // 20050123T215959, 20050123 215959
  String.raw`%ExY%Exm%Exd(?:T|  ?)%ExH%ExM%ExS(?:[.,]%f)?(?:\s*%z)?`,
  // monit: PDT Apr 16 21:05:29
  String.raw`(?:%Z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?`,
  // +00:00 Jan 23 21:59:59.011 2005
  String.raw`(?:%z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?`,
  'TAI64N',
];

let defaultPlain: TemplateSpec[] | undefined;
let defaultAll: TemplateSpec[] | undefined;

/** The default templates as fail2ban lists them (DEFAULT_TEMPLATES). */
function plainDefaults(): TemplateSpec[] {
  defaultPlain ??= DEFAULT_PATTERNS.map((p) => templateFor(p));
  return defaultPlain;
}

/** Line-begin anchored copies first (preferred), then the plain defaults. */
function allDefaults(): TemplateSpec[] {
  if (defaultAll) return defaultAll;
  const anchored: TemplateSpec[] = [];
  for (const t of plainDefaults()) {
    if (t.name.startsWith('{^LN-BEG}') || t.name.startsWith('^')) continue;
    const copy =
      t.pattern !== undefined ? templateFor(`{^LN-BEG}${t.pattern}`) : templateFor(`{^LN-BEG}${t.name}`);
    if (copy.name !== t.name) anchored.push(copy);
  }
  defaultAll = [...anchored, ...plainDefaults()];
  return defaultAll;
}

function unboundPattern(pattern: string): string {
  return pattern
    .replace(/^\{UNB\}/, '')
    .replace(/^\{\^LN-BEG\}/, '')
    .replace(/^\((?:\?:)?\^\|\\b\|\\W\)/, '')
    .replace(/\(\?=\\b\|\\W\|\$\)$/, '');
}

/** The template list a `datepattern` value gives (fail2ban's DateDetector.appendTemplate). */
export function templatesFor(datepattern: string | undefined): TemplateSpec[] {
  const lines = (datepattern ?? '')
    .split(/\n+/)
    .map((l) => l.trim())
    .filter(Boolean);
  if (lines.length === 0) return allDefaults();
  const out: TemplateSpec[] = [];
  const names = new Set<string>();
  const add = (t: TemplateSpec, ignoreDuplicate: boolean) => {
    if (names.has(t.name)) {
      if (ignoreDuplicate) return;
      throw new DatePatternError(`datepattern lists the template "${t.name}" twice`);
    }
    names.add(t.name);
    out.push(t);
  };
  for (const line of lines) {
    const key = line.includes('%') ? line : line.toUpperCase();
    if (key === '{^LN-BEG}' || key === '{DEFAULT}') {
      const ignoreDuplicate = out.length > 0;
      for (const t of allDefaults()) {
        if (key === '{^LN-BEG}' && !(t.flags & LINE_BEGIN)) continue;
        add(t, ignoreDuplicate);
      }
    } else if (key.includes('{DATE}')) {
      const ignoreDuplicate = out.length > 0;
      for (const t of plainDefaults()) {
        const wrap = (s: string) => line.replace(RE_DATE_PREMATCH, () => unboundPattern(s));
        // fail2ban builds epoch/TAI64N copies from the template's name (a literal "Epoch"): kept as is
        add(
          t.pattern !== undefined ? templateFor(wrap(t.pattern)) : templateFor(wrap(t.name)),
          ignoreDuplicate,
        );
      }
    } else if (key === '{NONE}') {
      add(templateFor('{UNB}^', key), false);
    } else {
      add(templateFor(line, key), false);
    }
  }
  return out;
}

// ------------------------------------------------------------------------------------------------

/** Fields a template can capture, by strptime letter; the F_ constants index them. */
const FIELDS = ['Y', 'y', 'm', 'b', 'B', 'd', 'H', 'I', 'p', 'M', 'S', 'f', 'j', 'z', 'Z'] as const;
type Field = (typeof FIELDS)[number];
const [F_Y, F_y, F_m, F_b, F_B, F_d, F_H, F_I, F_p, F_M, F_S, F_f, F_j, F_z, F_Z] = FIELDS.map(
  (_, k) => k,
) as number[];

/** A field's text: one index per field in pattern templates, a search through several otherwise. */
function field(m: RegExpExecArray, t: CompiledTemplate, f: number | undefined): string | undefined {
  const at = t.fieldAt[f!]!;
  if (at >= 0) return m[at];
  return at === -1 ? undefined : pick(m, t.fields.get(FIELDS[f!]!));
}

interface CompiledTemplate {
  readonly spec: TemplateSpec;
  /** Finds the date: captures only its span (cheap, runs on every line). */
  readonly locate: RegExp;
  readonly locateDate: readonly number[];
  readonly locatePre: readonly number[];
  /** The same regex with every field captured: runs when the date text changed. */
  readonly regex: RegExp;
  readonly anchored: boolean;
  readonly span: 'prefix' | 'indices';
  /** Match indices of `$date`, `$pre`, the value group and each field (several after conditional expansion). */
  readonly date: readonly number[];
  readonly pre: readonly number[];
  readonly value: readonly number[];
  readonly fields: ReadonlyMap<Field, readonly number[]>;
  /** Per field (F_ order): its match index, -1 when absent, -2 when several (see `fields`). */
  readonly fieldAt: Int32Array;
}

/** Compiles the templates once (shared by every parser of a filter). */
export function compileTemplates(specs: readonly TemplateSpec[]): CompiledTemplate[] {
  return specs.map((spec) => {
    const t = translatePythonRegex(spec.regex, {
      subject: 'line',
      nameGroups: spec.valueGroup === 2 ? { 1: '$date', 2: '$value' } : { 1: '$date' },
      spanOf: 1,
      indexedGroups: true,
    });
    const locate = translatePythonRegex(spec.regex, {
      subject: 'line',
      nameGroups: { 1: '$date' },
      spanOf: 1,
      indexedGroups: true,
      captureOnly: ['$date', '$pre'],
    });
    const fields = new Map<Field, readonly number[]>();
    for (const f of FIELDS) {
      const at = t.groupIndex.get(f);
      if (at) fields.set(f, at);
    }
    const fieldAt = new Int32Array(FIELDS.length).fill(-1);
    FIELDS.forEach((f, k) => {
      const at = fields.get(f);
      if (at) fieldAt[k] = at.length === 1 ? at[0]! : -2;
    });
    return {
      spec,
      fieldAt,
      locate: locate.regex,
      locateDate: locate.groupIndex.get('$date') ?? [],
      locatePre: locate.groupIndex.get('$pre') ?? [],
      regex: t.regex,
      anchored: (spec.flags & (LINE_BEGIN | LINE_END)) !== 0,
      span: t.span ?? 'indices',
      date: t.groupIndex.get('$date') ?? [],
      pre: t.groupIndex.get('$pre') ?? [],
      value: t.groupIndex.get(spec.valueGroup === 2 ? '$value' : '$date') ?? [],
      fields,
    };
  });
}

function pick(m: RegExpExecArray, at: readonly number[] | undefined): string | undefined {
  if (!at) return undefined;
  for (let k = 0; k < at.length; k++) {
    const v = m[at[k]!];
    if (v !== undefined) return v;
  }
  return undefined;
}

/** Where the date is in a line. */
export interface DateFound {
  readonly start: number;
  readonly end: number;
  readonly text: string;
  readonly template: CompiledTemplate;
  readonly line: string;
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
/** Month numbers by abbreviation, as logs usually write them (others go through toLowerCase). */
const MONTH_NUMBER = new Map<string, number>(
  MONTHS.flatMap((m, k) => [
    [m, k + 1],
    [m[0]!.toUpperCase() + m.slice(1), k + 1],
    [m.toUpperCase(), k + 1],
  ]),
);
const FULL_MONTHS = [
  'january',
  'february',
  'march',
  'april',
  'may',
  'june',
  'july',
  'august',
  'september',
  'october',
  'november',
  'december',
];
const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const DAY_MS = 86_400_000;

function daysInMonth(year: number, month: number): number {
  if (month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)) return 29;
  return MONTH_DAYS[month - 1]!;
}

/** The last date text read and what it gave; logs repeat the same second many times. */
interface DateCache {
  text: string;
  template: CompiledTemplate | undefined;
  /** For dates without a year: the "now" year it was computed for, and fail2ban's rollback rule. */
  year: number;
  threshold: number;
  thisYear: number | undefined;
  lastYear: number | undefined;
  fixed: number | undefined;
}

/** Finds and reads dates in lines; keeps which template matched last (per log stream). */
export class DateDetector {
  private readonly templates: readonly CompiledTemplate[];
  private readonly zone: Zone;
  private last = -1;
  private lastStart = -1;
  private yearFrom = 0;
  private yearTo = -1;
  private year = 0;
  private readonly cache: DateCache = {
    text: '',
    template: undefined,
    year: 0,
    threshold: 0,
    thisYear: undefined,
    lastYear: undefined,
    fixed: undefined,
  };
  private lastZoneText = '';
  private lastZoneOffset: number | undefined;

  constructor(templates: readonly CompiledTemplate[], zone: Zone) {
    this.templates = templates;
    this.zone = zone;
  }

  private exec(template: CompiledTemplate, line: string): DateFound | undefined {
    const m = template.locate.exec(line);
    if (m === null) return undefined;
    const text = pick(m, template.locateDate) ?? '';
    let start: number;
    if (template.span === 'prefix') {
      start = m.index + (pick(m, template.locatePre)?.length ?? 0);
    } else {
      start = m.indices?.[template.locateDate[0] ?? 0]?.[0] ?? m.index;
    }
    return { start, end: start + text.length, text, template, line };
  }

  /** fail2ban's matchTime, without its template re-ordering: last winner first, then in order. */
  find(line: string): DateFound | undefined {
    const templates = this.templates;
    let best: DateFound | undefined;
    let bestIndex = -1;
    if (this.last >= 0) {
      const found = this.exec(templates[this.last]!, line);
      if (found) {
        if (found.template.anchored || found.start === this.lastStart || templates.length === 1) {
          this.lastStart = found.start;
          return found;
        }
        best = found;
        bestIndex = this.last;
      }
    }
    for (let i = 0; i < templates.length; i++) {
      if (i === this.last) continue;
      const found = this.exec(templates[i]!, line);
      if (!found) continue;
      if (found.template.anchored || found.start === 0) {
        best = found;
        bestIndex = i;
        break;
      }
      // unanchored: prefer the date nearest the start of the line
      if (!best || found.start < best.start) {
        best = found;
        bestIndex = i;
      }
    }
    if (best) {
      this.last = bestIndex;
      this.lastStart = best.start;
    }
    return best;
  }

  /** The time of a found date in ms, or undefined when the fields do not make a valid date. */
  timeOf(found: DateFound, nowMs: number): number | undefined {
    const cache = this.cache;
    if (found.text === cache.text && found.template === cache.template) {
      if (cache.fixed !== undefined) return cache.fixed;
      if (cache.thisYear !== undefined && this.nowYear(nowMs) === cache.year) {
        return nowMs >= cache.threshold ? cache.thisYear : cache.lastYear;
      }
    }
    const kind = found.template.spec.kind;
    const match = found.template.regex.exec(found.line);
    if (match === null) return undefined;
    if (kind !== 'pattern') {
      const value = pick(match, found.template.value) ?? '';
      if (kind === 'tai64n') return Number.parseInt(value.slice(2, 17), 16) * 1000;
      let seconds = Number(value);
      if (kind === 'long-epoch' && value.length >= 13) {
        seconds = value.length >= 16 && !value.includes('.') ? seconds / 1_000_000 : seconds / 1000;
      }
      return Number.isFinite(seconds) ? Math.round(seconds * 1000) : undefined;
    }
    cache.text = found.text;
    cache.template = found.template;
    cache.fixed = undefined;
    cache.thisYear = undefined;
    return this.patternTime(found, match, nowMs);
  }

  private nowYear(nowMs: number): number {
    if (nowMs < this.yearFrom || nowMs >= this.yearTo) {
      this.year = this.zone.dateOf(nowMs).year;
      this.yearFrom = this.zone.toEpochMs(this.year, 1, 1, 0, 0, 0);
      this.yearTo = this.zone.toEpochMs(this.year + 1, 1, 1, 0, 0, 0);
    }
    return this.year;
  }

  private zoneOffset(text: string): number | undefined {
    if (text !== this.lastZoneText) {
      this.lastZoneText = text;
      this.lastZoneOffset = parseZoneOffset(text);
    }
    return this.lastZoneOffset;
  }

  /** fail2ban's reGroupDictStrptime. */
  private patternTime(found: DateFound, m: RegExpExecArray, nowMs: number): number | undefined {
    const t = found.template;
    let year: number | undefined;
    let month: number | undefined;
    let day: number | undefined;
    let hour = 0;
    let offsetMinutes: number | undefined;
    const Y = field(m, t, F_Y);
    if (Y !== undefined) {
      year = +Y;
    } else {
      const y = field(m, t, F_y);
      if (y !== undefined) year = +y + 2000;
    }
    const mm = field(m, t, F_m);
    if (mm !== undefined) {
      month = +mm;
    } else {
      const b = field(m, t, F_b);
      if (b !== undefined) month = (MONTH_NUMBER.get(b) ?? MONTH_NUMBER.get(b.toLowerCase()))!;
      else {
        const B = field(m, t, F_B);
        if (B !== undefined) month = FULL_MONTHS.indexOf(B.toLowerCase()) + 1;
      }
    }
    const d = field(m, t, F_d);
    if (d !== undefined) day = +d;
    const H = field(m, t, F_H);
    if (H !== undefined) {
      hour = +H;
    } else {
      const I = field(m, t, F_I);
      if (I !== undefined) {
        hour = +I;
        const pm = field(m, t, F_p)?.toLowerCase() === 'pm';
        if (!pm && hour === 12) hour = 0;
        else if (pm && hour !== 12) hour += 12;
      }
    }
    const M = field(m, t, F_M);
    const S = field(m, t, F_S);
    const minute = M !== undefined ? +M : 0;
    const second = S !== undefined ? +S : 0;
    const fraction = field(m, t, F_f);
    const fractionMs = fraction !== undefined ? Math.floor(+`0.${fraction}` * 1000) : 0;
    const z = field(m, t, F_z) ?? field(m, t, F_Z);
    if (z !== undefined) {
      offsetMinutes = this.zoneOffset(z);
      if (offsetMinutes === undefined) return undefined;
    }

    const assumeYear = year === undefined;
    let y4 = year ?? this.nowYear(nowMs);
    const julian = field(m, t, F_j);
    if ((month === undefined || day === undefined) && julian !== undefined) {
      const date = new Date(Date.UTC(y4, 0, +julian));
      y4 = date.getUTCFullYear();
      month = date.getUTCMonth() + 1;
      day = date.getUTCDate();
    }
    let assumeToday = false;
    if (month === undefined && day === undefined) {
      const today = this.zone.dateOf(nowMs);
      month = today.month;
      day = today.day;
      assumeToday = true;
    }
    if (month === undefined || day === undefined) return undefined;
    if (hour > 23 || minute > 59 || second > 59) return undefined;
    const result = this.epochOf(y4, month, day, hour, minute, second, offsetMinutes);
    if (result === undefined) return undefined;
    if (assumeToday) return result + fractionMs > nowMs ? result + fractionMs - DAY_MS : result + fractionMs;
    if (!assumeYear) {
      this.cache.fixed = result + fractionMs;
      return result + fractionMs;
    }
    // fail2ban: a yearless date more than a day ahead of now is from last year
    const cache = this.cache;
    const lastYear = this.epochOf(y4 - 1, month, day, hour, minute, second, offsetMinutes);
    cache.year = y4;
    cache.threshold = result + fractionMs - DAY_MS;
    cache.thisYear = result + fractionMs;
    cache.lastYear = lastYear === undefined ? undefined : lastYear + fractionMs;
    return nowMs >= cache.threshold ? cache.thisYear : cache.lastYear;
  }

  private epochOf(
    year: number,
    month: number,
    day: number,
    hour: number,
    minute: number,
    second: number,
    offsetMinutes: number | undefined,
  ): number | undefined {
    if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
    return offsetMinutes !== undefined
      ? Date.UTC(year, month - 1, day, hour, minute, second) - offsetMinutes * 60_000
      : this.zone.toEpochMs(year, month, day, hour, minute, second);
  }
}

/** A readable list of the templates (for `describeFilter`). */
export function templateNames(specs: readonly TemplateSpec[]): string[] {
  return specs.map((s) => s.name);
}

export type { CompiledTemplate, TemplateSpec };

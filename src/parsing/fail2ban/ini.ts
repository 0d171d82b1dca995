/**
 * fail2ban's configuration files, read the way fail2ban reads them: Python's ConfigParser (keys
 * lower-cased, `=` or `:`, indented continuation lines, `#`/`;` comments, ` ;` inline comments, blank
 * lines kept inside values) plus fail2ban's include merging (later files override earlier ones and
 * the overridden values stay reachable as `%(known/name)s`) and interpolation: `%(name)s` from the
 * same section, the call's variables and `[DEFAULT]`, recursively, `%(section/name)s`,
 * `%(known/name)s`, `%(__name__)s` and `%%`. Pure.
 */

export class IniError extends Error {
  override readonly name = 'IniError';
  readonly kind: 'syntax' | 'no-section' | 'no-option' | 'interpolation';
  constructor(kind: IniError['kind'], message: string) {
    super(message);
    this.kind = kind;
  }
}

type Section = Map<string, string>;

/** One parsed file. */
export interface IniFile {
  readonly path: string;
  readonly defaults: ReadonlyMap<string, string>;
  readonly sections: ReadonlyMap<string, ReadonlyMap<string, string>>;
}

const SECTION = /^\[(?<header>.+)\]/;
const OPTION = /^(?<option>.*?)\s*(?<vi>[=:])\s*(?<value>.*)$/;
const CONDITIONAL = /^(\w+)(\?.+)$/;
const MAX_DEPTH = 10;

/** Parses one file with ConfigParser's rules (strict: a key or section twice in one file is an error). */
export function parseIniFile(text: string, path: string): IniFile {
  const defaults = new Map<string, string[]>();
  const sections = new Map<string, Map<string, string[]>>();
  const seenSections = new Set<string>();
  let current: Map<string, string[]> | undefined;
  let sectionName = '';
  let option: string | undefined;
  let indentLevel = 0;
  const seenOptions = new Set<string>();
  const lines = text.split(/\r\n|\r|\n/);
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!;
    const where = `${path}:${n + 1}`;
    let commentStart: number | undefined;
    // inline comments: ';' at the start or after whitespace
    for (let at = line.indexOf(';'); at >= 0; at = line.indexOf(';', at + 1)) {
      if (at === 0 || /\s/.test(line[at - 1]!)) {
        commentStart = at;
        break;
      }
    }
    const stripped = line.trim();
    if (stripped.startsWith('#') || stripped.startsWith(';')) commentStart = 0;
    const value = (commentStart === undefined ? line : line.slice(0, commentStart)).trim();
    if (!value) {
      // ConfigParser keeps blank lines inside a value (trailing ones are trimmed at the end)
      if (commentStart === undefined && current && option !== undefined) current.get(option)?.push('');
      continue;
    }
    const indent = line.search(/\S/);
    if (current && option !== undefined && indent > indentLevel) {
      current.get(option)?.push(value);
      continue;
    }
    indentLevel = indent;
    const header = SECTION.exec(value);
    if (header) {
      sectionName = header.groups!['header']!;
      if (seenSections.has(sectionName)) {
        throw new IniError('syntax', `${where}: section [${sectionName}] appears twice in this file`);
      }
      seenSections.add(sectionName);
      if (sectionName === 'DEFAULT') {
        current = defaults;
      } else {
        current = sections.get(sectionName) ?? new Map();
        sections.set(sectionName, current);
      }
      option = undefined;
      continue;
    }
    if (!current) throw new IniError('syntax', `${where}: a line before the first [section]: ${value}`);
    const m = OPTION.exec(value);
    const name = m?.groups!['option']?.trimEnd().toLowerCase();
    if (!m || !name) throw new IniError('syntax', `${where}: not a "key = value" line: ${value}`);
    const key = `${sectionName}\u0000${name}`;
    if (seenOptions.has(key))
      throw new IniError('syntax', `${where}: "${name}" is set twice in [${sectionName}]`);
    seenOptions.add(key);
    option = name;
    current.set(name, [m.groups!['value']!.trim()]);
  }
  const join = (section: Map<string, string[]>): Map<string, string> =>
    new Map([...section].map(([k, v]) => [k, v.join('\n').trimEnd()]));
  return {
    path,
    defaults: join(defaults),
    sections: new Map([...sections].map(([name, section]) => [name, join(section)])),
  };
}

/** Several files merged in order, as fail2ban merges a filter with its includes and `.local` files. */
export class Ini {
  /** The files merged, in order. */
  readonly files: readonly string[];
  /** The file the rest was read for (the filter itself); names the filter in messages. */
  readonly main: string;
  private readonly defaults = new Map<string, string>();
  private readonly sections = new Map<string, Section>();

  constructor(files: readonly IniFile[], main?: string) {
    this.files = files.map((f) => f.path);
    this.main = main ?? files[files.length - 1]?.path ?? 'filter';
    for (const file of files) {
      for (const [k, v] of file.defaults) this.defaults.set(k, v);
      for (const [rawName, rawSection] of file.sections) {
        let name = rawName;
        let section: Section = new Map(rawSection);
        const cond = CONDITIONAL.exec(rawName);
        if (cond) {
          name = cond[1]!;
          section = new Map([...rawSection].map(([k, v]) => [`${k}${cond[2]}`, v]));
        }
        const existing = this.sections.get(name);
        if (existing) {
          const known = this.sections.get(`KNOWN/${name}`) ?? new Map<string, string>();
          for (const [k, v] of existing) if (section.has(k)) known.set(k, v);
          this.sections.set(`KNOWN/${name}`, known);
          for (const [k, v] of section) existing.set(k, v);
        } else {
          this.sections.set(name, section);
        }
      }
    }
  }

  hasSection(section: string): boolean {
    return this.sections.has(section);
  }

  /** Own option names of a section, in file order (without `[DEFAULT]`'s). */
  ownOptions(section: string): string[] {
    return [...(this.sections.get(section)?.keys() ?? [])];
  }

  /** An interpolated value. Throws IniError `no-section`, `no-option` or `interpolation`. */
  get(section: string, option: string, vars?: Readonly<Record<string, string>>): string {
    const map = this.lookupMap(section, vars);
    const key = option.toLowerCase();
    const raw = map.get(key);
    if (raw === undefined) throw new IniError('no-option', `no option "${key}" in section [${section}]`);
    const out: string[] = [];
    this.interpolate(section, key, out, raw, map, 1);
    return out.join('');
  }

  /**
   * fail2ban's get_ex: `section/option` names look in that section (`known/option` in the values the
   * current section overrode, then the section itself), else a plain get.
   */
  getEx(section: string, option: string, vars?: Readonly<Record<string, string>>): string {
    const m = /^([\w-]+)\/([^\s>]+)$/.exec(option);
    if (m) {
      const sec = m[1]!;
      const opt = m[2]!;
      const lower = sec.toLowerCase();
      const candidates =
        lower === 'known' ? [`KNOWN/${section}`, section] : [lower === 'default' ? 'DEFAULT' : sec];
      for (const candidate of candidates) {
        try {
          return this.get(candidate, opt);
        } catch (error) {
          if (!(error instanceof IniError) || (error.kind !== 'no-section' && error.kind !== 'no-option'))
            throw error;
        }
      }
    }
    return this.get(section, option, vars);
  }

  private lookupMap(section: string, vars?: Readonly<Record<string, string>>): Map<string, string> {
    const own = this.sections.get(section);
    if (!own && section !== 'DEFAULT') throw new IniError('no-section', `no section [${section}]`);
    const map = new Map(this.defaults);
    for (const [k, v] of own ?? []) map.set(k, v);
    for (const [k, v] of Object.entries(vars ?? {})) map.set(k.toLowerCase(), v);
    return map;
  }

  /** BasicInterpolation with fail2ban's `%(section/option)s` and `__name__` additions. */
  private interpolate(
    section: string,
    option: string,
    out: string[],
    rest: string,
    parentMap: Map<string, string>,
    depth: number,
  ): void {
    if (depth > MAX_DEPTH) {
      throw new IniError(
        'interpolation',
        `"${option}" in [${section}]: interpolation nested deeper than ${MAX_DEPTH}`,
      );
    }
    const map = new Map(parentMap);
    map.set('__name__', section);
    this.mapSectionOptions(section, rest, map);
    let text = rest;
    while (text) {
      const p = text.indexOf('%');
      if (p < 0) {
        out.push(text);
        return;
      }
      if (p > 0) {
        out.push(text.slice(0, p));
        text = text.slice(p);
      }
      const c = text[1];
      if (c === '%') {
        out.push('%');
        text = text.slice(2);
      } else if (c === '(') {
        const m = /^%\(([^)]+)\)s/.exec(text);
        if (!m)
          throw new IniError(
            'interpolation',
            `"${option}" in [${section}]: bad interpolation syntax at "${text}"`,
          );
        const name = m[1]!.toLowerCase();
        text = text.slice(m[0].length);
        const value = map.get(name);
        if (value === undefined) {
          throw new IniError(
            'interpolation',
            `"${option}" in [${section}]: %(${name})s refers to an option that is not set`,
          );
        }
        if (value.includes('%')) this.interpolate(section, option, out, value, map, depth + 1);
        else out.push(value);
      } else {
        throw new IniError(
          'interpolation',
          `"${option}" in [${section}]: '%' must be followed by '%' or '(' (write %% for a literal %): "${text}"`,
        );
      }
    }
  }

  private mapSectionOptions(section: string, rest: string, map: Map<string, string>): void {
    if (!rest.includes('/') || !rest.includes('%(')) return;
    for (const m of rest.matchAll(/%\(([\w-]+\/([^)]+))\)s/g)) {
      const ref = m[1]!.toLowerCase();
      const opt = m[2]!.toLowerCase();
      if (map.has(ref)) continue;
      const sec = ref.slice(0, ref.length - opt.length - 1);
      let value: string | undefined;
      if (sec === 'known') {
        value = this.sections.get(`KNOWN/${section}`)?.get(opt);
      } else if (sec !== 'default') {
        const target = this.findSection(sec);
        if (!target) continue;
        value = target.get(opt);
      }
      value ??= this.defaults.get(opt);
      if (value !== undefined) map.set(ref, value);
    }
  }

  /** Section names are case-sensitive, but `%(…)s` references arrive lower-cased. */
  private findSection(lowerName: string): Section | undefined {
    for (const [name, section] of this.sections) if (name.toLowerCase() === lowerName) return section;
    return undefined;
  }
}

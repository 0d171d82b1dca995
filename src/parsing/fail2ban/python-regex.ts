/**
 * Python `re` → JavaScript RegExp translation, for fail2ban filters. Pure; runs once per regex at load.
 *
 * The pattern is parsed into a small syntax tree with Python's rules (sre_parse: escapes, classes,
 * `{m,n}`, inline flags, `(?P<name>…)`, `(?P=name)`, `(?(group)yes|no)`, `(?>…)`, possessive
 * quantifiers) and emitted as a `u` (or, when a class needs set operations, `v`) mode RegExp that
 * matches what Python matches:
 *
 * - `\d`, `\w`, `\s`, `\b` and their negations follow Python's Unicode definitions (`\d` is `\p{Nd}`,
 *   `\w` is letters, numbers and `_`); `(?a)` gives the ASCII ones.
 * - `.` never matches `\n` (Python) rather than JavaScript's four line terminators; `(?s)` lifts that.
 * - `$` also matches before a final `\n`, `\Z` only at the very end; `(?m)` as in Python.
 * - Conditionals `(?(g)yes|no)`, which JavaScript lacks, are expanded: the pattern is split into
 *   alternatives where group g is forced to take part (and `yes` is used) or forced not to (`no`).
 *   Back-references to a group that may not have taken part are treated the same way, since
 *   JavaScript lets such a reference match the empty string where Python fails.
 * - Atomic groups and possessive quantifiers are emulated with a lookahead and a back-reference.
 *
 * fail2ban matches its regexes against the line followed by `\n`. Appending that `\n` costs about a
 * third of the matching time, so it is done only for patterns that could see it: those whose last
 * consumed character or a lookahead could be a newline (`appendNewline`). For the others, Python's
 * `$` before the final `\n` is exactly JavaScript's `$` at the end of the line.
 */

export class PythonRegexError extends Error {
  override readonly name = 'PythonRegexError';
  readonly pattern: string;
  readonly position: number;
  constructor(message: string, pattern: string, position: number) {
    super(`${message} at position ${position}`);
    this.pattern = pattern;
    this.position = position;
  }
}

interface Flags {
  readonly i: boolean;
  readonly m: boolean;
  readonly s: boolean;
  readonly x: boolean;
  readonly a: boolean;
}

type ClassItem =
  | { readonly t: 'cp'; readonly cp: number }
  | { readonly t: 'range'; readonly lo: number; readonly hi: number }
  | { readonly t: 'esc'; readonly kind: EscKind; readonly ascii: boolean };

type EscKind = 'd' | 'D' | 'w' | 'W' | 's' | 'S';

type Node =
  | { t: 'seq'; items: Node[] }
  | { t: 'alt'; branches: Node[] }
  | {
      t: 'group';
      index: number | undefined;
      name: string | undefined;
      icase: boolean | undefined;
      body: Node;
    }
  | { t: 'look'; behind: boolean; negate: boolean; body: Node }
  | { t: 'atomic'; body: Node }
  | { t: 'quant'; body: Node; min: number; max: number; lazy: boolean; possessive: boolean }
  | { t: 'cond'; ref: number; yes: Node; no: Node }
  | { t: 'backref'; ref: number }
  | { t: 'cp'; cp: number }
  | { t: 'class'; negate: boolean; items: ClassItem[] }
  | { t: 'esc'; kind: EscKind; ascii: boolean }
  | { t: 'any'; dotall: boolean }
  | { t: 'bol'; multiline: boolean }
  | { t: 'eol'; multiline: boolean }
  | { t: 'bos' }
  | { t: 'eos' }
  | { t: 'wordb'; negate: boolean; ascii: boolean }
  | { t: 'fail' };

export interface PythonRegexOptions {
  /**
   * What the regex runs on. `line`: a string without newlines (date templates). `buffer`: a line that
   * fail2ban would follow with `\n` (single-line failregex). `multiline`: lines joined and followed by
   * `\n`, compiled with re.MULTILINE (maxlines > 1).
   */
  readonly subject: 'line' | 'buffer' | 'multiline';
  /** Unnamed Python groups to capture under a name, e.g. `{ 1: '$date' }`. */
  readonly nameGroups?: Readonly<Record<number, string>>;
  /** Extra flags, as if the pattern started with `(?…)`, e.g. `i`. */
  readonly flags?: string;
  /**
   * Where group N starts is wanted (fail2ban cuts the date out of the line by group 1's span). When
   * the group is an item of the top-level sequence, everything before it is captured as `$pre`;
   * otherwise the regex gets the `d` flag and the caller reads `indices`.
   */
  readonly spanOf?: number;
  /**
   * Emit plain numbered groups and report where each name is (`groupIndex`): no `groups` object is
   * built per match, which matters for regexes that match every line (date templates).
   */
  readonly indexedGroups?: boolean;
  /** Capture only these named groups (and those back-references need); the rest become non-capturing. */
  readonly captureOnly?: readonly string[];
}

export interface TranslatedRegex {
  readonly pattern: string;
  readonly source: string;
  readonly flags: string;
  readonly regex: RegExp;
  /** True when the subject must be given with a trailing `\n`, as fail2ban does. */
  readonly appendNewline: boolean;
  /** Named groups as Python names them (plus the ones asked for with `nameGroups`). */
  readonly groupNames: readonly string[];
  /** How to find `spanOf`'s start: the `$pre` group, or match indices (`d` flag). */
  readonly span: 'prefix' | 'indices' | undefined;
  /** With `indexedGroups`: the match indices holding each named group (several after conditional expansion). */
  readonly groupIndex: ReadonlyMap<string, readonly number[]>;
  /**
   * A string every match contains (case-sensitive, without newlines), when there is one of at least
   * three characters: a subject without it cannot match, which `includes` tells faster than the regex.
   */
  readonly literal: string | undefined;
}

const MAX_VARIANTS = 64;
/** Internal group number for the `$pre` capture (see `spanOf`). */
const PREFIX_GROUP = -1;
const OCT = /^[0-7]$/;
const DIGIT = /^[0-9]$/;
const HEX = /^[0-9a-fA-F]$/;
const FLAG_LETTERS = 'aiLmsux';

// ------------------------------------------------------------------------------------------------
// Parsing

class Parser {
  private pos = 0;
  private groupCount = 0;
  readonly names = new Map<string, number>();
  readonly groupNodes = new Map<number, Node & { t: 'group' }>();
  private readonly open = new Set<number>();
  globalFlags: Flags;
  private readonly src: string;

  constructor(src: string, initial: Flags) {
    this.src = src;
    this.globalFlags = initial;
  }

  error(message: string, at = this.pos): never {
    throw new PythonRegexError(message, this.src, at);
  }

  private peek(offset = 0): string | undefined {
    return this.src[this.pos + offset];
  }

  private eat(text: string): boolean {
    if (this.src.startsWith(text, this.pos)) {
      this.pos += text.length;
      return true;
    }
    return false;
  }

  /** Reads one code point (the pattern may contain astral characters). */
  private nextCp(): number {
    const cp = this.src.codePointAt(this.pos);
    if (cp === undefined) this.error('unexpected end of pattern');
    this.pos += cp > 0xffff ? 2 : 1;
    return cp;
  }

  parse(): Node {
    this.parseGlobalFlags();
    const node = this.parseAlt(this.globalFlags);
    if (this.pos < this.src.length) {
      if (this.peek() === ')') this.error('unbalanced parenthesis');
      this.error('unexpected character');
    }
    return node;
  }

  private parseGlobalFlags(): void {
    for (;;) {
      const m = /^\(\?([aiLmsux]+)\)/.exec(this.src.slice(this.pos));
      if (!m) return;
      this.globalFlags = this.applyFlags(this.globalFlags, m[1] ?? '', '');
      this.pos += m[0].length;
      if (this.globalFlags.x) this.skipVerbose();
    }
  }

  private applyFlags(flags: Flags, on: string, off: string): Flags {
    if (on.includes('L') || off.includes('L'))
      this.error("bad inline flags: cannot use 'L' flag with a str pattern");
    if (on.includes('a') && on.includes('u'))
      this.error("bad inline flags: flags 'a', 'u' and 'L' are incompatible");
    for (const f of off)
      if (!'imsx'.includes(f)) this.error('bad inline flags: cannot turn off flags a, u and L');
    return {
      i: on.includes('i') ? true : off.includes('i') ? false : flags.i,
      m: on.includes('m') ? true : off.includes('m') ? false : flags.m,
      s: on.includes('s') ? true : off.includes('s') ? false : flags.s,
      x: on.includes('x') ? true : off.includes('x') ? false : flags.x,
      a: on.includes('a') ? true : on.includes('u') ? false : flags.a,
    };
  }

  private skipVerbose(): void {
    for (;;) {
      const c = this.peek();
      if (c === undefined) return;
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v') {
        this.pos++;
      } else if (c === '#') {
        const nl = this.src.indexOf('\n', this.pos);
        this.pos = nl < 0 ? this.src.length : nl + 1;
      } else {
        return;
      }
    }
  }

  private parseAlt(flags: Flags): Node {
    const branches = [this.parseSeq(flags)];
    while (this.peek() === '|') {
      this.pos++;
      branches.push(this.parseSeq(flags));
    }
    return branches.length === 1 ? branches[0]! : { t: 'alt', branches };
  }

  private parseSeq(flags: Flags): Node {
    const items: Node[] = [];
    for (;;) {
      if (flags.x) this.skipVerbose();
      const c = this.peek();
      if (c === undefined || c === '|' || c === ')') break;
      if (c === '*' || c === '+' || c === '?' || c === '{') {
        if (this.parseQuantifier(items)) continue;
        // `{` that is not a quantifier is a literal
        this.pos++;
        items.push({ t: 'cp', cp: 0x7b });
        continue;
      }
      const atom = this.parseAtom(flags);
      if (atom) items.push(atom);
    }
    return items.length === 1 ? items[0]! : { t: 'seq', items };
  }

  /** Returns false when `{` does not start a valid quantifier (then it is a literal). */
  private parseQuantifier(items: Node[]): boolean {
    const start = this.pos;
    const c = this.src[this.pos++];
    let min = 0;
    let max = Number.POSITIVE_INFINITY;
    if (c === '?') max = 1;
    else if (c === '+') min = 1;
    else if (c === '{') {
      if (this.peek() === '}') {
        this.pos = start;
        return false;
      }
      let lo = '';
      let hi = '';
      while (DIGIT.test(this.peek() ?? '')) lo += this.src[this.pos++];
      if (this.eat(',')) {
        while (DIGIT.test(this.peek() ?? '')) hi += this.src[this.pos++];
      } else {
        hi = lo;
      }
      if (!this.eat('}')) {
        this.pos = start;
        return false;
      }
      if (lo) min = Number(lo);
      if (hi) max = Number(hi);
      if (max < min) this.error('min repeat greater than max repeat', start);
    }
    const last = items[items.length - 1];
    if (
      !last ||
      last.t === 'bol' ||
      last.t === 'eol' ||
      last.t === 'bos' ||
      last.t === 'eos' ||
      last.t === 'wordb'
    ) {
      this.error('nothing to repeat', start);
    }
    // A quantified group is a 'group' node, so a 'quant' here came straight from a quantifier.
    if (last.t === 'quant') this.error('multiple repeat', start);
    let lazy = false;
    let possessive = false;
    if (this.eat('?')) lazy = true;
    else if (this.eat('+')) possessive = true;
    items[items.length - 1] = { t: 'quant', body: last, min, max, lazy, possessive };
    return true;
  }

  private parseAtom(flags: Flags): Node | undefined {
    const c = this.src[this.pos];
    switch (c) {
      case '(':
        return this.parseGroup(flags);
      case '[':
        this.pos++;
        return this.parseClass(flags);
      case '\\':
        return this.parseEscape(flags);
      case '.':
        this.pos++;
        return { t: 'any', dotall: flags.s };
      case '^':
        this.pos++;
        return { t: 'bol', multiline: flags.m };
      case '$':
        this.pos++;
        return { t: 'eol', multiline: flags.m };
      default:
        return { t: 'cp', cp: this.nextCp() };
    }
  }

  private readUntil(end: string, what: string): string {
    const at = this.src.indexOf(end, this.pos);
    if (at < 0) this.error(`missing ${end}, unterminated name`);
    const text = this.src.slice(this.pos, at);
    if (!text) this.error(`missing ${what}`);
    this.pos = at + end.length;
    return text;
  }

  private checkName(name: string, at: number): void {
    if (!/^[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]*$/u.test(name)) {
      this.error(`bad character in group name '${name}'`, at);
    }
  }

  private parseGroup(flags: Flags): Node | undefined {
    const start = this.pos;
    this.pos++; // (
    let capture = true;
    let atomic = false;
    let name: string | undefined;
    let inner = flags;
    let icase: boolean | undefined;
    if (this.eat('?')) {
      const ch = this.src[this.pos++];
      if (ch === undefined) this.error('unexpected end of pattern');
      if (ch === 'P' || ch === '<') {
        if (ch === 'P' && this.eat('=')) {
          const at = this.pos;
          const ref = this.readUntil(')', 'group name');
          this.checkName(ref, at);
          const index = this.names.get(ref);
          if (index === undefined) this.error(`unknown group name '${ref}'`, at);
          if (this.open.has(index)) this.error('cannot refer to an open group', at);
          return { t: 'backref', ref: index };
        }
        if (ch === '<' && (this.peek() === '=' || this.peek() === '!')) {
          const negate = this.src[this.pos++] === '!';
          const body = this.parseAlt(flags);
          if (!this.eat(')')) this.error('missing ), unterminated subpattern', start);
          return { t: 'look', behind: true, negate, body };
        }
        if (ch === 'P' && !this.eat('<')) this.error(`unknown extension ?P${this.peek() ?? ''}`, start);
        const at = this.pos;
        name = this.readUntil('>', 'group name');
        this.checkName(name, at);
      } else if (ch === ':') {
        capture = false;
      } else if (ch === '#') {
        const end = this.src.indexOf(')', this.pos);
        if (end < 0) this.error('missing ), unterminated comment', start);
        this.pos = end + 1;
        return undefined;
      } else if (ch === '=' || ch === '!') {
        const body = this.parseAlt(flags);
        if (!this.eat(')')) this.error('missing ), unterminated subpattern', start);
        return { t: 'look', behind: false, negate: ch === '!', body };
      } else if (ch === '(') {
        return this.parseConditional(flags, start);
      } else if (ch === '>') {
        capture = false;
        atomic = true;
      } else if (FLAG_LETTERS.includes(ch) || ch === '-') {
        const m = /^([aiLmsux]*)(?:-([imsx]*))?([:)])/.exec(this.src.slice(this.pos - 1));
        if (!m) this.error('bad inline flags', start);
        this.pos += m[0].length - 1;
        if (m[3] === ')') {
          if (m[2] !== undefined) this.error('bad inline flags: cannot turn off global flag', start);
          this.error('global flags not at the start of the expression', start);
        }
        inner = this.applyFlags(flags, m[1] ?? '', m[2] ?? '');
        if (inner.i !== flags.i) icase = inner.i;
        capture = false;
      } else {
        this.error(`unknown extension ?${ch}`, start);
      }
    }
    let index: number | undefined;
    if (capture) {
      index = ++this.groupCount;
      if (name !== undefined) {
        if (this.names.has(name)) this.error(`redefinition of group name '${name}'`, start);
        this.names.set(name, index);
      }
      this.open.add(index);
    }
    const body = this.parseAlt(inner);
    if (!this.eat(')')) this.error('missing ), unterminated subpattern', start);
    if (index !== undefined) this.open.delete(index);
    if (atomic) return { t: 'atomic', body };
    const group: Node & { t: 'group' } = { t: 'group', index, name, icase, body };
    if (index !== undefined) this.groupNodes.set(index, group);
    return group;
  }

  private parseConditional(flags: Flags, start: number): Node {
    const at = this.pos;
    const ref = this.readUntil(')', 'group name');
    let index: number | undefined;
    if (/^\d+$/.test(ref)) {
      index = Number(ref);
      if (index === 0) this.error('bad group number', at);
    } else {
      this.checkName(ref, at);
      index = this.names.get(ref);
      if (index === undefined) this.error(`unknown group name '${ref}'`, at);
    }
    const yes = this.parseSeq(flags);
    let no: Node = { t: 'seq', items: [] };
    if (this.eat('|')) {
      no = this.parseSeq(flags);
      if (this.peek() === '|') this.error('conditional backref with more than two branches');
    }
    if (!this.eat(')')) this.error('missing ), unterminated subpattern', start);
    if (index > this.groupCount) this.error('conditional on a group defined later is not supported', at);
    return { t: 'cond', ref: index, yes, no };
  }

  private parseEscape(flags: Flags): Node {
    const start = this.pos;
    this.pos++; // backslash
    const c = this.src[this.pos];
    if (c === undefined) this.error('bad escape (end of pattern)', start);
    this.pos++;
    switch (c) {
      case 'A':
        return { t: 'bos' };
      case 'Z':
        return { t: 'eos' };
      case 'b':
        return { t: 'wordb', negate: false, ascii: flags.a };
      case 'B':
        return { t: 'wordb', negate: true, ascii: flags.a };
      case 'd':
      case 'D':
      case 'w':
      case 'W':
      case 's':
      case 'S':
        return { t: 'esc', kind: c, ascii: flags.a };
    }
    if (DIGIT.test(c)) {
      if (c === '0') {
        let digits = '0';
        while (digits.length < 3 && OCT.test(this.peek() ?? '')) digits += this.src[this.pos++];
        return { t: 'cp', cp: Number.parseInt(digits, 8) };
      }
      let digits = c;
      if (DIGIT.test(this.peek() ?? '')) {
        digits += this.src[this.pos++];
        if (OCT.test(digits[0]!) && OCT.test(digits[1]!) && OCT.test(this.peek() ?? '')) {
          digits += this.src[this.pos++];
          const value = Number.parseInt(digits, 8);
          if (value > 0o377) this.error(`octal escape value \\${digits} outside of range 0-0o377`, start);
          return { t: 'cp', cp: value };
        }
      }
      const ref = Number(digits);
      if (ref > this.groupCount) this.error(`invalid group reference ${ref}`, start + 1);
      if (this.open.has(ref)) this.error('cannot refer to an open group', start);
      return { t: 'backref', ref };
    }
    const cp = this.simpleEscape(c, start);
    return { t: 'cp', cp };
  }

  /** Escapes shared by classes and the pattern: returns the code point. */
  private simpleEscape(c: string, start: number): number {
    switch (c) {
      case 'a':
        return 7;
      case 'f':
        return 12;
      case 'n':
        return 10;
      case 'r':
        return 13;
      case 't':
        return 9;
      case 'v':
        return 11;
      case '\\':
        return 92;
      case 'x':
        return this.hexEscape(2, start);
      case 'u':
        return this.hexEscape(4, start);
      case 'U': {
        const cp = this.hexEscape(8, start);
        if (cp > 0x10ffff) this.error(`bad escape \\U`, start);
        return cp;
      }
      case 'N':
        this.error('\\N{…} named characters are not supported', start);
    }
    if (/^[A-Za-z0-9]$/.test(c)) this.error(`bad escape \\${c}`, start);
    // c may be the first half of a surrogate pair
    this.pos--;
    return this.nextCp();
  }

  private hexEscape(count: number, start: number): number {
    const digits = this.src.slice(this.pos, this.pos + count);
    if (digits.length !== count || ![...digits].every((d) => HEX.test(d))) {
      this.error(`incomplete escape \\${this.src[this.pos - 1]}${digits}`, start);
    }
    this.pos += count;
    return Number.parseInt(digits, 16);
  }

  private parseClass(flags: Flags): Node {
    const start = this.pos - 1;
    const negate = this.eat('^');
    const items: ClassItem[] = [];
    const first = this.pos;
    for (;;) {
      const c = this.peek();
      if (c === undefined) this.error('unterminated character set', start);
      if (c === ']' && this.pos !== first) {
        this.pos++;
        break;
      }
      const item = this.classAtom(flags);
      if (this.peek() === '-' && this.peek(1) !== undefined) {
        this.pos++;
        if (this.peek() === ']') {
          items.push(item);
          items.push({ t: 'cp', cp: 0x2d });
          this.pos++;
          break;
        }
        const hiAt = this.pos;
        const hi = this.classAtom(flags);
        if (item.t !== 'cp' || hi.t !== 'cp') this.error('bad character range', hiAt);
        if (hi.cp < item.cp) this.error('bad character range', hiAt);
        items.push({ t: 'range', lo: item.cp, hi: hi.cp });
      } else {
        items.push(item);
      }
    }
    return { t: 'class', negate, items };
  }

  private classAtom(flags: Flags): ClassItem {
    const start = this.pos;
    if (this.peek() !== '\\') return { t: 'cp', cp: this.nextCp() };
    this.pos++;
    const c = this.src[this.pos];
    if (c === undefined) this.error('bad escape (end of pattern)', start);
    this.pos++;
    switch (c) {
      case 'd':
      case 'D':
      case 'w':
      case 'W':
      case 's':
      case 'S':
        return { t: 'esc', kind: c, ascii: flags.a };
      case 'b':
        return { t: 'cp', cp: 8 };
    }
    if (OCT.test(c)) {
      let digits = c;
      while (digits.length < 3 && OCT.test(this.peek() ?? '')) digits += this.src[this.pos++];
      const value = Number.parseInt(digits, 8);
      if (value > 0o377) this.error(`octal escape value \\${digits} outside of range 0-0o377`, start);
      return { t: 'cp', cp: value };
    }
    if (DIGIT.test(c)) this.error(`bad escape \\${c}`, start);
    return { t: 'cp', cp: this.simpleEscape(c, start) };
  }
}

// ------------------------------------------------------------------------------------------------
// Tree helpers

function children(node: Node): Node[] {
  switch (node.t) {
    case 'seq':
      return node.items;
    case 'alt':
      return node.branches;
    case 'group':
    case 'look':
    case 'atomic':
    case 'quant':
      return [node.body];
    case 'cond':
      return [node.yes, node.no];
    default:
      return [];
  }
}

function clone(node: Node): Node {
  switch (node.t) {
    case 'seq':
      return { t: 'seq', items: node.items.map(clone) };
    case 'alt':
      return { t: 'alt', branches: node.branches.map(clone) };
    case 'group':
      return { ...node, body: clone(node.body) };
    case 'look':
      return { ...node, body: clone(node.body) };
    case 'atomic':
      return { t: 'atomic', body: clone(node.body) };
    case 'quant':
      return { ...node, body: clone(node.body) };
    case 'cond':
      return { ...node, yes: clone(node.yes), no: clone(node.no) };
    default:
      return { ...node };
  }
}

function walk(node: Node, visit: (n: Node) => void): void {
  visit(node);
  for (const child of children(node)) walk(child, visit);
}

/** Ancestors from the root down to (and including) the group with this index. */
function pathTo(root: Node, index: number): Node[] | undefined {
  const path: Node[] = [];
  const search = (node: Node): boolean => {
    path.push(node);
    if (node.t === 'group' && node.index === index) return true;
    for (const child of children(node)) if (search(child)) return true;
    path.pop();
    return false;
  };
  return search(root) ? path : undefined;
}

function replaceChild(parent: Node, from: Node, to: Node): void {
  switch (parent.t) {
    case 'seq':
      parent.items = parent.items.map((n) => (n === from ? to : n));
      return;
    case 'alt':
      parent.branches = parent.branches.map((n) => (n === from ? to : n));
      return;
    case 'cond':
      if (parent.yes === from) parent.yes = to;
      if (parent.no === from) parent.no = to;
      return;
    case 'group':
    case 'look':
    case 'atomic':
    case 'quant':
      if (parent.body === from) parent.body = to;
      return;
  }
}

const EMPTY = (): Node => ({ t: 'seq', items: [] });

/** A construct on the path that decides whether the group takes part. */
function isOptional(node: Node): boolean {
  if (node.t === 'quant') return node.min === 0;
  if (node.t === 'alt') return node.branches.length > 1;
  return node.t === 'cond';
}

/**
 * Rewrites `root` (a private copy) so that group `index` takes part (`present`) or not in every match.
 * Returns the new root, or undefined when that is impossible.
 */
function force(root: Node, index: number, present: boolean, pattern: string): Node | undefined {
  const path = pathTo(root, index);
  if (!path) return present ? undefined : root;
  if (path.some((n) => n.t === 'look' && n.negate)) return present ? undefined : root;
  if (present) {
    let repeated = false;
    for (let k = 0; k < path.length - 1; k++) {
      const node = path[k]!;
      const next = path[k + 1]!;
      if (node.t === 'quant') {
        if (repeated && node.min === 0)
          throw new PythonRegexError('conditional on a group in a repeat', pattern, 0);
        if (node.max > 1) repeated = true;
        if (node.min === 0) node.min = 1;
      } else if (node.t === 'alt') {
        if (repeated)
          throw new PythonRegexError('conditional on a group in a repeated alternation', pattern, 0);
        node.branches = [next];
      } else if (node.t === 'cond') {
        throw new PythonRegexError('conditional on a group inside another conditional', pattern, 0);
      }
    }
    return root;
  }
  for (let k = path.length - 2; k >= 0; k--) {
    const node = path[k]!;
    const next = path[k + 1]!;
    if (!isOptional(node)) continue;
    if (node.t === 'quant') {
      const parent = path[k - 1];
      if (!parent) return EMPTY();
      replaceChild(parent, node, EMPTY());
      return root;
    }
    if (node.t === 'alt') {
      node.branches = node.branches.filter((b) => b !== next);
      return root;
    }
    throw new PythonRegexError('conditional on a group inside another conditional', pattern, 0);
  }
  return undefined;
}

/** Which choice Python's backtracking tries first for the group's nearest optional ancestor. */
function presentFirst(root: Node, index: number): boolean {
  const path = pathTo(root, index);
  if (!path) return false;
  for (let k = path.length - 2; k >= 0; k--) {
    const node = path[k]!;
    if (node.t === 'quant' && node.min === 0) return !node.lazy;
    if (node.t === 'alt' && node.branches.length > 1) return node.branches[0] === path[k + 1];
  }
  return true;
}

/** A back-reference whose group may not have taken part becomes a conditional (Python fails there). */
function guardBackrefs(root: Node): Node {
  const rewrite = (node: Node, ancestors: Node[]): Node => {
    if (node.t === 'backref') {
      const path = pathTo(root, node.ref);
      if (!path) return node;
      // Optional on the way to the group, and the reference does not sit inside the same choice.
      const optional = path.slice(0, -1).some((n, k) => isOptional(n) && !ancestors.includes(path[k + 1]!));
      return optional ? { t: 'cond', ref: node.ref, yes: node, no: { t: 'fail' } } : node;
    }
    const next = [...ancestors, node];
    switch (node.t) {
      case 'seq':
        node.items = node.items.map((n) => rewrite(n, next));
        break;
      case 'alt':
        node.branches = node.branches.map((n) => rewrite(n, next));
        break;
      case 'cond':
        node.yes = rewrite(node.yes, next);
        node.no = rewrite(node.no, next);
        break;
      case 'group':
      case 'look':
      case 'atomic':
      case 'quant':
        node.body = rewrite(node.body, next);
        break;
    }
    return node;
  };
  return rewrite(root, []);
}

function firstCond(root: Node): (Node & { t: 'cond' }) | undefined {
  let found: (Node & { t: 'cond' }) | undefined;
  walk(root, (n) => {
    if (!found && n.t === 'cond') found = n;
  });
  return found;
}

function replaceConds(root: Node, index: number, present: boolean): Node {
  const rewrite = (node: Node): Node => {
    if (node.t === 'cond' && node.ref === index) return rewrite(present ? node.yes : node.no);
    switch (node.t) {
      case 'seq':
        node.items = node.items.map(rewrite);
        break;
      case 'alt':
        node.branches = node.branches.map(rewrite);
        break;
      case 'cond':
        node.yes = rewrite(node.yes);
        node.no = rewrite(node.no);
        break;
      case 'group':
      case 'look':
      case 'atomic':
      case 'quant':
        node.body = rewrite(node.body);
        break;
    }
    return node;
  };
  return rewrite(root);
}

/** Splits the pattern into conditional-free variants, in Python's order of preference. */
function expandConditionals(root: Node, pattern: string): Node[] {
  const cond = firstCond(root);
  if (!cond) return [root];
  const index = cond.ref;
  const order = presentFirst(root, index) ? [true, false] : [false, true];
  const variants: Node[] = [];
  for (const present of order) {
    const copy = force(clone(root), index, present, pattern);
    if (!copy) continue;
    variants.push(...expandConditionals(replaceConds(copy, index, present), pattern));
    if (variants.length > MAX_VARIANTS) {
      throw new PythonRegexError('too many conditional combinations to translate', pattern, 0);
    }
  }
  return variants;
}

// ------------------------------------------------------------------------------------------------
// Newline analysis (see the header comment)

function canMatchNewline(item: ClassItem | Node): boolean {
  switch (item.t) {
    case 'cp':
      return item.cp === 10;
    case 'range':
      return item.lo <= 10 && item.hi >= 10;
    case 'esc':
      return item.kind === 's' || item.kind === 'D' || item.kind === 'W';
    case 'any':
      return item.dotall;
    case 'class': {
      const inside = item.items.some(canMatchNewline);
      return item.negate ? !inside : inside;
    }
    case 'backref':
      return true;
    default:
      return false;
  }
}

function nullable(node: Node): boolean {
  switch (node.t) {
    case 'seq':
      return node.items.every(nullable);
    case 'alt':
      return node.branches.some(nullable);
    case 'group':
    case 'atomic':
      return nullable(node.body);
    case 'quant':
      return node.min === 0 || nullable(node.body);
    case 'cond':
      return nullable(node.yes) || nullable(node.no);
    case 'cp':
    case 'class':
    case 'esc':
    case 'any':
    case 'fail':
      return false;
    case 'backref':
      return true;
    default:
      return true; // anchors and lookarounds are zero-width
  }
}

/** Could the last character a match of `node` consumes be a newline? */
function lastCanBeNewline(node: Node): boolean {
  switch (node.t) {
    case 'seq': {
      for (let k = node.items.length - 1; k >= 0; k--) {
        const item = node.items[k]!;
        if (lastCanBeNewline(item)) return true;
        if (!nullable(item)) return false;
      }
      return false;
    }
    case 'alt':
      return node.branches.some(lastCanBeNewline);
    case 'group':
    case 'atomic':
      return lastCanBeNewline(node.body);
    case 'quant':
      return node.max > 0 && lastCanBeNewline(node.body);
    case 'cond':
      return lastCanBeNewline(node.yes) || lastCanBeNewline(node.no);
    case 'look':
      return false;
    default:
      return canMatchNewline(node);
  }
}

function needsNewline(root: Node): boolean {
  if (lastCanBeNewline(root)) return true;
  let lookahead = false;
  walk(root, (n) => {
    if (n.t === 'look' && !n.behind) {
      walk(n.body, (m) => {
        if (canMatchNewline(m)) lookahead = true;
      });
    }
  });
  return lookahead;
}

// ------------------------------------------------------------------------------------------------
// Required literal (a prefilter)

/** The longest run of literal characters that every match must contain; undefined if ignoring case. */
function requiredLiteral(root: Node, icase: boolean): string | undefined {
  if (icase) return undefined;
  let caseless = false;
  walk(root, (n) => {
    if (n.t === 'group' && n.icase) caseless = true;
  });
  if (caseless) return undefined;
  // Searching is fastest from a rare first character: a run is taken from its first letter when
  // enough is left after it; the longest such candidate wins.
  let best = '';
  const consider = (run: string) => {
    if (run.includes('\n')) return;
    const letter = run.search(/[A-Za-z]/);
    const candidate = letter > 0 && run.length - letter >= 4 ? run.slice(letter) : run;
    if (candidate.length > best.length) best = candidate;
  };
  const pureLiteral = (node: Node): string | undefined => {
    if (node.t === 'cp') return String.fromCodePoint(node.cp);
    if (node.t === 'seq') {
      let out = '';
      for (const item of node.items) {
        const part = pureLiteral(item);
        if (part === undefined) return undefined;
        out += part;
      }
      return out;
    }
    if (node.t === 'group') return pureLiteral(node.body);
    return undefined;
  };
  const collect = (node: Node): void => {
    switch (node.t) {
      case 'seq': {
        let run = '';
        for (const item of node.items) {
          const part = pureLiteral(item);
          if (part !== undefined) {
            run += part;
            continue;
          }
          consider(run);
          run = '';
          collect(item);
        }
        consider(run);
        return;
      }
      case 'cp':
        consider(String.fromCodePoint(node.cp));
        return;
      case 'group':
      case 'atomic':
        collect(node.body);
        return;
      case 'quant':
        if (node.min >= 1) collect(node.body);
        return;
      default:
        return;
    }
  };
  collect(root);
  return best.length >= 3 ? best : undefined;
}

// ------------------------------------------------------------------------------------------------
// Emission

const WS_RANGES = String.raw`\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000`;
const WORD_SET = String.raw`\p{L}\p{N}_`;
const SYNTAX = new Set([...'^$\\.*+?()[]{}|/']);

interface EmitState {
  readonly subject: PythonRegexOptions['subject'];
  readonly appendNewline: boolean;
  readonly groupName: (index: number) => string | undefined;
  readonly indexed: boolean;
  atomicCount: number;
  needsV: boolean;
  /** Capturing groups emitted so far (their JavaScript numbers). */
  captures: number;
  /** Python group → JavaScript number in the variant being emitted (for back-references). */
  readonly current: Map<number, number>;
  readonly groupIndex: Map<string, number[]>;
}

/** Opens a capturing group: named, or numbered and recorded in `groupIndex`. */
function openCapture(state: EmitState, name: string, pythonIndex: number | undefined): string {
  const number = ++state.captures;
  if (pythonIndex !== undefined) state.current.set(pythonIndex, number);
  if (!state.indexed) return `(?<${name}>`;
  const list = state.groupIndex.get(name) ?? [];
  list.push(number);
  state.groupIndex.set(name, list);
  return '(';
}

function backref(state: EmitState, pythonIndex: number, name: string | undefined): string {
  if (!state.indexed) return `\\k<${name}>`;
  return `(?:\\${state.current.get(pythonIndex)})`;
}

function hex(cp: number): string {
  return `\\u{${cp.toString(16)}}`;
}

function emitCp(cp: number): string {
  const ch = String.fromCodePoint(cp);
  if (SYNTAX.has(ch)) return `\\${ch}`;
  if (
    cp < 0x20 ||
    (cp >= 0x7f && cp <= 0xa0) ||
    (cp >= 0xd800 && cp <= 0xdfff) ||
    cp === 0x2028 ||
    cp === 0x2029
  ) {
    return hex(cp);
  }
  return ch;
}

function emitClassCp(cp: number): string {
  return /^[A-Za-z0-9]$/.test(String.fromCodePoint(cp)) ? String.fromCodePoint(cp) : hex(cp);
}

/** A class escape as class content, or a nested class when it is a negation (needs the `v` flag). */
function emitClassEsc(kind: EscKind, ascii: boolean, state: EmitState): string {
  if (ascii) return `\\${kind}`;
  switch (kind) {
    case 'd':
      return String.raw`\p{Nd}`;
    case 'w':
      return WORD_SET;
    case 's':
      return WS_RANGES;
    case 'D':
      state.needsV = true;
      return String.raw`[^\p{Nd}]`;
    case 'W':
      state.needsV = true;
      return `[^${WORD_SET}]`;
    case 'S':
      state.needsV = true;
      return `[^${WS_RANGES}]`;
  }
}

function emitEsc(kind: EscKind, ascii: boolean): string {
  if (ascii) return `\\${kind}`;
  switch (kind) {
    case 'd':
      return String.raw`\p{Nd}`;
    case 'D':
      return String.raw`\P{Nd}`;
    case 'w':
      return `[${WORD_SET}]`;
    case 'W':
      return `[^${WORD_SET}]`;
    case 's':
      return `[${WS_RANGES}]`;
    case 'S':
      return `[^${WS_RANGES}]`;
  }
}

function emitClass(node: Node & { t: 'class' }, state: EmitState): string {
  // A lone negated escape needs no set operation: [\S] is \S, [^\S] is \s.
  const only = node.items.length === 1 ? node.items[0] : undefined;
  if (only?.t === 'esc' && /[DWS]/.test(only.kind)) {
    const kind = (node.negate ? only.kind.toLowerCase() : only.kind) as EscKind;
    return emitEsc(kind, only.ascii);
  }
  if (node.items.length === 0) return node.negate ? String.raw`[\s\S]` : '(?!)';
  let body = '';
  for (const item of node.items) {
    if (item.t === 'cp') body += emitClassCp(item.cp);
    else if (item.t === 'range') body += `${emitClassCp(item.lo)}-${emitClassCp(item.hi)}`;
    else body += emitClassEsc(item.kind, item.ascii, state);
  }
  return `[${node.negate ? '^' : ''}${body}]`;
}

const WORD_BOUNDARY = `(?:(?<=[${WORD_SET}])(?![${WORD_SET}])|(?<![${WORD_SET}])(?=[${WORD_SET}]))`;
const NOT_WORD_BOUNDARY = `(?:(?<=[${WORD_SET}])(?=[${WORD_SET}])|(?<![${WORD_SET}])(?![${WORD_SET}]))`;

function isAtom(node: Node): boolean {
  return (
    node.t === 'cp' ||
    node.t === 'class' ||
    node.t === 'esc' ||
    node.t === 'any' ||
    node.t === 'backref' ||
    (node.t === 'group' && node.icase === undefined)
  );
}

function emit(node: Node, state: EmitState): string {
  switch (node.t) {
    case 'seq':
      return node.items.map((n) => (n.t === 'alt' ? `(?:${emit(n, state)})` : emit(n, state))).join('');
    case 'alt':
      return node.branches.map((n) => emit(n, state)).join('|');
    case 'group': {
      const name = node.index === undefined ? undefined : state.groupName(node.index);
      const open = name !== undefined ? openCapture(state, name, node.index) : '(?:';
      const inner = `${open}${emit(node.body, state)})`;
      if (node.icase === undefined) return inner;
      return `(?${node.icase ? 'i' : '-i'}:${inner})`;
    }
    case 'look':
      return `(?${node.behind ? '<' : ''}${node.negate ? '!' : '='}${emit(node.body, state)})`;
    case 'atomic': {
      const name = `$a${++state.atomicCount}`;
      const open = openCapture(state, name, undefined);
      const number = state.captures;
      const body = emit(node.body, state);
      return `(?=${open}${body}))${state.indexed ? `(?:\\${number})` : `\\k<${name}>`}`;
    }
    case 'quant': {
      if (node.max === 0) return '';
      let open = '';
      let number = 0;
      let name = '';
      if (node.possessive) {
        name = `$a${++state.atomicCount}`;
        open = openCapture(state, name, undefined);
        number = state.captures;
      }
      const body = isAtom(node.body) ? emit(node.body, state) : `(?:${emit(node.body, state)})`;
      let q: string;
      if (node.min === 0 && node.max === Number.POSITIVE_INFINITY) q = '*';
      else if (node.min === 1 && node.max === Number.POSITIVE_INFINITY) q = '+';
      else if (node.min === 0 && node.max === 1) q = '?';
      else if (node.max === Number.POSITIVE_INFINITY) q = `{${node.min},}`;
      else if (node.min === node.max) q = `{${node.min}}`;
      else q = `{${node.min},${node.max}}`;
      if (node.possessive) {
        return `(?=${open}${body}${q}))${state.indexed ? `(?:\\${number})` : `\\k<${name}>`}`;
      }
      return `${body}${q}${node.lazy ? '?' : ''}`;
    }
    case 'cond':
      throw new Error('conditional left after expansion');
    case 'backref':
      return backref(state, node.ref, state.groupName(node.ref));
    case 'cp':
      return emitCp(node.cp);
    case 'class':
      return emitClass(node, state);
    case 'esc':
      return emitEsc(node.kind, node.ascii);
    case 'any':
      return node.dotall ? String.raw`[\s\S]` : String.raw`[^\n]`;
    case 'bol':
      return node.multiline ? String.raw`(?<![^\n])` : '^';
    case 'eol':
      if (node.multiline) return String.raw`(?=\n|$)`;
      return state.appendNewline ? String.raw`(?=\n?$)` : '$';
    case 'bos':
      return '^';
    case 'eos':
      // With the trailing \n left out, Python's \Z (after that \n) can never match.
      return state.subject === 'buffer' && !state.appendNewline ? '(?!)' : '$';
    case 'wordb':
      if (node.ascii) return node.negate ? '\\B' : '\\b';
      return node.negate ? NOT_WORD_BOUNDARY : WORD_BOUNDARY;
    case 'fail':
      return '(?!)';
  }
}

function flagsFrom(text: string): Flags {
  return {
    i: text.includes('i'),
    m: text.includes('m'),
    s: text.includes('s'),
    x: text.includes('x'),
    a: text.includes('a'),
  };
}

/** Translates one Python regex. Throws PythonRegexError on what Python would reject. */
export function translatePythonRegex(pattern: string, options: PythonRegexOptions): TranslatedRegex {
  const initial = flagsFrom(`${options.flags ?? ''}${options.subject === 'multiline' ? 'm' : ''}`);
  const parser = new Parser(pattern, initial);
  let root = parser.parse();
  let span: TranslatedRegex['span'];
  if (options.spanOf !== undefined) {
    const target = parser.groupNodes.get(options.spanOf);
    if (!target) throw new PythonRegexError(`no group ${options.spanOf}`, pattern, 0);
    span = 'indices';
    if (root === target) {
      root = {
        t: 'seq',
        items: [{ t: 'group', index: PREFIX_GROUP, name: undefined, icase: undefined, body: EMPTY() }, root],
      };
      span = 'prefix';
    } else if (root.t === 'seq') {
      const at = root.items.indexOf(target);
      if (at >= 0) {
        const before = root.items.slice(0, at);
        const prefix: Node = {
          t: 'group',
          index: PREFIX_GROUP,
          name: undefined,
          icase: undefined,
          body: { t: 'seq', items: before },
        };
        root = { t: 'seq', items: [prefix, ...root.items.slice(at)] };
        span = 'prefix';
      }
    }
  }
  root = guardBackrefs(root);
  const variants = expandConditionals(root, pattern);
  const combined: Node = variants.length === 1 ? variants[0]! : { t: 'alt', branches: variants };

  const referenced = new Set<number>();
  walk(combined, (n) => {
    if (n.t === 'backref') referenced.add(n.ref);
  });
  const indexNames = new Map<number, string>();
  for (const [name, index] of parser.names) indexNames.set(index, name);
  for (const [index, name] of Object.entries(options.nameGroups ?? {})) indexNames.set(Number(index), name);
  indexNames.set(PREFIX_GROUP, '$pre');
  const only = options.captureOnly ? new Set(options.captureOnly) : undefined;
  const groupName = (index: number): string | undefined => {
    const name = indexNames.get(index);
    if (name !== undefined && (!only || only.has(name) || referenced.has(index))) return name;
    return referenced.has(index) ? `$g${index}` : undefined;
  };

  const appendNewline =
    options.subject === 'multiline' || (options.subject === 'buffer' && needsNewline(combined));
  const state: EmitState = {
    subject: options.subject,
    appendNewline,
    groupName,
    indexed: options.indexedGroups === true,
    atomicCount: 0,
    needsV: false,
    captures: 0,
    current: new Map(),
    groupIndex: new Map(),
  };
  const source = emit(combined, state);
  const flags = `${span === 'indices' ? 'd' : ''}${parser.globalFlags.i ? 'i' : ''}${state.needsV ? 'v' : 'u'}`;
  let regex: RegExp;
  try {
    regex = new RegExp(source, flags);
  } catch (error) {
    throw new PythonRegexError(
      `cannot translate to JavaScript (${(error as Error).message}): ${source}`,
      pattern,
      0,
    );
  }
  const groupNames = [...new Set([...parser.names.keys(), ...Object.values(options.nameGroups ?? {})])];
  const literal = requiredLiteral(combined, parser.globalFlags.i);
  return {
    pattern,
    source,
    flags,
    regex,
    appendNewline,
    groupNames,
    span,
    groupIndex: state.groupIndex,
    literal,
  };
}

/**
 * The nginx configuration language, read the way nginx's ngx_conf_read_token does. Pure.
 *
 * - Tokens are separated by blanks; `;` ends a directive, `{` opens its block, `}` closes one.
 * - `#` at the start of a token starts a comment to the end of the line (inside a word it is a letter).
 * - `"…"` and `'…'` quote (newlines allowed); a closing quote must be followed by a blank, `;`, `{` or `)`.
 * - A backslash keeps the next character from ending a word; `\"`, `\'`, `\\`, `\t`, `\r`, `\n` are
 *   unescaped, any other backslash is kept (so regexes like `\.php$` survive).
 * - `${name}`: a `{` right after `$` belongs to the word; a `}` inside a word is a letter.
 * - `*_by_lua_block { … }` holds Lua, not directives: its body is skipped as raw text.
 */

export interface NginxDirective {
  readonly name: string;
  readonly args: readonly string[];
  /** Host path of the file the directive is written in. */
  readonly file: string;
  /** 1-based line of the directive's name. */
  readonly line: number;
  /** Present for block directives (`http`, `server`, `location`, `if`…): the directives inside. */
  readonly block?: readonly NginxDirective[];
}

export interface NginxSyntaxError {
  readonly line: number;
  readonly message: string;
}

export interface NginxParse {
  readonly directives: readonly NginxDirective[];
  /** The first syntax error; `directives` is then incomplete and should not be trusted. */
  readonly error?: NginxSyntaxError;
}

type Token =
  | { readonly kind: 'word'; readonly text: string; readonly line: number }
  | { readonly kind: ';' | '{' | '}'; readonly line: number };

class SyntaxFailure extends Error {
  readonly line: number;
  constructor(line: number, message: string) {
    super(message);
    this.line = line;
  }
}

const BLANK = new Set([' ', '\t', '\r', '\n', '\f']);
const UNESCAPE: Record<string, string> = { '"': '"', "'": "'", '\\': '\\', t: '\t', r: '\r', n: '\n' };

function unescapeToken(raw: string): string {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i]!;
    const next = raw[i + 1];
    if (ch === '\\' && next !== undefined && UNESCAPE[next] !== undefined) {
      out += UNESCAPE[next];
      i++;
    } else {
      out += ch;
    }
  }
  return out;
}

class Tokenizer {
  private pos = 0;
  line = 1;
  private readonly text: string;

  constructor(text: string) {
    this.text = text;
  }

  next(): Token | undefined {
    const { text } = this;
    while (this.pos < text.length) {
      const ch = text[this.pos]!;
      if (BLANK.has(ch)) {
        if (ch === '\n') this.line++;
        this.pos++;
        continue;
      }
      if (ch === '#') {
        while (this.pos < text.length && text[this.pos] !== '\n') this.pos++;
        continue;
      }
      const line = this.line;
      if (ch === ';' || ch === '{' || ch === '}') {
        this.pos++;
        return { kind: ch, line };
      }
      if (ch === '"' || ch === "'") return this.quoted(ch, line);
      return this.word(line);
    }
    return undefined;
  }

  private quoted(quote: string, line: number): Token {
    const { text } = this;
    let raw = '';
    this.pos++;
    for (;;) {
      if (this.pos >= text.length)
        throw new SyntaxFailure(line, `unexpected end of file, expecting closing ${quote}`);
      const ch = text[this.pos]!;
      if (ch === '\\' && this.pos + 1 < text.length) {
        const next = text[this.pos + 1]!;
        if (next === '\n') this.line++;
        raw += ch + next;
        this.pos += 2;
        continue;
      }
      this.pos++;
      if (ch === quote) break;
      if (ch === '\n') this.line++;
      raw += ch;
    }
    const after = text[this.pos];
    if (after !== undefined && !BLANK.has(after) && after !== ';' && after !== '{' && after !== ')') {
      throw new SyntaxFailure(this.line, `unexpected "${after}" after a quoted string`);
    }
    return { kind: 'word', text: unescapeToken(raw), line };
  }

  private word(line: number): Token {
    const { text } = this;
    let raw = '';
    while (this.pos < text.length) {
      const ch = text[this.pos]!;
      if (ch === '\\' && this.pos + 1 < text.length) {
        raw += ch + text[this.pos + 1];
        if (text[this.pos + 1] === '\n') this.line++;
        this.pos += 2;
        continue;
      }
      if (ch === '{' && raw.endsWith('$')) {
        raw += ch;
        this.pos++;
        continue;
      }
      if (BLANK.has(ch) || ch === ';' || ch === '{') break;
      raw += ch;
      this.pos++;
    }
    return { kind: 'word', text: unescapeToken(raw), line };
  }

  /** Skips a Lua block body up to its matching `}` (strings, `--` comments and nested braces respected). */
  skipLua(openLine: number): void {
    const { text } = this;
    let depth = 1;
    while (this.pos < text.length) {
      const ch = text[this.pos]!;
      if (ch === '\n') this.line++;
      if (ch === '-' && text[this.pos + 1] === '-') {
        while (this.pos < text.length && text[this.pos] !== '\n') this.pos++;
        continue;
      }
      if (ch === '"' || ch === "'") {
        this.pos++;
        while (this.pos < text.length && text[this.pos] !== ch && text[this.pos] !== '\n') {
          if (text[this.pos] === '\\') this.pos++;
          this.pos++;
        }
        this.pos++;
        continue;
      }
      this.pos++;
      if (ch === '{') depth++;
      if (ch === '}' && --depth === 0) return;
    }
    throw new SyntaxFailure(openLine, 'unexpected end of file inside a Lua block, expecting "}"');
  }
}

interface Frame {
  readonly directives: NginxDirective[];
  readonly opener?: { readonly name: string; readonly line: number };
}

/** Parses one file's text into its directive tree (includes are not followed here). */
export function parseNginx(text: string, file: string): NginxParse {
  const tokenizer = new Tokenizer(text);
  const root: Frame = { directives: [] };
  const stack: Frame[] = [root];
  let words: { text: string; line: number }[] = [];
  try {
    for (;;) {
      const token = tokenizer.next();
      const frame = stack[stack.length - 1]!;
      if (token === undefined) {
        if (words.length > 0) {
          throw new SyntaxFailure(
            tokenizer.line,
            `unexpected end of file, expecting ";" or "}" after "${words[0]!.text}"`,
          );
        }
        if (frame.opener) {
          throw new SyntaxFailure(
            frame.opener.line,
            `the "${frame.opener.name}" block opened here is never closed (unexpected end of file, expecting "}")`,
          );
        }
        break;
      }
      if (token.kind === 'word') {
        words.push({ text: token.text, line: token.line });
        continue;
      }
      if (token.kind === '}') {
        if (words.length > 0)
          throw new SyntaxFailure(token.line, `unexpected "}" after "${words[0]!.text}": missing ";"`);
        if (!frame.opener) throw new SyntaxFailure(token.line, 'unexpected "}": no block is open here');
        stack.pop();
        continue;
      }
      const head = words[0];
      if (!head) throw new SyntaxFailure(token.line, `unexpected "${token.kind}"`);
      const args = words.slice(1).map((w) => w.text);
      words = [];
      if (token.kind === ';') {
        frame.directives.push({ name: head.text, args, file, line: head.line });
        continue;
      }
      const block: NginxDirective[] = [];
      frame.directives.push({ name: head.text, args, file, line: head.line, block });
      if (head.text.endsWith('_by_lua_block')) {
        tokenizer.skipLua(head.line);
        continue;
      }
      stack.push({ directives: block, opener: { name: head.text, line: head.line } });
    }
  } catch (error) {
    if (error instanceof SyntaxFailure) {
      return { directives: root.directives, error: { line: error.line, message: error.message } };
    }
    throw error;
  }
  return { directives: root.directives };
}

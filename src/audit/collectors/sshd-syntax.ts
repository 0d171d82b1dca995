/**
 * One line of sshd_config, split the way OpenSSH does (servconf.c + misc.c argv_split): the keyword
 * ends at whitespace or a single `=`, arguments are split on blanks, `"…"` and `'…'` quote, a
 * backslash escapes a quote, a backslash or (outside quotes) a blank, and an unquoted `#` at the start
 * of an argument ends the line. Pure.
 */

export type SshdLine =
  | { readonly kind: 'blank' }
  | { readonly kind: 'directive'; readonly keyword: string; readonly args: readonly string[] }
  | { readonly kind: 'error'; readonly message: string };

export function splitSshdLine(raw: string): SshdLine {
  const text = raw.replace(/[\s\f]+$/, '');
  const keywordMatch = /^[ \t]*([^\s=]*)/.exec(text);
  const keyword = keywordMatch?.[1] ?? '';
  if (keyword === '' || keyword.startsWith('#')) return { kind: 'blank' };
  let rest = text.slice(keywordMatch![0].length);
  rest = rest.replace(/^[ \t]*(=[ \t]*)?/, '');
  if (rest === '') return { kind: 'error', message: `no argument after keyword "${keyword}"` };
  const args = splitArgs(rest);
  if (args === undefined) return { kind: 'error', message: `invalid quotes after keyword "${keyword}"` };
  if (args.length === 0) return { kind: 'error', message: `no argument after keyword "${keyword}"` };
  return { kind: 'directive', keyword: keyword.toLowerCase(), args };
}

/** argv_split with terminate_on_comment; undefined when a quote is not closed. */
function splitArgs(text: string): string[] | undefined {
  const args: string[] = [];
  let i = 0;
  while (i < text.length) {
    const start = text[i];
    if (start === ' ' || start === '\t') {
      i++;
      continue;
    }
    if (start === '#') break;
    let arg = '';
    let quote: string | undefined;
    for (; i < text.length; i++) {
      const ch = text[i]!;
      const next = text[i + 1];
      if (ch === '\\') {
        if (next === "'" || next === '"' || next === '\\' || (quote === undefined && next === ' ')) {
          arg += next;
          i++;
        } else {
          arg += ch;
        }
      } else if (quote === undefined && (ch === ' ' || ch === '\t')) {
        break;
      } else if (quote === undefined && (ch === '"' || ch === "'")) {
        quote = ch;
      } else if (quote !== undefined && ch === quote) {
        quote = undefined;
      } else {
        arg += ch;
      }
    }
    if (quote !== undefined) return undefined;
    args.push(arg);
  }
  return args;
}

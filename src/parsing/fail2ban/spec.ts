/**
 * fail2ban's `NAME[key=value, key="quoted, value"]` filter reference (jail.conf's `filter = …`),
 * so a user can write `sshd[mode=aggressive]` where moat takes a filter. Pure.
 */
export interface FilterSpec {
  readonly name: string;
  readonly parameters: Readonly<Record<string, string>>;
}

/** Parses `sshd[mode=aggressive]`. Undefined when the text is not of that form. */
export function parseFilterSpec(text: string): FilterSpec | undefined {
  const m = /^\s*([^[\]\s]+)\s*(?:\[(.*)\])?\s*$/s.exec(text);
  if (!m) return undefined;
  const parameters: Record<string, string> = {};
  const body = m[2] ?? '';
  const option = /\s*([\w\-_.]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([^,]*?))\s*(?:,|$)/gy;
  let at = 0;
  while (at < body.length) {
    option.lastIndex = at;
    const o = option.exec(body);
    if (!o || o[0].length === 0) return undefined;
    parameters[o[1]!] = o[2] ?? o[3] ?? o[4] ?? '';
    at = option.lastIndex;
  }
  return { name: m[1]!, parameters };
}

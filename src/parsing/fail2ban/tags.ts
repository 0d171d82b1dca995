/**
 * fail2ban's regex tags (`<HOST>`, `<ADDR>`, `<IP4>`, `<IP6>`, `<DNS>`, `<CIDR>`, `<SUBNET>`,
 * `<F-ID/>`, `<F-PORT/>`, `<SKIPLINES>`, `<F-NAME>…</F-NAME>`) replaced by Python regex text, exactly as
 * fail2ban's Regex._resolveHostTag does. Pure.
 */

const IP_4_RE = String.raw`(?:\d{1,3}\.){3}\d{1,3}`;
const IP_6_RE = String.raw`(?:[0-9a-fA-F]{1,4}::?|::){1,7}(?:[0-9a-fA-F]{1,4}|(?<=:):)`;
const R_IPV4 = String.raw`(?:::f{4,6}:)?(?P<ip4>${IP_4_RE})`;
const R_IPV6 = `(?P<ip6>${IP_6_RE})`;
const R_DNS = String.raw`(?P<dns>[\w\-.^_]*\w)`;
const R_ADDR = String.raw`\[?(?:${R_IPV4}|${R_IPV6})\]?`;
const R_HOST = `(?:${R_ADDR}|${R_DNS})`;
const R_CIDR = String.raw`(?P<cidr>\d+)`;
const R_SUBNET = String.raw`\[?(?:${R_IPV4}|${R_IPV6})(?:/${R_CIDR})?\]?`;

const STATIC_TAGS: Readonly<Record<string, string>> = {
  IP4: R_IPV4,
  'F-IP4/': R_IPV4,
  IP6: R_IPV6,
  'F-IP6/': R_IPV6,
  ADDR: R_ADDR,
  'F-ADDR/': R_ADDR,
  CIDR: R_CIDR,
  'F-CIDR/': R_CIDR,
  SUBNET: R_SUBNET,
  'F-SUBNET/': R_SUBNET,
  DNS: R_DNS,
  'F-DNS/': R_DNS,
  'F-ID/': String.raw`(?P<fid>\S+)`,
  'F-PORT/': String.raw`(?P<fport>\w+)`,
};

const TAG_MAP: Readonly<Record<string, string>> = { id: 'fid', port: 'fport' };

/** The group name an `<F-NAME>` tag captures into: `F-USER` → `user`, `F-ID` → `fid`. */
export function fieldGroupName(tag: string): string {
  const lower = tag.toLowerCase();
  return TAG_MAP[lower] ?? lower;
}

/**
 * Replaces the tags. `useDns: 'no'` makes `<HOST>` an address only, as in fail2ban (`usedns = no`);
 * other values keep the host-name alternative (moat never resolves names).
 */
export function resolveTags(regex: string, useDns = 'warn'): string {
  const open = new Set<string>();
  let skipLines = 0;
  return regex.replace(/<\/?[\w-]+\/?>/g, (tag) => {
    const name = tag.slice(1, -1);
    if (name === 'HOST') return useDns === 'no' ? R_ADDR : R_HOST;
    if (name === 'SKIPLINES') return String.raw`\n(?P<skiplines${skipLines++}>(?:(?:.*\n)*?))`;
    const fixed = STATIC_TAGS[name];
    if (fixed !== undefined) return fixed;
    const m = /^(\/?)F-([A-Z0-9_-]+)$/.exec(name);
    if (!m) return tag;
    const field = m[2]!;
    if (m[1]) return open.has(field) ? ')' : tag;
    open.add(field);
    return `(?P<${fieldGroupName(field)}>`;
  });
}

/** Groups that identify a failure; a failregex (or its prefregex) must have one. */
export const FAILURE_ID_GROUPS = ['fid', 'ip4', 'ip6', 'dns', 'mlfid'] as const;

/** fail2ban's global-to-local flag rewrite: `((?i)x)` and `(?:(?i)x)` become `(?i:x)`. */
export function globalToLocalFlags(regex: string): string {
  return regex.replace(/(?<!\\)\((?:\?:)?(\(\?[a-z]+)\)/g, '$1:');
}

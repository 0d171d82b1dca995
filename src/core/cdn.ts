/**
 * CDN address ranges: the built-in dated list of Cloudflare's published ranges, and a loader for a
 * replacement file (config `cdn.rangesFile`). Used to tell whether a trusted or allowed range
 * belongs to the CDN today.
 */
import { readFile } from 'node:fs/promises';
import { MoatError } from './errors.ts';
import { type Cidr, cidrCovers, parseCidr } from './ip.ts';

/**
 * The day the built-in list below was last confirmed against a copy of
 * https://www.cloudflare.com/ips-v4 and https://www.cloudflare.com/ips-v6 (YYYY-MM-DD). Cloudflare
 * changes the list rarely; when it does, update both lists and this date, or point `cdn.rangesFile`
 * at a fresh copy (`curl -s https://www.cloudflare.com/ips-v4 https://www.cloudflare.com/ips-v6`).
 */
export const CLOUDFLARE_RANGES_TAKEN_ON = '2026-09-29';

/** https://www.cloudflare.com/ips-v4, in the order Cloudflare publishes them. */
export const CLOUDFLARE_IPV4: readonly string[] = [
  '173.245.48.0/20',
  '103.21.244.0/22',
  '103.22.200.0/22',
  '103.31.4.0/22',
  '141.101.64.0/18',
  '108.162.192.0/18',
  '190.93.240.0/20',
  '188.114.96.0/20',
  '197.234.240.0/22',
  '198.41.128.0/17',
  '162.158.0.0/15',
  '104.16.0.0/13',
  '104.24.0.0/14',
  '172.64.0.0/13',
  '131.0.72.0/22',
];

/** https://www.cloudflare.com/ips-v6, in the order Cloudflare publishes them. */
export const CLOUDFLARE_IPV6: readonly string[] = [
  '2400:cb00::/32',
  '2606:4700::/32',
  '2803:f800::/32',
  '2405:b500::/32',
  '2405:8100::/32',
  '2a06:98c0::/29',
  '2c0f:f248::/32',
];

export interface CdnRanges {
  readonly provider: 'cloudflare';
  /** Where the list came from, for evidence: `moat's built-in list (taken 2026-11-23)` or a file path. */
  readonly source: string;
  readonly cidrs: readonly Cidr[];
}

/** Cloudflare's ranges as built into this version of moat. */
export function builtinCloudflareRanges(): CdnRanges {
  return {
    provider: 'cloudflare',
    source: `moat's built-in list of Cloudflare ranges (taken ${CLOUDFLARE_RANGES_TAKEN_ON})`,
    cidrs: [...CLOUDFLARE_IPV4, ...CLOUDFLARE_IPV6].map((text) => parseCidr(text)!),
  };
}

export interface ParsedRanges {
  readonly cidrs: readonly Cidr[];
  /** Lines that are not a CIDR, 1-based. */
  readonly errors: readonly { readonly line: number; readonly text: string }[];
}

/**
 * Parses a ranges file: one CIDR (or bare address) per line, blank lines and `#` comments ignored
 * (also after a range), the format of https://www.cloudflare.com/ips-v4 and ips-v6 concatenated.
 */
export function parseCdnRanges(text: string): ParsedRanges {
  const cidrs: Cidr[] = [];
  const errors: { line: number; text: string }[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const content = raw.replace(/#.*$/, '').trim();
    if (content === '') return;
    const cidr = parseCidr(content);
    if (cidr) cidrs.push(cidr);
    else errors.push({ line: index + 1, text: content });
  });
  return { cidrs, errors };
}

/**
 * Reads `cdn.rangesFile` (a path on the machine moat runs on, like the config file itself).
 * Throws MoatError when it cannot be read, has a line that is not a CIDR, or lists no range.
 */
export async function loadCdnRangesFile(filePath: string): Promise<CdnRanges> {
  let text: string;
  try {
    text = await readFile(filePath, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new MoatError('MOAT_CONFIG_INVALID', `cdn.rangesFile: cannot read ${filePath}: ${code}`, {
      hint: 'Point cdn.rangesFile at a readable file of CIDRs, e.g. `curl https://www.cloudflare.com/ips-v4 https://www.cloudflare.com/ips-v6 > FILE`, or remove the key to use the built-in list.',
    });
  }
  const parsed = parseCdnRanges(text);
  const bad = parsed.errors[0];
  if (bad) {
    throw new MoatError(
      'MOAT_CONFIG_INVALID',
      `cdn.rangesFile: ${filePath}:${bad.line}: "${bad.text}" is not a CIDR range`,
      { hint: 'Write one range per line, like 173.245.48.0/20 or 2400:cb00::/32; `#` starts a comment.' },
    );
  }
  if (parsed.cidrs.length === 0) {
    throw new MoatError('MOAT_CONFIG_INVALID', `cdn.rangesFile: ${filePath} lists no range`, {
      hint: 'Fill it from https://www.cloudflare.com/ips-v4 and ips-v6, or remove the key to use the built-in list.',
    });
  }
  return { provider: 'cloudflare', source: filePath, cidrs: parsed.cidrs };
}

/** True when one of the CDN's ranges contains all of `cidr`. */
export function inCdnRanges(ranges: CdnRanges, cidr: Cidr): boolean {
  return ranges.cidrs.some((range) => cidrCovers(range, cidr));
}

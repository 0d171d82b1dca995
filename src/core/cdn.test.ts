import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import {
  builtinCloudflareRanges,
  CLOUDFLARE_IPV4,
  CLOUDFLARE_IPV6,
  CLOUDFLARE_RANGES_TAKEN_ON,
  inCdnRanges,
  loadCdnRangesFile,
  parseCdnRanges,
} from './cdn.ts';
import { isMoatError } from './errors.ts';
import { parseCidr } from './ip.ts';

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function file(text: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'moat-cdn-'));
  dirs.push(dir);
  const target = path.join(dir, 'ranges.txt');
  await writeFile(target, text);
  return target;
}

describe('built-in Cloudflare ranges', () => {
  it('are dated and every entry is a valid CIDR', () => {
    assert.match(CLOUDFLARE_RANGES_TAKEN_ON, /^\d{4}-\d{2}-\d{2}$/);
    const ranges = builtinCloudflareRanges();
    assert.deepEqual(
      ranges.cidrs.map((c) => c?.text),
      [...CLOUDFLARE_IPV4, ...CLOUDFLARE_IPV6],
    );
    assert.ok(ranges.source.includes(CLOUDFLARE_RANGES_TAKEN_ON));
  });

  it('contain current ranges and their sub-ranges, not retired or wider ones', () => {
    const ranges = builtinCloudflareRanges();
    assert.equal(inCdnRanges(ranges, parseCidr('173.245.48.0/20')!), true);
    assert.equal(inCdnRanges(ranges, parseCidr('104.16.1.0/24')!), true);
    assert.equal(inCdnRanges(ranges, parseCidr('2606:4700:10::/48')!), true);
    assert.equal(inCdnRanges(ranges, parseCidr('199.27.128.0/21')!), false);
    assert.equal(inCdnRanges(ranges, parseCidr('104.16.0.0/12')!), false);
    assert.equal(inCdnRanges(ranges, parseCidr('0.0.0.0/0')!), false);
  });
});

describe('ranges file', () => {
  it('parses one CIDR per line with comments and blank lines', () => {
    const parsed = parseCdnRanges('# v4\n173.245.48.0/20\n\n2400:cb00::/32 # v6\r\n198.51.100.7\n');
    assert.deepEqual(
      parsed.cidrs.map((c) => c.text),
      ['173.245.48.0/20', '2400:cb00::/32', '198.51.100.7/32'],
    );
    assert.deepEqual(parsed.errors, []);
  });

  it('names the lines that are not CIDRs', () => {
    assert.deepEqual(parseCdnRanges('173.245.48.0/20\n173.245.48.0/33\nexample.com\n').errors, [
      { line: 2, text: '173.245.48.0/33' },
      { line: 3, text: 'example.com' },
    ]);
  });

  it('loads a file as the CDN list', async () => {
    const target = await file('173.245.48.0/20\n');
    const ranges = await loadCdnRangesFile(target);
    assert.equal(ranges.source, target);
    assert.deepEqual(
      ranges.cidrs.map((c) => c.text),
      ['173.245.48.0/20'],
    );
  });

  it('refuses an unreadable, malformed or empty file with a config error naming cdn.rangesFile', async () => {
    const cases = [
      path.join(tmpdir(), 'moat-no-such-ranges.txt'),
      await file('10.0.0.0/8\nnot-a-range\n'),
      await file('# nothing\n'),
    ];
    for (const target of cases) {
      await assert.rejects(loadCdnRangesFile(target), (error: unknown) => {
        assert.ok(isMoatError(error));
        assert.equal(error.code, 'MOAT_CONFIG_INVALID');
        assert.match(error.message, /^cdn\.rangesFile: /);
        return true;
      });
    }
  });
});

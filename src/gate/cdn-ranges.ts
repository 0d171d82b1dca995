/** The CDN ranges CDN-only mode accepts: `cdn.rangesFile` when set, else moat's built-in dated list. */
import type { GateConfig } from '../config/gate.ts';
import type { CdnConfig } from '../config/schema.ts';
import { builtinCloudflareRanges, type CdnRanges, loadCdnRangesFile } from '../core/cdn.ts';
import { MoatError } from '../core/errors.ts';

/** Undefined unless `gate.cdnOnly`; rejects (MoatError) when the provider is unset or the file is bad. */
export async function gateCdnRanges(config: GateConfig, cdn: CdnConfig): Promise<CdnRanges | undefined> {
  if (!config.cdnOnly) return undefined;
  if (cdn.provider !== 'cloudflare') {
    throw new MoatError('MOAT_CONFIG_INVALID', 'gate.cdnOnly: true needs cdn.provider: cloudflare', {
      hint: 'Set cdn.provider: cloudflare (or pass --cdn cloudflare), or turn gate.cdnOnly off.',
    });
  }
  return cdn.rangesFile === undefined ? builtinCloudflareRanges() : loadCdnRangesFile(cdn.rangesFile);
}

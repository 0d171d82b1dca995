/** Field types shared by every section of the configuration schema. */
import { z } from 'zod';
import { parseDurationMs } from '../core/duration.ts';
import { leadingZeroProblem, parseCidr } from '../core/ip.ts';

export const port = z.number().int().min(1).max(65_535);

/** `30s`, `5m`, `4h`, `7d`, `1500ms`, or a number of milliseconds → milliseconds. */
export const duration = z
  .union([
    z.number().int().min(0),
    z.string().regex(/^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)\s*$/, 'a duration like 30s, 5m, 4h or 7d'),
  ])
  .transform((value) => parseDurationMs(value));

export const cidr = z.string().superRefine((value, ctx) => {
  if (parseCidr(value) !== undefined) return;
  ctx.addIssue({
    code: 'custom',
    message: leadingZeroProblem(value) ?? 'an IP address or CIDR like 203.0.113.0/24',
  });
});

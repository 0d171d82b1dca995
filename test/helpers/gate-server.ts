/**
 * A gate on 127.0.0.1 (an ephemeral port) built the way the daemon builds it — the config section
 * through the real schema, the real policy, the real server — with its events and logs captured.
 */
import { parseConfig } from '../../src/config/load.ts';
import { type Clock, systemClock } from '../../src/core/clock.ts';
import type { ParsedEvent } from '../../src/core/events.ts';
import type { Logger } from '../../src/daemon/log.ts';
import { gateCdnRanges } from '../../src/gate/cdn-ranges.ts';
import { createGatePolicy } from '../../src/gate/policy.ts';
import { type GateServer, startGateServer } from '../../src/gate/server.ts';
import type { BanCheck } from '../../src/gate/types.ts';

export interface LogLine {
  readonly level: string;
  readonly msg: string;
  readonly [key: string]: unknown;
}

export function captureLogger(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  return { lines, log: (level, msg, fields) => lines.push({ ...fields, level, msg }) };
}

export interface TestGate {
  readonly port: number;
  readonly server: GateServer;
  readonly events: ParsedEvent[];
  readonly logger: ReturnType<typeof captureLogger>;
  close(): Promise<void>;
}

export const noBans: BanCheck = { isBanned: () => false };

/** `gate` is the raw config section (as in YAML); `listen` defaults to 127.0.0.1:0. */
export async function startTestGate(
  gate: Record<string, unknown>,
  options: { cdn?: Record<string, unknown>; bans?: BanCheck; drainMs?: number; clock?: Clock } = {},
): Promise<TestGate> {
  const config = parseConfig({
    gate: { listen: '127.0.0.1:0', ...gate },
    ...(options.cdn === undefined ? {} : { cdn: options.cdn }),
  });
  const cdnRanges = await gateCdnRanges(config.gate, config.cdn);
  const policy = createGatePolicy(config.gate, {
    bans: options.bans ?? noBans,
    ...(cdnRanges === undefined ? {} : { cdnRanges: cdnRanges.cidrs.map((cidr) => cidr.text) }),
  });
  const events: ParsedEvent[] = [];
  const logger = captureLogger();
  const server = await startGateServer({
    config: config.gate,
    policy,
    logger,
    clock: options.clock ?? systemClock,
    onEvent: (event) => events.push(event),
    limiterKeys: () => policy.limiter.size,
    ...(cdnRanges === undefined ? {} : { cdnRanges }),
    ...(options.drainMs === undefined ? {} : { drainMs: options.drainMs }),
  });
  return { port: server.address.port, server, events, logger, close: () => server.close() };
}

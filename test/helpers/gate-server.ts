/**
 * A gate on 127.0.0.1 (an ephemeral port) built the way the daemon builds it — the config section
 * through the real schema, the real policy, the real server — with its events and logs captured.
 */
import { after, before } from 'node:test';
import { parseConfig } from '../../src/config/load.ts';
import { type Clock, systemClock } from '../../src/core/clock.ts';
import type { ParsedEvent } from '../../src/core/events.ts';
import { gateCdnRanges } from '../../src/gate/cdn-ranges.ts';
import { createGatePolicy } from '../../src/gate/policy.ts';
import { type GateServer, startGateServer } from '../../src/gate/server.ts';
import type { BanCheck } from '../../src/gate/types.ts';
import { type RecordingUpstream, startRecordingUpstream } from './gate-http.ts';
import { captureLogger } from './log.ts';

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

/**
 * For a describe block: a recording upstream and a gate in front of it, started before the block's
 * tests and closed after them. `section` gets the upstream's origin and returns the gate section.
 */
export function gateInFrontOfUpstream(
  section: (origin: string) => Record<string, unknown>,
  options?: Parameters<typeof startTestGate>[1],
): { readonly gate: TestGate; readonly upstream: RecordingUpstream } {
  let gate: TestGate | undefined;
  let upstream: RecordingUpstream | undefined;
  before(async () => {
    upstream = await startRecordingUpstream();
    gate = await startTestGate(section(upstream.origin), options);
  });
  after(async () => {
    await gate?.close();
    await upstream?.close();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the gate is started by the describe block’s before hook');
    return value;
  };
  return {
    get gate() {
      return started(gate);
    },
    get upstream() {
      return started(upstream);
    },
  };
}

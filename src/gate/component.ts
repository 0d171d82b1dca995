/**
 * The gate as a daemon component: `moat gate` hosts it alone, `moat watch` next to the log sources.
 * Its requests go into the daemon's one engine (`services.ingest`), so a prober hitting the gate
 * is banned by the same scenarios as one found in nginx's log, and the ban is enforced by the gate
 * at once (`services.bans`, kept current in-process and from the store).
 */
import type { CdnConfig } from '../config/schema.ts';
import type { GateConfig } from '../config/gate.ts';
import type { Component, ComponentFactory } from '../daemon/services.ts';
import { gateCdnRanges } from './cdn-ranges.ts';
import { createGatePolicy } from './policy.ts';
import { type GateServer, startGateServer } from './server.ts';

export interface GateComponentOptions {
  /** Called once the gate listens (the CLI reopens its access log on SIGHUP; tests read the port). */
  readonly onStart?: (server: GateServer) => void;
  /** How long stop() lets requests in flight finish. Default 10 s. */
  readonly drainMs?: number;
}

export interface GateComponent extends Component {
  readonly server: GateServer;
}

export function gateComponent(
  config: GateConfig,
  cdn: CdnConfig,
  options: GateComponentOptions = {},
): ComponentFactory {
  return async (services): Promise<GateComponent> => {
    const cdnRanges = await gateCdnRanges(config, cdn);
    const policy = createGatePolicy(config, {
      bans: services.bans,
      storeHealthy: () => services.storeHealthy(),
      ...(cdnRanges === undefined ? {} : { cdnRanges: cdnRanges.cidrs.map((cidr) => cidr.text) }),
    });
    const server = await startGateServer({
      config,
      policy,
      logger: services.logger,
      clock: services.clock,
      onEvent: (event) => services.ingest(event),
      limiterKeys: () => policy.limiter.size,
      ...(cdnRanges === undefined ? {} : { cdnRanges }),
      ...(options.drainMs === undefined ? {} : { drainMs: options.drainMs }),
    });
    options.onStart?.(server);
    return { name: 'gate', server, stop: () => server.close() };
  };
}

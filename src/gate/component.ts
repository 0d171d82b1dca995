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
import { createGatePolicy, type GatePolicyWithLimiter } from './policy.ts';
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
    const build = async (gate: GateConfig, cdnConfig: CdnConfig, replaces?: GatePolicyWithLimiter) => {
      const cdnRanges = await gateCdnRanges(gate, cdnConfig);
      const policy = createGatePolicy(gate, {
        bans: services.bans,
        storeHealthy: () => services.storeHealthy(),
        ...(cdnRanges === undefined ? {} : { cdnRanges: cdnRanges.cidrs.map((cidr) => cidr.text) }),
        ...(replaces === undefined ? {} : { replaces }),
      });
      return { policy, cdnRanges };
    };
    let current = await build(config, cdn);
    const server = await startGateServer({
      config,
      policy: current.policy,
      logger: services.logger,
      clock: services.clock,
      onEvent: (event) => services.ingest(event),
      limiterKeys: () => current.policy.limiter.size,
      ...(current.cdnRanges === undefined ? {} : { cdnRanges: current.cdnRanges }),
      ...(options.drainMs === undefined ? {} : { drainMs: options.drainMs }),
    });
    options.onStart?.(server);
    return {
      name: 'gate',
      server,
      stop: () => server.close(),
      // SIGHUP: everything is built (and may fail) before the running server is touched.
      async reload(next) {
        const built = await build(next.gate, next.cdn, current.policy);
        await server.reload(next.gate, built.policy, built.cdnRanges);
        current = built;
      },
    };
  };
}

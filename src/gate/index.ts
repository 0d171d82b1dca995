/**
 * The gate as a library (`import { createGate } from 'moat/gate'`): the same policy as `moat gate`
 * — client IP, bans, deny rules, nginx limit_req rate limits — inside an Express, Fastify or
 * node:http app. Bans come from moat's store (what `moat watch` and `moat bans` write), re-read
 * when another process changes it.
 *
 *   const gate = await createGate({
 *     gate: { zones: [{ name: 'api', rate: '10r/s', burst: 5, nodelay: true }], limit: ['api'],
 *             deny: [{ paths: ['*.php', '/.env'] }] },
 *     stateDir: '/var/lib/moat',
 *   });
 *   app.use(gate.express());
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { parseConfig } from '../config/load.ts';
import { type Clock, systemClock } from '../core/clock.ts';
import { createBanSet } from '../decisions/ban-set.ts';
import { openSqliteStore } from '../storage/sqlite.ts';
import type { Store } from '../storage/types.ts';
import { gateCdnRanges } from './cdn-ranges.ts';
import {
  expressGate,
  fastifyGate,
  fastifyGateHook,
  type GateMiddlewareOptions,
  withGate,
} from './middleware.ts';
import { createGatePolicy, type GatePolicyWithLimiter } from './policy.ts';

export { gateVerdict } from './middleware.ts';
export type { GateMiddlewareOptions } from './middleware.ts';
export type { Verdict } from './types.ts';

export interface CreateGateOptions {
  /** The `gate` section's keys (zones, limit, routes, deny, trustProxies, cdnOnly, ipv6Prefix, bans). */
  readonly gate?: unknown;
  /** The `cdn` section (`provider: cloudflare`, `rangesFile`), for `gate.cdnOnly`. */
  readonly cdn?: unknown;
  /** moat's state directory: its bans are enforced. Without it, no ban is checked. */
  readonly stateDir?: string;
  readonly clock?: Clock;
  /** Sees every verdict before it is acted on. Must not throw. */
  readonly onVerdict?: GateMiddlewareOptions['onVerdict'];
}

export interface Gate {
  readonly policy: GatePolicyWithLimiter;
  /** Express middleware; put it first. */
  express(): ReturnType<typeof expressGate>;
  /** A Fastify plugin checking every route: `await app.register(gate.fastify())`. */
  fastify(): ReturnType<typeof fastifyGate>;
  /** The Fastify `onRequest` hook, for one route or an encapsulated context. */
  fastifyHook(): ReturnType<typeof fastifyGateHook>;
  /** Wraps a node:http handler: refused requests are answered, the rest reach `handler`. */
  wrap(
    handler: (req: IncomingMessage, res: ServerResponse) => void,
  ): (req: IncomingMessage, res: ServerResponse) => void;
  /** Stops re-reading bans and closes the store. */
  close(): Promise<void>;
}

/**
 * Checks the options with the config schema (errors name the key, e.g. `gate.zones[0].rate`), loads
 * the bans, and returns the middleware. Rejects with a MoatError on bad options or an unreadable
 * store.
 */
export async function createGate(options: CreateGateOptions = {}): Promise<Gate> {
  const config = parseConfig({
    ...(options.gate === undefined ? {} : { gate: options.gate }),
    ...(options.cdn === undefined ? {} : { cdn: options.cdn }),
  });
  const clock = options.clock ?? systemClock;
  const bans = createBanSet(clock);
  let store: Store | undefined;
  let storeHealthy = true;
  let timer: NodeJS.Timeout | undefined;
  if (options.stateDir !== undefined) {
    const opened = openSqliteStore(path.join(options.stateDir, 'moat.db'));
    store = opened;
    bans.replace(await opened.activeBans(clock.now()));
    const refresh = async () => {
      try {
        if (await opened.changedElsewhere()) bans.replace(await opened.activeBans(clock.now()));
        bans.sweep();
        storeHealthy = true;
      } catch {
        storeHealthy = false;
      }
    };
    timer = setInterval(() => void refresh(), Math.max(100, config.gate.bans.refresh));
    timer.unref();
  }
  const cdnRanges = await gateCdnRanges(config.gate, config.cdn);
  const policy = createGatePolicy(config.gate, {
    bans,
    storeHealthy: () => storeHealthy,
    ...(cdnRanges === undefined ? {} : { cdnRanges: cdnRanges.cidrs.map((cidr) => cidr.text) }),
  });
  const middlewareOptions: GateMiddlewareOptions = {
    clock,
    ...(options.onVerdict === undefined ? {} : { onVerdict: options.onVerdict }),
  };
  return {
    policy,
    express: () => expressGate(policy, middlewareOptions),
    fastify: () => fastifyGate(policy, middlewareOptions),
    fastifyHook: () => fastifyGateHook(policy, middlewareOptions),
    wrap: (handler) => withGate(policy, handler, middlewareOptions),
    async close() {
      if (timer !== undefined) clearInterval(timer);
      await store?.close();
    },
  };
}

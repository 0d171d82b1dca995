/**
 * `moat watch`, the daemon: sources → pipeline → decisions → store (durable first) → firewall.
 *
 * Order of effects, for "nothing lost across restarts": a decision is committed to the store before
 * the firewall is told, and a source's read position is saved only after the decisions its lines
 * produced are committed. A kill -9 at any moment therefore loses no committed ban (start-up
 * restores every active ban into the firewall) and at worst re-reads a few lines.
 * One sweep timer serves every bucket, offender and expiry; there is no timer per address.
 */
import path from 'node:path';
import type { MoatConfig, SourceConfig } from '../config/schema.ts';
import { formatDuration } from '../core/duration.ts';
import type { Clock } from '../core/clock.ts';
import type { AlertSink } from '../alerts/types.ts';
import type { Decision } from '../core/events.ts';
import { createBanSet } from '../decisions/ban-set.ts';
import { isRefusal, type Decider } from '../decisions/decider.ts';
import type { Firewall } from '../enforcement/types.ts';
import { createFileTail } from '../sources/file-tail.ts';
import { createJournaldSource } from '../sources/journald.ts';
import { readLines } from '../sources/stdin.ts';
import { openSqliteStore } from '../storage/sqlite.ts';
import type { Position, Store } from '../storage/types.ts';
import { buildDecider, buildEngine, buildParser, loadConfiguredScenarios, sourceName } from './build.ts';
import { createFirewall } from './firewall.ts';
import { createHostProtection } from './host-protection.ts';
import type { Logger } from './log.ts';
import { createPipeline, type Pipeline } from './pipeline.ts';
import type { BanOutcome, Component, ComponentFactory, DaemonServices } from './services.ts';

export interface WatchOptions {
  readonly config: MoatConfig;
  readonly stateDir: string;
  readonly logger: Logger;
  readonly clock: Clock;
  /** Injected in tests (e.g. nftables inside a namespace); default from config.firewall. */
  readonly firewall?: Firewall;
  /** Standard input, for sources with `stdin: true`. */
  readonly stdin?: AsyncIterable<Buffer | string>;
  /** Sweep period. Default 10 s. */
  readonly sweepMs?: number;
  /** Tail poll period (inotify wakes sooner). Default 250 ms. */
  readonly pollMs?: number;
  /** Read `watch.sources` (default). `moat guard` and `moat gate` run without them. */
  readonly sources?: boolean;
  /** Components hosted over the daemon's services: the guard, the gate. */
  readonly components?: readonly ComponentFactory[];
  /** Where ban and incident alerts go. Default: nowhere. */
  readonly alerts?: DaemonAlerts;
  /** TEST RIGS ONLY (see DeciderDeps): loopback addresses that stand in for outside attackers. */
  readonly testOnlyBannableLoopback?: readonly string[];
  /** How often the store is asked whether another process (`moat bans add|remove`) changed it. Default 500 ms. */
  readonly storePollMs?: number;
}

export interface WatchDaemon {
  /** Re-reads scenarios and decision policy (SIGHUP); buckets and bans survive. */
  reload(config: MoatConfig): Promise<void>;
  /** Stops reading, finishes pending bans, closes the store (SIGTERM). */
  stop(): Promise<void>;
  readonly pipeline: Pipeline;
  readonly store: Store;
  readonly firewall: Firewall;
  readonly services: DaemonServices;
}

type DaemonAlerts = AlertSink & { flush?(): Promise<void>; stop?(): Promise<void> };

const noAlerts: DaemonAlerts = { send() {} };

function hasExpire(firewall: Firewall): firewall is Firewall & { expire(nowMs?: number): Promise<unknown> } {
  return typeof (firewall as { expire?: unknown }).expire === 'function';
}

interface Stoppable {
  stop(): Promise<void>;
}

export async function startWatch(options: WatchOptions): Promise<WatchDaemon> {
  const { logger, clock } = options;
  let config = options.config;
  // Configuration problems (scenario files, names, parsers) stop start-up before anything is opened.
  const engine = buildEngine(config, clock);
  const parsers = await Promise.all(config.watch.sources.map((source) => buildParser(source, clock)));
  const store = openSqliteStore(path.join(options.stateDir, 'moat.db'));
  const firewall = options.firewall ?? createFirewall(config.firewall, logger);
  const protection = createHostProtection(config.decisions.sshPorts);
  const deciderDeps = {
    clock,
    sshSessions: () => protection.sshSessions(),
    localAddresses: () => protection.localAddresses(),
    ...(options.testOnlyBannableLoopback === undefined
      ? {}
      : { testOnlyBannableLoopback: options.testOnlyBannableLoopback }),
  };

  // Restore: every active ban goes back into the firewall in one transaction. The firewall works in
  // its own process (nft, ipset): reading the store and seeding the in-process state overlap it.
  const initialised = firewall.init();
  const restoredAt = clock.now();
  const active = await store.activeBans(restoredAt).catch(async (error: unknown) => {
    await initialised.catch(() => {});
    throw error;
  });
  await initialised;
  const restored = active.map((ban) => ({ target: ban.target, ttlMs: ban.expiresAt - restoredAt }));
  const restoring = firewall.blockMany(restored);
  restoring.catch(() => {}); // awaited below; this only keeps it from counting as unhandled meanwhile
  let decider: Decider = buildDecider(config, deciderDeps);
  for (const ban of active) decider.remember(ban);
  const alerts: DaemonAlerts = options.alerts ?? noAlerts;
  // What this daemon believes is banned (target → expiry), to tell what another process changed.
  const known = new Map<string, number>(active.map((ban) => [ban.target, ban.expiresAt]));
  const bans = createBanSet(clock);
  bans.replace(active);
  // Bans longer than the backend can hold (ipset's ≈ 24.8 days) are blocked again before they run out.
  const maxTtlMs = firewall.maxTtlMs ?? Number.POSITIVE_INFINITY;
  const reblockAt = new Map<string, number>();
  const noteBlocked = (entries: readonly { target: string; ttlMs?: number }[], now: number) => {
    for (const entry of entries) {
      if (entry.ttlMs !== undefined && entry.ttlMs > maxTtlMs) {
        reblockAt.set(entry.target, now + maxTtlMs - Math.min(3_600_000, maxTtlMs / 3));
      }
    }
  };
  noteBlocked(restored, restoredAt);
  await restoring;
  logger.log('info', 'moat watch started', {
    restoredBans: active.length,
    firewall: firewall.name,
    sources: config.watch.sources.map(sourceName),
  });

  // Decisions are enforced in order, off the parsing loop, in batches: every decision taken while
  // the previous batch was being committed goes into the next one (one store transaction, one
  // firewall transaction). `settled` is what positions wait for.
  let settled: Promise<void> = Promise.resolve();
  let pending: Decision[] = [];
  let flushScheduled = false;
  const flushPending = async () => {
    flushScheduled = false;
    const batch = pending;
    pending = [];
    if (batch.length === 0) return;
    try {
      const stored = await store.addBans(
        batch.map((decision) => ({ decision, expiresAt: decision.at + decision.durationMs })),
      );
      const now = clock.now();
      for (const ban of stored) {
        known.set(ban.target, ban.expiresAt);
        bans.add(ban.target, ban.expiresAt);
      }
      const entries = stored
        .filter((ban) => ban.expiresAt > now)
        .map((ban) => ({ target: ban.target, ttlMs: ban.expiresAt - now }));
      await firewall.blockMany(entries);
      noteBlocked(entries, now);
      for (const [i, decision] of batch.entries()) {
        const ban = stored[i];
        if (ban === undefined) continue;
        logger.log('info', 'ban', {
          target: decision.target,
          scenario: decision.scenario,
          reason: decision.reason,
          durationMs: decision.durationMs,
          expiresAt: new Date(ban.expiresAt).toISOString(),
        });
        const ip = decision.target.includes('/') ? undefined : decision.target;
        alerts.send({
          kind: 'ban',
          severity: 'warning',
          title: `Banned ${decision.target} (${decision.scenario})`,
          text: decision.reason,
          incident: ip ?? decision.target,
          ...(ip === undefined ? {} : { ip }),
          actions: [`banned ${decision.target} for ${formatDuration(decision.durationMs)}`],
          fields: { scenario: decision.scenario, target: decision.target, origin: decision.origin },
          at: decision.at,
        });
      }
    } catch (error) {
      for (const decision of batch) {
        logger.log('error', 'ban failed', { target: decision.target, error: String(error) });
      }
    }
  };
  const enforce = (decision: Decision) => {
    pending.push(decision);
    if (!flushScheduled) {
      flushScheduled = true;
      settled = settled.then(flushPending);
    }
  };

  // Through a wrapper, so that reload() can swap the decider the pipeline asks.
  const pipeline = createPipeline(
    engine,
    { decide: (overflow) => decider.decide(overflow) },
    {
      onDecision: (decision) => enforce(decision),
      onRefusal: (refusal) => {
        if (refusal.code === 'already-banned') return;
        logger.log(refusal.alert ? 'warn' : 'info', 'not banned', {
          scenario: refusal.scenario,
          code: refusal.code,
          reason: refusal.reason,
          ...(refusal.target === undefined ? {} : { target: refusal.target }),
        });
        if (refusal.alert) {
          const { overflow } = refusal;
          alerts.send({
            kind: overflow.scenario,
            severity: 'warning',
            title: overflow.reason,
            text: `${overflow.reason} (scenario ${overflow.scenario}, ${overflow.count} event${overflow.count === 1 ? '' : 's'})`,
            incident: overflow.ip ?? `${overflow.scenario}:${overflow.key}`,
            ...(overflow.ip === undefined ? {} : { ip: overflow.ip }),
            fields: { scenario: overflow.scenario, key: overflow.key },
            at: overflow.at,
          });
        }
      },
    },
  );
  const running: Stoppable[] = [];
  const onBatch = async (name: string, lines: string[], position: Position | undefined) => {
    pipeline.ingestLines(name, lines, clock.now());
    await settled;
    if (position) await store.setPosition(name, position);
  };
  if (options.sources !== false) {
    for (const [index, source] of config.watch.sources.entries()) {
      const name = sourceName(source);
      pipeline.addSource(name, parsers[index]!);
      running.push(await startSource(source, name));
    }
  }

  async function startSource(source: SourceConfig, name: string): Promise<Stoppable> {
    const stored = await store.getPosition(name);
    const onProblem = (message: string) =>
      logger.log('warn', 'source problem', { source: name, problem: message });
    if (source.path !== undefined) {
      const tail = createFileTail({
        path: source.path,
        from: source.from,
        ...(stored === undefined ? {} : { position: stored }),
        onLines: (lines, position) => onBatch(name, lines, position),
        onProblem,
        ...(options.pollMs === undefined ? {} : { pollMs: options.pollMs }),
      });
      await tail.start();
      return tail;
    }
    if (source.journal !== undefined) {
      const journal = createJournaldSource({
        ...(source.journal.unit === undefined ? {} : { unit: source.journal.unit }),
        ...(source.journal.identifier === undefined ? {} : { identifier: source.journal.identifier }),
        ...(stored === undefined ? {} : { position: stored }),
        onLines: (lines, position) => onBatch(name, lines, position),
        onProblem,
      });
      await journal.start();
      return journal;
    }
    const input = options.stdin ?? process.stdin;
    const done = readLines(input, (lines) => onBatch(name, lines, undefined));
    return { stop: async () => void (await Promise.race([done, Promise.resolve()])) };
  }

  const sweep = setInterval(() => {
    const now = clock.now();
    pipeline.engine.sweep(now, 50_000);
    decider.sweep(now);
    bans.sweep(now);
    for (const [target, until] of known) if (until <= now) known.delete(target);
    const due: { target: string; ttlMs: number }[] = [];
    for (const [target, at] of reblockAt) {
      if (at > now) continue;
      reblockAt.delete(target);
      const until = known.get(target);
      if (until !== undefined && until > now) due.push({ target, ttlMs: until - now });
    }
    if (due.length > 0) {
      noteBlocked(due, now);
      settled = settled.then(() =>
        firewall
          .blockMany(due)
          .catch((error: unknown) =>
            logger.log('warn', 'refreshing long bans failed', { error: String(error) }),
          ),
      );
    }
    // ufw has no timeouts: its backend removes expired rules when asked.
    if (hasExpire(firewall)) {
      firewall
        .expire(now)
        .catch((error: unknown) => logger.log('warn', 'expiring bans failed', { error: String(error) }));
    }
  }, options.sweepMs ?? 10_000);
  // Left ref'd on purpose: the daemon runs until stop(), and this timer is what keeps it alive.

  // Another process (`moat bans add|remove`, a second daemon) changed the store: catch up. An unban
  // also clears the decider's history and the engine's cool-down, so the next offence bans again.
  let syncing = false;
  let storeHealthy = true;
  const syncFromStore = async () => {
    if (syncing) return;
    syncing = true;
    try {
      const changed = await store.changedElsewhere();
      storeHealthy = true;
      if (!changed) return;
      await settled;
      const now = clock.now();
      const current = await store.activeBans(now);
      const seen = new Set<string>();
      const added: { target: string; ttlMs: number }[] = [];
      for (const ban of current) {
        seen.add(ban.target);
        if (known.get(ban.target) === ban.expiresAt) continue;
        known.set(ban.target, ban.expiresAt);
        bans.add(ban.target, ban.expiresAt);
        decider.remember(ban);
        added.push({ target: ban.target, ttlMs: ban.expiresAt - now });
      }
      const removed = [...known.keys()].filter((target) => !seen.has(target));
      const released: string[] = [];
      for (const target of removed) {
        const wasActive = (known.get(target) ?? 0) > now;
        known.delete(target);
        if (!wasActive) continue;
        bans.remove(target);
        reblockAt.delete(target);
        decider.forget(target);
        pipeline.engine.release(target);
        released.push(target);
      }
      // A firewall failure is logged as such: the store was read fine (storeHealthy stays true).
      try {
        for (const target of released) await firewall.release(target);
        if (added.length > 0) {
          await firewall.blockMany(added);
          noteBlocked(added, now);
        }
      } catch (error) {
        logger.log('error', 'applying ban changes to the firewall failed', { error: String(error) });
      }
      if (added.length > 0 || removed.length > 0) {
        logger.log('info', 'bans changed by another process', {
          added: added.length,
          removed: removed.length,
        });
      }
    } catch (error) {
      if (storeHealthy) logger.log('warn', 'reading ban changes failed', { error: String(error) });
      storeHealthy = false;
    } finally {
      syncing = false;
    }
  };
  const storePoll = setInterval(() => void syncFromStore(), options.storePollMs ?? 500);
  storePoll.unref();

  const services: DaemonServices = {
    logger,
    clock,
    alerts,
    bans,
    storeHealthy: () => storeHealthy,
    ingest: (event) => pipeline.ingestEvent(event),
    async ban(request): Promise<BanOutcome> {
      const result = decider.decide({
        scenario: request.scenario,
        key: request.ip,
        ip: request.ip,
        at: request.at,
        count: 1,
        sample: [],
        reason: request.reason,
        action: 'ban',
        ...(request.banMs === undefined ? {} : { banMs: request.banMs }),
      });
      if (isRefusal(result)) {
        logger.log('info', 'not banned', {
          scenario: request.scenario,
          code: result.code,
          reason: result.reason,
        });
        return { banned: false, code: result.code, reason: result.reason };
      }
      enforce(result);
      await settled;
      return { banned: true, target: result.target, durationMs: result.durationMs };
    },
  };
  const components: Component[] = [];
  try {
    for (const factory of options.components ?? []) components.push(await factory(services));
  } catch (error) {
    for (const component of components.reverse()) await component.stop();
    clearInterval(sweep);
    clearInterval(storePoll);
    for (const source of running) await source.stop();
    await store.close();
    throw error;
  }

  return {
    pipeline,
    store,
    firewall,
    services,
    async reload(next) {
      // Everything that can fail comes first, so that a bad file changes nothing anywhere.
      const scenarios = loadConfiguredScenarios(next);
      // A new policy takes effect for new decisions; ban history is seeded again from the store.
      const nextDecider = buildDecider(next, deciderDeps);
      for (const ban of await store.activeBans(clock.now())) nextDecider.remember(ban);
      // Components swap last in their own reload, once all of theirs is built.
      for (const component of components) await component.reload?.(next);
      pipeline.engine.reload(scenarios);
      config = next;
      decider = nextDecider;
      logger.log('info', 'configuration reloaded', { scenarios: pipeline.engine.scenarios.length });
    },
    async stop() {
      clearInterval(sweep);
      clearInterval(storePoll);
      for (const component of [...components].reverse()) await component.stop();
      for (const source of running) await source.stop();
      await settled;
      await alerts.flush?.();
      await alerts.stop?.();
      await store.close();
      logger.log('info', 'moat watch stopped', { ...pipeline.stats() });
    },
  };
}

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
import type { Clock } from '../core/clock.ts';
import type { Decision } from '../core/events.ts';
import type { Decider } from '../decisions/decider.ts';
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
}

export interface WatchDaemon {
  /** Re-reads scenarios and decision policy (SIGHUP); buckets and bans survive. */
  reload(config: MoatConfig): Promise<void>;
  /** Stops reading, finishes pending bans, closes the store (SIGTERM). */
  stop(): Promise<void>;
  readonly pipeline: Pipeline;
  readonly store: Store;
  readonly firewall: Firewall;
}

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
  };

  // Restore: every active ban goes back into the firewall in one transaction.
  await firewall.init();
  const restoredAt = clock.now();
  const active = await store.activeBans(restoredAt);
  await firewall.blockMany(active.map((ban) => ({ target: ban.target, ttlMs: ban.expiresAt - restoredAt })));
  let decider: Decider = buildDecider(config, deciderDeps);
  for (const ban of active) decider.remember(ban);
  logger.log('info', 'moat watch started', {
    restoredBans: active.length,
    firewall: firewall.name,
    sources: config.watch.sources.map(sourceName),
  });

  // Decisions are enforced in order, off the parsing loop; `settled` is what positions wait for.
  let settled: Promise<void> = Promise.resolve();
  const enforce = (decision: Decision) => {
    settled = settled.then(async () => {
      try {
        const ban = await store.addBan(decision, decision.at + decision.durationMs);
        const ttlMs = ban.expiresAt - clock.now();
        if (ttlMs > 0) await firewall.block(decision.target, ttlMs);
        logger.log('info', 'ban', {
          target: decision.target,
          scenario: decision.scenario,
          reason: decision.reason,
          durationMs: decision.durationMs,
          expiresAt: new Date(ban.expiresAt).toISOString(),
        });
      } catch (error) {
        logger.log('error', 'ban failed', { target: decision.target, error: String(error) });
      }
    });
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
      },
    },
  );
  const running: Stoppable[] = [];
  const onBatch = async (name: string, lines: string[], position: Position | undefined) => {
    pipeline.ingestLines(name, lines, clock.now());
    await settled;
    if (position) await store.setPosition(name, position);
  };
  for (const [index, source] of config.watch.sources.entries()) {
    const name = sourceName(source);
    pipeline.addSource(name, parsers[index]!);
    running.push(await startSource(source, name));
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
    // ufw has no timeouts: its backend removes expired rules when asked.
    if (hasExpire(firewall)) {
      firewall
        .expire(now)
        .catch((error: unknown) => logger.log('warn', 'expiring bans failed', { error: String(error) }));
    }
  }, options.sweepMs ?? 10_000);
  // Left ref'd on purpose: the daemon runs until stop(), and this timer is what keeps it alive.

  return {
    pipeline,
    store,
    firewall,
    async reload(next) {
      pipeline.engine.reload(loadConfiguredScenarios(next));
      config = next;
      // A new policy takes effect for new decisions; ban history is seeded again from the store.
      decider = buildDecider(config, deciderDeps);
      for (const ban of await store.activeBans(clock.now())) decider.remember(ban);
      logger.log('info', 'configuration reloaded', { scenarios: pipeline.engine.scenarios.length });
    },
    async stop() {
      clearInterval(sweep);
      for (const source of running) await source.stop();
      await settled;
      await store.close();
      logger.log('info', 'moat watch stopped', { ...pipeline.stats() });
    },
  };
}

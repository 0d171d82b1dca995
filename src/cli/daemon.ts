/**
 * The daemon's composition root, shared by `moat watch`, `moat guard` and `moat gate`: alerts from
 * config, the components the command asks for, the one engine/decision/enforcement path
 * (startWatch), and signals — SIGHUP reloads, SIGTERM/SIGINT drain and stop.
 *
 *  - `moat watch` runs the log sources and every configured component (guard, gate);
 *  - `moat guard` and `moat gate` run just theirs (flags composed over the config file).
 */
import { loadConfig } from '../config/load.ts';
import type { MoatConfig } from '../config/schema.ts';
import { systemClock } from '../core/clock.ts';
import { createJsonLogger, type Logger } from '../daemon/log.ts';
import type { ComponentFactory } from '../daemon/services.ts';
import type { GateServer } from '../gate/server.ts';
import { guardConfigured } from '../guard/configured.ts';
import type { CliContext } from './context.ts';

export interface DaemonPlan {
  /** Read `watch.sources`. */
  readonly sources: boolean;
  /** Host the guard (when its section has something to watch). */
  readonly guard: boolean;
  /** Host the gate (when it has an upstream or routes). */
  readonly gate: boolean;
}

export interface DaemonRun {
  readonly configPath: string | undefined;
  /** Turns the config file (read again on SIGHUP) into the running config: flags composed over it. */
  readonly compose?: (fileConfig: MoatConfig) => MoatConfig;
  readonly stateDir?: string;
  readonly plan: DaemonPlan;
}

/** Whether a gate section has somewhere to send requests. */
export function gateConfigured(config: MoatConfig): boolean {
  return config.gate.upstream !== undefined || config.gate.routes.length > 0;
}

/** Runs the daemon in the foreground until SIGTERM/SIGINT. */
export async function runDaemon(context: CliContext, run: DaemonRun): Promise<void> {
  const compose = run.compose ?? ((config: MoatConfig) => config);
  const config = compose((await loadConfig(run.configPath)).config);
  const logger = createJsonLogger(context.stdout);
  // The daemon's parts load here, and only those configured: `moat audit` never pays for them, and
  // a restart with no gate, guard or notifier does not load the proxy, ioredis or nodemailer.
  const { startWatch } = await import('../daemon/watch.ts');
  const alerts =
    config.alerts.notifiers.length === 0
      ? undefined
      : (await import('../alerts/index.ts')).createAlerts(config.alerts, { logger, clock: systemClock });
  let gateServer: GateServer | undefined;
  const components: ComponentFactory[] = [];
  if (run.plan.guard && guardConfigured(config.guard)) {
    const { guardComponent } = await import('../guard/component.ts');
    components.push(guardComponent(config.guard));
  }
  if (run.plan.gate && gateConfigured(config)) {
    const { gateComponent } = await import('../gate/component.ts');
    components.push(gateComponent(config.gate, config.cdn, { onStart: (server) => (gateServer = server) }));
  }
  const daemon = await startWatch({
    config,
    stateDir: run.stateDir ?? config.stateDir,
    logger,
    clock: systemClock,
    sources: run.plan.sources,
    components,
    ...(alerts === undefined ? {} : { alerts }),
    // The gate promises to follow bans made elsewhere at its own pace (gate.bans.refresh).
    ...(components.length > 0 && run.plan.gate && gateConfigured(config)
      ? { storePollMs: config.gate.bans.refresh }
      : {}),
  });
  await untilStopped(logger, {
    hup: async () => {
      // Scenarios, the decision policy and the gate's policy, routes and certificate reload in place;
      // the gate's access log is reopened (rotation). Listeners, Redis instances and notifiers keep
      // their start-up settings until a restart.
      await gateServer?.reopenAccessLog();
      await daemon.reload(compose((await loadConfig(run.configPath)).config));
    },
    stop: () => daemon.stop(),
  });
}

async function untilStopped(
  logger: Logger,
  handlers: { hup(): Promise<void>; stop(): Promise<void> },
): Promise<void> {
  await new Promise<void>((resolve) => {
    const onHup = () => {
      handlers.hup().catch((error: unknown) =>
        logger.log('error', 'reload failed; the previous configuration stays in force', {
          error: error instanceof Error ? error.message : String(error),
        }),
      );
    };
    const onStop = (signal: string) => {
      logger.log('info', 'stopping', { signal });
      process.off('SIGHUP', onHup);
      handlers.stop().then(resolve, resolve);
    };
    process.on('SIGHUP', onHup);
    process.once('SIGTERM', () => onStop('SIGTERM'));
    process.once('SIGINT', () => onStop('SIGINT'));
  });
}

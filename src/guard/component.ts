/**
 * The guard as a daemon component: a Redis watchdog per configured instance plus the service and
 * host checks, all over the daemon's services (one engine, one decision path, one alert queue).
 *
 *   await startWatch({ config, stateDir, logger, clock, sources: false,
 *                      components: [guardComponent(config.guard)] });
 */
import type { GuardConfig } from '../config/guard.ts';
import type { Component, ComponentFactory, DaemonServices } from '../daemon/services.ts';
import { createCheckRunner, type CheckRunner, type CheckRunnerOptions } from './checks.ts';
import { createRedisWatchdog, type RedisWatchdog } from './redis-watchdog.ts';

export interface GuardComponent extends Component {
  readonly redis: readonly RedisWatchdog[];
  readonly checks: CheckRunner;
}

export interface GuardOptions {
  /** Test seams for the host checks (fixture /proc files, statfs). */
  readonly system?: Pick<CheckRunnerOptions, 'readProc' | 'statfs'>;
}

export { guardConfigured } from './configured.ts';

export function guardComponent(config: GuardConfig, options: GuardOptions = {}): ComponentFactory {
  return async (services: DaemonServices): Promise<GuardComponent> => {
    // Config problems (unreadable password or CA files) throw here, before anything runs.
    const redis = config.redis.map((instance) =>
      createRedisWatchdog({ instance, intervalMs: instance.interval ?? config.interval, services }),
    );
    const checks = createCheckRunner(
      { checks: config.checks, system: config.system, ...options.system },
      services,
    );
    await Promise.all(redis.map((watchdog) => watchdog.start()));
    checks.start();
    services.logger.log('info', 'moat guard started', {
      redis: redis.map((w) => w.name),
      checks: config.checks.map((c) => c.name),
      system: [
        ...(config.system.cpu === undefined ? [] : ['cpu']),
        ...(config.system.memory === undefined ? [] : ['memory']),
        ...config.system.disks.map((d) => `disk:${d.path}`),
      ],
    });
    return {
      name: 'guard',
      redis,
      checks,
      async stop() {
        await checks.stop();
        await Promise.all(redis.map((watchdog) => watchdog.stop()));
        services.logger.log('info', 'moat guard stopped', {});
      },
    };
  };
}

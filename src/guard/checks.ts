/**
 * Runs the service checks (HTTP(S), TCP) and the host checks (CPU, memory, disks) on their
 * intervals, and reports transitions only: one `check-down` when a check goes bad, one `check-up`
 * when it recovers (hysteresis in hysteresis.ts). Each transition becomes a ParsedEvent for the
 * engine, a log line and an alert with incident `check:<name>` (so down and up group together).
 * One timer per configured check, none per sample.
 */
import { readFileSync, statfsSync } from 'node:fs';
import type { Alert } from '../alerts/types.ts';
import type { CheckConfig, SystemConfig } from '../config/guard.ts';
import type { ParsedEvent } from '../core/events.ts';
import type { DaemonServices } from '../daemon/services.ts';
import { createStreak, createThreshold, type Transition } from './hysteresis.ts';
import { type CheckResult, loadCheckCa, runHttpCheck, runTcpCheck } from './service-checks.ts';
import { createCpuWindow, diskUsedPercent, parseMeminfo, parseProcStat } from './system.ts';

export interface CheckTransition {
  /** `api`, `cpu`, `memory`, `disk:/var`. */
  readonly check: string;
  readonly transition: Transition;
  /** What was seen, one line. */
  readonly reason: string;
  readonly at: number;
  /** When it went down (for an `up`: how long it was down). */
  readonly downSince?: number;
  readonly fields?: Readonly<Record<string, string>>;
}

function formatDuration(ms: number): string {
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

export function checkEvent(t: CheckTransition): ParsedEvent {
  return {
    at: t.at,
    source: `guard:check:${t.check}`,
    service: 'guard',
    kind: t.transition === 'down' ? 'check-down' : 'check-up',
    fields: { check: t.check, reason: t.reason, ...t.fields },
  };
}

export function checkAlert(t: CheckTransition): Alert {
  const down = t.transition === 'down';
  const lasted =
    !down && t.downSince !== undefined ? ` (down for ${formatDuration(t.at - t.downSince)})` : '';
  return {
    kind: down ? 'check-down' : 'check-up',
    severity: down ? 'critical' : 'info',
    title: down ? `${t.check} is down: ${t.reason}` : `${t.check} is up again${lasted}`,
    text: down
      ? `Seen: ${t.reason}\nDone: nothing (moat only reports checks); another alert follows when it recovers.`
      : `Seen: ${t.reason}${lasted}`,
    incident: `check:${t.check}`,
    fields: { check: t.check, ...t.fields },
    at: t.at,
  };
}

export interface CheckRunnerOptions {
  readonly checks: readonly CheckConfig[];
  readonly system: SystemConfig;
  /** Reads /proc files (tests pass fixtures); default the real /proc. */
  readonly readProc?: (file: 'stat' | 'meminfo') => string;
  readonly statfs?: (path: string) => { blocks: number; bfree: number; bavail: number };
}

export interface CheckRunner {
  start(): void;
  stop(): Promise<void>;
  /** Runs every check once now (tests, `--once`); resolves when all are done. */
  runAll(): Promise<void>;
  /** Transitions so far (most recent last, capped). */
  readonly transitions: readonly CheckTransition[];
}

type Services = Pick<DaemonServices, 'ingest' | 'alerts' | 'logger' | 'clock'>;

export function createCheckRunner(options: CheckRunnerOptions, services: Services): CheckRunner {
  const { clock, logger } = services;
  const readProc = options.readProc ?? ((file) => readFileSync(`/proc/${file}`, 'utf8'));
  const statfs = options.statfs ?? ((path: string) => statfsSync(path));
  const transitions: CheckTransition[] = [];
  const downSince = new Map<string, number>();
  const timers = new Set<NodeJS.Timeout>();
  const running = new Set<Promise<void>>();
  let stopped = true;

  function report(
    check: string,
    transition: Transition | undefined,
    reason: string,
    fields?: Record<string, string>,
  ) {
    if (transition === undefined) return;
    const at = clock.now();
    const since = downSince.get(check);
    const t: CheckTransition = {
      check,
      transition,
      reason,
      at,
      ...(transition === 'up' && since !== undefined ? { downSince: since } : {}),
      ...(fields === undefined ? {} : { fields }),
    };
    if (transition === 'down') downSince.set(check, at);
    else downSince.delete(check);
    transitions.push(t);
    if (transitions.length > 1000) transitions.shift();
    logger.log(transition === 'down' ? 'warn' : 'info', `check ${transition}`, { check, reason, ...fields });
    services.ingest(checkEvent(t));
    services.alerts.send(checkAlert(t));
  }

  const serviceRuns = options.checks.map((check) => {
    const ca = loadCheckCa(check);
    const streak = createStreak(check.failAfter, check.recoverAfter);
    let last: CheckResult | undefined;
    return {
      intervalMs: check.interval,
      async run() {
        const result =
          check.http !== undefined ? await runHttpCheck(check, ca, clock.now()) : await runTcpCheck(check);
        last = result;
        const transition = streak.update(result.ok);
        report(check.name, transition, result.reason, {
          target: check.http ?? check.tcp ?? '',
          latencyMs: String(result.latencyMs),
          ...(result.status === undefined ? {} : { status: String(result.status) }),
          ...(result.certDaysLeft === undefined ? {} : { certDaysLeft: String(result.certDaysLeft) }),
        });
      },
      get last() {
        return last;
      },
    };
  });

  const system = options.system;
  const cpuWindow = system.cpu === undefined ? undefined : createCpuWindow(system.cpu.window);
  const cpuThreshold =
    system.cpu === undefined ? undefined : createThreshold(system.cpu.alertAbove, system.cpu.recoverBelow);
  const memoryThreshold =
    system.memory === undefined
      ? undefined
      : createThreshold(system.memory.alertAbove, system.memory.recoverBelow);
  const disks = system.disks.map((disk) => ({
    ...disk,
    threshold: createThreshold(disk.alertAbove, disk.recoverBelow),
  }));
  const readFailures = new Set<string>();
  const safely = <T>(what: string, read: () => T): T | undefined => {
    try {
      const value = read();
      readFailures.delete(what);
      return value;
    } catch (error) {
      if (!readFailures.has(what))
        logger.log('warn', 'check cannot read', { check: what, error: String(error) });
      readFailures.add(what);
      return undefined;
    }
  };

  async function runSystem(): Promise<void> {
    const at = clock.now();
    if (cpuWindow !== undefined && cpuThreshold !== undefined && system.cpu !== undefined) {
      const times = safely('cpu', () => parseProcStat(readProc('stat')));
      const percent = times === undefined ? undefined : cpuWindow.add(at, times);
      if (percent !== undefined) {
        const windowText = formatDuration(system.cpu.window);
        report(
          'cpu',
          cpuThreshold.update(percent),
          `CPU ${percent.toFixed(0)} % busy over the last ${windowText} (alert at ${system.cpu.alertAbove} %, recovers below ${system.cpu.recoverBelow} %)`,
          { percent: percent.toFixed(1) },
        );
      }
    }
    if (memoryThreshold !== undefined && system.memory !== undefined) {
      const percent = safely('memory', () => parseMeminfo(readProc('meminfo')));
      if (percent !== undefined) {
        report(
          'memory',
          memoryThreshold.update(percent),
          `memory ${percent.toFixed(0)} % in use (alert at ${system.memory.alertAbove} %, recovers below ${system.memory.recoverBelow} %)`,
          { percent: percent.toFixed(1) },
        );
      }
    }
    for (const disk of disks) {
      const name = `disk:${disk.path}`;
      const percent = safely(name, () => diskUsedPercent(statfs(disk.path)));
      if (percent !== undefined) {
        report(
          name,
          disk.threshold.update(percent),
          `${disk.path}: ${percent.toFixed(1)} % of the space used (alert at ${disk.alertAbove} %, recovers below ${disk.recoverBelow} %)`,
          { path: disk.path, percent: percent.toFixed(1) },
        );
      }
    }
  }

  const hasSystem = cpuWindow !== undefined || memoryThreshold !== undefined || disks.length > 0;
  const loops: { intervalMs: number; run: () => Promise<void> }[] = [
    ...serviceRuns,
    ...(hasSystem ? [{ intervalMs: system.interval, run: runSystem }] : []),
  ];

  const track = (promise: Promise<void>) => {
    const tracked = promise.catch((error: unknown) =>
      logger.log('error', 'check failed to run', { error: String(error) }),
    );
    running.add(tracked);
    void tracked.finally(() => running.delete(tracked));
    return tracked;
  };

  function schedule(loop: (typeof loops)[number], delayMs: number): void {
    if (stopped) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      const startedAt = clock.now();
      void track(loop.run()).then(() =>
        schedule(loop, Math.max(0, loop.intervalMs - (clock.now() - startedAt))),
      );
    }, delayMs);
    timers.add(timer);
  }

  return {
    start() {
      if (!stopped) return;
      stopped = false;
      for (const loop of loops) schedule(loop, 0);
    },
    async stop() {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await Promise.all(running);
    },
    async runAll() {
      await Promise.all(loops.map((loop) => track(loop.run())));
    },
    get transitions() {
      return transitions;
    },
  };
}

/**
 * Alerts, assembled: the notifiers from config, the queue in front of them and the one timer that
 * drives it. `createAlerts()` is what the daemon hosts; `send()` is what detection calls.
 */
import { hostname } from 'node:os';
import type { AlertsConfig } from '../config/alerts.ts';
import { type Clock, systemClock } from '../core/clock.ts';
import type { Logger } from '../daemon/log.ts';
import { type ConfiguredNotifier, createNotifier } from './notifiers.ts';
import { type AlertStats, createAlertQueue } from './queue.ts';
import type { Alert, AlertMessage, AlertSink } from './types.ts';

export type { AlertStats, NotifierStats } from './queue.ts';
export type { ConfiguredNotifier } from './notifiers.ts';

export interface NotifierTestResult {
  readonly name: string;
  readonly type: string;
  /** Scheme, host and port it delivered to (never a path or token). */
  readonly endpoint: string;
  readonly ok: boolean;
  /** Why it failed, scrubbed of secrets. */
  readonly error?: string;
}

export interface Alerts extends AlertSink {
  readonly notifiers: readonly ConfiguredNotifier[];
  /** Closes every open incident and tries every waiting message now; resolves when done. */
  flush(): Promise<void>;
  /** Stops the timer, delivers what is pending (rate limit ignored), then refuses new alerts. */
  stop(): Promise<void>;
  /** Sends a test message straight to each notifier (no queue, no rate limit, no severity filter). */
  test(): Promise<NotifierTestResult[]>;
  stats(): AlertStats;
}

export interface AlertsDeps {
  readonly logger: Logger;
  readonly clock?: Clock;
  /** Shown in messages. Default: os.hostname(). */
  readonly host?: string;
  /** The timer never sleeps longer than this (tests with a manual clock use a few ms). Default 1000. */
  readonly maxTickMs?: number;
  /** Jitter source for retry backoff. Default Math.random. */
  readonly random?: () => number;
}

export function createAlerts(config: AlertsConfig, deps: AlertsDeps): Alerts {
  const clock = deps.clock ?? systemClock;
  const host = deps.host ?? hostname();
  const maxTickMs = deps.maxTickMs ?? 1000;
  const notifiers = config.notifiers.map((notifier, index) =>
    createNotifier(notifier, { logger: deps.logger, host, where: `alerts.notifiers[${index}]` }),
  );
  const queue = createAlertQueue(
    notifiers,
    {
      groupWindowMs: config.groupWindow,
      dedupeWindowMs: config.dedupeWindow,
      banSummaryThreshold: config.banSummaryThreshold,
      maxPerMinute: config.maxPerMinute,
      retry: {
        attempts: config.retry.attempts,
        initialDelayMs: config.retry.initialDelay,
        maxDelayMs: config.retry.maxDelay,
      },
      maxPending: config.maxPending,
    },
    { logger: deps.logger, clock, ...(deps.random === undefined ? {} : { random: deps.random }) },
  );
  if (notifiers.length > 0) {
    deps.logger.log('info', 'alerts ready', {
      notifiers: notifiers.map((n) => ({ name: n.name, type: n.type, endpoint: n.endpoint })),
    });
  }

  // The one timer of the queue: armed for the earliest thing due, never longer than maxTickMs.
  let timer: NodeJS.Timeout | undefined;
  let timerAt = Infinity;
  let stopped = false;
  const clear = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    timerAt = Infinity;
  };
  const armFor = (due: number) => {
    const now = clock.now();
    // The armed timer fires in time: keep it (send() calls this for every alert).
    if (timer !== undefined && timerAt <= Math.max(due, now + 5)) return;
    const delay = Math.min(Math.max(due - now, 5), maxTickMs);
    clear();
    timerAt = now + delay;
    timer = setTimeout(onTimer, delay);
    timer.unref();
  };
  const arm = () => {
    if (stopped) return;
    const due = queue.nextDueAt();
    if (due !== undefined) armFor(due);
  };
  const onTimer = () => {
    timer = undefined;
    timerAt = Infinity;
    try {
      queue.tick();
    } catch (error) {
      // A bug here must not take the daemon down with it; the next tick tries again.
      deps.logger.log('error', 'alert queue tick failed', {
        error: error instanceof Error ? error.message : String(error),
      });
    }
    arm();
  };
  queue.onSettled = arm;

  return {
    notifiers,
    send(alert: Alert) {
      if (notifiers.length === 0 || stopped) return;
      queue.send(alert);
      // A new incident is due one window from now; an earlier timer covers it already.
      armFor(clock.now() + config.groupWindow);
    },
    async flush() {
      await queue.flush(false);
      arm();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      clear();
      await queue.flush(true);
    },
    async test() {
      const at = clock.now();
      return Promise.all(
        notifiers.map(async (notifier): Promise<NotifierTestResult> => {
          const result = { name: notifier.name, type: notifier.type, endpoint: notifier.endpoint };
          try {
            await notifier.deliver(testMessage(notifier, host, at));
            return { ...result, ok: true };
          } catch (error) {
            const reason = notifier.redactor.redact(error instanceof Error ? error.message : String(error));
            return { ...result, ok: false, error: reason };
          }
        }),
      );
    },
    stats: () => queue.stats(),
  };
}

function testMessage(notifier: ConfiguredNotifier, host: string, at: number): AlertMessage {
  const title = 'Test message from moat';
  const text =
    `This is a test of the ${notifier.type} notifier "${notifier.name}" on ${host}, sent by \`moat alerts test\`. ` +
    'Nothing happened; if you can read this, alerts will reach you here.';
  const alert: Alert = { kind: 'test', severity: 'info', title, text, incident: 'test', at };
  return { severity: 'info', title, text, alerts: [alert], at };
}

export { webhookFromUrl } from './quick-start.ts';

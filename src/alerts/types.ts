/**
 * Alerts: what moat tells a human, and the notifiers that carry it. Detection and responses hand an
 * Alert to an AlertSink and go on; queueing, grouping, retries and rate limits happen behind it,
 * off the detection path.
 */

export type AlertSeverity = 'info' | 'warning' | 'critical';

/** One thing worth telling someone about. */
export interface Alert {
  /** What kind of thing happened: `ban`, `redis-hijack`, `redis-dir-changed`, `check-down`, `check-up`, `test`, … */
  readonly kind: string;
  readonly severity: AlertSeverity;
  /** One line, e.g. `Redis cache hijacked: REPLICAOF 203.0.113.9:24798 from 198.51.100.7`. */
  readonly title: string;
  /** What was seen, who did it, what was done; plain text, a few lines. */
  readonly text: string;
  /**
   * Alerts with the same incident key within the grouping window are one incident: one message.
   * Use the attacker's address when it is known (so a Redis log line, the watchdog and the ban of
   * the same attacker make one alert), else `<subject>:<kind>` (e.g. `redis:cache:role`).
   */
  readonly incident: string;
  /** The address that did it, when known. */
  readonly ip?: string;
  /** What moat did about it: `banned 198.51.100.7 for 4h`, `REPLICAOF NO ONE`, … */
  readonly actions?: readonly string[];
  /** Structured details (no secrets): instance, scenario, observed values. */
  readonly fields?: Readonly<Record<string, string | number | boolean>>;
  /** ms since epoch. */
  readonly at: number;
}

/** Where alerts are handed over. Never throws, never blocks: delivery happens later. */
export interface AlertSink {
  send(alert: Alert): void;
}

/** One delivery channel (webhook, Slack, Discord, Telegram, email). */
export interface Notifier {
  /** The name from config, for logs and `moat alerts test`. */
  readonly name: string;
  /** `webhook`, `slack`, `discord`, `telegram`, `email`. */
  readonly type: string;
  /**
   * Delivers one message (an alert, or a summary of several). Rejects on failure so the queue can
   * retry; the error message must not contain secrets (tokens, passwords, signing keys).
   */
  deliver(message: AlertMessage): Promise<void>;
}

/** What a notifier delivers: one incident's alert, or a summary of many grouped alerts. */
export interface AlertMessage {
  readonly severity: AlertSeverity;
  readonly title: string;
  readonly text: string;
  /** The alerts it carries (one for a single incident; many for a summary). */
  readonly alerts: readonly Alert[];
  readonly at: number;
}

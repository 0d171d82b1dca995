/**
 * The alert queue: off the detection path, between `send()` and the notifiers.
 *
 *  send(alert) ──▶ incident groups (grouping window) ──▶ dedupe ──▶ messages ──▶ one lane per notifier
 *                                                      └ many bans ──▶ one summary   (severity filter,
 *                                                                                    rate limit → fold,
 *                                                                                    retry with backoff)
 *
 * Pure of timers: the owner calls `tick()` (one timer for the whole queue, see index.ts) and asks
 * `nextDueAt()` when to call it again. Time comes from the injected clock. Memory is bounded: pending
 * alerts, alerts per incident, remembered incidents, lane outboxes and held-back alerts all have caps,
 * and whatever a cap turns away is counted.
 */
import type { Clock } from '../core/clock.ts';
import type { Logger } from '../daemon/log.ts';
import { DeliveryError } from './http.ts';
import {
  banSummaryMessage,
  heldBackMessage,
  incidentMessage,
  maxSeverity,
  SEVERITY_RANK,
} from './messages.ts';
import type { Alert, AlertMessage, AlertSeverity, Notifier } from './types.ts';

export interface QueueOptions {
  readonly groupWindowMs: number;
  readonly dedupeWindowMs: number;
  /** More ban incidents than this closing together become one summary. */
  readonly banSummaryThreshold: number;
  /** Default messages per minute per notifier. */
  readonly maxPerMinute: number;
  readonly retry: { readonly attempts: number; readonly initialDelayMs: number; readonly maxDelayMs: number };
  /** Cap on alerts waiting in open incidents (and on each notifier's outbox). */
  readonly maxPending: number;
  /** Alerts kept per incident; more are counted. Default 50. */
  readonly maxAlertsPerIncident?: number;
  /** Incidents remembered for the dedupe window (least recently sent forgotten first). Default 10 000. */
  readonly maxIncidents?: number;
  /** Alerts kept for a rate-limit summary; more are counted. Default 200. */
  readonly maxHeldBack?: number;
}

export interface QueueNotifier extends Notifier {
  readonly minSeverity?: AlertSeverity;
  readonly maxPerMinute?: number | undefined;
  /** Where it delivers, safe to log. */
  readonly endpoint?: string;
}

export interface NotifierStats {
  readonly name: string;
  readonly type: string;
  /** Messages delivered. */
  readonly sent: number;
  /** Failed attempts (each retry counts). */
  readonly failures: number;
  /** Messages given up on after their last attempt (or refused for good). */
  readonly dropped: number;
  /** Alerts the rate limit (or a full outbox) folded into a summary. */
  readonly heldBack: number;
  /** Messages waiting for this notifier. */
  readonly waiting: number;
}

export interface AlertStats {
  /** Alerts handed to send(). */
  readonly received: number;
  /** Alerts that joined an incident already open (merged into its message). */
  readonly grouped: number;
  /** Repeats of an incident already sent within the dedupe window. */
  readonly suppressed: number;
  /** Ban summaries made. */
  readonly banSummaries: number;
  /** Alerts turned away because the queue was full (or stopped). */
  readonly dropped: number;
  /** Alerts waiting in open incidents. */
  readonly pending: number;
  readonly notifiers: readonly NotifierStats[];
}

export interface AlertQueue {
  /** Never throws, never waits. */
  send(alert: Alert): void;
  /** Closes due incidents and starts due deliveries; returns at once (deliveries run on). */
  tick(): void;
  /** When tick() next has something to do (clock ms), or undefined when idle. */
  nextDueAt(): number | undefined;
  /**
   * Closes every open incident now and tries the waiting messages of each notifier in order, once,
   * ignoring backoff (not the rate limit), until one fails; resolves when those attempts are over.
   * With `final` (shutdown), the rate limit is ignored too, held-back alerts go out as their summary,
   * new alerts are refused, and whatever could not be delivered is logged and counted as dropped.
   */
  flush(final?: boolean): Promise<void>;
  /** Called whenever a delivery finishes (the owner re-arms its timer). */
  onSettled?: () => void;
  stats(): AlertStats;
}

interface Group {
  readonly incident: string;
  readonly openedAt: number;
  readonly alerts: Alert[];
  more: number;
  readonly suppressedBefore: number;
}

interface SentRecord {
  at: number;
  rank: number;
  suppressed: number;
}

interface Delivery {
  readonly message: AlertMessage;
  attempts: number;
  nextAt: number;
}

interface Lane {
  readonly notifier: QueueNotifier;
  readonly minRank: number;
  readonly maxPerMinute: number;
  readonly outbox: Delivery[];
  /** Start times of attempts in the last minute (at most maxPerMinute of them). */
  readonly recent: number[];
  readonly heldBack: Alert[];
  heldBackCount: number;
  inFlight: Promise<void> | undefined;
  sent: number;
  failures: number;
  dropped: number;
  heldBackTotal: number;
}

const MINUTE_MS = 60_000;

function isBan(alert: Alert): boolean {
  return alert.kind === 'ban';
}

const isText = (value: unknown): value is string => typeof value === 'string';

/**
 * The alert as the queue keeps it: a copy with every field of the right type, so that a malformed
 * alert from a component costs a default value, never a crash inside the timer later.
 */
function normalize(alert: unknown, now: number): Alert | undefined {
  if (alert === null || typeof alert !== 'object') return undefined;
  const a = alert as Record<string, unknown>;
  const kind = isText(a['kind']) && a['kind'] !== '' ? a['kind'] : 'alert';
  const severity =
    isText(a['severity']) && a['severity'] in SEVERITY_RANK ? (a['severity'] as AlertSeverity) : 'warning';
  const fields: Record<string, string | number | boolean> = {};
  if (a['fields'] !== null && typeof a['fields'] === 'object') {
    for (const [key, value] of Object.entries(a['fields'] as object)) {
      if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
        fields[key] = value;
    }
  }
  const actions = Array.isArray(a['actions']) ? a['actions'].filter(isText) : [];
  return {
    kind,
    severity,
    title: isText(a['title']) && a['title'] !== '' ? a['title'] : kind,
    text: isText(a['text']) ? a['text'] : '',
    incident: isText(a['incident']) && a['incident'] !== '' ? a['incident'] : kind,
    ...(isText(a['ip']) ? { ip: a['ip'] } : {}),
    ...(actions.length > 0 ? { actions } : {}),
    ...(Object.keys(fields).length > 0 ? { fields } : {}),
    at: typeof a['at'] === 'number' && Number.isFinite(a['at']) ? a['at'] : now,
  };
}

export function createAlertQueue(
  notifiers: readonly QueueNotifier[],
  options: QueueOptions,
  deps: { logger: Logger; clock: Clock; random?: () => number },
): AlertQueue {
  const { logger, clock } = deps;
  const random = deps.random ?? Math.random;
  const maxPerIncident = options.maxAlertsPerIncident ?? 50;
  const maxIncidents = options.maxIncidents ?? 10_000;
  const maxHeldBack = options.maxHeldBack ?? 200;

  const groups = new Map<string, Group>();
  const sentRecords = new Map<string, SentRecord>();
  let banHold: Group[] = [];
  let banHoldSince = 0;
  let pending = 0;
  const counters = { received: 0, grouped: 0, suppressed: 0, banSummaries: 0, dropped: 0 };
  let stopped = false;
  let lastDropLogAt = -Infinity;
  let droppedSinceLog = 0;

  const lanes: Lane[] = notifiers.map((notifier) => ({
    notifier,
    minRank: SEVERITY_RANK[notifier.minSeverity ?? 'info'],
    maxPerMinute: notifier.maxPerMinute ?? options.maxPerMinute,
    outbox: [],
    recent: [],
    heldBack: [],
    heldBackCount: 0,
    inFlight: undefined,
    sent: 0,
    failures: 0,
    dropped: 0,
    heldBackTotal: 0,
  }));

  const notifierFields = (lane: Lane) => ({
    notifier: lane.notifier.name,
    type: lane.notifier.type,
    ...(lane.notifier.endpoint === undefined ? {} : { endpoint: lane.notifier.endpoint }),
  });

  const drop = (now: number, why: string) => {
    counters.dropped++;
    droppedSinceLog++;
    // One log line per minute at most: a flood must not turn into a flood of log lines.
    if (now - lastDropLogAt >= MINUTE_MS) {
      logger.log('warn', 'alert not queued', {
        reason: why,
        count: droppedSinceLog,
        maxPending: options.maxPending,
      });
      lastDropLogAt = now;
      droppedSinceLog = 0;
    }
  };

  const remember = (incident: string, record: SentRecord) => {
    sentRecords.delete(incident);
    sentRecords.set(incident, record);
    if (sentRecords.size > maxIncidents) {
      const oldest = sentRecords.keys().next().value;
      if (oldest !== undefined) sentRecords.delete(oldest);
    }
  };

  const send = (given: Alert) => {
    const now = clock.now();
    counters.received++;
    if (stopped) return drop(now, 'stopped');
    const alert = normalize(given, now);
    if (alert === undefined) {
      counters.dropped++;
      logger.log('error', 'alert rejected: not an alert object', { got: typeof given });
      return;
    }
    const incident = alert.incident;
    const open = groups.get(incident);
    if (open !== undefined) {
      counters.grouped++;
      if (open.alerts.length < maxPerIncident) {
        if (pending >= options.maxPending) return drop(now, 'queue full');
        open.alerts.push(alert);
        pending++;
      } else {
        open.more++;
      }
      return;
    }
    const record = sentRecords.get(incident);
    let suppressedBefore = 0;
    if (record !== undefined) {
      const recent = now - record.at < options.dedupeWindowMs;
      if (recent && SEVERITY_RANK[alert.severity] <= record.rank) {
        record.suppressed++;
        counters.suppressed++;
        return;
      }
      suppressedBefore = record.suppressed;
      sentRecords.delete(incident);
    }
    if (pending >= options.maxPending) return drop(now, 'queue full');
    groups.set(incident, { incident, openedAt: now, alerts: [alert], more: 0, suppressedBefore });
    pending++;
  };

  const emit = (message: AlertMessage, now: number) => {
    const rank = SEVERITY_RANK[message.severity];
    for (const lane of lanes) {
      if (rank < lane.minRank) continue;
      if (lane.outbox.length >= options.maxPending) {
        holdBack(lane, message.alerts);
        continue;
      }
      lane.outbox.push({ message, attempts: 0, nextAt: now });
    }
  };

  const holdBack = (lane: Lane, alerts: readonly Alert[]) => {
    for (const alert of alerts) {
      if (lane.heldBack.length < maxHeldBack) lane.heldBack.push(alert);
    }
    lane.heldBackCount += alerts.length;
    lane.heldBackTotal += alerts.length;
  };

  const groupMessage = (group: Group) =>
    incidentMessage(group.alerts, { more: group.more, suppressedBefore: group.suppressedBefore });

  const releaseBans = (now: number) => {
    const held = banHold;
    banHold = [];
    if (held.length > options.banSummaryThreshold) {
      counters.banSummaries++;
      emit(banSummaryMessage(held.map((g) => g.alerts)), now);
    } else {
      for (const group of held) emit(groupMessage(group), now);
    }
  };

  /** Closes incidents whose window is over (all of them with `all`); bans wait for each other. */
  const closeGroups = (now: number, all: boolean) => {
    let banStillOpen = false;
    for (const group of [...groups.values()]) {
      const banOnly = group.alerts.every(isBan);
      if (!all && now < group.openedAt + options.groupWindowMs) {
        if (banOnly) banStillOpen = true;
        continue;
      }
      groups.delete(group.incident);
      pending -= group.alerts.length;
      remember(group.incident, { at: now, rank: SEVERITY_RANK[maxSeverity(group.alerts)], suppressed: 0 });
      if (banOnly) {
        if (banHold.length === 0) banHoldSince = now;
        banHold.push(group);
      } else {
        emit(groupMessage(group), now);
      }
    }
    // A burst of bans spreads over a few seconds: hold the closed ones while others of the burst are
    // still open (at most one more window), so that the burst makes one summary.
    if (banHold.length > 0 && (all || !banStillOpen || now >= banHoldSince + options.groupWindowMs)) {
      releaseBans(now);
    }
  };

  const roomAt = (lane: Lane, now: number): number => {
    while (lane.recent.length > 0 && (lane.recent[0] as number) <= now - MINUTE_MS) lane.recent.shift();
    return lane.recent.length < lane.maxPerMinute ? now : (lane.recent[0] as number) + MINUTE_MS;
  };

  const backoffMs = (attempts: number) => {
    const exponential = Math.min(
      options.retry.maxDelayMs,
      options.retry.initialDelayMs * 2 ** (attempts - 1),
    );
    // Jitter: 50–100 % of the step, so that many hosts retrying one receiver spread out.
    return Math.round(exponential * (0.5 + random() / 2));
  };

  const attempt = (lane: Lane, delivery: Delivery): Promise<void> => {
    const startedAt = clock.now();
    lane.recent.push(startedAt);
    delivery.attempts++;
    const run = (async () => {
      try {
        await lane.notifier.deliver(delivery.message);
        lane.sent++;
        remove(lane, delivery);
        if (delivery.attempts > 1) {
          logger.log('info', 'alert delivered after retry', {
            ...notifierFields(lane),
            attempts: delivery.attempts,
          });
        }
      } catch (error) {
        lane.failures++;
        const reason = error instanceof Error ? error.message : String(error);
        const permanent = error instanceof DeliveryError && error.permanent;
        if (permanent || delivery.attempts >= options.retry.attempts) {
          lane.dropped++;
          remove(lane, delivery);
          logger.log('error', 'alert dropped', {
            ...notifierFields(lane),
            title: delivery.message.title,
            alerts: delivery.message.alerts.length,
            attempts: delivery.attempts,
            error: reason,
            ...(permanent ? { permanent: true } : {}),
          });
          return;
        }
        const wait = Math.max(
          backoffMs(delivery.attempts),
          error instanceof DeliveryError ? (error.retryAfterMs ?? 0) : 0,
        );
        delivery.nextAt = clock.now() + wait;
        logger.log('warn', 'alert delivery failed; will retry', {
          ...notifierFields(lane),
          attempt: delivery.attempts,
          of: options.retry.attempts,
          retryInMs: wait,
          error: reason,
        });
      }
    })();
    lane.inFlight = run.finally(() => {
      lane.inFlight = undefined;
      queue.onSettled?.();
    });
    return lane.inFlight;
  };

  const remove = (lane: Lane, delivery: Delivery) => {
    const index = lane.outbox.indexOf(delivery);
    if (index >= 0) lane.outbox.splice(index, 1);
  };

  /** Puts the held-back summary at the front of the outbox once there is room for it. */
  const releaseHeldBack = (lane: Lane, now: number) => {
    if (lane.heldBackCount === 0) return;
    const message = heldBackMessage(lane.heldBack, lane.heldBackCount);
    lane.heldBack.length = 0;
    lane.heldBackCount = 0;
    lane.outbox.unshift({ message, attempts: 0, nextAt: now });
  };

  /** Folds every message not yet tried into the held-back summary (the rate limit is reached). */
  const foldUntried = (lane: Lane) => {
    for (const delivery of [...lane.outbox]) {
      if (delivery.attempts > 0) continue;
      remove(lane, delivery);
      holdBack(lane, delivery.message.alerts);
    }
  };

  /** Starts the head delivery of a lane if it is due and the rate limit allows. */
  const pump = (lane: Lane, now: number) => {
    if (lane.inFlight !== undefined) return;
    const head = lane.outbox[0];
    if (head !== undefined && head.attempts > 0 && head.nextAt > now) return; // backing off
    if (head === undefined && lane.heldBackCount === 0) return;
    if (roomAt(lane, now) > now) {
      foldUntried(lane);
      return;
    }
    if (head === undefined || head.attempts === 0) releaseHeldBack(lane, now);
    const next = lane.outbox[0];
    if (next !== undefined) void attempt(lane, next);
  };

  const tick = () => {
    const now = clock.now();
    closeGroups(now, false);
    for (const lane of lanes) pump(lane, now);
  };

  const nextDueAt = (): number | undefined => {
    let due = Infinity;
    for (const group of groups.values()) due = Math.min(due, group.openedAt + options.groupWindowMs);
    if (banHold.length > 0) due = Math.min(due, banHoldSince + options.groupWindowMs);
    const now = clock.now();
    for (const lane of lanes) {
      if (lane.inFlight !== undefined) continue;
      const head = lane.outbox[0];
      if (head === undefined && lane.heldBackCount === 0) continue;
      const room = roomAt(lane, now);
      due = Math.min(due, head !== undefined && head.attempts > 0 ? Math.max(head.nextAt, room) : room);
    }
    return due === Infinity ? undefined : due;
  };

  const drain = async (lane: Lane, final: boolean) => {
    if (lane.inFlight !== undefined) await lane.inFlight;
    const now = clock.now();
    if (final || roomAt(lane, now) <= now) releaseHeldBack(lane, now);
    for (const delivery of [...lane.outbox]) {
      if (!lane.outbox.includes(delivery)) continue;
      if (lane.inFlight !== undefined) await lane.inFlight;
      if (!final && roomAt(lane, clock.now()) > clock.now()) {
        foldUntried(lane);
        break;
      }
      const failuresBefore = lane.failures;
      await attempt(lane, delivery);
      // A notifier that fails now will likely fail the rest too: one timeout per notifier is the
      // most a flush (or a shutdown) waits; what is left retries later, or is reported by stop.
      if (lane.failures > failuresBefore) break;
    }
  };

  const queue: AlertQueue = {
    send(alert) {
      try {
        send(alert);
      } catch (error) {
        // A malformed alert must never reach back into the detection path that raised it.
        logger.log('error', 'alert rejected', {
          error: error instanceof Error ? error.message : String(error),
        });
      }
    },
    tick,
    nextDueAt,
    async flush(final = false) {
      closeGroups(clock.now(), true);
      if (final) stopped = true;
      await Promise.all(lanes.map((lane) => drain(lane, final)));
      if (!final) return;
      for (const lane of lanes) {
        if (lane.outbox.length === 0) continue;
        logger.log('error', 'alerts not delivered before stop', {
          ...notifierFields(lane),
          messages: lane.outbox.length,
          titles: lane.outbox.slice(0, 10).map((d) => d.message.title),
        });
        lane.dropped += lane.outbox.length;
        lane.outbox.length = 0;
      }
    },
    stats() {
      return {
        ...counters,
        pending,
        notifiers: lanes.map((lane) => ({
          name: lane.notifier.name,
          type: lane.notifier.type,
          sent: lane.sent,
          failures: lane.failures,
          dropped: lane.dropped,
          heldBack: lane.heldBackTotal,
          waiting: lane.outbox.length,
        })),
      };
    },
  };
  return queue;
}

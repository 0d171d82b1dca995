/**
 * Alerts → messages, pure: one incident's alerts merged into one message; many bans folded into one
 * summary; alerts held back by a rate limit folded into one summary. The text is plain and complete
 * (what was seen, what was done, details), so every notifier can show it as it is.
 */
import type { Alert, AlertMessage, AlertSeverity } from './types.ts';

export const SEVERITY_RANK: Readonly<Record<AlertSeverity, number>> = { info: 0, warning: 1, critical: 2 };

export function maxSeverity(alerts: readonly { readonly severity: AlertSeverity }[]): AlertSeverity {
  let best: AlertSeverity = 'info';
  for (const alert of alerts) if (SEVERITY_RANK[alert.severity] > SEVERITY_RANK[best]) best = alert.severity;
  return best;
}

/** Cuts a text to `max` characters, marking the cut. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${text.slice(0, Math.max(0, max - 1))}…`;
}

function unique(values: Iterable<string>): string[] {
  return [...new Set(values)];
}

/** The address an alert is about: its ip, else the ban target, else the incident key. */
export function addressOf(alert: Alert): string {
  const target = alert.fields?.['target'];
  return alert.ip ?? (typeof target === 'string' ? target : alert.incident);
}

export interface IncidentExtras {
  /** Alerts of this incident beyond the per-incident cap, counted only. */
  readonly more?: number;
  /** Repeats of this incident suppressed by the dedupe window before it opened again. */
  readonly suppressedBefore?: number;
}

/** One incident: texts in order (repeats once), every action once, details merged (later wins). */
export function incidentMessage(alerts: readonly Alert[], extras: IncidentExtras = {}): AlertMessage {
  const first = alerts[0];
  if (first === undefined) throw new Error('incidentMessage needs at least one alert');
  const severity = maxSeverity(alerts);
  const lead = alerts.find((a) => a.severity === severity) ?? first;
  const lines = unique(alerts.map((a) => a.text.trim()).filter((t) => t !== ''));
  const actions = unique(alerts.flatMap((a) => a.actions ?? []));
  const fields = new Map<string, string>();
  const ips = unique(alerts.flatMap((a) => (a.ip === undefined ? [] : [a.ip])));
  if (ips.length > 0) fields.set('ip', ips.join(', '));
  for (const alert of alerts) {
    for (const [key, value] of Object.entries(alert.fields ?? {})) fields.set(key, String(value));
  }
  const parts = [lines.join('\n')];
  if (actions.length > 0) parts.push(`Done:\n${actions.map((a) => `- ${a}`).join('\n')}`);
  if (fields.size > 0) parts.push([...fields].map(([key, value]) => `${key}: ${value}`).join('\n'));
  const notes: string[] = [];
  if (extras.more) notes.push(`${extras.more} more alerts of this incident were counted, not listed.`);
  if (extras.suppressedBefore) {
    notes.push(`${extras.suppressedBefore} repeats of this incident were suppressed since it was last sent.`);
  }
  if (notes.length > 0) parts.push(notes.join('\n'));
  return {
    severity,
    title: lead.title,
    text: parts.filter((p) => p !== '').join('\n\n'),
    alerts: [...alerts],
    at: first.at,
  };
}

const LIST_MAX = 50;

function countBy(values: readonly string[]): [string, number][] {
  const counts = new Map<string, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

/** Many bans at once: one message with the count, the top scenarios and the addresses. */
export function banSummaryMessage(groups: readonly (readonly Alert[])[]): AlertMessage {
  const alerts = groups.flat();
  const first = alerts[0];
  if (first === undefined) throw new Error('banSummaryMessage needs at least one alert');
  const lines = groups.map((group) => {
    const lead = group[0] as Alert;
    const scenarios = unique(
      group.flatMap((a) => (a.fields?.['scenario'] === undefined ? [] : [String(a.fields['scenario'])])),
    );
    return `${addressOf(lead)}${scenarios.length > 0 ? ` (${scenarios.join(', ')})` : ''}`;
  });
  const scenarios = countBy(
    groups.map((group) =>
      String(group.find((a) => a.fields?.['scenario'] !== undefined)?.fields?.['scenario'] ?? 'unknown'),
    ),
  );
  const top = scenarios
    .slice(0, 5)
    .map(([name, count]) => `${name} ×${count}`)
    .join(', ');
  const listed = lines.slice(0, LIST_MAX);
  const rest = lines.length - listed.length;
  return {
    severity: maxSeverity(alerts),
    title: `${groups.length} addresses banned`,
    text: [
      `${groups.length} addresses were banned within a few seconds.`,
      `Top scenarios: ${top}`,
      `Addresses:\n${listed.join('\n')}${rest > 0 ? `\n… and ${rest} more` : ''}`,
    ].join('\n\n'),
    alerts,
    at: first.at,
  };
}

/** Messages a rate limit held back: one summary with their count and titles. */
export function heldBackMessage(alerts: readonly Alert[], count: number): AlertMessage {
  const first = alerts[0];
  const titles = countBy(alerts.map((a) => a.title));
  const listed = titles.slice(0, 20).map(([title, n]) => (n > 1 ? `${title} (×${n})` : title));
  const unlisted = count - titles.slice(0, 20).reduce((sum, [, n]) => sum + n, 0);
  return {
    severity: maxSeverity(alerts),
    title: `${count} alert${count === 1 ? '' : 's'} held back by the rate limit`,
    text: [
      `The notifier's rate limit held back ${count} alert${count === 1 ? '' : 's'}; here they are in one message.`,
      `${listed.join('\n')}${unlisted > 0 ? `\n… and ${unlisted} more` : ''}`,
    ].join('\n\n'),
    alerts: [...alerts],
    at: first?.at ?? 0,
  };
}

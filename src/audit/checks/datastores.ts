/**
 * Helpers shared by the datastore checks (Elasticsearch, MongoDB, PostgreSQL, Memcached): turning
 * bind values into exposure questions, and severities that follow reach. Pure.
 */
import type { Evidence, Severity } from '../../core/finding.ts';
import { parseAddress, scopeOf } from '../../core/ip.ts';
import type { Endpoint, Exposure, ExposureVerdict, Reach } from '../types.ts';

const REACH_ORDER: readonly Reach[] = ['local', 'private', 'internet'];

export function reachRank(reach: Reach): number {
  return REACH_ORDER.indexOf(reach);
}

export function narrower(a: Reach, b: Reach): Reach {
  return reachRank(a) <= reachRank(b) ? a : b;
}

export function wider(a: Reach, b: Reach): Reach {
  return reachRank(a) >= reachRank(b) ? a : b;
}

/**
 * What one bind value means. `binds` holds literal addresses when the value names them; otherwise
 * the value (an interface, a host name, a special value) cannot be resolved from the config, `cap`
 * says the widest reach it can have and `note` says why, for the evidence.
 */
export interface BindTerm {
  readonly binds?: readonly string[];
  readonly cap: Reach;
  readonly note?: string;
}

const LOOPBACK_BINDS = ['127.0.0.1', '::1'] as const;

export function reachOfAddress(text: string): Reach | undefined {
  const address = parseAddress(text);
  if (!address) return undefined;
  const scope = scopeOf(address);
  return scope === 'loopback' ? 'local' : scope === 'private' ? 'private' : 'internet';
}

/** A literal address (brackets allowed), `localhost`, or else a host name the config does not resolve. */
export function addressTerm(value: string, service: string): BindTerm {
  const bare = value.trim().replace(/^\[(.*)\]$/, '$1');
  const reach = reachOfAddress(bare);
  if (reach !== undefined) return { binds: [bare], cap: reach };
  if (bare.toLowerCase() === 'localhost') return { binds: LOOPBACK_BINDS, cap: 'local' };
  return {
    cap: 'internet',
    note: `${service} binds the addresses "${value}" resolves to, which the config does not show`,
  };
}

export const loopbackTerm: BindTerm = { binds: LOOPBACK_BINDS, cap: 'local' };

/**
 * Asks exposure about an endpoint whose binds are given as terms. With only literal addresses the
 * question is asked as is; with anything unresolved it is asked without binds (listening sockets
 * decide) and the answer is narrowed to the widest reach the terms allow.
 */
export function assessTerms(
  exposure: Exposure,
  endpoint: Omit<Endpoint, 'binds'>,
  terms: readonly BindTerm[],
): ExposureVerdict {
  const literal = terms.every((term) => term.binds !== undefined);
  if (literal) return exposure.assess({ ...endpoint, binds: terms.flatMap((term) => term.binds ?? []) });
  const verdict = exposure.assess({ ...endpoint, binds: [] });
  const cap = terms.reduce<Reach>((widest, term) => wider(widest, term.cap), 'local');
  const notes = terms.flatMap((term) => (term.note ? [term.note] : []));
  const reach = narrower(verdict.reach, cap);
  const capped = reach !== verdict.reach ? [`so at most ${describeReach(reach)}`] : [];
  return { reach, reasons: [...notes, ...verdict.reasons, ...capped] };
}

export function describeReach(reach: Reach): string {
  return reach === 'internet'
    ? 'reachable from the internet'
    : reach === 'private'
      ? 'reachable from private networks'
      : 'reachable only locally';
}

/** The exposure reasons as evidence lines, headed by the verdict. */
export function reachEvidence(label: string, verdict: ExposureVerdict): Evidence[] {
  return [
    { detail: `${label}: ${describeReach(verdict.reach)}` },
    ...verdict.reasons.map((reason) => ({ detail: reason })),
  ];
}

/** One step less severe (critical → high …), for conclusions drawn from defaults we could not confirm. */
export function softer(severity: Severity): Severity {
  const order: readonly Severity[] = ['critical', 'high', 'medium', 'low', 'info'];
  return order[Math.min(order.indexOf(severity) + 1, order.length - 1)] ?? severity;
}

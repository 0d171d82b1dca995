/**
 * Overflow → Decision | Refusal. Pure: time comes from the overflow (event time) or the injected
 * clock (manual bans); SSH sessions and local addresses come from provider functions the daemon
 * passes in.
 *
 * Order of questions for a scenario overflow:
 * 1. Does the scenario only alert (`action: alert`), or is there no client address? → Refusal with
 *    `alert: true` (the daemon alerts; nothing is banned).
 * 2. Is the address protected — loopback, a current SSH session, one of this host's addresses, an
 *    allowlisted range? → Refusal (logged by the daemon). Never a ban.
 * 3. Target: IPv4 → the address; IPv6 → its /ipv6Prefix network, narrowed back to the address when
 *    that network holds a protected address.
 * 4. Already banned for longer? → Refusal `already-banned`. Banned, but this scenario asks for
 *    longer? → a Decision that extends it (not a repeat).
 * 5. Duration: the scenario's `ban` or the base, doubled per earlier ban of the same target within
 *    `repeatWindowMs` of the last one, capped at `maxBanMs`.
 */
import type { Clock } from '../core/clock.ts';
import { MoatError } from '../core/errors.ts';
import { isLoopback, leadingZeroProblem, parseCidr } from '../core/ip.ts';
import type { Decision, Overflow } from '../core/events.ts';
import {
  addressRange,
  createCidrSet,
  formatRange,
  normalTarget,
  type IpRange,
  parseRange,
  widenRange,
} from './cidr-set.ts';

/** How the decider turns overflows into bans. Durations in ms. */
export interface DecisionPolicy {
  /** Base ban for a first offence (a scenario's `ban` overrides it). Default 4 h. */
  readonly banMs: number;
  /** Escalation never goes above this. Default 7 days. */
  readonly maxBanMs: number;
  /** Each earlier ban within the window multiplies the duration by this. Default 2; 1 disables escalation. */
  readonly escalationFactor: number;
  /** A target's ban history is forgotten this long after its last ban. Default 7 days. */
  readonly repeatWindowMs: number;
  /** IPv6 bans cover the client's /N. Default 64; 128 bans the single address. */
  readonly ipv6Prefix: number;
  /** Addresses and CIDRs never banned (and never part of a banned range). */
  readonly allowlist: readonly string[];
  /** Cap on remembered offenders (LRU). Default 100,000. */
  readonly maxOffenders: number;
}

export const DEFAULT_POLICY: DecisionPolicy = Object.freeze({
  banMs: 4 * 3_600_000,
  maxBanMs: 7 * 86_400_000,
  escalationFactor: 2,
  repeatWindowMs: 7 * 86_400_000,
  ipv6Prefix: 64,
  allowlist: Object.freeze([]) as readonly string[],
  maxOffenders: 100_000,
});

export interface DeciderDeps {
  readonly clock: Clock;
  /**
   * The client addresses of current SSH sessions (from utmp / `ss`). Called on every decision;
   * must be cheap and must not throw (return the last known list). If it throws, every ban is
   * refused (`protection-unavailable`): the operator must never be locked out.
   */
  readonly sshSessions?: () => readonly string[];
  /** This host's own addresses (interfaces, Docker bridges). Same rules as sshSessions. */
  readonly localAddresses?: () => readonly string[];
  /**
   * TEST RIGS ONLY — not reachable from configuration or the CLI. Loopback addresses that stand in
   * for outside attackers, because tests may use nothing but 127.0.0.0/8. Exactly these addresses
   * lose the loopback protection; every other rule (SSH sessions, allowlist, escalation) applies.
   */
  readonly testOnlyBannableLoopback?: readonly string[];
}

/** An Overflow as the decider reads it: the engine's DetectedOverflow fits. */
export type DecisionInput = Overflow & { readonly banMs?: number; readonly action?: 'ban' | 'alert' };

export type RefusalCode =
  /** The scenario asks for an alert, not a ban. */
  | 'alert-only'
  /** The overflow carries no client address (e.g. Redis logged no client). */
  | 'no-address'
  /** The address is not an IPv4/IPv6 unicast address. */
  | 'invalid-address'
  | 'loopback'
  | 'ssh-session'
  | 'local-address'
  | 'allowlisted'
  /** A provider threw, so protection cannot be checked: nothing is banned. */
  | 'protection-unavailable'
  /** The target is already banned at least as long as this would. */
  | 'already-banned';

/** A decision not taken, with why: the daemon logs it (and alerts when `alert`). */
export interface Refusal {
  readonly refused: true;
  readonly code: RefusalCode;
  /** Why, in one sentence, for the log. */
  readonly reason: string;
  readonly scenario: string;
  /** What would have been banned, when known. */
  readonly target?: string;
  readonly at: number;
  /** True when the overflow still deserves an alert (no address, alert-only, protection unavailable). */
  readonly alert: boolean;
  readonly overflow: DecisionInput;
}

export interface ManualBan {
  /** An address or CIDR. */
  readonly target: string;
  /** Default: the policy's base ban. */
  readonly durationMs?: number;
  readonly reason?: string;
}

export interface Decider {
  decide(overflow: DecisionInput): Decision | Refusal;
  /**
   * A ban asked for by a person (`moat bans add`). Throws MoatError when the target is not an
   * address/CIDR or when it would ban a protected address (lock-out).
   */
  manual(request: ManualBan): Decision;
  /** Why an address or range must not be banned, or undefined when it may be. */
  protectedReason(target: string): string | undefined;
  /** Seeds history from stored bans at start-up (escalation and de-duplication survive restarts). */
  remember(ban: { readonly target: string; readonly at: number; readonly durationMs: number }): void;
  /** Forgets a target (after `moat bans remove`): its next offence is a first offence. */
  forget(target: string): void;
  /** Drops offenders whose history has expired. */
  sweep(nowMs?: number): number;
  readonly offenders: number;
}

export function isRefusal(result: Decision | Refusal): result is Refusal {
  return (result as Refusal).refused === true;
}

interface Offender {
  /** Bans within the repeat window, including the current one. */
  bans: number;
  lastBanAt: number;
  until: number;
  /** Duration of the ban in force (to tell a stronger scenario from a duplicate). */
  durationMs: number;
}

const LOOPBACK = ['127.0.0.0/8', '::1/128'];

/** The error code of a manual ban that would lock the operator out. */
const LOCKOUT_CODE = 'MOAT_LOCKOUT';

/** Fills defaults and checks a policy; throws MOAT_CONFIG_INVALID naming the key. */
export function resolvePolicy(partial: Partial<DecisionPolicy> = {}): DecisionPolicy {
  const policy: DecisionPolicy = { ...DEFAULT_POLICY, ...partial };
  const problems: string[] = [];
  if (!(policy.banMs > 0)) problems.push('banMs must be greater than 0');
  if (!(policy.maxBanMs >= policy.banMs)) problems.push('maxBanMs must be at least banMs');
  if (!(policy.escalationFactor >= 1)) problems.push('escalationFactor must be 1 (no escalation) or more');
  if (!(policy.repeatWindowMs >= 0)) problems.push('repeatWindowMs must be 0 or more');
  if (!Number.isInteger(policy.ipv6Prefix) || policy.ipv6Prefix < 32 || policy.ipv6Prefix > 128) {
    problems.push("ipv6Prefix must be an integer from 32 to 128 (64 bans the client's /64, 128 the address)");
  }
  if (!(policy.maxOffenders >= 1)) problems.push('maxOffenders must be at least 1');
  policy.allowlist.forEach((entry, i) => {
    if (parseRange(entry) === undefined)
      problems.push(
        `allowlist[${i}]: "${entry}" is not an address or CIDR (e.g. 203.0.113.0/24, 2001:db8::/48)`,
      );
  });
  if (problems.length > 0) {
    throw new MoatError(
      'MOAT_CONFIG_INVALID',
      `decision policy is not valid:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  }
  return Object.freeze({ ...policy, allowlist: Object.freeze([...policy.allowlist]) });
}

interface ProtectedHit {
  readonly code: 'loopback' | 'ssh-session' | 'local-address' | 'allowlisted';
  /** The protected entry the range touches. */
  readonly entry: string;
}

export function createDecider(partialPolicy: Partial<DecisionPolicy>, deps: DeciderDeps): Decider {
  const policy = resolvePolicy(partialPolicy);
  const loopback = createCidrSet(LOOPBACK);
  const standIns = new Set(deps.testOnlyBannableLoopback ?? []);
  const allowlist = createCidrSet(policy.allowlist);
  const offenders = new Map<string, Offender>();

  /** Which protected entry a range touches, if any. Providers are read on every call. */
  function protectedHit(range: IpRange): ProtectedHit | undefined {
    if (loopback.overlaps(range) && !(standIns.size > 0 && standIns.has(formatRange(range))))
      return { code: 'loopback', entry: range.family === 4 ? '127.0.0.0/8' : '::1' };
    const groups: [ProtectedHit['code'], readonly string[] | undefined][] = [
      ['ssh-session', deps.sshSessions?.()],
      ['local-address', deps.localAddresses?.()],
    ];
    for (const [code, entries] of groups) {
      for (const entry of entries ?? []) {
        const protectedRange = parseRange(entry);
        if (protectedRange !== undefined && overlap(range, protectedRange)) return { code, entry };
      }
    }
    if (allowlist.overlaps(range)) {
      const entry = policy.allowlist.find((text) => {
        const r = parseRange(text);
        return r !== undefined && overlap(range, r);
      });
      return { code: 'allowlisted', entry: entry ?? '(allowlist)' };
    }
    return undefined;
  }

  function describe(hit: ProtectedHit, target: string): string {
    const what = {
      loopback: 'loopback; moat never bans it',
      'ssh-session': 'the address of a current SSH session',
      'local-address': 'an address of this host',
      allowlisted: 'allowlisted',
    }[hit.code];
    if (hit.code === 'loopback') {
      const cidr = parseCidr(target);
      const inside =
        cidr !== undefined &&
        isLoopback(cidr.address) &&
        cidr.prefix >= (cidr.address.kind() === 'ipv4' ? 8 : 128);
      return inside ? `${target} is ${what}` : `${target} contains loopback addresses; moat never bans them`;
    }
    if (hit.code === 'allowlisted')
      return `${target} ${target === hit.entry ? 'is' : 'overlaps'} allowlisted ${hit.entry}`;
    return target === hit.entry ? `${target} is ${what}` : `${target} contains ${hit.entry}, ${what}`;
  }

  function durationFor(base: number, earlierBans: number): number {
    const scaled = base * policy.escalationFactor ** earlierBans;
    return Math.min(policy.maxBanMs, Number.isFinite(scaled) ? scaled : policy.maxBanMs);
  }

  function touch(target: string, offender: Offender): void {
    offenders.delete(target);
    offenders.set(target, offender);
    if (offenders.size > policy.maxOffenders) {
      const oldest = offenders.keys().next().value;
      if (oldest !== undefined) offenders.delete(oldest);
    }
  }

  function refuse(
    overflow: DecisionInput,
    code: RefusalCode,
    reason: string,
    alert: boolean,
    target?: string,
  ): Refusal {
    return {
      refused: true,
      code,
      reason,
      scenario: overflow.scenario,
      ...(target === undefined ? {} : { target }),
      at: overflow.at,
      alert,
      overflow,
    };
  }

  function decide(overflow: DecisionInput): Decision | Refusal {
    if (overflow.action === 'alert') {
      return refuse(overflow, 'alert-only', `scenario ${overflow.scenario} alerts only`, true);
    }
    const ip = overflow.ip;
    if (ip === undefined || ip === '') {
      return refuse(overflow, 'no-address', `the event names no client address: alert only`, true);
    }
    const address = addressRange(ip);
    if (
      address === undefined ||
      address.prefix !== (address.family === 4 ? 32 : 128) ||
      isUnspecified(address)
    ) {
      return refuse(overflow, 'invalid-address', `"${ip.slice(0, 64)}" is not a client address`, false);
    }
    const single = formatRange(address);
    let hit: ProtectedHit | undefined;
    try {
      hit = protectedHit(address);
    } catch (error) {
      return refuse(
        overflow,
        'protection-unavailable',
        `cannot list SSH sessions or local addresses (${(error as Error).message}); not banning ${single}`,
        true,
        single,
      );
    }
    if (hit !== undefined)
      return refuse(overflow, hit.code, `not banning: ${describe(hit, single)}`, false, single);

    let range = address;
    let narrowed = false;
    if (address.family === 6 && policy.ipv6Prefix < 128) {
      const wide = widenRange(address, policy.ipv6Prefix);
      let wideHit: ProtectedHit | undefined;
      try {
        wideHit = protectedHit(wide);
      } catch {
        wideHit = { code: 'ssh-session', entry: '(unknown)' };
      }
      if (wideHit === undefined) range = wide;
      else narrowed = true;
    }
    const target = formatRange(range);
    const base = overflow.banMs ?? policy.banMs;
    const at = overflow.at;
    const known = offenders.get(target);

    if (known !== undefined && known.until > at) {
      // Still banned: another scenario (or a late line) fired. A scenario asking for a longer ban
      // than the one in force upgrades it (not a repeat offence); anything else is a duplicate.
      const durationMs = durationFor(base, known.bans - 1);
      if (durationMs <= known.durationMs || at + durationMs <= known.until) {
        return refuse(
          overflow,
          'already-banned',
          `${target} is already banned until ${new Date(known.until).toISOString()}`,
          false,
          target,
        );
      }
      known.until = at + durationMs;
      known.durationMs = durationMs;
      touch(target, known);
      return {
        target,
        scenario: overflow.scenario,
        reason: overflow.reason,
        origin: 'scenario',
        durationMs,
        at,
      };
    }

    const earlier = known !== undefined && at - known.lastBanAt <= policy.repeatWindowMs ? known.bans : 0;
    const durationMs = durationFor(base, earlier);
    touch(target, { bans: earlier + 1, lastBanAt: at, until: at + durationMs, durationMs });
    const notes: string[] = [];
    if (earlier > 0)
      notes.push(
        `repeat offender: ban #${earlier + 1} within ${Math.round(policy.repeatWindowMs / 86_400_000)}d`,
      );
    if (narrowed)
      notes.push(`its /${policy.ipv6Prefix} holds a protected address, so only the address is banned`);
    const reason = notes.length === 0 ? overflow.reason : `${overflow.reason} (${notes.join('; ')})`;
    return { target, scenario: overflow.scenario, reason, origin: 'scenario', durationMs, at };
  }

  function manual(request: ManualBan): Decision {
    const range = parseRange(request.target);
    if (range === undefined) {
      throw new MoatError('MOAT_USAGE', `"${request.target}" is not an address or CIDR`, {
        hint:
          leadingZeroProblem(request.target) ??
          'Give an address like 203.0.113.7 or 2001:db8::7, or a range like 203.0.113.0/24.',
      });
    }
    const target = formatRange(range);
    const hit = protectedHit(range);
    if (hit !== undefined) {
      throw new MoatError(LOCKOUT_CODE, `refusing to ban ${target}: ${describe(hit, target)}`, {
        hint:
          hit.code === 'allowlisted'
            ? 'Ban a narrower range outside the allowlist, or remove the entry from the allowlist first.'
            : 'Ban a narrower range that leaves this address out; moat never bans loopback, this host or the SSH sessions it serves.',
      });
    }
    const durationMs = request.durationMs ?? policy.banMs;
    if (!(durationMs > 0)) {
      throw new MoatError('MOAT_USAGE', `ban duration must be greater than 0 (got ${durationMs})`, {
        hint: 'Use a duration like 30m, 4h or 7d.',
      });
    }
    const at = deps.clock.now();
    const known = offenders.get(target);
    touch(target, {
      bans: (known?.bans ?? 0) + 1,
      lastBanAt: at,
      until: Math.max(known?.until ?? 0, at + durationMs),
      durationMs: Math.max(known?.durationMs ?? 0, durationMs),
    });
    return {
      target,
      scenario: 'manual',
      reason: request.reason ?? 'manual ban',
      origin: 'manual',
      durationMs,
      at,
    };
  }

  return {
    decide,
    manual,
    protectedReason(text: string): string | undefined {
      const range = parseRange(text);
      if (range === undefined) return `"${text}" is not an address or CIDR`;
      const hit = protectedHit(range);
      return hit === undefined ? undefined : describe(hit, formatRange(range));
    },
    remember(ban) {
      const target = normalTarget(ban.target);
      if (target === undefined) return;
      const known = offenders.get(target);
      const fresh = known === undefined || ban.at - known.lastBanAt > policy.repeatWindowMs;
      touch(target, {
        bans: fresh ? 1 : known.bans + 1,
        lastBanAt: Math.max(ban.at, known?.lastBanAt ?? 0),
        until: Math.max(ban.at + ban.durationMs, known?.until ?? 0),
        durationMs: Math.max(ban.durationMs, known?.durationMs ?? 0),
      });
    },
    forget(text: string) {
      offenders.delete(normalTarget(text) ?? text);
    },
    sweep(nowMs?: number): number {
      const now = nowMs ?? deps.clock.now();
      let dropped = 0;
      for (const [target, offender] of offenders) {
        if (offender.until <= now && now - offender.lastBanAt > policy.repeatWindowMs) {
          offenders.delete(target);
          dropped++;
        }
      }
      return dropped;
    },
    get offenders() {
      return offenders.size;
    },
  };
}

function overlap(a: IpRange, b: IpRange): boolean {
  if (a.family === 4 && b.family === 4) return a.start <= b.end && b.start <= a.end;
  if (a.family === 6 && b.family === 6) return a.start <= b.end && b.start <= a.end;
  return false;
}

function isUnspecified(range: IpRange): boolean {
  return range.family === 4 ? range.start === 0 : range.start === 0n;
}

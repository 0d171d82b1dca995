/**
 * ufw backend: one `deny from TARGET to any` rule per ban, put at the top of ufw's user rules
 * (`ufw prepend`, so it comes before the operator's `allow 80/tcp`), tagged with a comment.
 * For hosts whose operator manages the firewall with ufw and wants moat's bans to show up in
 * `ufw status`. Prefer the nftables backend where you can:
 *  - ufw's rules live in INPUT: traffic to Docker-published ports is forwarded and never passes
 *    them, so bans here do NOT cover Docker-published ports (nftables' forward hook does).
 *  - Each ban is a rule, not a set element, and every change is a ufw run (a Python process that
 *    rewrites its rules files and reloads its chains): fine for tens or hundreds of bans, slow for
 *    thousands (see bench/firewall-load.ts).
 *
 * Expiry. ufw has no timeouts, so the backend keeps each ban's expiry in the rule's own comment —
 * `moat until 2030-01-01T00:00:00.000Z`, or `moat` for a ban until released. The firewall itself
 * is the record: nothing to keep in step, expiries survive a restart, and the operator sees them in
 * `ufw status`. Nothing removes a rule on time by itself: `expire()` deletes the rules whose expiry
 * has passed, and the daemon's sweep timer must call it. `init()` and `list()` expire first too,
 * so list() shows only what should be enforced. A repeated block rewrites the comment in place
 * (ufw replaces a rule that differs only in its comment): the address is never unblocked between.
 *
 * moat only touches rules carrying its comment. A rule of the operator's own for the same address
 * is left alone: a deny or reject already blocks it (block is then a no-op and the rule is not
 * listed as moat's); an allow or limit is the operator's explicit wish, and block refuses with
 * MOAT_LOCKOUT. release and teardown delete only moat's rules. init never enables ufw: when ufw is
 * inactive its rules are not enforced, and init fails saying so.
 *
 * Needs ufw 0.36 or newer (`prepend`). The `netns` option runs ufw inside a network namespace
 * (`ip netns exec NAME ufw …`); tests combine it with a private /etc/ufw (test/helpers/ufw-netns.ts).
 */
import type { Clock } from '../core/clock.ts';
import { systemClock } from '../core/clock.ts';
import { MoatError } from '../core/errors.ts';
import { type Runner, runCommand } from './command.ts';
import { toTarget } from './nftables.ts';
import type { BlockEntry, Firewall, FirewallEntry } from './types.ts';

export interface UfwOptions {
  /** Comment that marks moat's rules (expiring ones add ` until ISO-TIME`). Default `moat`. */
  readonly tag?: string;
  readonly clock?: Clock;
  /** Run inside this network namespace (`ip netns exec NAME ufw …`); tests use it. */
  readonly netns?: string;
  readonly ufwPath?: string;
  /** Replaces the command runner (unit tests record the argument arrays). */
  readonly runner?: Runner;
}

export interface UfwFirewall extends Firewall {
  /**
   * Deletes moat's rules whose expiry is at or before `nowMs` (default: the clock's now) and returns
   * their targets. ufw has no timeouts: the daemon's sweep must call this.
   */
  expire(nowMs?: number): Promise<string[]>;
}

/** One `ufw show added` line that bans or allows a whole source: `ufw deny from X comment '…'`. */
export interface UfwSourceRule {
  readonly action: 'allow' | 'deny' | 'reject' | 'limit';
  /** Normalised target, as list() reports it. */
  readonly target: string;
  readonly comment?: string;
}

const SOURCE_RULE = /^ufw (allow|deny|reject|limit)(?: log| log-all)? from (\S+)(?: comment '(.*)')?$/;

/**
 * Reads `ufw show added`: the rules that match a source address or range and nothing else (no
 * port, interface, direction or route). Other rules are skipped.
 */
export function parseUfwShowAdded(text: string): UfwSourceRule[] {
  const rules: UfwSourceRule[] = [];
  for (const line of text.split('\n')) {
    const m = SOURCE_RULE.exec(line.trim());
    if (!m) continue;
    let target: string;
    try {
      target = toTarget(m[2] as string).element;
    } catch {
      continue; // `from any`, an app profile: not an address
    }
    const action = m[1] as UfwSourceRule['action'];
    rules.push(m[3] === undefined ? { action, target } : { action, target, comment: m[3] });
  }
  return rules;
}

/** Normalises a ban target for ufw; throws MOAT_USAGE for anything else, including a /0. */
export function toUfwTarget(text: string): string {
  const { element } = toTarget(text);
  if (element.endsWith('/0')) {
    throw new MoatError('MOAT_USAGE', `"${text}" is a /0: it would ban every address`);
  }
  return element;
}

export function createUfwFirewall(options: UfwOptions = {}): UfwFirewall {
  const tag = options.tag ?? 'moat';
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(tag)) {
    throw new MoatError('MOAT_USAGE', `ufw tag "${tag}" must be 1-64 letters, digits, ".", "_" or "-"`);
  }
  const clock = options.clock ?? systemClock;
  const ufwBin = options.ufwPath ?? 'ufw';
  const runner: Runner = options.runner ?? ((command, args) => runCommand(command, args));
  const ufw = (args: readonly string[]) =>
    options.netns === undefined
      ? runner(ufwBin, args)
      : runner('ip', ['netns', 'exec', options.netns, ufwBin, ...args]);

  const commentFor = (ttlMs: number | undefined) =>
    ttlMs === undefined ? tag : `${tag} until ${new Date(clock.now() + Math.max(0, ttlMs)).toISOString()}`;

  /** Expiry of one of moat's rules: a time, Infinity (until released), or undefined (not moat's). */
  const expiryOf = (rule: UfwSourceRule): number | undefined => {
    if (rule.action !== 'deny' || rule.comment === undefined) return undefined;
    if (rule.comment === tag) return Number.POSITIVE_INFINITY;
    if (!rule.comment.startsWith(`${tag} until `)) return undefined;
    const at = Date.parse(rule.comment.slice(tag.length + 7));
    return Number.isNaN(at) ? undefined : at;
  };

  const showAdded = async () => parseUfwShowAdded(await ufw(['show', 'added']));
  const deny = (target: string) => ['deny', 'from', target, 'to', 'any'];

  let queue: Promise<unknown> = Promise.resolve();
  /** Verbs run one at a time: each reads ufw's rules, then changes them. */
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const result = queue.then(work, work);
    queue = result.catch(() => {});
    return result;
  };

  type Step = { readonly kind: 'insert' | 'update'; readonly target: string; readonly comment: string };

  /** What blocking each target takes, decided before anything changes (so a refusal changes nothing). */
  const plan = (wanted: ReadonlyMap<string, string>, rules: readonly UfwSourceRule[]): Step[] => {
    const byTarget = new Map<string, UfwSourceRule>();
    for (const rule of rules) if (!byTarget.has(rule.target)) byTarget.set(rule.target, rule);
    const steps: Step[] = [];
    for (const [target, comment] of wanted) {
      const existing = byTarget.get(target);
      if (existing === undefined) {
        steps.push({ kind: 'insert', target, comment });
      } else if (expiryOf(existing) !== undefined) {
        steps.push({ kind: 'update', target, comment });
      } else if (existing.action === 'allow' || existing.action === 'limit') {
        throw new MoatError(
          'MOAT_LOCKOUT',
          `ufw has the operator's rule "ufw ${existing.action} from ${target}"; moat does not override it`,
        );
      } // else the operator's own deny/reject already blocks it: leave that rule alone.
    }
    return steps;
  };

  const apply = (step: Step) =>
    step.kind === 'insert'
      ? ufw(['prepend', ...deny(step.target), 'comment', step.comment])
      : // Same rule, new comment: ufw replaces it in place, so there is no moment without the ban.
        ufw([...deny(step.target), 'comment', step.comment]);

  const expireRules = async (rules: readonly UfwSourceRule[], nowMs: number) => {
    const released: string[] = [];
    for (const rule of rules) {
      const expiry = expiryOf(rule);
      if (expiry === undefined || expiry > nowMs) continue;
      await ufw(['delete', ...deny(rule.target)]);
      released.push(rule.target);
    }
    return released;
  };

  const blockAll = async (entries: readonly BlockEntry[]) => {
    // Validate every target before running anything; a repeated target keeps its last ttl.
    const wanted = new Map<string, string>();
    for (const entry of entries) wanted.set(toUfwTarget(entry.target), commentFor(entry.ttlMs));
    const steps = plan(wanted, await showAdded());
    const inserted: string[] = [];
    try {
      for (const step of steps) {
        await apply(step);
        if (step.kind === 'insert') inserted.push(step.target);
      }
    } catch (error) {
      // All or nothing: take back the rules this batch added (refreshed comments only lengthen bans).
      for (const target of inserted) await ufw(['delete', ...deny(target)]).catch(() => {});
      throw error;
    }
  };

  return {
    name: 'ufw',
    init: () =>
      serial(async () => {
        const status = await ufw(['status']);
        if (!/^Status: active$/m.test(status)) {
          throw new MoatError(
            'MOAT_FIREWALL_INACTIVE',
            'ufw is inactive, so its rules would not be enforced: enable ufw (`ufw enable`) or choose the nftables backend',
          );
        }
        await expireRules(await showAdded(), clock.now());
      }),
    block: (target, ttlMs) => serial(() => blockAll([ttlMs === undefined ? { target } : { target, ttlMs }])),
    blockMany: (entries) => serial(async () => (entries.length === 0 ? undefined : blockAll(entries))),
    release: (target) =>
      serial(async () => {
        const element = toUfwTarget(target);
        const rule = (await showAdded()).find((r) => r.target === element && expiryOf(r) !== undefined);
        if (rule) await ufw(['delete', ...deny(element)]);
      }),
    list: () =>
      serial(async () => {
        const now = clock.now();
        const rules = await showAdded();
        const expired = new Set(await expireRules(rules, now));
        const entries: FirewallEntry[] = [];
        for (const rule of rules) {
          const expiry = expiryOf(rule);
          if (expiry === undefined || expired.has(rule.target)) continue;
          entries.push(
            expiry === Number.POSITIVE_INFINITY
              ? { target: rule.target }
              : { target: rule.target, expiresInMs: expiry - now },
          );
        }
        return entries;
      }),
    expire: (nowMs) =>
      serial(async () => {
        const now = nowMs ?? clock.now();
        return expireRules(await showAdded(), now);
      }),
    teardown: () =>
      serial(async () => {
        for (const rule of await showAdded()) {
          if (expiryOf(rule) !== undefined) await ufw(['delete', ...deny(rule.target)]);
        }
      }),
  };
}

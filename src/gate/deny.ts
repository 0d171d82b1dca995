/**
 * Deny rules, compiled once. A request is refused by the first rule (in config order) that matches
 * any of its paths, methods or user agents; the rule's action says how (403, 404, close).
 *
 * Paths are matched against the normalised target (see target.ts), case-insensitively:
 *
 *   - A glob without `/` matches any one segment of the path, at any depth, like a .gitignore
 *     line: `*.php` matches `/index.php`, `/a/b/x.PHP` and `/index.php/extra` (PATH_INFO); `.git`
 *     matches `/src/.git/config`; `wp-*` matches `/blog/wp-login.php`.
 *   - A glob with `/` is anchored at the root (a leading `/` is optional) and also matches
 *     everything below what it matches: `/.env` matches `/.env` and `/.env/x`; `/wp-*` matches
 *     `/wp-admin/setup.php`; `/.git/**` matches `/.git` and all inside it. A glob that starts
 *     with a `**` segment matches at any depth, the root included.
 *   - `*` and `?` never cross `/`; `**` does. Dotfiles are matched like any name (`*` matches
 *     `.env`). Braces and classes work as in picomatch: `/{admin,manage}/**`, `*.[ps]h`.
 *   - `re:` is a JavaScript regular expression over the whole normalised path (`/a/b.php`),
 *     case-insensitive: `re:^/api/v[0-9]+/debug`.
 *
 * Case-insensitive because the upstream may be (a Windows or macOS filesystem, a framework that
 * lower-cases routes): `/X.PHP` must not slip past `*.php`. Methods match exactly (`TRACE`). User
 * agents match as case-insensitive substrings, or `re:` regexes (case-insensitive); a request
 * without a User-Agent is matched as the empty string, so `re:^$` refuses it.
 */
import picomatch from 'picomatch';
import { MoatError } from '../core/errors.ts';
import type { DenyRuleConfig } from '../config/gate.ts';
import type { DenyMatch } from './types.ts';

export type DenyMatcher = (
  method: string,
  normalizedPath: string,
  userAgent: string | undefined,
) => DenyMatch | undefined;

interface Labelled {
  readonly label: string;
  readonly test: RegExp;
}

interface CompiledRule {
  readonly action: DenyMatch['action'];
  /** Globs without `/`: one combined expression over single segments. */
  readonly segment: RegExp | undefined;
  /** Anchored globs: one combined expression over the path and each of its ancestors (no leading `/`). */
  readonly anchored: RegExp | undefined;
  readonly regexes: RegExp | undefined;
  readonly paths: readonly (Labelled & { readonly kind: 'segment' | 'anchored' | 'regex' })[];
  readonly methods: ReadonlySet<string>;
  readonly agentSubstrings: readonly string[];
  readonly agentRegexes: readonly Labelled[];
}

const GLOB_OPTIONS = { nocase: true, dot: true } as const;

function combine(expressions: readonly RegExp[]): RegExp | undefined {
  if (expressions.length === 0) return undefined;
  return new RegExp(expressions.map((e) => `(?:${e.source})`).join('|'), 'i');
}

function compileRegex(source: string, key: string): RegExp {
  try {
    return new RegExp(source, 'i');
  } catch (error) {
    throw new MoatError('MOAT_CONFIG_INVALID', `${key}: "re:${source}" is not a valid regular expression`, {
      hint: `Fix the expression (${(error as Error).message}), or write a glob like *.php without re:.`,
      cause: error,
    });
  }
}

function compileRule(rule: DenyRuleConfig, index: number): CompiledRule {
  const where = `gate.deny[${index}]`;
  if (rule.paths.length === 0 && rule.methods.length === 0 && rule.userAgents.length === 0) {
    throw new MoatError('MOAT_CONFIG_INVALID', `${where}: the rule lists no path, method or user agent`, {
      hint: 'Give it `paths`, `methods` or `userAgents`, or remove it.',
    });
  }
  const paths: (Labelled & { kind: 'segment' | 'anchored' | 'regex' })[] = [];
  rule.paths.forEach((pattern, j) => {
    const key = `${where}.paths[${j}]`;
    const label = `path ${pattern}`;
    if (pattern.startsWith('re:')) {
      paths.push({ label, kind: 'regex', test: compileRegex(pattern.slice(3), key) });
      return;
    }
    const glob = pattern.replace(/^\/+/, '').replace(/\/+$/, '');
    if (glob === '') {
      throw new MoatError('MOAT_CONFIG_INVALID', `${key}: "${pattern}" names no path`, {
        hint: 'Write a glob like /.env, *.php or /.git/** (/** refuses every path).',
      });
    }
    let test: RegExp;
    try {
      test = picomatch.makeRe(glob, GLOB_OPTIONS);
    } catch (error) {
      throw new MoatError('MOAT_CONFIG_INVALID', `${key}: "${pattern}" is not a glob moat can read`, {
        hint: 'Use *, **, ?, [abc] and {a,b}; or a regular expression with re:.',
        cause: error,
      });
    }
    paths.push({ label, kind: pattern.includes('/') ? 'anchored' : 'segment', test });
  });
  const agentSubstrings: string[] = [];
  const agentRegexes: Labelled[] = [];
  rule.userAgents.forEach((agent, j) => {
    if (agent.startsWith('re:')) {
      agentRegexes.push({
        label: `user-agent ${agent}`,
        test: compileRegex(agent.slice(3), `${where}.userAgents[${j}]`),
      });
    } else {
      agentSubstrings.push(agent.toLowerCase());
    }
  });
  const of = (kind: 'segment' | 'anchored' | 'regex'): RegExp[] =>
    paths.filter((p) => p.kind === kind).map((p) => p.test);
  return {
    action: rule.action,
    segment: combine(of('segment')),
    anchored: combine(of('anchored')),
    regexes: combine(of('regex')),
    paths,
    methods: new Set(rule.methods),
    agentSubstrings,
    agentRegexes,
  };
}

/** The path's segments and its ancestors, computed once per request and only when a rule needs them. */
interface PathParts {
  readonly segments: readonly string[];
  /** `a`, `a/b`, `a/b/c` for `/a/b/c` (no leading slash, no trailing slash). */
  readonly prefixes: readonly string[];
}

function splitPath(path: string): PathParts {
  const trimmed = path.replace(/^\/+/, '').replace(/\/+$/, '');
  if (trimmed === '') return { segments: [], prefixes: [] };
  const segments = trimmed.split('/');
  const prefixes: string[] = [];
  let at = trimmed.indexOf('/');
  while (at >= 0) {
    prefixes.push(trimmed.slice(0, at));
    at = trimmed.indexOf('/', at + 1);
  }
  prefixes.push(trimmed);
  return { segments, prefixes };
}

function pathLabel(rule: CompiledRule, path: string, parts: PathParts): string | undefined {
  for (const p of rule.paths) {
    if (
      p.kind === 'regex'
        ? p.test.test(path)
        : (p.kind === 'segment' ? parts.segments : parts.prefixes).some((s) => p.test.test(s))
    ) {
      return p.label;
    }
  }
  return undefined;
}

/**
 * Compiles the rules (globs through picomatch, regexes) once. Throws MoatError naming the key for
 * a rule that cannot be compiled. The matcher never throws.
 */
export function compileDenyRules(rules: readonly DenyRuleConfig[]): DenyMatcher {
  const compiled = rules.map(compileRule);
  if (compiled.length === 0) return () => undefined;
  return function denyMatch(method, normalizedPath, userAgent) {
    let parts: PathParts | undefined;
    let agent: string | undefined;
    const hasPath = normalizedPath !== '*';
    for (const rule of compiled) {
      if (rule.methods.has(method)) return { rule: `method ${method}`, action: rule.action };
      if (
        hasPath &&
        (rule.segment !== undefined || rule.anchored !== undefined || rule.regexes !== undefined)
      ) {
        parts ??= splitPath(normalizedPath);
        const hit =
          (rule.regexes !== undefined && rule.regexes.test(normalizedPath)) ||
          (rule.segment !== undefined && parts.segments.some((s) => rule.segment!.test(s))) ||
          (rule.anchored !== undefined && parts.prefixes.some((s) => rule.anchored!.test(s)));
        if (hit) return { rule: pathLabel(rule, normalizedPath, parts) ?? 'path', action: rule.action };
      }
      if (rule.agentSubstrings.length > 0 || rule.agentRegexes.length > 0) {
        agent ??= (userAgent ?? '').toLowerCase();
        const lower = agent;
        const substring = rule.agentSubstrings.find((s) => lower.includes(s));
        if (substring !== undefined) return { rule: `user-agent ${substring}`, action: rule.action };
        const regex = rule.agentRegexes.find((r) => r.test.test(userAgent ?? ''));
        if (regex !== undefined) return { rule: regex.label, action: rule.action };
      }
    }
    return undefined;
  };
}

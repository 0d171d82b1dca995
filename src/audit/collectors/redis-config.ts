/**
 * Pure reading of Redis configuration: redis.conf lines (split the way Redis's sdssplitargs does),
 * ACL rules (`user` directives and the aclfile), and the effective settings of one instance.
 * No IO here: redis.ts finds and reads the files; this module turns their text into facts.
 *
 * Secrets never leave this module: passwords are counted, not kept, and every `text` meant for
 * evidence has them masked.
 */
import { createHash } from 'node:crypto';

/** A place in a file, with the line as written (secrets masked), for evidence. */
export interface RedisSource {
  /** Host path of the file (never --root-prefixed). */
  readonly file: string;
  /** 1-based line; absent when the value is Redis's default (no line sets it). */
  readonly line?: number;
  /** What was seen, e.g. `protected-mode no`; for defaults, a sentence saying so. */
  readonly text: string;
}

/** A setting's effective value and where it came from. */
export interface RedisSetting<T> extends RedisSource {
  readonly value: T;
}

/** One directive as Redis reads it: name lower-cased, arguments unquoted. */
export interface RedisDirective {
  readonly name: string;
  readonly args: readonly string[];
  readonly file: string;
  readonly line: number;
  /** The line as written, secrets masked. */
  readonly text: string;
}

/** Something Redis itself would refuse at start-up ("FATAL CONFIG FILE ERROR"). */
export interface RedisConfigError {
  readonly file: string;
  readonly line?: number;
  readonly detail: string;
}

/** The commands that let a client take over the server or the host. */
export const DANGEROUS_COMMANDS = ['config', 'replicaof', 'slaveof', 'module', 'debug'] as const;
export type DangerousCommand = (typeof DANGEROUS_COMMANDS)[number];

/** `enable-debug-command`, `enable-module-command`, `enable-protected-configs` (Redis 7.0+). */
export type EnableOption = 'yes' | 'no' | 'local';

export interface RedisAclUser extends RedisSource {
  readonly name: string;
  /** `on`: clients may authenticate as this user (for `default`: every new connection is this user). */
  readonly enabled: boolean;
  /** `nopass`: any password (or none) is accepted. */
  readonly nopass: boolean;
  /** Number of passwords (`>…` or `#…`) the user has; the passwords themselves are never kept. */
  readonly passwordCount: number;
  /** Whether the user's command rules (root or any selector) allow each dangerous command. */
  readonly commands: Readonly<Record<DangerousCommand, boolean>>;
  /** The rule that last decided each dangerous command, e.g. `+@all` or `-config`. */
  readonly decidedBy: Readonly<Partial<Record<DangerousCommand, string>>>;
}

export interface RedisRename extends RedisSource {
  /** Lower-cased command name. */
  readonly command: string;
  /** True for `rename-command X ""`: the command is gone for everyone. */
  readonly disabled: boolean;
}

/** Which Redis the config file was written for, judged from directives only one side knows. */
export interface RedisVersionHint extends RedisSource {
  readonly atLeast7: boolean;
}

export interface RedisInstance {
  /** The main config file (host path). */
  readonly configFile: string;
  /** Every file read for it: the main file, its includes, the aclfile. */
  readonly files: readonly string[];
  readonly port: RedisSetting<number>;
  /** Undefined when no `bind` directive is set: Redis then listens on every interface. */
  readonly bind?: RedisSetting<readonly string[]> & {
    /** Addresses ready for exposure reasoning: `-` prefix dropped, `*` → 0.0.0.0, `::*` → ::. */
    readonly addresses: readonly string[];
  };
  readonly protectedMode: RedisSetting<boolean>;
  /** Undefined when no `requirepass` line exists; `value` is false for `requirepass ""`. */
  readonly requirepass?: RedisSetting<boolean>;
  /** True when requirepass is set but ignored (an aclfile or a `user default` line replaces it). */
  readonly requirepassIgnored: boolean;
  readonly aclfile?: RedisSetting<string>;
  /** The default user every new connection starts as, after requirepass, `user` lines or the aclfile. */
  readonly defaultUser: RedisAclUser;
  /** Users other than `default`. */
  readonly users: readonly RedisAclUser[];
  readonly renames: readonly RedisRename[];
  readonly enableDebugCommand: RedisSetting<EnableOption>;
  readonly enableModuleCommand: RedisSetting<EnableOption>;
  readonly enableProtectedConfigs: RedisSetting<EnableOption>;
  readonly dir: RedisSetting<string>;
  readonly dbfilename: RedisSetting<string>;
  readonly replicaof?: RedisSetting<string>;
  readonly versionHint?: RedisVersionHint;
}

// ---------------------------------------------------------------------------------------------
// Splitting lines

const SIMPLE_ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', b: '\b', a: '\x07' };
const isSpace = (char: string | undefined) =>
  char === ' ' || char === '\t' || char === '\n' || char === '\r' || char === '\v' || char === '\f';

/**
 * Splits a line into arguments exactly as Redis's sdssplitargs does: whitespace separates,
 * "double quotes" take \n \r \t \b \a \xHH and \<char> escapes, 'single quotes' take only \',
 * a quote may open mid-word, and a closing quote must be followed by a space or the end.
 * Returns undefined for unbalanced quotes (Redis refuses such a line).
 */
export function splitRedisArgs(line: string): string[] | undefined {
  const args: string[] = [];
  let i = 0;
  while (true) {
    while (isSpace(line[i])) i++;
    if (i >= line.length) return args;
    let current = '';
    let inDouble = false;
    let inSingle = false;
    let done = false;
    while (!done) {
      const char = line[i];
      if (inDouble) {
        if (char === undefined) return undefined;
        if (char === '\\' && line[i + 1] === 'x' && /^[0-9a-fA-F]{2}$/.test(line.slice(i + 2, i + 4))) {
          current += String.fromCharCode(Number.parseInt(line.slice(i + 2, i + 4), 16));
          i += 3;
        } else if (char === '\\' && line[i + 1] !== undefined) {
          const next = line[i + 1] as string;
          current += SIMPLE_ESCAPES[next] ?? next;
          i++;
        } else if (char === '"') {
          if (line[i + 1] !== undefined && !isSpace(line[i + 1])) return undefined;
          done = true;
        } else {
          current += char;
        }
      } else if (inSingle) {
        if (char === undefined) return undefined;
        if (char === '\\' && line[i + 1] === "'") {
          current += "'";
          i++;
        } else if (char === "'") {
          if (line[i + 1] !== undefined && !isSpace(line[i + 1])) return undefined;
          done = true;
        } else {
          current += char;
        }
      } else if (char === undefined || isSpace(char)) {
        done = true;
      } else if (char === '"') {
        inDouble = true;
      } else if (char === "'") {
        inSingle = true;
      } else {
        current += char;
      }
      if (char !== undefined) i++;
    }
    args.push(current);
  }
}

// ---------------------------------------------------------------------------------------------
// Masking secrets for evidence

const SECRET_DIRECTIVES = new Set([
  'requirepass',
  'masterauth',
  'tls-key-file-pass',
  'tls-client-key-file-pass',
  'sentinel-pass',
]);

function maskAclRule(rule: string): string {
  if (rule.startsWith('>') || rule.startsWith('<')) return `${rule[0]}********`;
  if (rule.startsWith('#') || rule.startsWith('!')) return `${rule[0]}…`;
  return rule;
}

function quoteArg(arg: string): string {
  return arg === '' || /[\s"'\\]/.test(arg) ? JSON.stringify(arg) : arg;
}

/** The directive as text for evidence, with passwords and renamed-to command names masked. */
export function maskDirective(name: string, args: readonly string[]): string {
  let shown: readonly string[] = args;
  if (SECRET_DIRECTIVES.has(name)) shown = args.map((arg) => (arg === '' ? arg : '********'));
  else if (name === 'user') shown = args.map((arg, index) => (index === 0 ? arg : maskAclRule(arg)));
  else if (name === 'rename-command')
    shown = args.map((arg, index) => (index === 1 && arg !== '' ? '<renamed>' : arg));
  return [name, ...shown.map(quoteArg)].join(' ');
}

// ---------------------------------------------------------------------------------------------
// redis.conf

export interface ParsedRedisFile {
  readonly directives: readonly RedisDirective[];
  readonly errors: readonly RedisConfigError[];
}

/** Parses one redis.conf-format file (includes are not followed here: see redis.ts). */
export function parseRedisConfig(text: string, file: string): ParsedRedisFile {
  const directives: RedisDirective[] = [];
  const errors: RedisConfigError[] = [];
  const lines = text.split('\n');
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const args = splitRedisArgs(line);
    if (args === undefined) {
      errors.push({
        file,
        line: index + 1,
        detail: `unbalanced quotes: Redis refuses to start on this line`,
      });
      continue;
    }
    const [name, ...rest] = args;
    if (name === undefined) continue;
    const lower = name.toLowerCase();
    directives.push({ name: lower, args: rest, file, line: index + 1, text: maskDirective(lower, rest) });
  }
  return { directives, errors };
}

/**
 * Arguments given to redis-server after the config file (`--port 6380 --protected-mode no`) as
 * directives; Redis applies them after the file, so they win. `where` is the line that holds them
 * (a unit's ExecStart=, a compose `command:`).
 */
export function parseRedisArgs(
  argv: readonly string[],
  where: { file: string; line: number },
): RedisDirective[] {
  const directives: RedisDirective[] = [];
  let current: { name: string; args: string[] } | undefined;
  const flush = () => {
    if (!current) return;
    const text = `--${maskDirective(current.name, current.args)}`;
    directives.push({ name: current.name, args: current.args, file: where.file, line: where.line, text });
  };
  for (const arg of argv) {
    if (arg.startsWith('--') && arg.length > 2) {
      flush();
      current = { name: arg.slice(2).toLowerCase(), args: [] };
    } else if (current) {
      current.args.push(arg);
    }
  }
  flush();
  return directives;
}

// ---------------------------------------------------------------------------------------------
// ACL rules

/** Every command in DANGEROUS_COMMANDS belongs to exactly these categories (COMMAND INFO, 7.0). */
const DANGEROUS_CATEGORIES = new Set(['admin', 'slow', 'dangerous']);
const KNOWN_CATEGORIES = new Set([
  'all',
  'keyspace',
  'read',
  'write',
  'set',
  'sortedset',
  'list',
  'hash',
  'string',
  'bitmap',
  'hyperloglog',
  'geo',
  'stream',
  'pubsub',
  'admin',
  'fast',
  'slow',
  'blocking',
  'dangerous',
  'connection',
  'transaction',
  'scripting',
]);
const FLAG_RULES = new Set([
  'allkeys',
  'resetkeys',
  'allchannels',
  'resetchannels',
  'sanitize-payload',
  'skip-sanitize-payload',
]);

type CommandMap = Record<DangerousCommand, boolean>;

/** `decidedBy` for the default user's commands when no rule was written: Redis's own `+@all`. */
export const BUILT_IN_ALL = 'built-in +@all';

const allCommands = (value: boolean): CommandMap =>
  Object.fromEntries(DANGEROUS_COMMANDS.map((command) => [command, value])) as CommandMap;

interface AclState {
  enabled: boolean;
  nopass: boolean;
  passwords: Set<string>;
  commands: CommandMap;
  decidedBy: Partial<Record<DangerousCommand, string>>;
  selectors: CommandMap[];
}

/** The default user Redis creates: `on nopass ~* &* +@all`. */
function defaultState(): AclState {
  return {
    enabled: true,
    nopass: true,
    passwords: new Set(),
    commands: allCommands(true),
    decidedBy: Object.fromEntries(DANGEROUS_COMMANDS.map((command) => [command, BUILT_IN_ALL])),
    selectors: [],
  };
}

/** A user after `reset`, which is also how a new user starts: off, no password, no commands. */
function resetState(): AclState {
  return {
    enabled: false,
    nopass: false,
    passwords: new Set(),
    commands: allCommands(false),
    decidedBy: {},
    selectors: [],
  };
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** Joins `(+get` `~key)` back into one `(+get ~key)` selector the way Redis does. */
function mergeSelectors(rules: readonly string[]): string[] | string {
  const merged: string[] = [];
  let open: string[] | undefined;
  for (const rule of rules) {
    if (open) {
      open.push(rule);
      if (rule.endsWith(')')) {
        merged.push(open.join(' '));
        open = undefined;
      }
    } else if (rule.startsWith('(') && !rule.endsWith(')')) {
      open = [rule];
    } else {
      merged.push(rule);
    }
  }
  return open ? `unmatched "(" in ${open.join(' ')}` : merged;
}

/** Applies a command rule to a command map; returns an error text for an invalid rule. */
function applyCommandRule(
  commands: CommandMap,
  rule: string,
  decidedBy?: Partial<Record<DangerousCommand, string>>,
): string | undefined | 'not-a-command-rule' {
  const lower = rule.toLowerCase();
  const set = (command: DangerousCommand, value: boolean) => {
    commands[command] = value;
    if (decidedBy) decidedBy[command] = rule;
  };
  if (lower === 'allcommands' || lower === 'nocommands') {
    for (const command of DANGEROUS_COMMANDS) set(command, lower === 'allcommands');
    return undefined;
  }
  const sign = lower[0];
  if (sign !== '+' && sign !== '-') return 'not-a-command-rule';
  const allow = sign === '+';
  const body = lower.slice(1);
  if (body.startsWith('@')) {
    const category = body.slice(1);
    if (!KNOWN_CATEGORIES.has(category)) return `unknown ACL category "${category}"`;
    if (category === 'all' || DANGEROUS_CATEGORIES.has(category)) {
      for (const command of DANGEROUS_COMMANDS) set(command, allow);
    }
    return undefined;
  }
  if (body === '') return `empty command rule "${rule}"`;
  const [command, subcommand] = body.split('|');
  if (!(DANGEROUS_COMMANDS as readonly string[]).includes(command ?? '')) return undefined;
  // `+config|get` allows part of the command (counted as reachable); `-config|set` removes only part.
  if (subcommand !== undefined && !allow) return undefined;
  set(command as DangerousCommand, allow);
  return undefined;
}

/** Applies ACL rules to a user state in order. Returns the first invalid rule, if any. */
function applyAclRules(state: AclState, rules: readonly string[]): string | undefined {
  const merged = mergeSelectors(rules);
  if (typeof merged === 'string') return merged;
  for (const rule of merged) {
    const lower = rule.toLowerCase();
    if (lower === 'on') state.enabled = true;
    else if (lower === 'off') state.enabled = false;
    else if (lower === 'nopass') {
      state.nopass = true;
      state.passwords.clear();
    } else if (lower === 'resetpass') {
      state.nopass = false;
      state.passwords.clear();
    } else if (lower === 'reset') {
      Object.assign(state, resetState());
    } else if (lower === 'clearselectors') {
      state.selectors = [];
    } else if (rule.startsWith('>')) {
      state.passwords.add(sha256(rule.slice(1)));
      state.nopass = false;
    } else if (rule.startsWith('<')) {
      state.passwords.delete(sha256(rule.slice(1)));
    } else if (rule.startsWith('#') || rule.startsWith('!')) {
      const hash = rule.slice(1).toLowerCase();
      if (!/^[0-9a-f]{64}$/.test(hash)) return `"${rule[0]}…" needs a 64-character SHA-256 hex digest`;
      if (rule.startsWith('#')) {
        state.passwords.add(hash);
        state.nopass = false;
      } else state.passwords.delete(hash);
    } else if (
      rule.startsWith('~') ||
      rule.startsWith('%') ||
      rule.startsWith('&') ||
      FLAG_RULES.has(lower)
    ) {
      // key and channel permissions: not what this audit reasons about
    } else if (rule.startsWith('(') && rule.endsWith(')')) {
      const selector = allCommands(false);
      for (const inner of splitRedisArgs(rule.slice(1, -1)) ?? []) {
        if (inner.startsWith('~') || inner.startsWith('%') || inner.startsWith('&') || FLAG_RULES.has(inner))
          continue;
        const result = applyCommandRule(selector, inner);
        if (result === 'not-a-command-rule') return `"${inner}" is not allowed in a selector`;
        if (result !== undefined) return result;
      }
      state.selectors.push(selector);
    } else {
      const result = applyCommandRule(state.commands, rule, state.decidedBy);
      if (result === 'not-a-command-rule') return `unknown ACL rule "${maskAclRule(rule)}"`;
      if (result !== undefined) return result;
    }
  }
  return undefined;
}

function userOf(name: string, state: AclState, source: RedisSource): RedisAclUser {
  const commands = { ...state.commands };
  for (const selector of state.selectors) {
    for (const command of DANGEROUS_COMMANDS) if (selector[command]) commands[command] = true;
  }
  return {
    ...source,
    name,
    enabled: state.enabled,
    nopass: state.nopass,
    passwordCount: state.passwords.size,
    commands,
    decidedBy: { ...state.decidedBy },
  };
}

export interface ParsedAclFile {
  readonly users: readonly RedisAclUser[];
  readonly errors: readonly RedisConfigError[];
}

/** Parses an ACL file (`aclfile`): one `user <name> <rules…>` per line. Redis takes no comments there. */
export function parseAclFile(text: string, file: string): ParsedAclFile {
  const users: RedisAclUser[] = [];
  const errors: RedisConfigError[] = [];
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '') continue;
    const args = splitRedisArgs(line);
    if (args === undefined) {
      errors.push({
        file,
        line: index + 1,
        detail: 'unbalanced quotes: Redis refuses to load this ACL file',
      });
      continue;
    }
    if (args.length === 0) continue;
    const [keyword, name, ...rules] = args;
    if (keyword !== 'user' || name === undefined) {
      errors.push({
        file,
        line: index + 1,
        detail:
          'a line must start with "user <name>" (ACL files take no comments): Redis refuses to load this file',
      });
      continue;
    }
    const state = resetState();
    const error = applyAclRules(state, rules);
    if (error !== undefined) {
      errors.push({ file, line: index + 1, detail: `${error}: Redis refuses to load this ACL file` });
      continue;
    }
    users.push(userOf(name, state, { file, line: index + 1, text: maskDirective('user', [name, ...rules]) }));
  }
  return { users, errors };
}

// ---------------------------------------------------------------------------------------------
// The instance

/** Directives that exist only in Redis 7.0 and later: a 6.x server refuses them. */
const SINCE_7 = new Set([
  'enable-protected-configs',
  'enable-debug-command',
  'enable-module-command',
  'appenddirname',
  'aof-timestamp-enabled',
  'hash-max-listpack-entries',
  'hash-max-listpack-value',
  'zset-max-listpack-entries',
  'zset-max-listpack-value',
  'list-max-listpack-size',
  'latency-tracking',
  'latency-tracking-info-percentiles',
  'shutdown-timeout',
  'shutdown-on-sigint',
  'shutdown-on-sigterm',
  'repl-diskless-sync-max-replicas',
  'cluster-port',
  'cluster-announce-hostname',
]);
/** Names the 6.x default redis.conf writes and the 7.x one replaced (7.0 still accepts them as aliases). */
const BEFORE_7 = new Set(['hash-max-ziplist-entries', 'list-max-ziplist-size', 'zset-max-ziplist-entries']);

export interface BuildOptions {
  /** The aclfile (host path, resolved) and its text, when the config names one and it could be read. */
  readonly acl?: { readonly file: string; readonly text: string };
  /**
   * protected-mode when no line sets it. Redis's own default is yes; the official Docker image
   * builds Redis with it off.
   */
  readonly protectedModeDefault?: boolean;
}

export interface BuiltInstance {
  readonly instance: RedisInstance;
  readonly errors: readonly RedisConfigError[];
}

const YES_NO: Record<string, boolean> = { yes: true, no: false };

/**
 * The effective settings of one Redis from its directives in order (includes already expanded).
 * Single-valued directives: last wins. Values Redis would refuse become errors and keep the default.
 */
export function buildRedisInstance(
  configFile: string,
  files: readonly string[],
  directives: readonly RedisDirective[],
  options: BuildOptions = {},
): BuiltInstance {
  const errors: RedisConfigError[] = [];
  const last = new Map<string, RedisDirective>();
  const renames: RedisRename[] = [];
  const userLines: RedisDirective[] = [];
  let versionHint: RedisVersionHint | undefined;
  const fail = (directive: RedisDirective, detail: string) =>
    errors.push({ file: directive.file, line: directive.line, detail: `${detail}: Redis refuses to start` });

  for (const directive of directives) {
    const { name, args } = directive;
    if (name === 'rename-command') {
      const [command, to] = args;
      if (command === undefined || to === undefined || args.length !== 2) {
        fail(directive, 'rename-command takes two arguments');
        continue;
      }
      const lower = command.toLowerCase();
      if (renames.some((rename) => rename.command === lower)) {
        fail(directive, `${command} was already renamed above, so there is no such command any more`);
        continue;
      }
      renames.push({
        command: lower,
        disabled: to === '',
        file: directive.file,
        line: directive.line,
        text: directive.text,
      });
    } else if (name === 'user') {
      userLines.push(directive);
    } else {
      last.set(name === 'slaveof' ? 'replicaof' : name, directive);
    }
    if (SINCE_7.has(name)) {
      versionHint = { atLeast7: true, file: directive.file, line: directive.line, text: directive.text };
    } else if (BEFORE_7.has(name) && versionHint === undefined) {
      versionHint = { atLeast7: false, file: directive.file, line: directive.line, text: directive.text };
    }
  }

  const defaultSource = (text: string): RedisSource => ({ file: configFile, text });
  const setting = <T>(
    name: string,
    fallback: T,
    fallbackText: string,
    read: (arg: string) => T | undefined,
  ) => {
    const directive = last.get(name);
    if (directive) {
      const value = directive.args.length === 1 ? read(directive.args[0] as string) : undefined;
      if (value !== undefined)
        return { value, file: directive.file, line: directive.line, text: directive.text };
      fail(directive, `invalid value for ${name}`);
    }
    return { value: fallback, ...defaultSource(fallbackText) };
  };
  const yesNo = (arg: string) => YES_NO[arg.toLowerCase()];
  const enable = (arg: string) => {
    const lower = arg.toLowerCase();
    return lower === 'yes' || lower === 'no' || lower === 'local' ? (lower as EnableOption) : undefined;
  };
  const anyText = (arg: string) => arg;

  const port = setting('port', 6379, 'no port directive: Redis listens on 6379', (arg) => {
    const value = /^\d+$/.test(arg) ? Number(arg) : Number.NaN;
    return value >= 0 && value <= 65_535 ? value : undefined;
  });
  const protectedDefault = options.protectedModeDefault ?? true;
  const protectedMode = setting(
    'protected-mode',
    protectedDefault,
    protectedDefault
      ? 'no protected-mode directive: Redis defaults to yes'
      : 'no protected-mode directive: this Redis build defaults to no',
    yesNo,
  );

  let bind: RedisInstance['bind'];
  const bindDirective = last.get('bind');
  if (bindDirective) {
    if (bindDirective.args.length === 0) fail(bindDirective, 'bind needs at least one address');
    else {
      const addresses = bindDirective.args.map((arg) => {
        const bare = arg.startsWith('-') ? arg.slice(1) : arg;
        return bare === '*' ? '0.0.0.0' : bare === '::*' ? '::' : bare;
      });
      bind = {
        value: bindDirective.args,
        addresses,
        file: bindDirective.file,
        line: bindDirective.line,
        text: bindDirective.text,
      };
    }
  }

  let requirepass: RedisSetting<boolean> | undefined;
  const requirepassDirective = last.get('requirepass');
  if (requirepassDirective) {
    const [value] = requirepassDirective.args;
    requirepass = {
      value: value !== undefined && value !== '',
      file: requirepassDirective.file,
      line: requirepassDirective.line,
      text: requirepassDirective.text,
    };
  }

  const aclDirective = last.get('aclfile');
  const aclfile: RedisSetting<string> | undefined =
    aclDirective?.args[0] !== undefined && aclDirective.args[0] !== ''
      ? {
          value: aclDirective.args[0],
          file: aclDirective.file,
          line: aclDirective.line,
          text: aclDirective.text,
        }
      : undefined;

  // Users: Redis applies requirepass while reading the config, then `user` lines (each starting
  // from `reset`), then the aclfile, which replaces every user. `user` lines with an aclfile abort.
  const users = new Map<string, RedisAclUser>();
  let requirepassIgnored = false;
  const builtIn = defaultState();
  let defaultUser: RedisAclUser;
  if (requirepass?.value) {
    builtIn.nopass = false;
    builtIn.passwords.add('requirepass');
  }
  defaultUser = userOf(
    'default',
    builtIn,
    requirepassDirective
      ? { file: requirepassDirective.file, line: requirepassDirective.line, text: requirepassDirective.text }
      : defaultSource('no requirepass and no ACL user "default": the default user is "on nopass +@all"'),
  );

  if (aclfile && userLines.length > 0) {
    for (const line of userLines) {
      fail(line, `"user" lines cannot be combined with aclfile (${aclfile.file}:${aclfile.line})`);
    }
  } else {
    for (const line of userLines) {
      const [name, ...rules] = line.args;
      if (name === undefined) {
        fail(line, 'user needs a name');
        continue;
      }
      const state = resetState();
      const error = applyAclRules(state, rules);
      if (error !== undefined) {
        fail(line, error);
        continue;
      }
      const user = userOf(name, state, { file: line.file, line: line.line, text: line.text });
      if (name === 'default') {
        defaultUser = user;
        if (requirepass) requirepassIgnored = true;
      } else users.set(name, user);
    }
  }

  if (aclfile && options.acl !== undefined) {
    const parsed = parseAclFile(options.acl.text, options.acl.file);
    errors.push(...parsed.errors);
    users.clear();
    if (requirepass) requirepassIgnored = true;
    defaultUser = userOf('default', defaultState(), {
      file: options.acl.file,
      text: 'no "user default" line in the ACL file: Redis gives the default user "on nopass +@all"',
    });
    for (const user of parsed.users) {
      if (user.name === 'default') defaultUser = user;
      else users.set(user.name, user);
    }
  }

  const replicaofDirective = last.get('replicaof');
  const instance: RedisInstance = {
    configFile,
    files,
    port,
    ...(bind ? { bind } : {}),
    protectedMode,
    ...(requirepass ? { requirepass } : {}),
    requirepassIgnored,
    ...(aclfile ? { aclfile } : {}),
    defaultUser,
    users: [...users.values()],
    renames,
    enableDebugCommand: setting(
      'enable-debug-command',
      'no',
      'no enable-debug-command directive (7.0+: no)',
      enable,
    ),
    enableModuleCommand: setting(
      'enable-module-command',
      'no',
      'no enable-module-command directive (7.0+: no)',
      enable,
    ),
    enableProtectedConfigs: setting(
      'enable-protected-configs',
      'no',
      'no enable-protected-configs directive (7.0+: no)',
      enable,
    ),
    dir: setting('dir', './', 'no dir directive: Redis writes to its working directory', anyText),
    dbfilename: setting('dbfilename', 'dump.rdb', 'no dbfilename directive: dump.rdb', anyText),
    ...(replicaofDirective
      ? {
          replicaof: {
            value: replicaofDirective.args.join(' '),
            file: replicaofDirective.file,
            line: replicaofDirective.line,
            text: replicaofDirective.text,
          },
        }
      : {}),
    ...(versionHint ? { versionHint } : {}),
  };
  errors.sort((a, b) => a.file.localeCompare(b.file) || (a.line ?? 0) - (b.line ?? 0));
  return { instance, errors };
}

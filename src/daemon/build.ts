/**
 * The composition root's pure half: config → scenarios, engine, decider, parsers. IO (reading
 * scenario files, fail2ban filters) goes through the functions passed in, so replay and the
 * daemon build the same pipeline the same way.
 */
import { globSync, readFileSync } from 'node:fs';
import type { MoatConfig, SourceConfig } from '../config/schema.ts';
import type { Clock } from '../core/clock.ts';
import { MoatError } from '../core/errors.ts';
import { createDecider, type Decider, type DeciderDeps, type DecisionPolicy } from '../decisions/decider.ts';
import { createEngine } from '../detection/engine.ts';
import { builtinScenarioPaths, loadScenarioFiles } from '../detection/load.ts';
import type { Engine, ScenarioDef } from '../detection/types.ts';
import { loadFail2banFilter, parseFilterSpec } from '../parsing/fail2ban/index.ts';
import { createParser, type Parser } from '../parsing/index.ts';
import { fsReader } from './fs-reader.ts';

const readText = (file: string) => readFileSync(file, 'utf8');

/** Built-in scenarios (minus `watch.scenarios.disabled`) plus the files in `watch.scenarios.files`. */
export function loadConfiguredScenarios(config: MoatConfig): ScenarioDef[] {
  const { builtin, disabled, files } = config.watch.scenarios;
  const paths = builtin ? builtinScenarioPaths() : [];
  for (const pattern of files) {
    const matched = pattern.includes('*') ? globSync(pattern).sort() : [pattern];
    if (matched.length === 0) {
      throw new MoatError('MOAT_CONFIG_INVALID', `watch.scenarios.files: "${pattern}" matches no file`);
    }
    paths.push(...matched);
  }
  const scenarios = loadScenarioFiles(paths, readText);
  const names = new Set(scenarios.map((s) => s.name));
  for (const name of disabled) {
    if (!names.has(name)) {
      throw new MoatError('MOAT_CONFIG_INVALID', `watch.scenarios.disabled: no scenario is named "${name}"`, {
        hint: `Known scenarios: ${[...names].sort().join(', ')}`,
      });
    }
  }
  return scenarios.filter((s) => !disabled.includes(s.name));
}

export function policyOf(config: MoatConfig): Partial<DecisionPolicy> {
  const d = config.decisions;
  return {
    banMs: d.banDuration,
    maxBanMs: d.maxBanDuration,
    escalationFactor: d.escalationFactor,
    repeatWindowMs: d.escalationWindow,
    ipv6Prefix: d.ipv6Prefix,
    allowlist: d.allowlist,
  };
}

export function buildEngine(config: MoatConfig, clock: Clock): Engine {
  return createEngine(loadConfiguredScenarios(config), {
    clock,
    maxBuckets: config.watch.maxBuckets,
    cooldownMs: config.decisions.banDuration,
    // Clients are counted as the prefix they are banned as: at 128 an address is one client, at
    // 48 every address of the /48 fills the same bucket.
    ipv6Prefix: config.decisions.ipv6Prefix,
  });
}

export function buildDecider(config: MoatConfig, deps: DeciderDeps): Decider {
  return createDecider(policyOf(config), deps);
}

/** The name a source is known by in stats, events and stored positions. */
export function sourceName(source: SourceConfig): string {
  if (source.name !== undefined) return source.name;
  if (source.path !== undefined) return source.path;
  return source.journal !== undefined ? 'journal' : 'stdin';
}

/** Builds a source's parser; a fail2ban filter is read (with its includes) and compiled here. */
export async function buildParser(source: SourceConfig, clock: Clock): Promise<Parser> {
  if (source.format === 'fail2ban') {
    const spec = parseFilterSpec(source.filter ?? '');
    if (!spec) {
      throw new MoatError('MOAT_CONFIG_INVALID', `filter: "${source.filter}" is not a filter path`, {
        hint: 'Give the path of a fail2ban filter, optionally with parameters: /etc/fail2ban/filter.d/sshd.conf[mode=aggressive]',
      });
    }
    const { name, parameters } = spec;
    return loadFail2banFilter(
      name,
      {
        parameters,
        clock,
        ...(source.timeZone === undefined ? {} : { timeZone: source.timeZone }),
      },
      fsReader,
    );
  }
  return createParser(
    {
      format: source.format,
      ...(source.logFormat === undefined ? {} : { logFormat: source.logFormat }),
      ...(source.pattern === undefined ? {} : { pattern: source.pattern }),
      ...(source.timeZone === undefined ? {} : { timeZone: source.timeZone }),
    },
    clock,
  );
}

/**
 * Golden tests: each folder holds input.jsonl (ParsedEvents, one per line; `#` lines are the story)
 * and expected.json (the decisions and refusals the built-in scenarios and the default policy
 * produce). options.json, when present, sets { policy, sshSessions, localAddresses, overrides }.
 *
 * Re-bless after an intended change, then review the diff:
 *   UPDATE_GOLDEN=1 node --test test/scenarios/scenarios.test.ts && npx prettier --write test/scenarios
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { manualClock } from '../../src/core/clock.ts';
import type { ParsedEvent } from '../../src/core/events.ts';
import { createDecider, type DecisionPolicy, isRefusal } from '../../src/decisions/decider.ts';
import { createEngine } from '../../src/detection/engine.ts';
import { loadBuiltinScenarios, type ScenarioOverrides } from '../../src/detection/load.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const readText = (path: string) => readFileSync(path, 'utf8');
const UPDATE = process.env['UPDATE_GOLDEN'] === '1';

interface Options {
  readonly policy?: Partial<DecisionPolicy>;
  readonly sshSessions?: readonly string[];
  readonly localAddresses?: readonly string[];
  readonly overrides?: ScenarioOverrides;
}

interface Outcome {
  readonly decisions: { target: string; scenario: string; reason: string; durationMs: number; at: string }[];
  readonly refusals: {
    scenario: string;
    code: string;
    target?: string;
    alert: boolean;
    reason: string;
    at: string;
  }[];
}

function readEvents(file: string): ParsedEvent[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('#'))
    .map((line) => JSON.parse(line) as ParsedEvent);
}

function run(folder: string): Outcome {
  const optionsFile = `${folder}/options.json`;
  const options: Options = existsSync(optionsFile) ? JSON.parse(readFileSync(optionsFile, 'utf8')) : {};
  const engine = createEngine(loadBuiltinScenarios(readText, options.overrides ?? {}));
  const decider = createDecider(options.policy ?? {}, {
    clock: manualClock(0),
    sshSessions: () => options.sshSessions ?? [],
    localAddresses: () => options.localAddresses ?? [],
  });
  const outcome: Outcome = { decisions: [], refusals: [] };
  for (const event of readEvents(`${folder}/input.jsonl`)) {
    for (const overflow of engine.ingest(event) ?? []) {
      const result = decider.decide(overflow);
      const at = new Date(result.at).toISOString();
      if (isRefusal(result)) {
        outcome.refusals.push({
          scenario: result.scenario,
          code: result.code,
          ...(result.target === undefined ? {} : { target: result.target }),
          alert: result.alert,
          reason: result.reason,
          at,
        });
      } else {
        const { target, scenario, reason, durationMs } = result;
        outcome.decisions.push({ target, scenario, reason, durationMs, at });
      }
    }
  }
  return outcome;
}

const folders = readdirSync(HERE)
  .filter((name) => statSync(`${HERE}${name}`).isDirectory() && existsSync(`${HERE}${name}/input.jsonl`))
  .sort();

describe('golden scenarios', () => {
  for (const name of folders) {
    it(`${name}: the decisions match expected.json`, () => {
      const folder = `${HERE}${name}`;
      const actual = run(folder);
      const expectedFile = `${folder}/expected.json`;
      if (UPDATE) writeFileSync(expectedFile, `${JSON.stringify(actual, null, 2)}\n`);
      assert.ok(
        existsSync(expectedFile),
        `${name}/expected.json is missing; run with UPDATE_GOLDEN=1 and review it`,
      );
      assert.deepEqual(actual, JSON.parse(readFileSync(expectedFile, 'utf8')));
    });
  }

  it('every built-in scenario has a folder in which it fires', () => {
    for (const scenario of loadBuiltinScenarios(readText)) {
      assert.ok(folders.includes(scenario.name), `test/scenarios/${scenario.name}/ is missing`);
      const outcome = run(`${HERE}${scenario.name}`);
      const fired = [...outcome.decisions, ...outcome.refusals].some((d) => d.scenario === scenario.name);
      assert.ok(fired, `${scenario.name} never fires on its own golden input`);
    }
  });

  it('benign traffic yields no decision and no refusal at all', () => {
    assert.deepEqual(run(`${HERE}benign-traffic`), { decisions: [], refusals: [] });
  });
});

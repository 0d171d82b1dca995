/**
 * Reason templates: `{count} 4xx responses on distinct paths, last {path}`. Compiled once; rendered
 * only when a scenario fires. Values from events are attacker-controlled, so each is cut to 80
 * characters and stripped of control characters before it lands in logs and firewall comments.
 */
import { formatDuration } from '../core/duration.ts';
import type { ParsedEvent } from '../core/events.ts';
import { fieldGetter, unknownFieldMessage } from './filter.ts';

/** What a template can name besides event fields. */
export interface TemplateContext {
  readonly scenario: string;
  readonly key: string;
  readonly count: number;
  readonly capacity: number;
  /** The time a full bucket takes to leak empty, e.g. `5m`. */
  readonly window: string;
  /** The leak rate, e.g. `10/s`, `1/12m`. */
  readonly rate: string;
}

export type Template = (event: ParsedEvent, context: TemplateContext) => string;

const CONTEXT_NAMES = ['scenario', 'key', 'count', 'capacity', 'window', 'rate'] as const;
const MAX_VALUE_CHARS = 80;

/** Compiles a template; throws an Error whose message names the bad placeholder. */
export function compileTemplate(text: string): Template {
  const parts: ((event: ParsedEvent, context: TemplateContext) => string)[] = [];
  const pattern = /\{([A-Za-z][\w.-]*)\}/g;
  let last = 0;
  for (let match = pattern.exec(text); match !== null; match = pattern.exec(text)) {
    const literal = text.slice(last, match.index);
    if (literal) parts.push(() => literal);
    last = match.index + match[0].length;
    const name = match[1] as string;
    if ((CONTEXT_NAMES as readonly string[]).includes(name)) {
      const key = name as (typeof CONTEXT_NAMES)[number];
      parts.push((_, context) => clean(String(context[key])));
      continue;
    }
    const get = fieldGetter(name);
    if (get === undefined) {
      throw new Error(`{${name}}: ${unknownFieldMessage(name)}, or ${CONTEXT_NAMES.join(', ')}`);
    }
    parts.push((event) => {
      const value = get(event);
      return value === undefined ? '-' : clean(String(value));
    });
  }
  const tail = text.slice(last);
  if (tail) parts.push(() => tail);
  return (event, context) => {
    let out = '';
    for (const part of parts) out += part(event, context);
    return out;
  };
}

function clean(value: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping them is the point
  const printable = value.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
  return printable.length > MAX_VALUE_CHARS ? `${printable.slice(0, MAX_VALUE_CHARS)}…` : printable;
}

/** A leak speed as a rate: 100 → `10/s`, 720000 → `1/12m`. */
export function formatRate(leakSpeedMs: number): string {
  if (leakSpeedMs < 1000) {
    const perSecond = 1000 / leakSpeedMs;
    return `${Number.isInteger(perSecond) ? perSecond : perSecond.toFixed(1)}/s`;
  }
  return `1/${formatDuration(leakSpeedMs)}`;
}

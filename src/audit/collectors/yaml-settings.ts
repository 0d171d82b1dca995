/**
 * Flattens a YAML settings file (elasticsearch.yml, mongod.conf) into dotted keys with line numbers,
 * so that `xpack.security.enabled: false` and `xpack: {security: {enabled: false}}` read the same.
 * Pure: takes text, returns settings or the first parse error.
 */
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument, type YAMLMap } from 'yaml';

export interface Setting {
  /** The key as written in the file (`xpack.security.enabled`, or `bind_ip` in a legacy ini file). */
  readonly written: string;
  /** Scalars as text (`true`, `0.0.0.0`), sequences as lists of text, an empty value as null. */
  readonly value: string | readonly string[] | null;
  /** 1-based line of the key. */
  readonly line: number;
  /** The line as written, when it reads differently from `written: value` (legacy ini files). */
  readonly quote?: string;
}

export type Settings = Readonly<Record<string, Setting>>;

export type YamlSettingsResult =
  | { readonly ok: true; readonly settings: Settings; readonly isMapping: boolean }
  | { readonly ok: false; readonly line: number | undefined; readonly message: string };

export function parseYamlSettings(text: string): YamlSettingsResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true });
  const error = doc.errors[0];
  if (error) {
    return {
      ok: false,
      line: error.linePos?.[0].line,
      message: error.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '') ?? error.code,
    };
  }
  const settings: Record<string, Setting> = {};
  const contents = doc.contents;
  if (!isMap(contents)) return { ok: true, settings, isMapping: contents === null };
  const lineOf = (node: Node | null | undefined) =>
    node?.range ? lineCounter.linePos(node.range[0]).line : 0;
  const walk = (map: YAMLMap, prefix: string) => {
    for (const pair of map.items) {
      const keyNode = pair.key as Node | null;
      const key = isScalar(keyNode) ? String(keyNode.value) : String(keyNode);
      const full = prefix ? `${prefix}.${key}` : key;
      const value = pair.value as Node | null;
      if (isMap(value)) {
        walk(value, full);
        continue;
      }
      settings[full] = { written: full, value: valueText(value), line: lineOf(keyNode) };
    }
  };
  walk(contents, '');
  return { ok: true, settings, isMapping: true };
}

function valueText(node: Node | null): string | readonly string[] | null {
  if (node === null || node === undefined) return null;
  if (isScalar(node)) return node.value === null ? null : String(node.value);
  if (isSeq(node)) return node.items.map((item) => (isScalar(item) ? String(item.value) : String(item)));
  return String(node);
}

/** A setting's value as a list: `a,b` stays one item; sequences become their items. */
export function settingList(setting: Setting | undefined): string[] {
  if (!setting || setting.value === null) return [];
  return typeof setting.value === 'string' ? [setting.value] : [...setting.value];
}

/** Quotes a setting as it was written, for evidence: `xpack.security.enabled: false`. */
export function quoteSetting(setting: Setting): string {
  if (setting.quote !== undefined) return setting.quote;
  const value =
    setting.value === null
      ? ''
      : typeof setting.value === 'string'
        ? setting.value
        : `[${setting.value.join(', ')}]`;
  return `${setting.written}: ${value}`;
}

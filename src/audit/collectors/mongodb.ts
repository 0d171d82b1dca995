/**
 * MongoDB: reads /etc/mongod.conf (official packages) and /etc/mongodb.conf (older distro packages),
 * in the YAML format (`net.bindIp`, `security.authorization`) or the legacy ini format (`bind_ip = `,
 * `auth = true`). Legacy keys are mapped to their YAML names, keeping the key as written.
 */
import type { Finding } from '../../core/finding.ts';
import { unparsableFile } from '../rules.ts';
import type { Collector } from '../types.ts';
import { parseYamlSettings, type Setting, type Settings } from './yaml-settings.ts';

export const MONGODB_CONFIGS = ['/etc/mongod.conf', '/etc/mongodb.conf'] as const;

export interface MongodConfig {
  readonly file: string;
  readonly format: 'yaml' | 'ini';
  /** Settings under their YAML names (`net.bindIp`), whatever the file's format. */
  readonly settings: Settings;
}

export interface MongodbFacts {
  readonly configs: readonly MongodConfig[];
}

/** Legacy option → YAML setting; boolean flags that imply a value are handled separately. */
const INI_NAMES: Readonly<Record<string, string>> = {
  bind_ip: 'net.bindIp',
  bind_ip_all: 'net.bindIpAll',
  bindIp: 'net.bindIp',
  bindIpAll: 'net.bindIpAll',
  port: 'net.port',
  ipv6: 'net.ipv6',
  keyFile: 'security.keyFile',
  keyfile: 'security.keyFile',
  transitionToAuth: 'security.transitionToAuth',
};

const INI_LINE = /^\s*([A-Za-z_][\w.]*)\s*=\s*(.*?)\s*$/;

export const mongodbCollector: Collector<'mongodb'> = {
  name: 'mongodb',
  async collect({ host }) {
    const texts = await Promise.all(MONGODB_CONFIGS.map((file) => host.readText(file)));
    const configs: MongodConfig[] = [];
    const findings: Finding[] = [];
    for (const [index, text] of texts.entries()) {
      const file = MONGODB_CONFIGS[index];
      if (text === undefined || file === undefined) continue;
      const parsed = parseMongodConfig(text);
      if ('error' in parsed) findings.push(unparsableFile(file, parsed.line, parsed.error));
      else configs.push({ file, ...parsed });
    }
    if (configs.length === 0 && findings.length === 0) {
      return { skipped: [{ check: 'mongodb', reason: `no ${MONGODB_CONFIGS.join(' or ')}` }] };
    }
    return { ...(configs.length > 0 ? { facts: { configs } } : {}), findings };
  },
};

export type ParsedMongodConfig =
  | { readonly format: 'yaml' | 'ini'; readonly settings: Settings }
  | { readonly error: string; readonly line: number | undefined };

/**
 * Like mongod: a file whose every option line is `name = value` is the legacy ini format, else YAML.
 */
export function parseMongodConfig(text: string): ParsedMongodConfig {
  const lines = text.split(/\r?\n/);
  const options = lines.filter((line) => line.trim() !== '' && !line.trim().startsWith('#'));
  if (options.length > 0 && options.every((line) => INI_LINE.test(line))) return parseIni(lines);
  const parsed = parseYamlSettings(text);
  if (!parsed.ok) return { error: parsed.message, line: parsed.line };
  if (!parsed.isMapping)
    return { error: 'expected YAML `key: value` settings or `name = value` lines', line: 1 };
  return { format: 'yaml', settings: parsed.settings };
}

function parseIni(lines: readonly string[]): ParsedMongodConfig {
  const settings: Record<string, Setting> = {};
  for (const [index, raw] of lines.entries()) {
    const match = INI_LINE.exec(raw);
    if (!match || raw.trim().startsWith('#')) continue;
    const written = match[1] ?? '';
    const value = (match[2] ?? '').replace(/\s+#.*$/, '').replace(/^"(.*)"$/, '$1');
    const line = index + 1;
    const quote = raw.trim();
    const on = /^(true|1|yes|on)$/i.test(value);
    if (written === 'auth') {
      settings['security.authorization'] = { written, value: on ? 'enabled' : 'disabled', line, quote };
    } else if (written === 'noauth') {
      if (on) settings['security.authorization'] = { written, value: 'disabled', line, quote };
    } else {
      settings[INI_NAMES[written] ?? written] = { written, value, line, quote };
    }
  }
  return { format: 'ini', settings };
}

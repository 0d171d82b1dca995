/**
 * Elasticsearch: reads /etc/elasticsearch/elasticsearch.yml (nested and dotted keys alike) and the
 * version from the jar names under /usr/share/elasticsearch/lib, because the default of
 * `xpack.security.enabled` changed in 8.0 (on since 8.0, off before).
 */
import { unparsableFile } from '../rules.ts';
import type { Collector } from '../types.ts';
import { parseYamlSettings, type Settings } from './yaml-settings.ts';

export const ELASTICSEARCH_CONFIG = '/etc/elasticsearch/elasticsearch.yml';
export const ELASTICSEARCH_LIB = '/usr/share/elasticsearch/lib';

export interface ElasticsearchVersion {
  /** `8.11.1` */
  readonly text: string;
  readonly major: number;
  /** Where it was read, e.g. `/usr/share/elasticsearch/lib/elasticsearch-8.11.1.jar`. */
  readonly source: string;
}

export interface ElasticsearchFacts {
  /** Host path of elasticsearch.yml. */
  readonly file: string;
  /** Every setting, flattened to dotted keys. */
  readonly settings: Settings;
  /** Undefined when no versioned jar was found (tarball installs, copied trees). */
  readonly version?: ElasticsearchVersion;
}

const JAR = /^elasticsearch-(\d+)\.(\d+)\.(\d+)(?:-[\w.]+)?\.jar$/;

export const elasticsearchCollector: Collector<'elasticsearch'> = {
  name: 'elasticsearch',
  async collect({ host }) {
    const [text, jars] = await Promise.all([
      host.readText(ELASTICSEARCH_CONFIG),
      host.list(ELASTICSEARCH_LIB),
    ]);
    if (text === undefined) {
      return { skipped: [{ check: 'elasticsearch', reason: `no ${ELASTICSEARCH_CONFIG}` }] };
    }
    const parsed = parseYamlSettings(text);
    if (!parsed.ok) return { findings: [unparsableFile(ELASTICSEARCH_CONFIG, parsed.line, parsed.message)] };
    if (!parsed.isMapping) {
      return {
        findings: [
          unparsableFile(ELASTICSEARCH_CONFIG, 1, 'expected `key: value` settings, found a plain value'),
        ],
      };
    }
    const version = versionFromJars(jars ?? []);
    return {
      facts: { file: ELASTICSEARCH_CONFIG, settings: parsed.settings, ...(version ? { version } : {}) },
    };
  },
};

export function versionFromJars(names: readonly string[]): ElasticsearchVersion | undefined {
  for (const name of names) {
    const match = JAR.exec(name);
    if (match) {
      return {
        text: `${match[1]}.${match[2]}.${match[3]}`,
        major: Number(match[1]),
        source: `${ELASTICSEARCH_LIB}/${name}`,
      };
    }
  }
  return undefined;
}

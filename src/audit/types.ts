/**
 * The audit's contracts. Collectors (IO, through Host) produce Facts; checks (pure) turn Facts into
 * Findings; exposure reasoning combines bind addresses, firewalls, Docker and CDN into one verdict.
 */

import type { MoatConfig } from '../config/schema.ts';
import type { Finding, Rule, Skipped } from '../core/finding.ts';
import type { DockerFacts } from './collectors/docker.ts';
import type { ElasticsearchFacts } from './collectors/elasticsearch.ts';
import type { FilesFacts } from './collectors/files.ts';
import type { MemcachedFacts } from './collectors/memcached.ts';
import type { MongodbFacts } from './collectors/mongodb.ts';
import type { NetfilterFacts } from './collectors/netfilter.ts';
import type { NginxFacts } from './collectors/nginx.ts';
import type { PostgresqlFacts } from './collectors/postgresql.ts';
import type { RedisFacts } from './collectors/redis.ts';
import type { SocketsFacts } from './collectors/sockets.ts';
import type { SshdFacts } from './collectors/sshd.ts';
import type { UfwFacts } from './collectors/ufw.ts';
import type { Host } from './host.ts';

/** Everything the collectors learned. A key is absent when its source was absent (see `skipped`). */
export interface Facts {
  redis?: RedisFacts;
  files?: FilesFacts;
  sshd?: SshdFacts;
  nginx?: NginxFacts;
  docker?: DockerFacts;
  ufw?: UfwFacts;
  netfilter?: NetfilterFacts;
  sockets?: SocketsFacts;
  elasticsearch?: ElasticsearchFacts;
  mongodb?: MongodbFacts;
  postgresql?: PostgresqlFacts;
  memcached?: MemcachedFacts;
}

export interface CollectContext {
  readonly host: Host;
  readonly config: MoatConfig;
  /** Compose files named with --compose and in config, as host paths. */
  readonly composeFiles: readonly string[];
}

export interface Collected<T> {
  readonly facts?: T;
  /** Sources that were absent or unusable: `{ check: 'redis', reason: 'no redis.conf found' }`. */
  readonly skipped?: readonly Skipped[];
  /** Files that exist but could not be parsed (see `unparsableFile` in rules.ts). */
  readonly findings?: readonly Finding[];
}

/** Contract: never throws for anything a host can contain; absent → skipped, unparsable → finding. */
export interface Collector<K extends keyof Facts> {
  readonly name: K;
  collect(context: CollectContext): Promise<Collected<NonNullable<Facts[K]>>>;
}

export type AnyCollector = { [K in keyof Facts]-?: Collector<K> }[keyof Facts];

/** Where a listening service can be reached from. */
export type Reach = 'internet' | 'private' | 'local';

export interface Endpoint {
  /** A short name for the evidence: `redis`, `elasticsearch`, `ssh`… */
  readonly service: string;
  readonly port: number;
  readonly protocol: 'tcp' | 'udp';
  /**
   * Bind addresses from the service's own config (`0.0.0.0`, `127.0.0.1`, `::`). Empty when the
   * config does not say: then listening sockets decide, and without those the service default does.
   */
  readonly binds: readonly string[];
}

export interface ExposureVerdict {
  readonly reach: Reach;
  /**
   * When a firewall restricts the port to some sources, the source CIDRs it still accepts
   * (absent = from anywhere the reach allows).
   */
  readonly sources?: readonly string[];
  /** The chain of reasoning, one step per line, for the evidence. */
  readonly reasons: readonly string[];
}

export interface Exposure {
  assess(endpoint: Endpoint): ExposureVerdict;
}

export interface CheckContext {
  readonly facts: Facts;
  readonly exposure: Exposure;
  readonly config: MoatConfig;
}

/** Contract: pure (no IO, no clock); declares every rule id it can emit in `rules`. */
export interface Check {
  readonly name: string;
  readonly rules: readonly Rule[];
  run(context: CheckContext): Finding[];
}

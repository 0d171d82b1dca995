/** The audit's collectors and checks, chosen in one place. Order here is the order in docs/checks.md. */
import { dockerCheck } from './checks/docker.ts';
import { elasticsearchCheck } from './checks/elasticsearch.ts';
import { exposureCheck } from './checks/exposure.ts';
import { memcachedCheck } from './checks/memcached.ts';
import { mongodbCheck } from './checks/mongodb.ts';
import { nginxCheck } from './checks/nginx.ts';
import { postgresqlCheck } from './checks/postgresql.ts';
import { redisCheck } from './checks/redis.ts';
import { sshdCheck } from './checks/sshd.ts';
import { ufwCheck } from './checks/ufw.ts';
import { dockerCollector } from './collectors/docker.ts';
import { elasticsearchCollector } from './collectors/elasticsearch.ts';
import { filesCollector } from './collectors/files.ts';
import { memcachedCollector } from './collectors/memcached.ts';
import { mongodbCollector } from './collectors/mongodb.ts';
import { netfilterCollector } from './collectors/netfilter.ts';
import { nginxCollector } from './collectors/nginx.ts';
import { postgresqlCollector } from './collectors/postgresql.ts';
import { redisCollector } from './collectors/redis.ts';
import { socketsCollector } from './collectors/sockets.ts';
import { sshdCollector } from './collectors/sshd.ts';
import { ufwCollector } from './collectors/ufw.ts';
import type { AnyCollector, Check } from './types.ts';

export const collectors: readonly AnyCollector[] = [
  socketsCollector,
  netfilterCollector,
  ufwCollector,
  dockerCollector,
  redisCollector,
  filesCollector,
  sshdCollector,
  nginxCollector,
  elasticsearchCollector,
  mongodbCollector,
  postgresqlCollector,
  memcachedCollector,
];

export const checks: readonly Check[] = [
  exposureCheck,
  redisCheck,
  elasticsearchCheck,
  mongodbCheck,
  postgresqlCheck,
  memcachedCheck,
  dockerCheck,
  ufwCheck,
  sshdCheck,
  nginxCheck,
];

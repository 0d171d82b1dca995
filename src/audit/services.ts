/**
 * Known network services: which name a port, a process or a container image stands for, and which
 * of them are datastores or admin interfaces that must never face the internet. Pure.
 */

export interface ServiceInfo {
  /** Short name used in evidence and endpoints: `redis`, `elasticsearch`, `ssh`… */
  readonly name: string;
  /** For titles: `Redis`, `Elasticsearch`, `the Docker API`… */
  readonly label: string;
  /**
   * A datastore, cache, queue or admin/control interface: reachable from the internet it is an
   * incident (data read or wiped, a Redis hijacked with REPLICAOF, a root shell via the Docker API).
   */
  readonly sensitive: boolean;
  /** Container ports the official image listens on (for images we know). */
  readonly ports: readonly number[];
}

const SERVICES: readonly ServiceInfo[] = [
  { name: 'redis', label: 'Redis', sensitive: true, ports: [6379] },
  { name: 'redis-sentinel', label: 'Redis Sentinel', sensitive: true, ports: [26379] },
  { name: 'elasticsearch', label: 'Elasticsearch', sensitive: true, ports: [9200, 9300] },
  { name: 'mongodb', label: 'MongoDB', sensitive: true, ports: [27017, 27018, 27019] },
  { name: 'postgresql', label: 'PostgreSQL', sensitive: true, ports: [5432] },
  { name: 'mysql', label: 'MySQL/MariaDB', sensitive: true, ports: [3306, 33060] },
  { name: 'memcached', label: 'Memcached', sensitive: true, ports: [11211] },
  { name: 'docker', label: 'the Docker API', sensitive: true, ports: [2375, 2376] },
  { name: 'etcd', label: 'etcd', sensitive: true, ports: [2379, 2380] },
  { name: 'kubelet', label: 'the kubelet API', sensitive: true, ports: [10250] },
  { name: 'couchdb', label: 'CouchDB', sensitive: true, ports: [5984] },
  { name: 'cassandra', label: 'Cassandra', sensitive: true, ports: [9042] },
  { name: 'rabbitmq', label: 'RabbitMQ', sensitive: true, ports: [5672, 15672] },
  { name: 'erlang-epmd', label: 'the Erlang port mapper (epmd)', sensitive: true, ports: [4369] },
  { name: 'zookeeper', label: 'ZooKeeper', sensitive: true, ports: [2181] },
  { name: 'kafka', label: 'Kafka', sensitive: true, ports: [9092] },
  { name: 'influxdb', label: 'InfluxDB', sensitive: true, ports: [8086] },
  { name: 'clickhouse', label: 'ClickHouse', sensitive: true, ports: [8123] },
  { name: 'kibana', label: 'Kibana', sensitive: true, ports: [5601] },
  { name: 'consul', label: 'Consul', sensitive: true, ports: [8500] },
  { name: 'nats', label: 'NATS', sensitive: true, ports: [4222] },
  { name: 'mqtt', label: 'an MQTT broker', sensitive: true, ports: [1883] },
  { name: 'beanstalkd', label: 'beanstalkd', sensitive: true, ports: [11300] },
  { name: 'solr', label: 'Solr', sensitive: true, ports: [8983] },
  { name: 'prometheus', label: 'Prometheus', sensitive: true, ports: [9090] },
  { name: 'node-exporter', label: 'the Prometheus node exporter', sensitive: true, ports: [9100] },
  { name: 'ssh', label: 'SSH', sensitive: false, ports: [22] },
  { name: 'http', label: 'HTTP', sensitive: false, ports: [80, 8080] },
  { name: 'https', label: 'HTTPS', sensitive: false, ports: [443, 8443] },
  { name: 'smtp', label: 'SMTP', sensitive: false, ports: [25, 465, 587] },
  { name: 'dns', label: 'DNS', sensitive: false, ports: [53] },
  { name: 'wireguard', label: 'WireGuard', sensitive: false, ports: [51820] },
];

const BY_NAME = new Map(SERVICES.map((service) => [service.name, service]));
const BY_PORT = new Map<number, ServiceInfo>();
for (const service of SERVICES)
  for (const port of service.ports) if (!BY_PORT.has(port)) BY_PORT.set(port, service);

export function serviceNamed(name: string): ServiceInfo | undefined {
  return BY_NAME.get(name);
}

/** The service usually on this port, e.g. 6379 → redis. */
export function serviceForPort(port: number): ServiceInfo | undefined {
  return BY_PORT.get(port);
}

/** Process names (`/proc/<pid>/comm`, at most 15 characters) → service. */
const PROCESSES: Record<string, string> = {
  'redis-server': 'redis',
  'redis-sentinel': 'redis-sentinel',
  'valkey-server': 'redis',
  'keydb-server': 'redis',
  postgres: 'postgresql',
  postmaster: 'postgresql',
  mysqld: 'mysql',
  mariadbd: 'mysql',
  mongod: 'mongodb',
  mongos: 'mongodb',
  memcached: 'memcached',
  dockerd: 'docker',
  etcd: 'etcd',
  kubelet: 'kubelet',
  epmd: 'erlang-epmd',
  sshd: 'ssh',
  'sshd-session': 'ssh',
  mosquitto: 'mqtt',
  'nats-server': 'nats',
  beanstalkd: 'beanstalkd',
  'clickhouse-serv': 'clickhouse',
  prometheus: 'prometheus',
  node_exporter: 'node-exporter',
  influxd: 'influxdb',
  consul: 'consul',
};

/**
 * The service behind a listening socket: the process name when it says (redis-server → redis),
 * else the port (a `java` on 9200 is Elasticsearch). Web servers keep their own name.
 */
export function serviceForProcess(process: string | undefined, port: number): ServiceInfo | undefined {
  if (process !== undefined) {
    const named = PROCESSES[process];
    if (named !== undefined) return BY_NAME.get(named);
  }
  return serviceForPort(port);
}

/** Image base names (the last path part, without tag or digest) → service. */
const IMAGES: readonly [RegExp, string][] = [
  [/^(redis|redis-stack|redis-stack-server|valkey|keydb)$/, 'redis'],
  [/^(elasticsearch|opensearch)$/, 'elasticsearch'],
  [/^(mongo|mongodb|mongodb-community-server|mongodb-enterprise-server)$/, 'mongodb'],
  [/^(postgres|postgis|timescaledb|timescaledb-ha|pgvector|postgresql)$/, 'postgresql'],
  [/^(mysql|mariadb|percona|percona-server|mysql-server)$/, 'mysql'],
  [/^memcached$/, 'memcached'],
  [/^docker$/, 'docker'],
  [/^etcd$/, 'etcd'],
  [/^couchdb$/, 'couchdb'],
  [/^cassandra$/, 'cassandra'],
  [/^rabbitmq$/, 'rabbitmq'],
  [/^(zookeeper|cp-zookeeper)$/, 'zookeeper'],
  [/^(kafka|cp-kafka|cp-server)$/, 'kafka'],
  [/^influxdb$/, 'influxdb'],
  [/^clickhouse-server$/, 'clickhouse'],
  [/^(kibana|opensearch-dashboards)$/, 'kibana'],
  [/^consul$/, 'consul'],
  [/^nats$/, 'nats'],
  [/^eclipse-mosquitto$/, 'mqtt'],
  [/^solr$/, 'solr'],
  [/^prometheus$/, 'prometheus'],
  [/^node-exporter$/, 'node-exporter'],
];

/** `docker.elastic.co/elasticsearch/elasticsearch:8.11.1` → `elasticsearch`. */
export function imageBaseName(image: string): string {
  const withoutDigest = image.split('@')[0] ?? image;
  const last = withoutDigest.split('/').pop() ?? withoutDigest;
  return (last.split(':')[0] ?? last).toLowerCase();
}

export function serviceForImage(image: string | undefined): ServiceInfo | undefined {
  if (image === undefined) return undefined;
  const base = imageBaseName(image);
  for (const [pattern, name] of IMAGES) if (pattern.test(base)) return BY_NAME.get(name);
  return undefined;
}

/** Names of the sensitive services, for documentation. */
export function sensitiveServiceList(): string {
  return SERVICES.filter((s) => s.sensitive)
    .map((s) => `${s.name} (${s.ports.join('/')})`)
    .join(', ');
}

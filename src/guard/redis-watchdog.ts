/**
 * The Redis watchdog's IO: one connection per instance, one poll per interval (one round trip:
 * INFO replication/persistence/memory/server, CONFIG GET dir/dbfilename, CLIENT LIST), the
 * detector's incidents turned into engine events, responses and one alert each.
 *
 * Responses (`respond: restore`): the offender's address is banned through the daemon (decided at
 * once, committed before the alert goes out), its connection is killed, then replication and
 * dir/dbfilename are put back to the baseline. Each step's outcome is logged and listed in the
 * alert. `observe` changes nothing in Redis; the events still reach the engine's scenarios like a
 * Redis log line would.
 */
import { formatDuration } from '../core/duration.ts';
import type { RedisInstanceConfig } from '../config/guard.ts';
import type { BanOutcome, DaemonServices } from '../daemon/services.ts';
import { describeError, hostPort, openRedisConnection, type RedisConnection } from './redis-connection.ts';
import {
  type Condition,
  createRedisDetector,
  type RedisBaseline,
  type RedisDetector,
  type RedisIncident,
  type Repair,
} from './redis-detect.ts';
import { observationOf, type RedisObservation } from './redis-info.ts';
import { findingEvent, incidentAlert } from './redis-report.ts';

/** What the instance allows, read once at start (logged; a weak posture is a warning). */
export interface RedisPosture {
  readonly version?: string;
  /** `yes` / `no`, when CONFIG GET is allowed. */
  readonly protectedMode?: string;
  /** Whether a client must authenticate as the default user; undefined when it cannot be read. */
  readonly defaultUserNeedsPassword?: boolean;
  /** `enable-protected-configs` (Redis ≥ 7): whether CONFIG SET dir/dbfilename is possible at all. */
  readonly protectedConfigs?: string;
  /** `enable-debug-command` (Redis ≥ 7). */
  readonly debugCommand?: string;
  /** Dangerous commands that exist under their own name (not renamed or removed). */
  readonly commandsAvailable: readonly string[];
}

export interface RedisWatchdog {
  readonly name: string;
  /** `host:port`. */
  readonly address: string;
  readonly detector: RedisDetector;
  readonly posture: RedisPosture | undefined;
  /** Polls done (successful or not). */
  readonly polls: number;
  /** Takes the baseline (if the instance answers), then polls every interval until stop(). */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** One poll now, handled like a scheduled one; returns its incidents. */
  poll(): Promise<RedisIncident[]>;
}

export interface RedisWatchdogOptions {
  readonly instance: RedisInstanceConfig;
  readonly intervalMs: number;
  readonly services: Pick<DaemonServices, 'ingest' | 'ban' | 'alerts' | 'logger' | 'clock'>;
  /** Injected in tests; default: an ioredis connection from the instance's URL. */
  readonly connection?: RedisConnection;
}

const DANGEROUS_BASE_COMMANDS = ['replicaof', 'slaveof', 'config', 'module', 'debug', 'flushall', 'eval'];

const isPermissionError = (error: Error) =>
  /unknown command|NOPERM|no permissions|unknown subcommand/i.test(error.message);

export function createRedisWatchdog(options: RedisWatchdogOptions): RedisWatchdog {
  const { instance, services, intervalMs } = options;
  const { logger, clock } = services;
  const connection =
    options.connection ??
    openRedisConnection(instance, { timeoutMs: instance.timeout, retryMs: Math.min(intervalMs, 1000) });
  const address = hostPort(connection.target.host, connection.target.port);
  const name = instance.name ?? address;
  const command = (base: string) => instance.renamedCommands[base] ?? base;
  const detector = createRedisDetector({
    instance: name,
    address,
    expectedMasters: instance.expectedMasters,
    allowedClients: instance.allowedClients,
    allowedReplicas: instance.allowedReplicas,
    dangerousCommands: instance.dangerousCommands,
    unreachableAfter: instance.unreachableAfter,
    masterLinkDownAfterMs: instance.masterLinkDownAfter,
    memoryAlertAbove: instance.memoryAlertAbove,
    intervalMs,
  });

  let configAllowed = true;
  let clientsAllowed = true;
  let posture: RedisPosture | undefined;
  let polls = 0;
  let stopped = true;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<unknown> = Promise.resolve();

  /** One round trip; an observation, or the reason the instance did not answer. */
  async function read(): Promise<RedisObservation | string> {
    const commands: (readonly string[])[] = [
      [command('CLIENT'), 'ID'],
      [command('INFO'), 'replication'],
      [command('INFO'), 'persistence'],
      [command('INFO'), 'memory'],
      [command('INFO'), 'server'],
    ];
    if (configAllowed)
      commands.push([command('CONFIG'), 'GET', 'dir'], [command('CONFIG'), 'GET', 'dbfilename']);
    if (clientsAllowed) commands.push([command('CLIENT'), 'LIST']);
    const at = clock.now();
    let results: unknown[];
    try {
      results = await connection.pipeline(commands);
    } catch (error) {
      return connection.lastError ?? describeError(error);
    }
    const info = results.slice(1, 5);
    const broken = info.find((r) => r instanceof Error) as Error | undefined;
    if (broken !== undefined) return connection.lastError ?? describeError(broken);
    let next = 5;
    let config: string[][] | undefined;
    if (configAllowed) {
      const replies = [results[next], results[next + 1]];
      next += 2;
      const failed = replies.find((r) => r instanceof Error) as Error | undefined;
      if (failed !== undefined && isPermissionError(failed)) {
        configAllowed = false;
        logger.log('warn', 'redis: cannot read dir/dbfilename; dir changes go unseen', {
          instance: name,
          error: failed.message,
          hint: 'Allow CONFIG GET for the guard’s user, or name a renamed CONFIG in renamedCommands.',
        });
      } else if (failed === undefined) {
        config = replies as string[][];
      }
    }
    let clientList: string | undefined;
    if (clientsAllowed) {
      const reply = results[next];
      if (reply instanceof Error) {
        if (isPermissionError(reply)) {
          clientsAllowed = false;
          logger.log('warn', 'redis: cannot run CLIENT LIST; offending clients go unnamed', {
            instance: name,
            error: reply.message,
          });
        }
      } else if (typeof reply === 'string') {
        clientList = reply;
      }
    }
    const id = results[0];
    detector.setOwnClientId(typeof id === 'number' || typeof id === 'string' ? String(id) : undefined);
    return observationOf({
      at,
      info: info as string[],
      ...(config === undefined ? {} : { config }),
      ...(clientList === undefined ? {} : { clientList }),
    });
  }

  async function readPosture(): Promise<RedisPosture> {
    const config = async (key: string): Promise<string | undefined> => {
      if (!configAllowed) return undefined;
      try {
        const reply = (await connection.call(command('CONFIG'), 'GET', key)) as string[];
        return reply[1];
      } catch {
        return undefined;
      }
    };
    let defaultUserNeedsPassword: boolean | undefined;
    try {
      const user = (await connection.call(command('ACL'), 'GETUSER', 'default')) as unknown[];
      const flags = user[user.indexOf('flags') + 1] as string[] | undefined;
      if (Array.isArray(flags))
        defaultUserNeedsPassword = !(flags.includes('on') && flags.includes('nopass'));
    } catch {
      // Older Redis or no ACL permission: fall back to requirepass (only whether it is set).
      const requirepass = await config('requirepass');
      if (requirepass !== undefined) defaultUserNeedsPassword = requirepass !== '';
    }
    const commandsAvailable: string[] = [];
    try {
      const reply = (await connection.call(
        command('COMMAND'),
        'INFO',
        ...DANGEROUS_BASE_COMMANDS,
      )) as unknown[];
      reply.forEach((entry, i) => {
        if (entry !== null) commandsAvailable.push(DANGEROUS_BASE_COMMANDS[i] as string);
      });
    } catch {
      // COMMAND renamed or denied: unknown.
    }
    const [protectedMode, protectedConfigs, debugCommand] = [
      await config('protected-mode'),
      await config('enable-protected-configs'),
      await config('enable-debug-command'),
    ];
    const version = detector.baseline?.version;
    return {
      ...(version === undefined ? {} : { version }),
      ...(protectedMode === undefined ? {} : { protectedMode }),
      ...(defaultUserNeedsPassword === undefined ? {} : { defaultUserNeedsPassword }),
      ...(protectedConfigs === undefined ? {} : { protectedConfigs }),
      ...(debugCommand === undefined ? {} : { debugCommand }),
      commandsAvailable,
    };
  }

  async function repair(step: Repair): Promise<{ ok: boolean; text: string }> {
    try {
      switch (step.type) {
        case 'replicaof':
          if (step.host === undefined) {
            await connection.call(command('REPLICAOF'), 'NO', 'ONE');
            return { ok: true, text: 'REPLICAOF NO ONE (master again)' };
          }
          await connection.call(command('REPLICAOF'), step.host, step.port ?? 6379);
          return {
            ok: true,
            text: `REPLICAOF ${hostPort(step.host, step.port ?? 6379)} (the expected master again)`,
          };
        case 'config-set':
          await connection.call(command('CONFIG'), 'SET', step.key, step.value);
          return { ok: true, text: `CONFIG SET ${step.key} ${step.value} (back to the baseline)` };
        case 'client-kill': {
          const killed = await connection.call(command('CLIENT'), 'KILL', 'ID', step.id);
          return Number(killed) > 0
            ? { ok: true, text: `killed client id ${step.id} (${step.addr})` }
            : { ok: false, text: `client id ${step.id} (${step.addr}) was already gone` };
        }
        case 'ban':
          return { ok: false, text: 'ban is not a Redis command' };
      }
    } catch (error) {
      const what =
        step.type === 'config-set'
          ? `CONFIG SET ${step.key}`
          : step.type === 'replicaof'
            ? 'REPLICAOF'
            : 'CLIENT KILL';
      return { ok: false, text: `${what} failed: ${describeError(error)}` };
    }
  }

  const banText = (outcome: BanOutcome) => {
    if (outcome.banned) return `banned ${outcome.target} for ${formatDuration(outcome.durationMs)}`;
    return /^not bann/i.test(outcome.reason) ? outcome.reason : `not banned: ${outcome.reason}`;
  };

  async function handle(incidents: readonly RedisIncident[], at: number): Promise<void> {
    for (const incident of incidents) {
      const acting = instance.respond === 'restore' && !incident.quiet;
      // Bans first: the decision is taken at once, so the engine's scenario for the same event
      // (ingested next) sees the address as already banned instead of banning it twice.
      const bans = acting
        ? incident.repairs
            .filter((r): r is Extract<Repair, { type: 'ban' }> => r.type === 'ban')
            .map((r) =>
              services
                .ban({ ip: r.ip, scenario: r.scenario, reason: r.reason, banMs: instance.ban, at })
                .then(
                  (outcome) => banText(outcome),
                  (error: unknown) => `ban of ${r.ip} failed: ${describeError(error)}`,
                ),
            )
        : [];
      for (const finding of incident.findings) services.ingest(findingEvent(finding, name, at));
      const actions: string[] = [];
      if (acting) {
        const repaired: Condition[] = [];
        const kills = incident.repairs.filter((r) => r.type === 'client-kill');
        const state = incident.repairs.filter((r) => r.type === 'replicaof' || r.type === 'config-set');
        const done = new Map<Repair, string>();
        for (const step of [...kills, ...state]) {
          const result = await repair(step);
          done.set(step, result.text);
          if (result.ok && step.type === 'replicaof') repaired.push('role');
          if (result.ok && step.type === 'config-set') repaired.push(step.key);
        }
        detector.repaired(repaired);
        for (const step of state) actions.push(done.get(step) as string);
        for (const step of kills) actions.push(done.get(step) as string);
        actions.push(...(await Promise.all(bans)));
      }
      const level =
        incident.severity === 'critical' ? 'error' : incident.severity === 'warning' ? 'warn' : 'info';
      logger.log(incident.quiet ? 'info' : level, 'redis incident', {
        instance: name,
        incident: incident.key,
        ...(incident.ip === undefined ? {} : { ip: incident.ip }),
        seen: incident.findings.map((f) => f.summary),
        kinds: incident.findings.map((f) => f.kind),
        actions,
        respond: instance.respond,
      });
      if (!incident.quiet) {
        services.alerts.send(
          incidentAlert(incident, actions, { instance: name, address, respond: instance.respond, at }),
        );
      }
    }
  }

  async function pollOnce(): Promise<RedisIncident[]> {
    polls++;
    let observation = await read();
    if (typeof observation !== 'string' && detector.unsettled(observation)) {
      // Caught mid-attack (state changed with nobody in sight, or a command whose effect is not
      // visible yet): one more look at once, so the incident is reported whole.
      const second = await read();
      if (typeof second !== 'string') observation = second;
    }
    const first = detector.baseline === undefined;
    const incidents =
      typeof observation === 'string'
        ? detector.failed(clock.now(), observation)
        : detector.observe(observation);
    const base: RedisBaseline | undefined = detector.baseline;
    if (first && base !== undefined) {
      posture = await readPosture();
      logger.log('info', 'redis baseline', {
        instance: name,
        address,
        respond: instance.respond,
        role: base.role,
        ...(base.masterHost === undefined
          ? {}
          : { master: hostPort(base.masterHost, base.masterPort ?? 6379) }),
        ...(base.dir === undefined ? {} : { dir: base.dir }),
        ...(base.dbfilename === undefined ? {} : { dbfilename: base.dbfilename }),
        replicas: base.replicaIps,
        ...posture,
      });
      if (posture.protectedMode === 'no' && posture.defaultUserNeedsPassword === false) {
        logger.log('warn', 'redis: protected-mode is off and the default user needs no password', {
          instance: name,
          hint: 'Anyone who can reach this port can run any command: set a password (requirepass / ACL) and bind to a private address.',
        });
      }
    }
    await handle(incidents, typeof observation === 'string' ? clock.now() : observation.at);
    return incidents;
  }

  function serialized(): Promise<RedisIncident[]> {
    const run = inFlight.then(pollOnce, pollOnce);
    inFlight = run.catch(() => undefined);
    return run;
  }

  function schedule(delayMs: number): void {
    if (stopped) return;
    timer = setTimeout(() => {
      const startedAt = clock.now();
      serialized()
        .catch((error: unknown) =>
          logger.log('error', 'redis poll failed', { instance: name, error: String(error) }),
        )
        .finally(() => schedule(Math.max(0, intervalMs - (clock.now() - startedAt))));
    }, delayMs);
  }

  return {
    name,
    address,
    detector,
    get posture() {
      return posture;
    },
    get polls() {
      return polls;
    },
    async start() {
      if (!stopped) return;
      stopped = false;
      logger.log('info', 'redis watchdog started', {
        instance: name,
        address,
        respond: instance.respond,
        intervalMs,
      });
      await serialized();
      schedule(intervalMs);
    },
    async stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      await inFlight;
      await connection.close();
    },
    poll: serialized,
  };
}

/**
 * Redis checks (incidents 1 and 2): no password, protected mode off, reachable from other hosts,
 * dangerous commands open, running as root, dump files planted in cron/ssh directories, and `dir`
 * pointed at such a directory. Pure: reads Facts (redis, files) and asks context.exposure for reach.
 *
 * Protected mode, as Redis implements it: with `protected-mode yes` and a default user that has no
 * password, clients from other hosts get -DENIED. Since 7.0 that holds whatever `bind` says; before
 * 7.0 only when no `bind` directive is set. When the version is unknown, the older rule is assumed.
 */
import { type Evidence, type Finding, findingOf, type Rule, type Severity } from '../../core/finding.ts';
import type { RedisFacts, RedisInstance, RedisSource } from '../collectors/redis.ts';
import { BUILT_IN_ALL, DANGEROUS_COMMANDS, type DangerousCommand } from '../collectors/redis-config.ts';
import type { Check, CheckContext, ExposureVerdict, Reach } from '../types.ts';

const READS_CONFIG =
  'redis.conf and its includes (/etc/redis/*.conf, /etc/redis.conf, /usr/local/etc/redis/redis.conf, the config named in a redis systemd unit), the aclfile, `redis-server --version` on the live host';

export const redisNoAuthRule: Rule = {
  id: 'redis-no-auth',
  severity: 'critical',
  title: 'Redis accepts commands without a password',
  why: 'Every new connection is the `default` user; when it has no password (no requirepass, or `nopass`), anyone who can connect runs any command: reads and deletes the data, `REPLICAOF <attacker> <port>` turns the server into a read-only replica of the attacker (incident 1: the app failed with READONLY errors for 20 hours), `CONFIG SET dir` + `dbfilename` + `SAVE` writes crontabs or authorized_keys (incident 2). Severity follows who can connect: critical from the internet, high from private networks (a "private" cloud network is often shared with other tenants), low when only local clients can (any local user or an SSRF bug in the app still can).',
  reads: `${READS_CONFIG}; the exposure verdict for the Redis port (bind, firewall, Docker)`,
  fix: 'Give Redis a password, or switch the default user off and give the app its own user. In redis.conf:\n  requirepass <output of `openssl rand -hex 32`>\nor, with ACLs:\n  user default off\n  user app on ><secret> ~* &* +@all -config -replicaof -slaveof -module -debug\nRestart Redis (`systemctl restart redis-server`) and put the password in the application’s Redis URL (redis://:<secret>@host:6379).',
};

export const redisProtectedModeOffRule: Rule = {
  id: 'redis-protected-mode-off',
  severity: 'high',
  title: 'Redis protected mode is off while the default user has no password',
  why: 'Protected mode is the safety net that answers -DENIED to clients from other hosts while the default user has no password. Turned off, a Redis without a password serves anyone who can reach it: incident 1 was exactly 0.0.0.0:6379 + `protected-mode no` + no password. The official Docker image runs with protected mode off, so a containerised Redis needs a password or a loopback-only publish. Severity follows reach: high from the internet, medium from private networks, low when only local clients can connect.',
  reads: `${READS_CONFIG} (protected-mode, requirepass, user, aclfile)`,
  fix: 'Set in redis.conf\n  protected-mode yes\nand restart Redis; better, also give it a password (see redis-no-auth), since protected mode alone stops nothing once a password or a bind change is made carelessly.',
};

export const redisPublicBindRule: Rule = {
  id: 'redis-public-bind',
  severity: 'critical',
  title: 'Redis is reachable from other hosts',
  why: 'Redis is designed for trusted clients on trusted networks: no rate limit on AUTH, post-auth bugs in Lua scripting, and a protocol that internet scanners try within minutes of a host going online. Severity follows reach and authentication: critical from the internet with no password, high from the internet with a password or from private networks without one, medium from the internet when protected mode refuses remote clients, low from private networks behind a password.',
  reads: `${READS_CONFIG} (bind, port); the exposure verdict (listening sockets, ufw/nftables/iptables, Docker publishing)`,
  fix: 'If the app runs on the same host, bind Redis to loopback in redis.conf:\n  bind 127.0.0.1 -::1\nOtherwise bind only the private interface and allow 6379 just from the app hosts, e.g.\n  ufw allow from 10.0.1.20 to any port 6379 proto tcp\nIn Docker publish "127.0.0.1:6379:6379" (or nothing), never "6379:6379". Restart Redis after editing.',
};

export const redisDangerousCommandsRule: Rule = {
  id: 'redis-dangerous-commands',
  severity: 'critical',
  title: 'Dangerous Redis commands are open to the default user',
  why: '`CONFIG SET dir` + `dbfilename` + `SAVE` writes a file wherever Redis may write: a crontab or authorized_keys (incident 2); `REPLICAOF`/`SLAVEOF` makes the server a replica of an attacker’s host and replaces its data (incident 1); `MODULE LOAD` runs native code inside Redis; `DEBUG` crashes or inspects it. Redis 7.0 blocks MODULE and DEBUG unless enable-module-command / enable-debug-command allow them, and freezes dir/dbfilename unless enable-protected-configs allows changing them; before 7.0 all of these are always available. Severity follows who can run them: critical/high for clients without a password from the internet/private networks, medium for local clients without a password, low behind a password.',
  reads: `${READS_CONFIG} (rename-command, user rules, aclfile, enable-debug-command, enable-module-command, enable-protected-configs)`,
  fix: 'Take them away from the default (application) user with ACLs, and keep a separate admin user for operations. In redis.conf (or the aclfile):\n  user default on ><secret> ~* &* +@all -config -replicaof -slaveof -module -debug\n  user admin on ><other-secret> ~* &* +@all\nOn Redis older than 6, rename them away instead:\n  rename-command CONFIG ""\n  rename-command REPLICAOF ""\n  rename-command SLAVEOF ""\n  rename-command DEBUG ""\n  rename-command MODULE ""\nLeave enable-debug-command, enable-module-command and enable-protected-configs at `no`. Restart Redis.',
};

export const redisRunsAsRootRule: Rule = {
  id: 'redis-runs-as-root',
  severity: 'high',
  title: 'Redis runs as root',
  why: 'Whoever gets CONFIG SET + SAVE (or MODULE LOAD) writes files and runs code with Redis’s privileges. In incident 2 the crontab planted through Redis failed only because Redis ran as an unprivileged user; as root it writes /var/spool/cron/crontabs/root or /root/.ssh/authorized_keys and the attacker owns the host.',
  reads:
    '/proc/<pid>/status (Uid) of redis-server processes on the live host; otherwise systemd units redis*.service / valkey*.service in /etc/systemd/system, /lib/systemd/system, /usr/lib/systemd/system and their *.service.d drop-ins (User=, DynamicUser=)',
  fix: 'Run Redis as its own unprivileged user. `systemctl edit redis-server` and add\n  [Service]\n  User=redis\n  Group=redis\nthen `chown -R redis:redis /var/lib/redis /var/log/redis` and `systemctl restart redis-server`. Distribution packages already do this; a hand-written unit often does not.',
};

export const redisPlantedRdbRule: Rule = {
  id: 'redis-planted-rdb',
  severity: 'critical',
  title: 'A Redis dump file sits where a crontab or authorized_keys file belongs',
  why: 'A file starting with the RDB magic `REDIS0…` in a cron or .ssh directory is what `CONFIG SET dir /var/spool/cron/crontabs` + `CONFIG SET dbfilename root` + `SAVE` leaves behind (incident 2). cron and sshd skip the binary noise and act on the attacker’s lines inside it. Treat the host as compromised.',
  reads:
    '/etc/crontab, /etc/cron.d/*, /etc/cron.{hourly,daily,weekly,monthly}/*, /var/spool/cron/*, /var/spool/cron/crontabs/*, /var/spool/cron/tabs/*, authorized_keys* in /root/.ssh, /home/*/.ssh and every home in /etc/passwd (first bytes only)',
  fix: 'Move the file aside for forensics (`mkdir -p /root/quarantine && mv FILE /root/quarantine/`), read what the attacker wrote (`strings /root/quarantine/*`), look for "CONFIG SET" and "Failed opening the RDB file" in the Redis log, check `crontab -l -u root` and every authorized_keys file, then close the hole: password (redis-no-auth), dangerous commands (redis-dangerous-commands), unprivileged user (redis-runs-as-root). Rotate credentials stored on this host.',
};

export const redisDirSuspiciousRule: Rule = {
  id: 'redis-dir-suspicious',
  severity: 'high',
  title: 'Redis writes its dump into a cron, SSH, web or system directory',
  why: '`dir` and `dbfilename` decide where SAVE writes. Pointed at /var/spool/cron, /etc/cron.d, an .ssh directory or a web root, every SAVE plants a file there: the CONFIG SET attack of incident 2. Seen in redis.conf (an attacker ran CONFIG REWRITE, or an admin erred) or as the running server’s working directory (Redis moves into `dir`, also after CONFIG SET), it is a sign of compromise in progress.',
  reads: `${READS_CONFIG} (dir, dbfilename); /proc/<pid>/cwd of redis-server processes on the live host`,
  fix: 'Point Redis back at its data directory in redis.conf:\n  dir /var/lib/redis\n  dbfilename dump.rdb\nOn a running server also `redis-cli CONFIG SET dir /var/lib/redis` and `CONFIG SET dbfilename dump.rdb`, restart it, and look for planted files in the directory it pointed to (see redis-planted-rdb).',
};

export const redisAclUserNopassRule: Rule = {
  id: 'redis-acl-user-nopass',
  severity: 'medium',
  title: 'A Redis ACL user accepts any password',
  why: '`nopass` on an enabled user means `AUTH <user> <anything>` succeeds: whoever knows or guesses the user name gets all its permissions.',
  reads: `${READS_CONFIG} (user directives, aclfile)`,
  fix: 'Give the user a password instead of nopass, in the aclfile or redis.conf:\n  user NAME on resetpass ><secret> …\n(or live: `redis-cli ACL SETUSER NAME resetpass ><secret>` then `ACL SAVE`).',
};

/** Who can run commands without a password: a reach, or `password` when one is needed. */
type Audience = Reach | 'password';

const NO_AUTH_SEVERITY: Record<Reach, Severity> = { internet: 'critical', private: 'high', local: 'low' };
const PROTECTED_OFF_SEVERITY: Record<Reach, Severity> = { internet: 'high', private: 'medium', local: 'low' };
const DANGEROUS_SEVERITY: Record<Audience, Severity> = {
  internet: 'critical',
  private: 'high',
  local: 'medium',
  password: 'low',
};
const REACH_WORDS: Record<Reach, string> = {
  internet: 'from the internet',
  private: 'from private networks',
  local: 'from local clients only',
};
const AUDIENCE_RANK: Record<Audience, number> = { internet: 0, private: 1, local: 2, password: 3 };

const COMMAND_EFFECT: Record<DangerousCommand, string> = {
  config:
    'CONFIG SET dir + dbfilename + SAVE writes a file wherever Redis may write (incident 2), and CONFIG GET reads secrets',
  replicaof: 'REPLICAOF <host> <port> makes this server a read-only replica of any host (incident 1)',
  slaveof: 'SLAVEOF is the old name of REPLICAOF and must be blocked separately',
  module: 'MODULE LOAD runs native code inside Redis',
  debug: 'DEBUG can crash the server, sleep it, or dump internals',
};

function evidenceOf(source: RedisSource, detail: string = source.text): Evidence {
  return source.line === undefined
    ? { file: source.file, detail }
    : { file: source.file, line: source.line, detail };
}

interface VersionView {
  readonly atLeast7: boolean;
  /** Evidence for the version assumption, when it matters to a finding. */
  readonly evidence: Evidence;
}

function versionOf(facts: RedisFacts, instance: RedisInstance): VersionView {
  if (facts.version) {
    return {
      atLeast7: facts.version.major >= 7,
      evidence: { detail: `${facts.version.source}: ${facts.version.text}` },
    };
  }
  if (instance.versionHint) {
    const hint = instance.versionHint;
    return {
      atLeast7: hint.atLeast7,
      evidence: evidenceOf(
        hint,
        `${hint.text}: this config is written for Redis ${hint.atLeast7 ? '7.0 or later' : 'older than 7.0'}`,
      ),
    };
  }
  return {
    atLeast7: false,
    evidence: {
      file: instance.configFile,
      detail:
        'Redis version unknown (no `redis-server --version` under --root, no version-specific directive): assuming the rules of Redis older than 7.0',
    },
  };
}

function reasonsEvidence(verdict: ExposureVerdict | undefined): Evidence[] {
  return (verdict?.reasons ?? []).map((reason) => ({ detail: reason }));
}

interface InstanceView {
  readonly instance: RedisInstance;
  readonly version: VersionView;
  readonly unauthenticated: boolean;
  readonly verdict?: ExposureVerdict;
  readonly reach: Reach;
  readonly protectedActive: boolean;
  /** Who can run commands without a password; `password` when a password is required. */
  readonly audience: Audience;
}

function viewOf(facts: RedisFacts, instance: RedisInstance, context: CheckContext): InstanceView {
  const version = versionOf(facts, instance);
  const user = instance.defaultUser;
  const unauthenticated = user.enabled && user.nopass;
  const port = instance.port.value;
  const verdict =
    port === 0
      ? undefined
      : context.exposure.assess({
          service: 'redis',
          port,
          protocol: 'tcp',
          binds: instance.bind?.addresses ?? [],
        });
  const reach: Reach = verdict?.reach ?? 'local';
  const protectedActive =
    unauthenticated && instance.protectedMode.value && (version.atLeast7 || instance.bind === undefined);
  const audience: Audience = !unauthenticated ? 'password' : protectedActive ? 'local' : reach;
  return {
    instance,
    version,
    unauthenticated,
    ...(verdict ? { verdict } : {}),
    reach,
    protectedActive,
    audience,
  };
}

function defaultUserEvidence(instance: RedisInstance): Evidence[] {
  const user = instance.defaultUser;
  const evidence: Evidence[] = [];
  if (instance.requirepass && !instance.requirepass.value) {
    evidence.push(
      evidenceOf(instance.requirepass, `${instance.requirepass.text}: an empty requirepass sets no password`),
    );
  } else if (user.line !== undefined) {
    evidence.push(evidenceOf(user, `${user.text}: the default user is on and nopass`));
  } else {
    evidence.push(evidenceOf(user));
  }
  if (instance.requirepass?.value && instance.requirepassIgnored) {
    evidence.push(
      evidenceOf(
        instance.requirepass,
        `${instance.requirepass.text} is ignored: ${instance.aclfile ? 'the aclfile' : 'a "user default" line'} replaces the default user`,
      ),
    );
  }
  return evidence;
}

function protectedModeEvidence(view: InstanceView): Evidence[] {
  const { instance, version } = view;
  const mode = instance.protectedMode;
  if (view.protectedActive) {
    return [
      evidenceOf(
        mode,
        `${mode.text}: clients from other hosts get -DENIED while the default user has no password; local clients and unix sockets are served`,
      ),
    ];
  }
  if (!mode.value)
    return [evidenceOf(mode, `${mode.text}: clients from other hosts are served without a password`)];
  if (instance.bind) {
    return [
      evidenceOf(
        mode,
        `${mode.text} has no effect here: before Redis 7.0 protected mode applies only when no bind directive is set (${instance.bind.text})`,
      ),
      version.evidence,
    ];
  }
  return [];
}

function noAuth(view: InstanceView): Finding[] {
  if (!view.unauthenticated || view.audience === 'password') return [];
  const reach = view.audience;
  const evidence = [
    ...defaultUserEvidence(view.instance),
    ...(view.verdict ? protectedModeEvidence(view) : []),
    ...(view.verdict
      ? reasonsEvidence(view.verdict)
      : [{ detail: 'port 0: no TCP listener, unix socket only' }]),
  ];
  return [
    findingOf(redisNoAuthRule, evidence, {
      severity: NO_AUTH_SEVERITY[reach],
      title: `Redis accepts commands without a password ${REACH_WORDS[reach]}`,
    }),
  ];
}

function protectedModeOff(view: InstanceView): Finding[] {
  const { instance } = view;
  if (!view.unauthenticated || instance.protectedMode.value || !view.verdict) return [];
  const evidence = [
    evidenceOf(
      instance.protectedMode,
      `${instance.protectedMode.text}: clients from other hosts are served without a password`,
    ),
    ...defaultUserEvidence(instance),
    ...reasonsEvidence(view.verdict),
  ];
  return [findingOf(redisProtectedModeOffRule, evidence, { severity: PROTECTED_OFF_SEVERITY[view.reach] })];
}

function publicBindSeverity(view: InstanceView): Severity {
  if (view.reach === 'internet') {
    if (view.audience === 'internet') return 'critical';
    return view.protectedActive ? 'medium' : 'high';
  }
  return view.audience === 'private' ? 'high' : 'low';
}

function publicBind(view: InstanceView): Finding[] {
  const { instance, verdict } = view;
  if (!verdict || view.reach === 'local') return [];
  const first = instance.bind
    ? evidenceOf(instance.bind, `${instance.bind.text}: listens on ${instance.bind.addresses.join(', ')}`)
    : evidenceOf(
        { file: instance.configFile, text: '' },
        'no bind directive: Redis listens on every interface (0.0.0.0 and ::)',
      );
  const auth = view.unauthenticated
    ? view.protectedActive
      ? 'no password, but protected mode refuses clients from other hosts'
      : 'no password is needed'
    : 'a password is needed';
  return [
    findingOf(
      redisPublicBindRule,
      [first, ...reasonsEvidence(verdict), { detail: `port ${instance.port.value}: ${auth}` }],
      {
        severity: publicBindSeverity(view),
        title: `Redis is reachable ${REACH_WORDS[view.reach]} (port ${instance.port.value})`,
      },
    ),
  ];
}

function dangerousCommands(view: InstanceView): Finding[] {
  const { instance, version } = view;
  const user = instance.defaultUser;
  if (!user.enabled) return [];
  const explicit: Evidence[] = [];
  const implicit: Evidence[] = [];
  let worst: Audience | undefined;
  let before7 = false;
  const raise = (audience: Audience) => {
    if (worst === undefined || AUDIENCE_RANK[audience] < AUDIENCE_RANK[worst]) worst = audience;
  };
  for (const command of DANGEROUS_COMMANDS) {
    if (!user.commands[command]) continue;
    if (instance.renames.some((rename) => rename.command === command)) continue;
    let audience = view.audience;
    let setting: (typeof instance)['enableDebugCommand'] | undefined;
    if (command === 'debug') setting = instance.enableDebugCommand;
    if (command === 'module') setting = instance.enableModuleCommand;
    if (setting && version.atLeast7) {
      if (setting.value === 'no') continue;
      if (setting.value === 'local' && audience !== 'password') audience = 'local';
    }
    raise(audience);
    const name = command.toUpperCase();
    const rule = user.decidedBy[command] ?? '+@all';
    const frozen = version.atLeast7 && instance.enableProtectedConfigs.value === 'no';
    const effect =
      command === 'config' && frozen
        ? 'CONFIG SET can change masterauth, replication and persistence settings (dir and dbfilename are frozen since 7.0 while enable-protected-configs is no), and CONFIG GET reads secrets'
        : COMMAND_EFFECT[command];
    // The built-in +@all belongs to no line; a user line (or aclfile line) that granted it does.
    const grant =
      user.line === undefined || rule === BUILT_IN_ALL
        ? evidenceOf(
            { file: instance.configFile, text: '' },
            `${name} is not renamed and the default user may run it (${rule}): ${effect}`,
          )
        : evidenceOf(
            user,
            `${user.text}: the default user may run ${name} (${rule}) and it is not renamed: ${effect}`,
          );
    implicit.push(grant);
    if (setting && version.atLeast7 && setting.line !== undefined) {
      explicit.push(
        evidenceOf(
          setting,
          `${setting.text}: ${name} is open to ${setting.value === 'local' ? 'local' : 'all'} clients`,
        ),
      );
    }
    if (command === 'config' && version.atLeast7) {
      const protectedConfigs = instance.enableProtectedConfigs;
      if (protectedConfigs.value !== 'no' && protectedConfigs.line !== undefined) {
        explicit.push(
          evidenceOf(
            protectedConfigs,
            `${protectedConfigs.text}: CONFIG SET from ${protectedConfigs.value === 'local' ? 'local clients' : 'any client'} may change dir and dbfilename, the file-planting attack of incident 2`,
          ),
        );
      }
    }
    if (!version.atLeast7 && (command === 'config' || command === 'debug' || command === 'module'))
      before7 = true;
  }
  if (before7) {
    implicit.push({
      ...version.evidence,
      detail: `${version.evidence.detail}; before 7.0 CONFIG SET may change dir and dbfilename, and DEBUG and MODULE cannot be switched off except by rename-command or ACL`,
    });
  }
  if (worst === undefined) return [];
  const who =
    worst === 'password' ? 'to clients with the password' : `without a password ${REACH_WORDS[worst]}`;
  return [
    findingOf(redisDangerousCommandsRule, [...explicit, ...implicit], {
      severity: DANGEROUS_SEVERITY[worst],
      title: `Dangerous Redis commands are open ${who}`,
    }),
  ];
}

function aclUsersNopass(instance: RedisInstance): Finding[] {
  return instance.users
    .filter((user) => user.enabled && user.nopass)
    .map((user) =>
      findingOf(
        redisAclUserNopassRule,
        [evidenceOf(user, `${user.text}: user "${user.name}" is on and nopass`)],
        {
          title: `Redis ACL user "${user.name}" accepts any password`,
        },
      ),
    );
}

function runsAsRoot(facts: RedisFacts): Finding[] {
  if (facts.processes && facts.processes.length > 0) {
    return facts.processes
      .filter((process) => process.uid === 0)
      .map((process) =>
        findingOf(redisRunsAsRootRule, [
          evidenceOf(
            process.source,
            `${process.source.text}: ${process.cmdline || 'redis-server'} (pid ${process.pid}) runs as root`,
          ),
        ]),
      );
  }
  return facts.units
    .filter((unit) => unit.user === 'root' && !unit.dynamicUser)
    .map((unit) =>
      findingOf(redisRunsAsRootRule, [evidenceOf(unit.userSource), evidenceOf({ ...unit.execStart })], {
        title: `Redis runs as root (${unit.name})`,
      }),
    );
}

const SUSPICIOUS_DIRS: readonly RegExp[] = [
  /^\/var\/spool\/cron(\/|$)/,
  /^\/etc\/cron\.(d|hourly|daily|weekly|monthly)(\/|$)/,
  /^\/etc\/?$/,
  /^\/etc\/(ssh|sudoers\.d|profile\.d|init\.d|systemd|update-motd\.d)(\/|$)/,
  /(^|\/)\.ssh(\/|$)/,
  /^\/root\/?$/,
  /^\/var\/www(\/|$)/,
  /^\/srv\/(www|http)(\/|$)/,
  /^\/usr\/share\/nginx\/html(\/|$)/,
  /^\/usr\/local\/(nginx|apache2?)\/html?(\/|$)/,
];
const SUSPICIOUS_FILES =
  /^(root|crontab|authorized_keys2?|\.bashrc|\.profile|\.bash_profile|sudoers)$|\.(php\d?|phtml|jsp|jspx|aspx?|sh|so|py|pl|cgi)$/i;

function dirSuspicious(instance: RedisInstance): Finding[] {
  const evidence: Evidence[] = [];
  const dir = instance.dir;
  if (dir.line !== undefined && SUSPICIOUS_DIRS.some((pattern) => pattern.test(dir.value))) {
    evidence.push(evidenceOf(dir, `${dir.text}: SAVE writes the dump into ${dir.value}`));
  }
  const file = instance.dbfilename;
  if (file.line !== undefined && SUSPICIOUS_FILES.test(file.value)) {
    evidence.push(evidenceOf(file, `${file.text}: a dump named like a crontab, key file, script or library`));
  }
  return evidence.length > 0 ? [findingOf(redisDirSuspiciousRule, evidence)] : [];
}

function cwdSuspicious(facts: RedisFacts): Finding[] {
  return (facts.processes ?? [])
    .filter(
      (process) =>
        process.cwd !== undefined && SUSPICIOUS_DIRS.some((pattern) => pattern.test(process.cwd as string)),
    )
    .map((process) =>
      findingOf(redisDirSuspiciousRule, [
        {
          file: `/proc/${process.pid}/cwd`,
          detail: `${process.cmdline || 'redis-server'} (pid ${process.pid}) works in ${process.cwd}: its dir was changed there, likely by CONFIG SET dir`,
        },
      ]),
    );
}

function plantedRdb(context: CheckContext): Finding[] {
  return (context.facts.files?.files ?? [])
    .filter((file) => file.rdbMagic !== undefined)
    .map((file) => {
      const what = file.kind === 'cron' ? 'crontab' : 'authorized_keys file';
      const owner = file.user ? ` of ${file.user}` : '';
      return findingOf(
        redisPlantedRdbRule,
        [
          {
            file: file.path,
            detail: `starts with "${file.head}": a Redis RDB dump (${file.rdbMagic}) where the ${what}${owner} belongs`,
          },
        ],
        { title: `A Redis dump was planted in ${file.path}` },
      );
    });
}

export const redisCheck: Check = {
  name: 'redis',
  rules: [
    redisNoAuthRule,
    redisProtectedModeOffRule,
    redisPublicBindRule,
    redisDangerousCommandsRule,
    redisRunsAsRootRule,
    redisPlantedRdbRule,
    redisDirSuspiciousRule,
    redisAclUserNopassRule,
  ],
  run(context) {
    const findings: Finding[] = [...plantedRdb(context)];
    const facts = context.facts.redis;
    if (!facts) return findings;
    for (const instance of facts.instances) {
      const view = viewOf(facts, instance, context);
      findings.push(
        ...noAuth(view),
        ...protectedModeOff(view),
        ...publicBind(view),
        ...dangerousCommands(view),
        ...aclUsersNopass(instance),
        ...dirSuspicious(instance),
      );
    }
    findings.push(...runsAsRoot(facts), ...cwdSuspicious(facts));
    return findings;
  },
};

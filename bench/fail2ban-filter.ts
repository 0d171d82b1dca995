/**
 * Lines per second of fail2ban filters compiled by moat, beside fail2ban's own `fail2ban-regex` on the
 * same generated files. Uses the filters of Debian's fail2ban package (apt-get install -y fail2ban).
 *
 *   node bench/fail2ban-filter.ts [--lines 200000] [--seed 42] [--no-fail2ban]
 *
 * The logs are generated with a seeded PRNG into bench/data/: an nginx access log (mostly benign
 * traffic from many IPv4/IPv6 clients, ~5 % bot searches for wp-login.php, phpMyAdmin, cgi-bin …)
 * and an sshd auth.log (logins, sessions, brute force, scanners, other daemons). moat's figure is the
 * best of three passes over the lines already in memory, fail2ban-regex's one run over the file; both
 * are given per second of CPU time (steady on a shared machine) and of wall-clock time. The matched
 * line counts of both are printed: they should be equal.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadFail2banFilter } from '../src/parsing/fail2ban/index.ts';
import { fsReader } from '../src/daemon/fs-reader.ts';
import { seededRandom } from './lib/random.ts';

const FILTERS = '/etc/fail2ban/filter.d';
const DATA = join(dirname(fileURLToPath(import.meta.url)), 'data');
/** "Now" for the parsers: the day after the generated logs start. */
const NOW_MS = Date.UTC(2025, 0, 11);
const START_S = Date.UTC(2025, 0, 10) / 1000;

function argument(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => String(n).padStart(2, '0');

function nginxTime(s: number): string {
  const d = new Date(s * 1000);
  return `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

function syslogTime(s: number): string {
  const d = new Date(s * 1000);
  return `${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

function generateNginx(lines: number, seed: number): string[] {
  const rand = seededRandom(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
  const ipv4 = (n: number) =>
    `${((n * 7919) % 223) + 1}.${(n * 104729) % 256}.${(n * 1299709) % 256}.${((n * 15485863) % 254) + 1}`;
  const ipv6 = (n: number) => `2001:db8:${(n % 65535).toString(16)}::${((n * 7) % 65535).toString(16)}`;
  const client = (n: number) => (n % 10 === 0 ? ipv6(n) : ipv4(n));
  const benignPaths = [
    '/',
    '/index.html',
    '/api/v1/items',
    '/api/v1/items/42',
    '/static/app.3f9c.js',
    '/static/app.css',
    '/images/logo.png',
    '/favicon.ico',
    '/login',
    '/api/v1/session',
  ];
  const botPaths = [
    '/wp-login.php',
    '/wp-admin.php',
    '/phpmyadmin/index.php',
    '/phpMyAdmin/scripts/setup.php',
    '/pma/scripts/setup.php',
    '/admin/pma/',
    '/cgi-bin/test.cgi',
    '/mysqladmin/',
    '/webmail/',
    '/roundcube/',
    '/xampp/phpmyadmin/',
  ];
  const otherProbes = [
    '/.env',
    '/.git/config',
    '/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php',
    '/actuator/health',
    '/config.json',
  ];
  const agents = [
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36',
    'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15',
    'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
    'curl/8.5.0',
  ];
  const out: string[] = [];
  let second = START_S;
  for (let k = 0; k < lines; k++) {
    if (rand() < 0.08) second++;
    const r = rand();
    let ip: string;
    let method = 'GET';
    let path: string;
    let status: number;
    let agent = pick(agents);
    if (r < 0.05) {
      ip = ipv4(100_000 + Math.floor(rand() * 300));
      method = pick(['GET', 'GET', 'POST', 'HEAD']);
      path = pick(botPaths);
      status = 404;
      agent = 'Mozilla/5.0 zgrab/0.x';
    } else if (r < 0.07) {
      ip = ipv4(200_000 + Math.floor(rand() * 200));
      path = pick(otherProbes);
      status = 404;
    } else {
      ip = client(Math.floor(rand() * 20_000));
      path = pick(benignPaths);
      status = rand() < 0.9 ? 200 : pick([301, 304, 404]);
      if (rand() < 0.2) method = 'POST';
    }
    const bytes = status === 200 ? Math.floor(rand() * 50_000) : 153;
    out.push(
      `${ip} - - [${nginxTime(second)}] "${method} ${path} HTTP/1.1" ${status} ${bytes} "-" "${agent}"`,
    );
  }
  return out;
}

function generateSshd(lines: number, seed: number): string[] {
  const rand = seededRandom(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
  const ip = (n: number) =>
    `${((n * 7919) % 223) + 1}.${(n * 104729) % 256}.${(n * 1299709) % 256}.${((n * 15485863) % 254) + 1}`;
  const out: string[] = [];
  let second = START_S;
  let pid = 1000;
  const line = (daemon: string, p: number, message: string) =>
    out.push(`${syslogTime(second)} web1 ${daemon}[${p}]: ${message}`);
  while (out.length < lines) {
    second += Math.floor(rand() * 3);
    pid++;
    const port = 1024 + Math.floor(rand() * 60_000);
    const r = rand();
    if (r < 0.35) {
      // brute force: invalid users and wrong passwords, then the connection ends
      const addr = ip(300_000 + Math.floor(rand() * 150));
      const user = pick(['admin', 'test', 'oracle', 'ubuntu', 'git', 'postgres', 'user1']);
      line('sshd', pid, `Invalid user ${user} from ${addr} port ${port}`);
      line('sshd', pid, `pam_unix(sshd:auth): check pass; user unknown`);
      line(
        'sshd',
        pid,
        `pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=${addr}`,
      );
      line('sshd', pid, `Failed password for invalid user ${user} from ${addr} port ${port} ssh2`);
      line('sshd', pid, `Received disconnect from ${addr} port ${port}:11: Bye Bye [preauth]`);
      line('sshd', pid, `Disconnected from invalid user ${user} ${addr} port ${port} [preauth]`);
    } else if (r < 0.5) {
      const addr = ip(400_000 + Math.floor(rand() * 100));
      line(
        'sshd',
        pid,
        `pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=${addr}  user=root`,
      );
      line('sshd', pid, `Failed password for root from ${addr} port ${port} ssh2`);
      line('sshd', pid, `Connection closed by authenticating user root ${addr} port ${port} [preauth]`);
    } else if (r < 0.6) {
      const addr = ip(500_000 + Math.floor(rand() * 500));
      line('sshd', pid, `error: kex_exchange_identification: Connection closed by remote host`);
      line('sshd', pid, `Connection closed by ${addr} port ${port}`);
    } else if (r < 0.8) {
      // a good login and its session
      const addr = ip(Math.floor(rand() * 50));
      line(
        'sshd',
        pid,
        `Accepted publickey for deploy from ${addr} port ${port} ssh2: ED25519 SHA256:3tX9f2kq8mW1bJzN0cVYQbN3w9sXo5pJm2kT7hLr4uE`,
      );
      line('sshd', pid, `pam_unix(sshd:session): session opened for user deploy(uid=1000) by (uid=0)`);
      line('systemd-logind', 812, `New session ${pid} of user deploy.`);
      line('sshd', pid, `Received disconnect from ${addr} port ${port}:11: disconnected by user`);
      line('sshd', pid, `Disconnected from user deploy ${addr} port ${port}`);
      line('sshd', pid, `pam_unix(sshd:session): session closed for user deploy`);
    } else {
      line('CRON', pid, `pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)`);
      line(
        'CRON',
        pid + 1,
        `(root) CMD (test -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.daily; })`,
      );
      line('CRON', pid, `pam_unix(cron:session): session closed for user root`);
    }
  }
  return out.slice(0, lines);
}

interface Result {
  /** Lines per second of CPU time (user + system): the "one core" figure, steady on a busy machine. */
  cpuLinesPerSecond: number;
  /** Lines per second of wall-clock time. */
  wallLinesPerSecond: number;
  matched: number | undefined;
}

async function runMoat(filterPath: string, lines: readonly string[]): Promise<Result> {
  const filter = await loadFail2banFilter(filterPath, { timeZone: 'UTC' }, fsReader);
  let cpu = 0;
  let wall = 0;
  let matched = 0;
  for (let pass = 0; pass < 3; pass++) {
    const parser = filter.createParser();
    let n = 0;
    const started = performance.now();
    const cpuStarted = process.cpuUsage();
    for (let k = 0; k < lines.length; k++) {
      if (parser.parse({ source: 'bench', text: lines[k]!, readAtMs: NOW_MS })) n++;
    }
    const used = process.cpuUsage(cpuStarted);
    const seconds = (performance.now() - started) / 1000;
    cpu = Math.max(cpu, lines.length / ((used.user + used.system) / 1e6));
    wall = Math.max(wall, lines.length / seconds);
    matched = n;
  }
  return { cpuLinesPerSecond: cpu, wallLinesPerSecond: wall, matched };
}

/** Runs a command and reports its children's CPU time on stderr (Python is there: fail2ban needs it). */
const RUSAGE = [
  'import resource, subprocess, sys',
  'r = subprocess.run(sys.argv[1:])',
  'u = resource.getrusage(resource.RUSAGE_CHILDREN)',
  'print("cpu-seconds", u.ru_utime + u.ru_stime, file=sys.stderr)',
  'sys.exit(r.returncode)',
].join('\n');

function runFail2banRegex(logPath: string, filterPath: string, lines: number): Result | string {
  const started = performance.now();
  const run = spawnSync(
    'python3',
    [
      '-c',
      RUSAGE,
      'fail2ban-regex',
      '--no-check-all',
      '--raw',
      '--timezone',
      'UTC',
      '--print-no-missed',
      '--print-no-ignored',
      logPath,
      filterPath,
    ],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  const seconds = (performance.now() - started) / 1000;
  if (run.error) return `did not run (${run.error.message}); install it with apt-get install -y fail2ban`;
  if (run.status !== 0) return `exited with ${run.status}: ${run.stderr.slice(0, 500)}`;
  const m = /Lines: (\d+) lines, (\d+) ignored, (\d+) matched/.exec(run.stdout);
  const cpu = /cpu-seconds ([\d.]+)/.exec(run.stderr);
  return {
    cpuLinesPerSecond: cpu ? lines / Number(cpu[1]) : Number.NaN,
    wallLinesPerSecond: lines / seconds,
    matched: m ? Number(m[3]) : undefined,
  };
}

const number = (n: number) => Math.round(n).toLocaleString('en-US');

async function main(): Promise<void> {
  const lines = argument('lines', 200_000);
  const seed = argument('seed', 42);
  const withFail2ban = !process.argv.includes('--no-fail2ban');
  if (!existsSync(FILTERS)) {
    console.error(
      `error: ${FILTERS} is missing: install fail2ban (apt-get install -y fail2ban) for its filters`,
    );
    process.exitCode = 1;
    return;
  }
  mkdirSync(DATA, { recursive: true });
  const cases = [
    {
      filter: 'nginx-botsearch',
      log: join(DATA, `fail2ban-nginx-access-${seed}-${lines}.log`),
      make: generateNginx,
    },
    { filter: 'sshd', log: join(DATA, `fail2ban-sshd-auth-${seed}-${lines}.log`), make: generateSshd },
  ];
  console.log(
    `fail2ban filters: moat vs fail2ban-regex, ${number(lines)} generated lines each (seed ${seed})`,
  );
  console.log(`node ${process.version}`);
  for (const c of cases) {
    if (!existsSync(c.log)) writeFileSync(c.log, `${c.make(lines, seed).join('\n')}\n`);
    const text = readFileSync(c.log, 'utf8').split('\n');
    if (text[text.length - 1] === '') text.pop();
    const filterPath = join(FILTERS, `${c.filter}.conf`);
    const moat = await runMoat(filterPath, text);
    let line = `${c.filter.padEnd(16)} moat ${number(moat.cpuLinesPerSecond).padStart(10)} lines/CPU-s (wall ${number(moat.wallLinesPerSecond)}/s, ${number(moat.matched ?? 0)} matched)`;
    if (withFail2ban) {
      const f2b = runFail2banRegex(c.log, filterPath, text.length);
      if (typeof f2b === 'string') {
        line += `\n${''.padEnd(16)} fail2ban-regex ${f2b}`;
      } else {
        const ratio = moat.cpuLinesPerSecond / f2b.cpuLinesPerSecond;
        const agree = f2b.matched === moat.matched ? 'same matched lines' : 'MATCHED LINES DIFFER';
        line += `\n${''.padEnd(16)} fail2ban-regex ${number(f2b.cpuLinesPerSecond).padStart(8)} lines/CPU-s (wall ${number(f2b.wallLinesPerSecond)}/s, ${f2b.matched === undefined ? '?' : number(f2b.matched)} matched)`;
        line += `\n${''.padEnd(16)} moat is ×${ratio.toFixed(0)} fail2ban-regex per CPU second; ${agree}`;
      }
    }
    console.log(line);
  }
  console.log(`data: ${DATA}`);
}

await main();

/**
 * Writes the annotated input.jsonl of every golden folder. The inputs are data; this script only
 * saves typing 500 flood lines by hand. Run it after changing a story below, then re-bless the
 * expectations and review the diff:
 *
 *   node test/scenarios/generate-inputs.ts
 *   UPDATE_GOLDEN=1 node --test test/scenarios/scenarios.test.ts
 *   npx prettier --write test/scenarios && git diff test/scenarios
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const T0 = Date.parse('2024-10-10T10:00:00Z');
const S = 1000;
const MIN = 60 * S;
const H = 60 * MIN;

const CHROME =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Safari/537.36';
const GOOGLEBOT = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';

type Line = string;
const comment = (text: string): Line => `# ${text}`;

function http(
  at: number,
  ip: string,
  path: string,
  status: number,
  userAgent = CHROME,
  method = 'GET',
): Line {
  return JSON.stringify({
    at: T0 + at,
    source: 'nginx-access',
    service: 'http',
    kind: 'http-request',
    ip,
    method,
    path,
    status,
    bytes: 612,
    userAgent,
    referer: '-',
    host: 'example.com',
  });
}

function event(at: number, fields: Record<string, unknown>): Line {
  return JSON.stringify({ at: T0 + at, ...fields });
}

/** A browser loading one page and its assets within a second. */
function pageLoad(
  at: number,
  ip: string,
  page: string,
  assets: number,
  missing: readonly number[] = [],
): Line[] {
  const lines = [http(at, ip, page, 200)];
  for (let i = 0; i < assets; i++) {
    const broken = missing.includes(i);
    lines.push(
      http(
        at + 30 + i * 25,
        ip,
        `/static/${broken ? 'old' : 'app'}-${i}.${['js', 'css', 'png', 'woff2', 'svg'][i % 5]}`,
        broken ? 404 : 200,
      ),
    );
  }
  return lines;
}

const folders: Record<string, Line[]> = {};

folders['benign-traffic'] = [
  comment('Nothing here may ever fire: the traffic every site sees.'),
  comment(
    'A browser loads a page with 30 assets, two of them missing, and asks for a favicon that is not there.',
  ),
  ...pageLoad(0, '198.51.100.10', '/', 30, [7, 19]),
  http(900, '198.51.100.10', '/favicon.ico', 404),
  http(950, '198.51.100.10', '/apple-touch-icon.png', 404),
  comment('…then reads three more pages over a minute.'),
  ...pageLoad(20 * S, '198.51.100.10', '/blog', 30),
  ...pageLoad(45 * S, '198.51.100.10', '/blog/post-1', 30, [3]),
  ...pageLoad(70 * S, '198.51.100.10', '/pricing', 30),
  comment('Googlebot crawls 120 pages in two minutes, 15 of them stale links that now 404.'),
  ...Array.from({ length: 120 }, (_, i) =>
    http(
      i * S,
      '66.249.66.1',
      i % 8 === 0 ? `/2019/old-article-${i}` : `/blog/post-${i}`,
      i % 8 === 0 ? 404 : 200,
      GOOGLEBOT,
    ),
  ),
  comment('An app with an expired session: twelve API calls answered 401.'),
  ...Array.from({ length: 12 }, (_, i) => http(5 * S + i * 200, '198.51.100.11', `/api/v1/items/${i}`, 401)),
  comment('A monitoring probe every 10 s; curl and python-requests against the API.'),
  ...Array.from({ length: 12 }, (_, i) =>
    http(i * 10 * S, '192.0.2.50', '/health', 200, 'Better Uptime Bot Mozilla/5.0'),
  ),
  http(3 * S, '192.0.2.51', '/api/v1/status', 200, 'curl/8.5.0'),
  http(4 * S, '192.0.2.52', '/api/v1/status', 200, 'python-requests/2.31.0'),
  comment(
    'A user mistypes the SSH password twice, then gets it right; another types a wrong user name once.',
  ),
  event(10 * S, {
    source: 'auth',
    service: 'ssh',
    kind: 'ssh-auth-failed',
    ip: '198.51.100.12',
    user: 'alice',
  }),
  event(16 * S, {
    source: 'auth',
    service: 'ssh',
    kind: 'ssh-auth-failed',
    ip: '198.51.100.12',
    user: 'alice',
  }),
  event(22 * S, {
    source: 'auth',
    service: 'ssh',
    kind: 'ssh-auth-success',
    ip: '198.51.100.12',
    user: 'alice',
  }),
  event(30 * S, {
    source: 'auth',
    service: 'ssh',
    kind: 'ssh-invalid-user',
    ip: '198.51.100.13',
    user: 'alcie',
  }),
  comment('An old bookmark to /index.php on a site that has no PHP: one .php path is not a probe.'),
  http(50 * S, '198.51.100.14', '/index.php', 404),
  comment("A real download, and Let's Encrypt checking a challenge: not sensitive files."),
  http(60 * S, '198.51.100.15', '/downloads/moat-1.0.0.tar.gz', 200),
  http(61 * S, '198.51.100.15', '/downloads/moat-1.0.0.zip', 200),
  http(
    62 * S,
    '203.0.113.99',
    '/.well-known/acme-challenge/xyz',
    200,
    "Mozilla/5.0 (compatible; Let's Encrypt validation server)",
  ),
];

folders['http-probing'] = [
  comment('A scanner walks 25 paths that do not exist in 5 s: http-probing fires on the 11th distinct path;'),
  comment('the rest fall in its cool-down (one decision per attacker).'),
  ...Array.from({ length: 25 }, (_, i) =>
    http(
      i * 200,
      '203.0.113.10',
      `/${['admin', 'cgi-bin', 'phpmyadmin', 'manager', 'console', 'actuator'][i % 6]}/${i}`,
      404,
    ),
  ),
  comment('A client asks for the same missing path 20 times: distinct paths count, repeats do not.'),
  ...Array.from({ length: 20 }, (_, i) => http(i * S, '198.51.100.20', '/missing-page', 404)),
  comment(
    'An IPv6 scanner rotates its address inside its /64 on every request: the /64 is the bucket, and the ban.',
  ),
  ...Array.from({ length: 12 }, (_, i) =>
    http(10 * S + i * 300, `2001:db8:a:b:${(i + 1).toString(16)}::${i + 7}`, `/wp-admin/${i}`, 404),
  ),
  comment('A browser with a few broken images and a missing favicon: assets do not count.'),
  ...pageLoad(20 * S, '198.51.100.21', '/gallery', 30, [1, 4, 9, 12, 17, 22, 25, 28]),
  http(21 * S, '198.51.100.21', '/favicon.ico', 404),
];

folders['http-slow-scan'] = [
  comment('A patient scanner: one new missing path every 12 minutes for 6 hours. http-probing never sees'),
  comment('a burst; http-slow-scan (24, leaking 1/h) fires on the 30th path.'),
  ...Array.from({ length: 32 }, (_, i) => http(i * 12 * MIN, '203.0.113.30', `/backup-${i}/`, 404)),
  comment('A user who hits ten different broken links over the same six hours.'),
  ...Array.from({ length: 10 }, (_, i) => http(i * 36 * MIN + 5 * S, '198.51.100.30', `/old-link-${i}`, 404)),
];

folders['http-sensitive-files'] = [
  comment('One request for a secret is enough: each of these clients is banned on its first.'),
  http(0, '203.0.113.40', '/.env', 404),
  comment('…and its next requests fall in the cool-down: still one decision.'),
  http(200, '203.0.113.40', '/.git/config', 404),
  http(400, '203.0.113.40', '/.aws/credentials', 404),
  http(1 * S, '203.0.113.41', '/.git/HEAD', 200),
  http(2 * S, '203.0.113.42', '/wp-config.php.bak', 404),
  http(3 * S, '203.0.113.43', '/backup.sql', 404),
  http(4 * S, '203.0.113.44', '/site.tar.gz', 404),
  http(5 * S, '203.0.113.45', '/home/.ssh/id_rsa', 404),
  http(6 * S, '203.0.113.46', '/server-status', 403),
  http(7 * S, '203.0.113.47', '/static/../../etc/passwd', 400),
  http(8 * S, '203.0.113.48', '/.env.production?x=1', 404),
  comment(
    'Not secrets: a served archive, ACME, a page about environments, an asset, a missing download in a folder.',
  ),
  http(10 * S, '198.51.100.40', '/downloads/release-2.1.zip', 200),
  http(11 * S, '198.51.100.40', '/.well-known/acme-challenge/abc', 200),
  http(12 * S, '198.51.100.40', '/blog/environment-variables', 200),
  http(13 * S, '198.51.100.40', '/static/envelope.svg', 200),
  http(14 * S, '198.51.100.40', '/downloads/old/release-1.0.zip', 404),
  http(15 * S, '198.51.100.40', '/backup.zip', 200),
];

folders['http-php-probe'] = [
  comment('A PHP prober on a site without PHP: two distinct .php paths fire (http-php-probe: capacity 1).'),
  http(0, '203.0.113.50', '/wp-login.php', 404),
  http(300, '203.0.113.50', '/xmlrpc.php', 404),
  http(600, '203.0.113.50', '/wso.php?cmd=id', 404),
  comment('Same, with a SPA that answers 200 for every path: status does not matter.'),
  http(2 * S, '203.0.113.51', '/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php', 200),
  http(2 * S + 500, '203.0.113.51', '/ALFA_DATA/alfacgiapi/perl.alfa.PHP', 200),
  comment('One stale bookmark, and the same .php path reloaded: nothing.'),
  http(4 * S, '198.51.100.50', '/contact.php', 404),
  http(5 * S, '198.51.100.50', '/contact.php', 404),
  comment('Googlebot following three old .php links: crawlers are left alone.'),
  http(6 * S, '66.249.66.2', '/page.php?id=1', 404, GOOGLEBOT),
  http(7 * S, '66.249.66.2', '/page.php?id=2', 404, GOOGLEBOT),
  http(8 * S, '66.249.66.2', '/index.php', 404, GOOGLEBOT),
];

folders['http-bad-user-agent'] = [
  comment('Attack tools that say who they are: banned on the first request.'),
  http(0, '203.0.113.60', '/', 200, 'sqlmap/1.7.2#stable (https://sqlmap.org)'),
  http(100, '203.0.113.60', '/?id=1%27', 500, 'sqlmap/1.7.2#stable (https://sqlmap.org)'),
  http(1 * S, '203.0.113.61', '/', 200, 'Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:000003)'),
  http(2 * S, '203.0.113.62', '/', 400, 'Mozilla/5.0 zgrab/0.x'),
  http(
    3 * S,
    '203.0.113.63',
    '/',
    200,
    'Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)',
  ),
  http(
    4 * S,
    '203.0.113.64',
    '/',
    200,
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Nuclei - Open-source project (github.com/projectdiscovery/nuclei)',
  ),
  http(
    5 * S,
    '203.0.113.65',
    '/wp-json/',
    200,
    'WPScan v3.8.25 (https://wpscan.com/wordpress-security-scanner)',
  ),
  http(6 * S, '203.0.113.66', '/admin', 404, 'gobuster/3.6'),
  http(7 * S, '203.0.113.67', '/', 200, 'masscan/1.3 (https://github.com/robertdavidgraham/masscan)'),
  comment("Ordinary clients, and names that only contain a tool's name inside a word."),
  http(10 * S, '198.51.100.60', '/', 200),
  http(11 * S, '198.51.100.61', '/api', 200, 'curl/8.5.0'),
  http(12 * S, '198.51.100.62', '/api', 200, 'Go-http-client/1.1'),
  http(13 * S, '198.51.100.63', '/', 200, 'HydrangeaBrowser/1.0 (Snmapper)'),
  comment('A user agent with control characters: it still fires, and the reason is printable.'),
  http(14 * S, '203.0.113.68', '/', 200, 'sqlmap\u001b[31m\u0000/1.0'),
];

folders['http-flood'] = [
  comment('A flood: 500 requests at 100 per second. Above a sustained 10/s the bucket of 400 fills; it'),
  comment('fires on request 445 (0.9 × 445 > 400) and the last 55 fall in the cool-down.'),
  ...Array.from({ length: 500 }, (_, i) => http(i * 10, '203.0.113.70', '/search?q=x', 200)),
  comment('Googlebot at 3 requests per second for a minute.'),
  ...Array.from({ length: 180 }, (_, i) => http(i * 333, '66.249.66.3', `/blog/post-${i}`, 200, GOOGLEBOT)),
  comment('A reader loading a 30-asset page, then another 20 s later.'),
  ...pageLoad(0, '198.51.100.70', '/', 30),
  ...pageLoad(20 * S, '198.51.100.70', '/docs', 30),
];

folders['nginx-limit-req'] = [
  comment('nginx rejects 50 requests of one client in 5 s (limit_req): fires on the 34th rejection.'),
  ...Array.from({ length: 50 }, (_, i) =>
    event(i * 100, {
      source: 'nginx-error',
      service: 'http',
      kind: 'nginx-limit-req',
      ip: '203.0.113.80',
      fields: { zone: 'api', excess: String(10 + i) },
    }),
  ),
  comment('A page load that brushes the limit: five rejections.'),
  ...Array.from({ length: 5 }, (_, i) =>
    event(10 * S + i * 50, {
      source: 'nginx-error',
      service: 'http',
      kind: 'nginx-limit-req',
      ip: '198.51.100.80',
      fields: { zone: 'api', excess: '1.000' },
    }),
  ),
];

const sshFail = (at: number, ip: string, user: string): Line =>
  event(at, { source: 'auth', service: 'ssh', kind: 'ssh-auth-failed', ip, user });
folders['ssh-bruteforce'] = [
  comment('Password guessing, one try every 2 s: the 6th failure fires.'),
  ...Array.from({ length: 10 }, (_, i) => sshFail(i * 2 * S, '203.0.113.90', 'root')),
  comment('It comes back after its 4 h ban expired and tries again: the ban doubles to 8 h.'),
  ...Array.from({ length: 8 }, (_, i) => sshFail(5 * H + i * 2 * S, '203.0.113.90', 'root')),
  comment('Three wrong passwords in one connection, twice in ten minutes: five failures fit, not banned.'),
  ...[0, 3, 6].map((s) => sshFail(60 * S + s * S, '198.51.100.90', 'bob')),
  ...[0, 3].map((s) => sshFail(10 * MIN + s * S, '198.51.100.90', 'bob')),
  comment('The operator, logged in over SSH from 198.51.100.22, fumbles a second session 8 times:'),
  comment('the scenario fires but the decision is refused (never lock the operator out).'),
  ...Array.from({ length: 8 }, (_, i) => sshFail(2 * MIN + i * S, '198.51.100.22', 'ops')),
  comment('Local scripts failing against localhost: loopback is never banned.'),
  ...Array.from({ length: 8 }, (_, i) => sshFail(3 * MIN + i * S, '127.0.0.1', 'deploy')),
];

folders['ssh-invalid-user'] = [
  comment('A bot cycling through user names that do not exist: the 3rd fires.'),
  ...['admin', 'test', 'oracle', 'ubuntu', 'postgres'].map((user, i) =>
    event(i * 10 * S, {
      source: 'auth',
      service: 'ssh',
      kind: 'ssh-invalid-user',
      ip: '203.0.113.100',
      user,
    }),
  ),
  comment('An IPv6 bot: the ban covers its /64.'),
  ...['git', 'ftp', 'pi'].map((user, i) =>
    event(2 * MIN + i * 5 * S, {
      source: 'auth',
      service: 'ssh',
      kind: 'ssh-invalid-user',
      ip: '2001:db8:77:1::abcd',
      user,
    }),
  ),
  comment('A person who typos their own user name twice.'),
  ...[0, 20].map((s) =>
    event(5 * MIN + s * S, {
      source: 'auth',
      service: 'ssh',
      kind: 'ssh-invalid-user',
      ip: '198.51.100.100',
      user: 'jhon',
    }),
  ),
];

const redis = (at: number, fields: Record<string, unknown>): Line =>
  event(at, { source: 'redis', service: 'redis', ...fields });
folders['redis-hijack'] = [
  comment(
    'REPLICAOF 198.51.100.99:24798 issued from an outside client: the attack of incident 1. Banned 7 days.',
  ),
  redis(0, { kind: 'redis-replicaof', ip: '203.0.113.110', fields: { master: '198.51.100.99:24798' } }),
  comment('The administrator on the box runs REPLICAOF from localhost: allowed.'),
  redis(10 * S, { kind: 'redis-replicaof', ip: '127.0.0.1', fields: { master: '10.0.0.2:6379' } }),
  comment(
    'Sentinel (10.0.0.5) promotes a replica: 10.0.0.0/8 is allowlisted in options.json, so it is refused, not banned.',
  ),
  redis(20 * S, { kind: 'redis-replicaof', ip: '10.0.0.5', fields: { master: '10.0.0.3:6379' } }),
  comment('REPLICAOF NO ONE undoes a hijack; it is not one.'),
  redis(30 * S, { kind: 'redis-replicaof', ip: '203.0.113.111', fields: { master: 'no one' } }),
];

folders['redis-rdb-to-cron-ssh'] = [
  comment(
    '"Failed opening the RDB file root (in server root dir /var/spool/cron)": someone pointed Redis at',
  ),
  comment('cron (incident 2). Redis does not log the client, so the decision is an alert, not a ban.'),
  redis(0, { kind: 'redis-rdb-write-failed', fields: { dir: '/var/spool/cron', file: 'root' } }),
  comment('The same into an SSH key file, when a parser did learn the client address: banned.'),
  redis(60 * S, {
    kind: 'redis-rdb-write-failed',
    ip: '203.0.113.120',
    fields: { dir: '/root/.ssh', file: 'authorized_keys' },
  }),
  comment("A failed save into Redis's own directory (disk full): not an attack."),
  redis(2 * MIN, { kind: 'redis-rdb-write-failed', fields: { dir: '/var/lib/redis', file: 'dump.rdb' } }),
];

for (const [name, lines] of Object.entries(folders)) {
  mkdirSync(`${HERE}${name}`, { recursive: true });
  writeFileSync(`${HERE}${name}/input.jsonl`, `${lines.join('\n')}\n`);
}
// options.json files (ssh-bruteforce: the operator's SSH session; redis-hijack: the allowlist) are
// written by hand.
console.log(`wrote ${Object.keys(folders).length} folders`);

/**
 * A realistic, seeded nginx `combined` access log for benchmarks and detection quality:
 * benign traffic from ~20,000 clients (browsers loading pages with their assets, crawlers, API
 * clients, a few typos and stale links; ~15 % IPv6) and ~5 % attack traffic from a few hundred
 * addresses of every class moat's built-in HTTP scenarios target. Ground truth (which address is
 * what) is written beside the log.
 *
 *   node bench/gen-nginx-log.ts [lines=1000000] [seed=42]
 *     → bench/data/nginx-<lines>.log and bench/data/nginx-<lines>.truth.json
 */
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { seededRandom } from './lib/random.ts';

export type AttackClass =
  'http-probing' | 'http-sensitive-files' | 'php-probe' | 'http-bad-user-agent' | 'http-flood' | 'slow-scan';

export interface Truth {
  readonly lines: number;
  readonly benign: string[];
  readonly attackers: Record<AttackClass, string[]>;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => String(n).padStart(2, '0');
function timeLocal(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

const BROWSERS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15',
  'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36',
];
const CRAWLERS = [
  'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
  'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)',
];
const API_UA = ['okhttp/4.12.0', 'python-requests/2.32.3', 'axios/1.7.7', 'Go-http-client/2.0'];
const BAD_UA = [
  'sqlmap/1.8.11#stable (https://sqlmap.org)',
  'Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000003)',
  'Mozilla/5.0 zgrab/0.x',
  'masscan/1.3 (https://github.com/robertdavidgraham/masscan)',
  'Mozilla/5.0 (compatible; Nuclei - Open-source project (github.com/projectdiscovery/nuclei))',
  'WPScan v3.8.25 (https://wpscan.com/wordpress-security-scanner)',
  'gobuster/3.6',
  'Fuzz Faster U Fool v2.1.0-dev',
];
const PAGES = [
  '/',
  '/about',
  '/pricing',
  '/blog',
  '/blog/launch',
  '/blog/scaling-redis',
  '/docs',
  '/docs/install',
  '/docs/api',
  '/contact',
  '/login',
  '/signup',
  '/dashboard',
  '/settings',
  '/search?q=redis',
  '/products/42',
  '/products/7',
  '/cart',
  '/checkout',
];
const ASSETS = [
  '/static/app.3f9a1c.js',
  '/static/vendor.8b2e44.js',
  '/static/app.1d2c3e.css',
  '/static/fonts/inter.woff2',
  '/static/logo.svg',
  '/static/hero.webp',
  '/static/icons/sprite.svg',
  '/favicon.ico',
  '/static/chunk-a1.js',
  '/static/chunk-b2.js',
  '/static/chunk-c3.js',
  '/static/img/team.jpg',
  '/static/img/screenshot-1.png',
  '/static/img/screenshot-2.png',
];
const API = [
  '/api/v1/items',
  '/api/v1/items/17',
  '/api/v1/me',
  '/api/v1/orders',
  '/api/v1/search?q=x',
  '/api/v1/events',
];
const SENSITIVE = [
  '/.env',
  '/.env.production',
  '/.env.local',
  '/.git/config',
  '/.git/HEAD',
  '/wp-config.php.bak',
  '/config/database.yml',
  '/backup.sql',
  '/db.sql',
  '/dump.sql.gz',
  '/site.tar.gz',
  '/backup.zip',
  '/.aws/credentials',
  '/.ssh/id_rsa',
  '/id_rsa',
  '/.DS_Store',
  '/server-status',
  '/.htpasswd',
  '/config.json',
  '/credentials.json',
  '/.npmrc',
  '/docker-compose.yml',
  '/.vscode/sftp.json',
  '/phpinfo.php',
  '/.svn/entries',
];
const PHP = [
  '/wp-login.php',
  '/xmlrpc.php',
  '/wp-admin/setup-config.php',
  '/index.php',
  '/admin.php',
  '/phpmyadmin/index.php',
  '/pma/index.php',
  '/shell.php',
  '/wso.php',
  '/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php',
  '/alfa.php',
  '/cgi-bin/php.cgi',
  '/wp-content/plugins/hello.php',
  '/xleet.php',
  '/about.php',
];

export function generate(lines: number, seed: number, write: (chunk: string) => void): Truth {
  const random = seededRandom(seed);
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const v4 = () => `${1 + int(222)}.${int(256)}.${int(256)}.${1 + int(254)}`;
  const v6 = () =>
    `2a0${1 + int(8)}:${int(0xffff).toString(16)}:${int(0xffff).toString(16)}:${int(0xffff).toString(16)}::${(1 + int(0xfffe)).toString(16)}`;
  const newIp = (() => {
    const used = new Set<string>();
    return (v6share: number) => {
      for (;;) {
        const ip = random() < v6share ? v6() : v4();
        // Keep out private/reserved-looking first octets so benign and attack sets are clean.
        if (/^(10|127|169|172|192|100)\./.test(ip) || used.has(ip)) continue;
        used.add(ip);
        return ip;
      }
    };
  })();

  const start = Date.UTC(2026, 10, 20, 6, 0, 0);
  const spanMs = 6 * 3_600_000;
  interface Row {
    at: number;
    text: string;
  }
  const rows: Row[] = [];
  const line = (
    at: number,
    ip: string,
    method: string,
    target: string,
    status: number,
    bytes: number,
    ua: string,
    referer = '-',
  ) =>
    rows.push({
      at,
      text: `${ip} - - [${timeLocal(at)}] "${method} ${target} HTTP/1.1" ${status} ${bytes} "${referer}" "${ua}"`,
    });

  const attackers: Record<AttackClass, string[]> = {
    'http-probing': [],
    'http-sensitive-files': [],
    'php-probe': [],
    'http-bad-user-agent': [],
    'http-flood': [],
    'slow-scan': [],
  };
  const attackBudget = Math.round(lines * 0.05);
  let attackLines = 0;
  const scale = attackBudget / 48_000;
  const count = (n: number) => Math.max(1, Math.round(n * Math.min(1, Math.max(0.02, scale))));

  // Attack classes.
  for (let i = 0; i < count(80); i++) {
    const ip = newIp(0.1);
    attackers['http-probing'].push(ip);
    let t = start + int(spanMs - 600_000);
    const n = 50 + int(250);
    for (let k = 0; k < n; k++, t += 50 + int(400)) {
      line(
        t,
        ip,
        'GET',
        `/${Math.floor(random() * 1e9).toString(36)}/${pick(['admin', 'login', 'api', 'test', 'old', 'new', 'backup', 'console'])}`,
        404,
        162,
        pick(BROWSERS),
      );
      attackLines++;
    }
  }
  for (let i = 0; i < count(60); i++) {
    const ip = newIp(0.1);
    attackers['http-sensitive-files'].push(ip);
    let t = start + int(spanMs - 600_000);
    const n = 10 + int(30);
    for (let k = 0; k < n; k++, t += 100 + int(2000)) {
      line(t, ip, 'GET', pick(SENSITIVE), 404, 162, pick([...BROWSERS, 'curl/8.5.0']));
      attackLines++;
    }
  }
  for (let i = 0; i < count(60); i++) {
    const ip = newIp(0.1);
    attackers['php-probe'].push(ip);
    let t = start + int(spanMs - 600_000);
    const n = 10 + int(40);
    for (let k = 0; k < n; k++, t += 200 + int(3000)) {
      line(t, ip, pick(['GET', 'GET', 'POST']), pick(PHP), 404, 162, pick(BROWSERS));
      attackLines++;
    }
  }
  for (let i = 0; i < count(40); i++) {
    const ip = newIp(0.1);
    attackers['http-bad-user-agent'].push(ip);
    let t = start + int(spanMs - 600_000);
    const ua = pick(BAD_UA);
    const n = 5 + int(45);
    for (let k = 0; k < n; k++, t += 100 + int(1000)) {
      line(
        t,
        ip,
        'GET',
        pick([...PAGES, '/?id=1%27%20OR%201=1--', '/login?user=admin']),
        pick([200, 404, 403]),
        512,
        ua,
      );
      attackLines++;
    }
  }
  for (let i = 0; i < count(20); i++) {
    const ip = newIp(0.1);
    attackers['http-flood'].push(ip);
    let t = start + int(spanMs - 600_000);
    const n = 1000 + int(1000);
    for (let k = 0; k < n; k++, t += int(60)) {
      line(t, ip, 'GET', pick(['/', '/search?q=a', '/api/v1/items']), 200, 5120, pick(BROWSERS));
      attackLines++;
    }
  }
  for (let i = 0; i < count(40); i++) {
    const ip = newIp(0.1);
    attackers['slow-scan'].push(ip);
    const n = 40;
    const gap = Math.floor((spanMs - 60_000) / n);
    let t = start + int(60_000);
    for (let k = 0; k < n; k++, t += gap - 30_000 + int(60_000)) {
      line(
        t,
        ip,
        'GET',
        `/${pick(['admin', 'backup', 'old', 'test', 'dev', 'staging'])}/${Math.floor(random() * 1e9).toString(36)}`,
        404,
        162,
        pick(BROWSERS),
      );
      attackLines++;
    }
  }

  // Benign clients fill the rest.
  const benign: string[] = [];
  const clients = Math.max(10, Math.round(20_000 * Math.min(1, lines / 1_000_000)));
  const clientIps = Array.from({ length: clients }, () => newIp(0.15));
  let benignLines = lines - attackLines;
  const seen = new Set<string>();
  while (benignLines > 0) {
    const ip = pick(clientIps);
    const roll = random();
    let t = start + int(spanMs);
    if (roll < 0.7) {
      // A browser session: a few pages, each with its assets.
      const ua = pick(BROWSERS);
      const pages = 1 + int(4);
      for (let p = 0; p < pages && benignLines > 0; p++) {
        const page = pick(PAGES);
        line(t, ip, 'GET', page, random() < 0.01 ? 404 : 200, 8000 + int(40_000), ua);
        benignLines--;
        const assets = 5 + int(ASSETS.length);
        for (let a = 0; a < assets && benignLines > 0; a++) {
          const asset = ASSETS[a % ASSETS.length]!;
          line(
            t + 20 + int(400),
            ip,
            'GET',
            asset,
            asset === '/favicon.ico' && random() < 0.3 ? 404 : 200,
            1000 + int(200_000),
            ua,
            `https://example.com${page}`,
          );
          benignLines--;
        }
        t += 3000 + int(60_000);
      }
    } else if (roll < 0.85) {
      // API client bursts.
      const ua = pick(API_UA);
      const n = 3 + int(20);
      for (let k = 0; k < n && benignLines > 0; k++, t += 200 + int(3000)) {
        line(
          t,
          ip,
          pick(['GET', 'GET', 'POST']),
          pick(API),
          pick([200, 200, 200, 201, 401, 404]),
          300 + int(4000),
          ua,
        );
        benignLines--;
      }
    } else if (roll < 0.9) {
      // A crawler walking pages (some of them stale links).
      const ua = pick(CRAWLERS);
      const n = 5 + int(30);
      for (let k = 0; k < n && benignLines > 0; k++, t += 1000 + int(10_000)) {
        line(
          t,
          ip,
          'GET',
          random() < 0.05 ? `/blog/old-post-${int(50)}` : pick(PAGES),
          random() < 0.05 ? 404 : 200,
          9000,
          ua,
        );
        benignLines--;
      }
    } else {
      // Someone with a stale bookmark or a typo.
      line(
        t,
        ip,
        'GET',
        pick(['/blgo', '/pricnig', '/docs/instal', '/robots.txt', '/sitemap.xml', '/apple-touch-icon.png']),
        404,
        162,
        pick(BROWSERS),
      );
      benignLines--;
    }
    seen.add(ip);
  }
  benign.push(...seen);

  rows.sort((a, b) => a.at - b.at);
  let chunk = '';
  for (const row of rows) {
    chunk += `${row.text}\n`;
    if (chunk.length > 1 << 20) {
      write(chunk);
      chunk = '';
    }
  }
  if (chunk) write(chunk);
  return { lines: rows.length, benign, attackers };
}

if (import.meta.main) {
  const lines = Number(process.argv[2] ?? 1_000_000);
  const seed = Number(process.argv[3] ?? 42);
  const dir = path.join(import.meta.dirname, 'data');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `nginx-${lines}.log`);
  const fd = openSync(file, 'w');
  const truth = generate(lines, seed, (chunk) => writeSync(fd, chunk));
  closeSync(fd);
  writeFileSync(path.join(dir, `nginx-${lines}.truth.json`), JSON.stringify(truth));
  const attackers = Object.values(truth.attackers).reduce((n, list) => n + list.length, 0);
  process.stdout.write(
    `wrote ${file}: ${truth.lines} lines, ${truth.benign.length} benign clients, ${attackers} attackers\n`,
  );
}

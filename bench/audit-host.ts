/**
 * How long `moat audit` takes on this host, measured two ways in one run:
 *  - in-process: wall and CPU time of runAudit() over 20 runs (the audit's own work);
 *  - whole command: `node bin/moat.js audit --json` as a fresh process over 10 runs (what a user waits,
 *    including Node start-up and loading moat);
 * side by side with Lynis (`lynis audit system --quick`), the usual host auditor, run once.
 *
 *   npm run bench:audit            (installs lynis from Debian if absent; pass --no-lynis to skip it)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { createHost } from '../src/audit/host.ts';
import { runAudit } from '../src/audit/run.ts';
import { parseConfig } from '../src/config/load.ts';

const top = path.join(import.meta.dirname, '..');
const config = parseConfig({});

function stats(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { median: at(0.5), p90: at(0.9), max: sorted.at(-1) ?? 0 };
}
const ms = (n: number) => `${n.toFixed(0)} ms`;

// 1. In-process.
const wall: number[] = [];
const cpu: number[] = [];
let findings = 0;
let skipped = 0;
for (let i = 0; i < 21; i++) {
  const startCpu = process.cpuUsage();
  const start = performance.now();
  const report = await runAudit({
    host: createHost({ commandTimeoutMs: config.audit.commandTimeoutMs }),
    config,
  });
  const elapsed = performance.now() - start;
  const used = process.cpuUsage(startCpu);
  if (i === 0) continue; // the first run pays module warm-up; it is counted in the process figures below
  wall.push(elapsed);
  cpu.push((used.user + used.system) / 1000);
  findings = report.findings.length;
  skipped = report.skipped.length;
}

// 2. Whole command, fresh process each time.
const node = path.join(top, 'node_modules', '.bin', 'node');
const processWall: number[] = [];
for (let i = 0; i < 10; i++) {
  const start = performance.now();
  const result = spawnSync(node, [path.join(top, 'bin', 'moat.js'), 'audit', '--json'], { encoding: 'utf8' });
  processWall.push(performance.now() - start);
  if (result.status !== 0) throw new Error(`moat audit exited ${result.status}: ${result.stderr}`);
}

// 3. Lynis, once.
let lynis = 'not run (--no-lynis)';
if (!process.argv.includes('--no-lynis')) {
  const has = spawnSync('sh', ['-c', 'command -v lynis'], { encoding: 'utf8' }).status === 0;
  if (!has)
    execFileSync('sh', [
      '-c',
      'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq lynis >/dev/null',
    ]);
  const start = performance.now();
  spawnSync('lynis', ['audit', 'system', '--quick', '--no-colors', '--no-log'], { encoding: 'utf8' });
  lynis = ms(performance.now() - start);
}

const w = stats(wall);
const c = stats(cpu);
const p = stats(processWall);
const lines = [
  `moat audit of this host: ${findings} findings, ${skipped} skipped sources`,
  `  in-process runAudit (20 runs):   wall median ${ms(w.median)}, p90 ${ms(w.p90)}; CPU median ${ms(c.median)}`,
  `  whole command, fresh process (10 runs): wall median ${ms(p.median)}, p90 ${ms(p.p90)}, max ${ms(p.max)}`,
  `  lynis audit system --quick (1 run): ${lynis}`,
];
process.stdout.write(`${lines.join('\n')}\n`);

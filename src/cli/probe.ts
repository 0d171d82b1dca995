/** `moat probe HOST…`: outside-in, non-destructive checks of what answers and what lets anyone in. */
import type { Command } from 'commander';
import { loadConfig } from '../config/load.ts';
import { MoatError } from '../core/errors.ts';
import { parsePorts, probeRules, runProbe } from '../probe/index.ts';
import type { CliContext } from './context.ts';
import { addOutputOptions, emitReport, formatOf, type OutputFlags } from './output.ts';

interface ProbeFlags extends OutputFlags {
  ports?: string;
  origin?: string;
  yes?: boolean;
  source?: string;
  timeout?: string;
  concurrency?: string;
}

export function registerProbe(program: Command, context: CliContext): void {
  addOutputOptions(
    program
      .command('probe')
      .description(
        'probe hosts from the outside: open ports, services that let anyone in, an origin answering outside its CDN',
      )
      .argument(
        '<hosts...>',
        'IP addresses, CIDR ranges or host names (more than probe.maxTargets needs --yes)',
      )
      .option(
        '--ports <list>',
        'ports to try, e.g. 22,80,443,6379 or 1-1024 (default: common service and admin ports)',
      )
      .option('--origin <domain>', 'check whether each host serves DOMAIN directly, outside its CDN')
      .option('--yes', 'allow more addresses than probe.maxTargets')
      .option('--source <address>', 'connect from this local address')
      .option('--timeout <ms>', 'connect and read timeout per port (overrides probe.timeoutMs)')
      .option('--concurrency <n>', 'connections open at once (overrides probe.concurrency)'),
  ).action(async (hosts: string[], flags: ProbeFlags, command: Command) => {
    const globals = command.optsWithGlobals<{ config?: string }>();
    const { config } = await loadConfig(globals.config);
    const probeConfig = {
      ...config.probe,
      ...(flags.timeout === undefined
        ? {}
        : { timeoutMs: integerFlag('--timeout', flags.timeout, 50, 60_000) }),
      ...(flags.concurrency === undefined
        ? {}
        : { concurrency: integerFlag('--concurrency', flags.concurrency, 1, 4096) }),
    };
    const report = await runProbe({
      targets: hosts,
      ports: flags.ports === undefined ? undefined : parsePorts(flags.ports),
      config: probeConfig,
      origin: flags.origin,
      yes: flags.yes === true,
      sourceAddress: flags.source,
      stderr: context.stderr,
    });
    const { summary } = report;
    if (formatOf(flags) === 'text') {
      const addresses = summary.addresses.length;
      context.stderr.write(
        `moat probe: ${addresses} address${addresses === 1 ? '' : 'es'} × ${summary.portsPerAddress} ports: ` +
          `${summary.open} open, ${summary.closed} closed, ${summary.filtered} filtered ` +
          `in ${(summary.elapsedMs / 1000).toFixed(1)} s\n`,
      );
    }
    emitReport({ findings: report.findings, skipped: report.skipped }, flags, context, {
      subject: `probe of ${hosts.join(' ')}`,
      rules: probeRules,
      root: '/',
    });
  });
}

function integerFlag(name: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || value < min || value > max) {
    throw new MoatError('MOAT_USAGE', `${name}: "${text}" is not a whole number between ${min} and ${max}`);
  }
  return value;
}

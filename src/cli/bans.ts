/** `moat bans list|add|remove`: the stored bans, and the firewall that enforces them. */
import path from 'node:path';
import type { Command } from 'commander';
import type { MoatConfig } from '../config/schema.ts';
import { loadConfig } from '../config/load.ts';
import { systemClock } from '../core/clock.ts';
import { parseDurationMs } from '../core/duration.ts';
import { buildDecider } from '../daemon/build.ts';
import { createFirewall } from '../daemon/firewall.ts';
import { createHostProtection } from '../daemon/host-protection.ts';
import { createJsonLogger } from '../daemon/log.ts';
import { openSqliteStore } from '../storage/sqlite.ts';
import type { CliContext } from './context.ts';

interface StateFlags {
  stateDir?: string;
}

async function setup(command: Command): Promise<{ config: MoatConfig; stateDir: string }> {
  const globals = command.optsWithGlobals<{ config?: string; stateDir?: string }>();
  const { config } = await loadConfig(globals.config);
  return { config, stateDir: globals.stateDir ?? config.stateDir };
}

export function registerBans(program: Command, context: CliContext): void {
  const bans = program
    .command('bans')
    .description('list, add or remove bans (stored in the state dir, enforced by the configured firewall)')
    .option('--state-dir <dir>', 'state directory (default: config stateDir)');

  bans
    .command('list')
    .description('active bans: target, scenario, reason, expiry')
    .option('--json', 'print { "bans": [ { target, scenario, reason, expiresAt } ] }')
    .action(async (flags: { json?: boolean } & StateFlags, command: Command) => {
      const { stateDir } = await setup(command);
      const store = openSqliteStore(path.join(stateDir, 'moat.db'));
      try {
        const active = await store.activeBans(systemClock.now());
        if (flags.json) {
          const out = active.map((b) => ({
            target: b.target,
            scenario: b.scenario,
            reason: b.reason,
            origin: b.origin,
            expiresAt: new Date(b.expiresAt).toISOString(),
          }));
          context.stdout.write(`${JSON.stringify({ bans: out }, null, 2)}\n`);
          return;
        }
        if (active.length === 0) {
          context.stdout.write('no active bans\n');
          return;
        }
        const width = Math.max(...active.map((b) => b.target.length));
        for (const b of active) {
          context.stdout.write(
            `${b.target.padEnd(width)}  until ${new Date(b.expiresAt).toISOString()}  ${b.scenario}: ${b.reason}\n`,
          );
        }
      } finally {
        await store.close();
      }
    });

  bans
    .command('add')
    .description('ban an address or range now (refused if it would lock you out)')
    .argument('<target>', 'an IP address or CIDR')
    .option('--duration <duration>', 'how long, e.g. 30m, 4h, 7d (default: decisions.banDuration)')
    .option('--reason <text>', 'why, for the record', 'added by hand')
    .action(async (target: string, flags: { duration?: string; reason: string }, command: Command) => {
      const { config, stateDir } = await setup(command);
      const protection = createHostProtection(config.decisions.sshPorts);
      const decider = buildDecider(config, {
        clock: systemClock,
        sshSessions: () => protection.sshSessions(),
        localAddresses: () => protection.localAddresses(),
      });
      const decision = decider.manual({
        target,
        reason: flags.reason,
        ...(flags.duration === undefined
          ? {}
          : { durationMs: parseDurationMs(flags.duration, '--duration') }),
      });
      const store = openSqliteStore(path.join(stateDir, 'moat.db'));
      try {
        const ban = await store.addBan(decision, decision.at + decision.durationMs);
        const firewall = createFirewall(config.firewall, createJsonLogger(context.stderr));
        await firewall.init();
        await firewall.block(ban.target, ban.expiresAt - systemClock.now());
        context.stdout.write(
          `banned ${ban.target} until ${new Date(ban.expiresAt).toISOString()} (${firewall.name})\n`,
        );
      } finally {
        await store.close();
      }
    });

  bans
    .command('remove')
    .description('lift a ban now')
    .argument('<target>', 'the banned address or CIDR, as `moat bans list` shows it')
    .action(async (target: string, _flags: unknown, command: Command) => {
      const { config, stateDir } = await setup(command);
      const store = openSqliteStore(path.join(stateDir, 'moat.db'));
      try {
        const removed = await store.removeBan(target, systemClock.now());
        const firewall = createFirewall(config.firewall, createJsonLogger(context.stderr));
        await firewall.init();
        await firewall.release(target);
        context.stdout.write(
          removed ? `unbanned ${target}\n` : `${target} was not banned (firewall entry cleared anyway)\n`,
        );
      } finally {
        await store.close();
      }
    });
}

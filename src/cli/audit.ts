/** `moat audit`: read this host (or a copied tree) and report what is exposed. */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { createHost } from '../audit/host.ts';
import { auditRules, runAudit } from '../audit/run.ts';
import { loadConfig } from '../config/load.ts';
import { loadCdnRangesFile } from '../core/cdn.ts';
import { MoatError } from '../core/errors.ts';
import type { CliContext } from './context.ts';
import { addOutputOptions, emitReport, type OutputFlags } from './output.ts';

interface AuditFlags extends OutputFlags {
  root?: string;
  compose?: string[];
}

export function registerAudit(program: Command, context: CliContext): void {
  addOutputOptions(
    program
      .command('audit')
      .description('read config files and host state; report findings with evidence and the fix')
      .option('--root <dir>', 'audit a copied host tree: every path is read under DIR, no command is run')
      .option('--compose <file...>', 'also read these docker compose files'),
  ).action(async (flags: AuditFlags, command: Command) => {
    const globals = command.optsWithGlobals<{ config?: string }>();
    const { config } = await loadConfig(globals.config);
    // A bad cdn.rangesFile is a configuration error: stop here, naming the key, not mid-audit.
    if (config.cdn.rangesFile !== undefined) await loadCdnRangesFile(config.cdn.rangesFile);
    const root = flags.root === undefined ? undefined : path.resolve(flags.root);
    if (root !== undefined) await assertDirectory(root);
    const host = createHost({
      ...(root === undefined ? {} : { root }),
      commandTimeoutMs: config.audit.commandTimeoutMs,
    });
    const composeFiles = (flags.compose ?? []).map((file) =>
      root === undefined ? path.resolve(file) : path.resolve('/', file),
    );
    for (const file of composeFiles) {
      if (!(await host.isFile(file))) {
        throw new MoatError(
          'MOAT_FILE_NOT_FOUND',
          `--compose: ${file} does not exist${root ? ` under ${root}` : ''}`,
        );
      }
    }
    const report = await runAudit({ host, config, composeFiles });
    emitReport(report, flags, context, {
      subject: root === undefined ? 'audit of this host' : `audit of ${root}`,
      rules: auditRules(),
      root: host.root,
    });
  });
}

async function assertDirectory(dir: string): Promise<void> {
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) throw new MoatError('MOAT_ROOT_NOT_FOUND', `--root: ${dir} is not a directory`);
}

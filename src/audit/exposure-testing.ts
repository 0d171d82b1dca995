/**
 * Test support for exposure and the checks that read it: writes a small host tree to a temp
 * directory and runs the collectors exposure reads (docker, ufw, netfilter, sockets) on it, so that
 * tests build Facts from real file text rather than by hand.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfig } from '../config/load.ts';
import { dockerCollector } from './collectors/docker.ts';
import { netfilterCollector } from './collectors/netfilter.ts';
import { socketsCollector } from './collectors/sockets.ts';
import { ufwCollector } from './collectors/ufw.ts';
import { createHost } from './host.ts';
import type { Facts } from './types.ts';

const roots: string[] = [];

/** Writes `files` (paths relative to the tree's /) and collects docker, ufw, netfilter and sockets facts. */
export async function factsOf(files: Record<string, string>): Promise<Facts> {
  const root = await mkdtemp(path.join(tmpdir(), 'moat-exposure-'));
  roots.push(root);
  for (const [file, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, file)), { recursive: true });
    await writeFile(path.join(root, file), text);
  }
  const context = { host: createHost({ root }), config: parseConfig({}), composeFiles: [] };
  const [docker, ufw, netfilter, sockets] = await Promise.all([
    dockerCollector.collect(context),
    ufwCollector.collect(context),
    netfilterCollector.collect(context),
    socketsCollector.collect(context),
  ]);
  return {
    ...(docker.facts ? { docker: docker.facts } : {}),
    ...(ufw.facts ? { ufw: ufw.facts } : {}),
    ...(netfilter.facts ? { netfilter: netfilter.facts } : {}),
    ...(sockets.facts ? { sockets: sockets.facts } : {}),
  };
}

/** Removes the trees factsOf wrote (call from `after`). */
export async function removeTrees(): Promise<void> {
  for (const root of roots.splice(0)) await rm(root, { recursive: true, force: true });
}

/** user.rules text with the given `### tuple ###` comments and rules. */
export function userRules(...rules: [tuple: string, rule: string][]): string {
  const body = rules.map(([tuple, rule]) => `\n### tuple ### ${tuple}\n${rule}\n`).join('');
  return `*filter\n:ufw-user-input - [0:0]\n:ufw-user-forward - [0:0]\n### RULES ###\n${body}\n### END RULES ###\nCOMMIT\n`;
}

/** ufw active, default deny incoming, `ufw allow 22/tcp` and `ufw deny 6379/tcp` (rules on lines 7 and 10). */
export const UFW_ON: Readonly<Record<string, string>> = {
  'etc/ufw/ufw.conf': 'ENABLED=yes\nLOGLEVEL=low\n',
  'etc/default/ufw': 'IPV6=yes\nDEFAULT_INPUT_POLICY="DROP"\nDEFAULT_FORWARD_POLICY="DROP"\n',
  'etc/ufw/user.rules': userRules(
    ['allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in', '-A ufw-user-input -p tcp --dport 22 -j ACCEPT'],
    ['deny tcp 6379 0.0.0.0/0 any 0.0.0.0/0 in', '-A ufw-user-input -p tcp --dport 6379 -j DROP'],
  ),
};

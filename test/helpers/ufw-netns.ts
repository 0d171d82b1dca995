/**
 * ufw isolated from the host: a network namespace of its own (so ufw's iptables-restore only ever
 * loads rules there) and a private ufw configuration. `ip netns exec NAME` runs every command in a
 * fresh mount namespace and bind-mounts each entry of /etc/netns/NAME/ over /etc/ — so
 * /etc/netns/NAME/ufw (copied from the package's templates in /usr/share/ufw) stands in for
 * /etc/ufw and /etc/netns/NAME/default/ufw for /etc/default/ufw. The host's /etc/ufw, its
 * /etc/default and its iptables are never read or written; ufw's lock file, /run/ufw.lock, is the
 * one shared path (an empty lock file that `ufw status` on the host creates too).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createNetns } from './netns.ts';

export function hasUfw(): boolean {
  try {
    execFileSync('ufw', ['version'], { stdio: 'ignore' });
    readdirSync('/usr/share/ufw/iptables');
    return true;
  } catch {
    return false;
  }
}

export interface UfwNetns {
  readonly name: string;
  /** Runs `ufw ARGS…` inside the namespace with the private configuration. */
  ufw(...args: string[]): string;
  remove(): void;
}

/**
 * Creates the namespace and configuration and enables ufw there (default policies ACCEPT, so that
 * only moat's rules decide what is dropped).
 */
export function createUfwNetns(prefix = 'moat-ufw'): UfwNetns {
  const netns = createNetns(prefix);
  const etc = join('/etc/netns', netns.name);
  const conf = join(etc, 'ufw');
  const madeRoot = !existsSync('/etc/netns');
  try {
    mkdirSync(join(conf, 'applications.d'), { recursive: true });
    mkdirSync(join(etc, 'default'), { recursive: true });
    for (const file of readdirSync('/usr/share/ufw/iptables')) {
      copyFileSync(join('/usr/share/ufw/iptables', file), join(conf, file));
    }
    for (const file of ['ufw.conf', 'before.init', 'after.init']) {
      copyFileSync(join('/usr/share/ufw', file), join(conf, file));
    }
    writeFileSync(join(conf, 'sysctl.conf'), '');
    writeFileSync(
      join(etc, 'default', 'ufw'),
      [
        'IPV6=yes',
        'DEFAULT_INPUT_POLICY="ACCEPT"',
        'DEFAULT_OUTPUT_POLICY="ACCEPT"',
        'DEFAULT_FORWARD_POLICY="ACCEPT"',
        'DEFAULT_APPLICATION_POLICY="SKIP"',
        'MANAGE_BUILTINS=no',
        'IPT_SYSCTL=/etc/ufw/sysctl.conf',
        'IPT_MODULES=""',
        '',
      ].join('\n'),
    );
  } catch (error) {
    remove();
    throw error;
  }
  const ufw = (...args: string[]) =>
    execFileSync('ip', ['netns', 'exec', netns.name, 'ufw', ...args], { encoding: 'utf8' });
  function remove() {
    netns.remove();
    rmSync(etc, { recursive: true, force: true });
    if (!madeRoot) return;
    try {
      rmdirSync('/etc/netns'); // ours, and only when no other namespace keeps files there
    } catch {
      // not empty, or already gone
    }
  }
  try {
    ufw('--force', 'enable');
  } catch (error) {
    remove();
    throw error;
  }
  return { name: netns.name, ufw, remove };
}

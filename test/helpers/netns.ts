/**
 * Network namespaces for tests: real nftables without touching the host's ruleset. Only addresses
 * inside namespaces the test made are used (10.231.x.x on veth pairs that exist only there).
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';

export function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8' });
}

export function inNetns(ns: string, command: string, ...args: string[]): string {
  return execFileSync('ip', ['netns', 'exec', ns, command, ...args], { encoding: 'utf8' });
}

/** Creates a namespace with loopback up; returns its name and a cleanup. */
export function createNetns(prefix = 'moat'): { readonly name: string; remove(): void } {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  ip('netns', 'add', name);
  ip('netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up');
  return {
    name,
    remove() {
      try {
        ip('netns', 'del', name);
      } catch {
        // already gone
      }
    },
  };
}

export function hasNft(): boolean {
  try {
    execFileSync('nft', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Connects veth `a` in namespace nsA (address addrA/24) to `b` in nsB (addrB/24). */
export function link(nsA: string, addrA: string, nsB: string, addrB: string): void {
  const suffix = randomBytes(2).toString('hex');
  const a = `va${suffix}`;
  const b = `vb${suffix}`;
  ip('link', 'add', a, 'type', 'veth', 'peer', 'name', b);
  ip('link', 'set', a, 'netns', nsA);
  ip('link', 'set', b, 'netns', nsB);
  ip('-n', nsA, 'addr', 'add', `${addrA}/24`, 'dev', a);
  ip('-n', nsB, 'addr', 'add', `${addrB}/24`, 'dev', b);
  ip('-n', nsA, 'link', 'set', a, 'up');
  ip('-n', nsB, 'link', 'set', b, 'up');
}

/**
 * Starts a small HTTP server inside a namespace (a child process running this repository's Node);
 * resolves once it listens. Kill it with the returned stop().
 */
export async function serveHttpIn(ns: string, port: number): Promise<{ stop(): void }> {
  const { spawn } = await import('node:child_process');
  const code = `require('node:http').createServer((q,s)=>s.end('ok')).listen(${port},'0.0.0.0',()=>console.log('listening'))`;
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', code], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (c) => reject(new Error(`server in ${ns} exited ${c}`)));
  });
  return { stop: () => child.kill('SIGKILL') };
}

/** One HTTP GET from inside a namespace: 'ok', or the error code ('ETIMEDOUT' when dropped). */
export function httpGetFrom(ns: string, url: string, timeoutMs = 800): string {
  const code = `const r=require('node:http').get(${JSON.stringify(url)},{timeout:${timeoutMs}},(s)=>{let b='';s.on('data',d=>b+=d);s.on('end',()=>console.log(b))});r.on('timeout',()=>{console.log('ETIMEDOUT');process.exit(0)});r.on('error',e=>console.log(e.code))`;
  return execFileSync('ip', ['netns', 'exec', ns, process.execPath, '-e', code], { encoding: 'utf8' }).trim();
}

/**
 * Writes a moat config that tails `logFile` (nginx combined) and enforces with nftables inside
 * namespace `netns`, never the host's own firewall.
 */
export function writeNetnsWatchConfig(
  configFile: string,
  options: { readonly netns: string; readonly logFile: string; readonly from?: 'start' | 'end' },
): void {
  writeFileSync(
    configFile,
    [
      'firewall:',
      '  backend: nftables',
      `  netns: ${options.netns}`,
      'watch:',
      '  sources:',
      `    - path: ${options.logFile}`,
      '      format: nginx-combined',
      '      name: web',
      ...(options.from === undefined ? [] : [`      from: ${options.from}`]),
      '',
    ].join('\n'),
  );
}

/**
 * nginx collector: the whole configuration as one directive tree, includes expanded in place, each
 * directive with the file and line it is written on.
 *
 * Live host: `nginx -T` prints every file nginx read, each after a `# configuration file PATH:`
 * line; that dump is split back into files and parsed like the files themselves, so lines map back
 * to the real file. Else (or when `nginx -T` fails): /etc/nginx/nginx.conf and its `include`s (globs;
 * relative paths are relative to /etc/nginx; glob matches sorted).
 *
 * It also loads the CDN's current ranges (the built-in dated list, or `cdn.rangesFile`) so the pure
 * nginx check can tell current Cloudflare ranges from stale ones.
 */
import path from 'node:path';
import { builtinCloudflareRanges, type CdnRanges, loadCdnRangesFile } from '../../core/cdn.ts';
import { isMoatError } from '../../core/errors.ts';
import type { Finding } from '../../core/finding.ts';
import type { Host } from '../host.ts';
import { unparsableFile } from '../rules.ts';
import type { Collector } from '../types.ts';
import { expandIncludeGlob, hasGlob, type ListDirectory, readConfigText } from './include-files.ts';
import { type NginxDirective, parseNginx } from './nginx-syntax.ts';

export type { NginxDirective } from './nginx-syntax.ts';

export const NGINX_CONF = '/etc/nginx/nginx.conf';

export interface NginxFacts {
  /** `nginx -T` when it ran on the live host, else `files`. */
  readonly source: 'nginx -T' | 'files';
  readonly mainFile: string;
  /** Every file read, in the order nginx reads them. */
  readonly files: readonly string[];
  /** The top-level directives (`events`, `http`, `stream`…), includes expanded in place. */
  readonly directives: readonly NginxDirective[];
  /** The CDN's current ranges, to compare `set_real_ip_from` and firewall allowlists with. */
  readonly cdn: CdnRanges;
}

interface ConfigSource {
  read(hostPath: string): Promise<string | undefined>;
  list: ListDirectory;
}

const MAX_INCLUDE_DEPTH = 16;

/** Splits `nginx -T` output into file path → text. The first file is the main configuration file. */
export function splitNginxDump(output: string): Map<string, string> {
  const files = new Map<string, string>();
  let current: string | undefined;
  let lines: string[] = [];
  const flush = () => {
    if (current === undefined) return;
    // nginx writes one extra newline after each file's content.
    if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    if (!files.has(current)) files.set(current, lines.join('\n'));
  };
  for (const line of output.split('\n')) {
    const header = /^# configuration file (.+):$/.exec(line);
    if (header) {
      flush();
      current = header[1]!;
      lines = [];
    } else if (current !== undefined) {
      lines.push(line);
    }
  }
  flush();
  return files;
}

function dumpSource(files: Map<string, string>): ConfigSource {
  return {
    read: async (hostPath) => files.get(hostPath),
    list: async (dir) => {
      const prefix = dir.endsWith('/') ? dir : `${dir}/`;
      const names = new Set<string>();
      for (const file of files.keys()) {
        if (file.startsWith(prefix)) names.add(file.slice(prefix.length).split('/')[0]!);
      }
      return names.size > 0 ? [...names].sort() : undefined;
    },
  };
}

function hostSource(host: Host): ConfigSource {
  return { read: (hostPath) => readConfigText(host, hostPath), list: (dir) => host.list(dir) };
}

interface Loaded {
  files: string[];
  directives: NginxDirective[];
  findings: Finding[];
  skipped: string[];
}

async function loadTree(source: ConfigSource, mainFile: string, mainText: string): Promise<Loaded> {
  const loaded: Loaded = { files: [], directives: [], findings: [], skipped: [] };
  const confDir = path.posix.dirname(mainFile);

  const expandFile = async (
    file: string,
    text: string,
    stack: readonly string[],
  ): Promise<NginxDirective[]> => {
    loaded.files.push(file);
    const parsed = parseNginx(text, file);
    if (parsed.error) {
      loaded.findings.push(unparsableFile(file, parsed.error.line, parsed.error.message));
      return [];
    }
    return expandList(parsed.directives, [...stack, file]);
  };

  const expandList = async (
    directives: readonly NginxDirective[],
    stack: readonly string[],
  ): Promise<NginxDirective[]> => {
    const out: NginxDirective[] = [];
    for (const directive of directives) {
      if (directive.name === 'include' && directive.block === undefined && directive.args.length === 1) {
        const pattern = directive.args[0]!;
        const targets = await expandIncludeGlob(path.posix.resolve(confDir, pattern), source.list);
        for (const target of targets) {
          if (stack.includes(target) || stack.length >= MAX_INCLUDE_DEPTH) {
            loaded.findings.push(
              unparsableFile(directive.file, directive.line, `include ${pattern} loops back to ${target}`),
            );
            continue;
          }
          const text = await source.read(target);
          if (text === undefined) {
            if (!hasGlob(pattern)) {
              loaded.skipped.push(`${directive.file}:${directive.line} includes ${target}, which is absent`);
            }
            continue;
          }
          out.push(...(await expandFile(target, text, stack)));
        }
        continue;
      }
      out.push(
        directive.block === undefined
          ? directive
          : { ...directive, block: await expandList(directive.block, stack) },
      );
    }
    return out;
  };

  loaded.directives = await expandFile(mainFile, mainText, []);
  return loaded;
}

async function runNginxT(host: Host): Promise<{ files?: Map<string, string>; problem?: string }> {
  if (!host.live) return {};
  const result = (await host.run('nginx', ['-T'])) ?? (await host.run('/usr/sbin/nginx', ['-T']));
  if (result === undefined) return {};
  if (result.code !== 0) {
    const why = result.stderr.trim().split('\n').pop() ?? '';
    return { problem: `nginx -T failed (exit ${result.code}${why ? `: ${why}` : ''})` };
  }
  const files = splitNginxDump(result.stdout);
  return files.size > 0 ? { files } : { problem: 'nginx -T printed no configuration file' };
}

async function loadCdn(rangesFile: string | undefined): Promise<{ cdn: CdnRanges; problem?: string }> {
  if (rangesFile === undefined) return { cdn: builtinCloudflareRanges() };
  try {
    return { cdn: await loadCdnRangesFile(rangesFile) };
  } catch (error) {
    const message = isMoatError(error) ? error.message : String(error);
    return { cdn: builtinCloudflareRanges(), problem: `${message}; using the built-in list instead` };
  }
}

export const nginxCollector: Collector<'nginx'> = {
  name: 'nginx',
  async collect({ host, config }) {
    const [dump, mainText, cdnLoad] = await Promise.all([
      runNginxT(host),
      readConfigText(host, NGINX_CONF),
      loadCdn(config.cdn.rangesFile),
    ]);
    const skipped: string[] = [];
    if (cdnLoad.problem) skipped.push(cdnLoad.problem);

    let loaded: Loaded;
    let source: NginxFacts['source'];
    let mainFile = NGINX_CONF;
    if (dump.files) {
      const [first] = dump.files.entries();
      mainFile = first![0];
      loaded = await loadTree(dumpSource(dump.files), mainFile, first![1]);
      source = 'nginx -T';
    } else if (mainText !== undefined) {
      if (dump.problem) skipped.push(`${dump.problem}; read ${NGINX_CONF} instead`);
      loaded = await loadTree(hostSource(host), mainFile, mainText);
      source = 'files';
    } else {
      const why = dump.problem ? ` and ${dump.problem}` : '';
      return { skipped: [{ check: 'nginx', reason: `no ${NGINX_CONF} found${why}` }] };
    }
    skipped.push(...loaded.skipped);

    const facts: NginxFacts = {
      source,
      mainFile,
      files: loaded.files,
      directives: loaded.directives,
      cdn: cdnLoad.cdn,
    };
    return {
      facts,
      findings: loaded.findings,
      ...(skipped.length > 0 ? { skipped: skipped.map((reason) => ({ check: 'nginx', reason })) } : {}),
    };
  },
};

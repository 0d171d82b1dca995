/**
 * Docker Compose files: services, their published ports (short and long syntax), privileged mode,
 * network_mode host, docker.sock mounts, images and environment, each with its line. Pure.
 *
 * `${VAR}`, `${VAR:-default}` and `${VAR-default}` are resolved from the .env file beside the compose
 * file, then from the default; a port whose variable stays unresolved is listed in `unresolved`.
 */
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument, type YAMLMap } from 'yaml';
import type { PortRange } from '../firewall.ts';
import { portRange } from '../firewall.ts';

export interface ComposePort {
  readonly service: string;
  /** Host address from the mapping (`127.0.0.1:6379:6379`); absent = Docker's default (all addresses). */
  readonly hostIp?: string;
  /** Host port(s); absent = Docker picks a free ephemeral port. */
  readonly published?: PortRange;
  readonly target: PortRange;
  readonly protocol: 'tcp' | 'udp';
  /** The entry as written: `"6379:6379"` or `target: 6379, published: 6379`. */
  readonly text: string;
  readonly file: string;
  readonly line: number;
}

export interface ComposeLocated {
  readonly file: string;
  readonly line: number;
  readonly text: string;
}

export interface ComposeService {
  readonly name: string;
  readonly file: string;
  readonly line: number;
  readonly image?: string;
  readonly imageLine?: number;
  readonly ports: readonly ComposePort[];
  readonly privileged?: ComposeLocated;
  readonly networkModeHost?: ComposeLocated;
  /** `network_mode: bridge`: the default bridge, where daemon.json `ip` applies. */
  readonly defaultBridge: boolean;
  /** Networks the service joins (`default` when none are listed). */
  readonly networks: readonly string[];
  readonly dockerSocket?: ComposeLocated;
  readonly environment: Readonly<Record<string, { readonly value: string; readonly line: number }>>;
  /** `command:` as one string. */
  readonly command?: string;
}

export interface ComposeFile {
  readonly file: string;
  readonly services: readonly ComposeService[];
  /** Networks whose driver_opts set `com.docker.network.bridge.host_binding_ipv4`. */
  readonly hostBindings: Readonly<Record<string, string>>;
  /** Port entries that could not be read (unresolved variables, bad syntax). */
  readonly unresolved: readonly ComposeLocated[];
}

export type ComposeParse =
  | { readonly ok: true; readonly compose: ComposeFile }
  | { readonly ok: false; readonly line?: number; readonly message: string };

/** Reads `KEY=value` lines of a .env file. */
export function parseDotEnv(text: string | undefined): Map<string, string> {
  const vars = new Map<string, string>();
  for (const raw of (text ?? '').split(/\r?\n/)) {
    const match = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(raw);
    if (!match) continue;
    let value = match[2]!;
    const quoted = /^(["'])(.*)\1$/.exec(value);
    if (quoted) value = quoted[2]!;
    vars.set(match[1]!, value);
  }
  return vars;
}

/** Substitutes `${VAR}`, `${VAR:-d}`, `${VAR-d}`, `$VAR`; undefined when a variable has no value. */
export function interpolate(text: string, env: ReadonlyMap<string, string>): string | undefined {
  let unresolved = false;
  const out = text.replace(
    /\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*)|(\$))/g,
    (
      _all,
      braced: string | undefined,
      colon: string | undefined,
      op: string | undefined,
      word: string | undefined,
      bare: string | undefined,
      dollar: string | undefined,
    ) => {
      if (dollar) return '$';
      const name = braced ?? bare ?? '';
      const value = env.get(name);
      const empty = value === undefined || (colon === ':' && value === '');
      if (!empty) return value!;
      if (op === '-') return word ?? '';
      unresolved = true;
      return '';
    },
  );
  return unresolved ? undefined : out;
}

const COMPOSE_NAMES = ['compose.yaml', 'compose.yml', 'docker-compose.yaml', 'docker-compose.yml'];
const OVERRIDE_NAMES = [
  'compose.override.yaml',
  'compose.override.yml',
  'docker-compose.override.yaml',
  'docker-compose.override.yml',
];

export function isComposeFileName(name: string): boolean {
  return COMPOSE_NAMES.includes(name) || OVERRIDE_NAMES.includes(name);
}

export function parseComposePort(
  raw: string,
  service: string,
  file: string,
  line: number,
): ComposePort | undefined {
  let text = raw.trim();
  let protocol: 'tcp' | 'udp' = 'tcp';
  const slash = text.lastIndexOf('/');
  if (slash > text.lastIndexOf(':') && slash >= 0) {
    const proto = text.slice(slash + 1).toLowerCase();
    if (proto !== 'tcp' && proto !== 'udp') return undefined;
    protocol = proto;
    text = text.slice(0, slash);
  }
  let hostIp: string | undefined;
  const bracketed = /^\[([^\]]+)\]:(.*)$/.exec(text);
  if (bracketed) {
    hostIp = bracketed[1]!;
    text = bracketed[2]!;
  }
  const parts = text.split(':');
  const targetText = parts.pop();
  if (targetText === undefined) return undefined;
  const target = portRange(targetText);
  if (!target) return undefined;
  let published: PortRange | undefined;
  if (parts.length > 0) {
    const publishedText = parts.pop()!;
    if (publishedText !== '') {
      published = portRange(publishedText);
      if (!published) return undefined;
    }
  }
  if (parts.length > 0) {
    if (hostIp !== undefined) return undefined;
    hostIp = parts.join(':');
  }
  return {
    service,
    ...(hostIp !== undefined && hostIp !== '' ? { hostIp } : {}),
    ...(published ? { published } : {}),
    target,
    protocol,
    text: `"${raw}"`,
    file,
    line,
  };
}

export function parseCompose(
  text: string,
  file: string,
  env: ReadonlyMap<string, string> = new Map(),
): ComposeParse {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, merge: true });
  const error = doc.errors[0];
  if (error) {
    return {
      ok: false,
      ...(error.linePos ? { line: error.linePos[0].line } : {}),
      message: error.message.split('\n')[0] ?? error.code,
    };
  }
  const lineOf = (node: unknown) => {
    const range = (node as Node | null | undefined)?.range;
    return range ? lineCounter.linePos(range[0]).line : 1;
  };
  const root = doc.contents;
  if (root === null) return { ok: true, compose: { file, services: [], hostBindings: {}, unresolved: [] } };
  if (!isMap(root)) return { ok: false, line: lineOf(root), message: 'expected a mapping with `services:`' };

  const scalarText = (node: unknown): string | undefined => {
    if (!isScalar(node) || node.value === null || typeof node.value === 'object') return undefined;
    const value = String(node.value);
    return interpolate(value, env) ?? value;
  };
  const get = (map: YAMLMap, key: string): unknown =>
    map.items.find((pair) => isScalar(pair.key) && pair.key.value === key)?.value;
  const unresolved: ComposeLocated[] = [];

  // Version 1 files have services at the top level.
  const servicesNode = get(root, 'services') ?? (get(root, 'version') === undefined ? root : undefined);
  const services: ComposeService[] = [];
  if (isMap(servicesNode)) {
    for (const pair of servicesNode.items) {
      if (!isScalar(pair.key) || !isMap(pair.value)) continue;
      const name = String(pair.key.value);
      const body = pair.value;
      if (servicesNode === root && get(body, 'image') === undefined && get(body, 'build') === undefined)
        continue;
      const imageNode = get(body, 'image');
      const image = scalarText(imageNode);
      const ports: ComposePort[] = [];
      const portsNode = get(body, 'ports');
      if (isSeq(portsNode)) {
        for (const item of portsNode.items) {
          const line = lineOf(item);
          if (isScalar(item)) {
            const raw = String(item.value);
            const resolved = interpolate(raw, env);
            const port = resolved === undefined ? undefined : parseComposePort(resolved, name, file, line);
            if (port) ports.push(resolved === raw ? port : { ...port, text: `"${raw}" (= "${resolved}")` });
            else unresolved.push({ file, line, text: raw });
          } else if (isMap(item)) {
            const port = longPort(item, name, file, line, scalarText);
            if (port) ports.push(port);
            else unresolved.push({ file, line, text: String(item) });
          }
        }
      }
      const located = (node: unknown, textOf: string): ComposeLocated => ({
        file,
        line: lineOf(node),
        text: textOf,
      });
      const privilegedNode = get(body, 'privileged');
      const privileged =
        isScalar(privilegedNode) && (privilegedNode.value === true || privilegedNode.value === 'true');
      const networkModeNode = get(body, 'network_mode');
      const networkMode = scalarText(networkModeNode);
      const environment: Record<string, { value: string; line: number }> = {};
      const envNode = get(body, 'environment');
      if (isMap(envNode)) {
        for (const envPair of envNode.items) {
          if (!isScalar(envPair.key)) continue;
          environment[String(envPair.key.value)] = {
            value: scalarText(envPair.value) ?? '',
            line: lineOf(envPair.key),
          };
        }
      } else if (isSeq(envNode)) {
        for (const item of envNode.items) {
          const entry = scalarText(item);
          if (entry === undefined) continue;
          const eq = entry.indexOf('=');
          if (eq > 0) environment[entry.slice(0, eq)] = { value: entry.slice(eq + 1), line: lineOf(item) };
        }
      }
      const commandNode = get(body, 'command');
      const command = isSeq(commandNode)
        ? commandNode.items.map((item) => scalarText(item) ?? '').join(' ')
        : scalarText(commandNode);
      const networksNode = get(body, 'networks');
      const networks = isSeq(networksNode)
        ? networksNode.items.flatMap((item) => scalarText(item) ?? [])
        : isMap(networksNode)
          ? networksNode.items.flatMap((item) => (isScalar(item.key) ? [String(item.key.value)] : []))
          : ['default'];
      let dockerSocket: ComposeLocated | undefined;
      const volumesNode = get(body, 'volumes');
      if (isSeq(volumesNode)) {
        for (const item of volumesNode.items) {
          const source = isMap(item) ? scalarText(get(item, 'source')) : scalarText(item)?.split(':')[0];
          if (source !== undefined && /(^|\/)docker\.sock$/.test(source) && !dockerSocket) {
            dockerSocket = located(item, isMap(item) ? `source: ${source}` : `"${scalarText(item)}"`);
          }
        }
      }
      services.push({
        name,
        file,
        line: lineOf(pair.key),
        ...(image !== undefined ? { image, imageLine: lineOf(imageNode) } : {}),
        ports,
        ...(privileged ? { privileged: located(privilegedNode, 'privileged: true') } : {}),
        ...(networkMode === 'host'
          ? { networkModeHost: located(networkModeNode, 'network_mode: host') }
          : {}),
        defaultBridge: networkMode === 'bridge',
        networks,
        ...(dockerSocket ? { dockerSocket } : {}),
        environment,
        ...(command !== undefined ? { command } : {}),
      });
    }
  }

  const hostBindings: Record<string, string> = {};
  const networksNode = get(root, 'networks');
  if (isMap(networksNode)) {
    for (const pair of networksNode.items) {
      if (!isScalar(pair.key) || !isMap(pair.value)) continue;
      const opts = get(pair.value, 'driver_opts');
      const binding = isMap(opts)
        ? scalarText(get(opts, 'com.docker.network.bridge.host_binding_ipv4'))
        : undefined;
      if (binding !== undefined) hostBindings[String(pair.key.value)] = binding;
    }
  }
  return { ok: true, compose: { file, services, hostBindings, unresolved } };
}

function longPort(
  item: YAMLMap,
  service: string,
  file: string,
  line: number,
  scalarText: (node: unknown) => string | undefined,
): ComposePort | undefined {
  const field = (key: string) =>
    scalarText(item.items.find((pair) => isScalar(pair.key) && pair.key.value === key)?.value);
  const targetText = field('target');
  const target = targetText === undefined ? undefined : portRange(targetText);
  if (!target) return undefined;
  const publishedText = field('published');
  const published =
    publishedText === undefined || publishedText === '' ? undefined : portRange(publishedText);
  if (publishedText !== undefined && publishedText !== '' && !published) return undefined;
  const protocolText = (field('protocol') ?? 'tcp').toLowerCase();
  if (protocolText !== 'tcp' && protocolText !== 'udp') return undefined;
  const hostIp = field('host_ip');
  const text = [
    `target: ${targetText}`,
    publishedText !== undefined ? `published: ${publishedText}` : '',
    hostIp ? `host_ip: ${hostIp}` : '',
  ]
    .filter(Boolean)
    .join(', ');
  return {
    service,
    ...(hostIp !== undefined && hostIp !== '' ? { hostIp } : {}),
    ...(published ? { published } : {}),
    target,
    protocol: protocolText,
    text,
    file,
    line,
  };
}

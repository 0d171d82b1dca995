/**
 * Effective exposure: bind address → host firewall on INPUT (ufw, nftables, iptables) → Docker
 * publishing (DNAT in PREROUTING sends the traffic through FORWARD, so INPUT rules — ufw's included —
 * never see it; only DOCKER-USER, or a forward-hook nftables chain, can stop it) → source allowlists
 * (CDN ranges, admin addresses), combined into one verdict with the chain of reasoning. Pure.
 *
 * Reach: `internet` when any public address can connect; `private` when only private networks (or
 * only listed public sources, e.g. Cloudflare's ranges) can; `local` when only this host can.
 * The firewall model is approximate (see firewall.ts): it follows policies and ordered
 * accept/drop rules on port, protocol, source and interface.
 */
import { builtinCloudflareRanges, inCdnRanges } from '../core/cdn.ts';
import type { Evidence } from '../core/finding.ts';
import { parseAddress, parseCidr, scopeOf } from '../core/ip.ts';
import type { ComposePort, ComposeService } from './collectors/compose.ts';
import type { DnatRule } from './collectors/iptables-rules.ts';
import type { ListeningSocket } from './collectors/sockets.ts';
import {
  ALL,
  type ChainOutcome,
  describeSources,
  evaluateBaseChain,
  evaluateUserChain,
  type FirewallRuleset,
  intersect,
  isEffectivelyEverywhere,
  isEmpty,
  type Packet,
  type PortRange,
  type SourceClass,
  type Sources,
  type Step,
} from './firewall.ts';
import {
  type ServiceInfo,
  serviceForImage,
  serviceForPort,
  serviceForProcess,
  serviceNamed,
} from './services.ts';
import type { Endpoint, Exposure, ExposureVerdict, Facts, Reach } from './types.ts';

/** A port Docker publishes: from a compose file, or from a DNAT rule on the live host. */
export interface DockerPublication {
  /** Compose service name, or `container` for a DNAT rule. */
  readonly service: string;
  readonly info?: ServiceInfo;
  readonly image?: string;
  /** The host address it is published on (`0.0.0.0` = every address). */
  readonly hostIp: string;
  /** Where `hostIp` came from when the mapping does not say. */
  readonly hostIpNote?: string;
  /** Undefined: Docker picks a random host port. */
  readonly published?: PortRange;
  readonly target: PortRange;
  readonly protocol: 'tcp' | 'udp';
  /** The compose entry or rule, with file and line. */
  readonly evidence: Evidence;
  readonly compose?: ComposeService;
}

export interface DetailedVerdict extends ExposureVerdict {
  /** The reasons as evidence items, with file and line where a fact came from a file. */
  readonly steps: readonly Evidence[];
  /** Public sources that can connect when only listed ones can (reach is then `private`). */
  readonly restrictedTo?: Sources;
  /** Set when the port is published by Docker. */
  readonly docker?: DockerPublication;
  /** Docker path only: the host's INPUT rules would have kept the internet out, but do not apply. */
  readonly bypassesInput?: boolean;
}

/** One listening service (a socket or a Docker-published port) and its verdict. */
export interface Listener {
  readonly endpoint: Endpoint;
  readonly info?: ServiceInfo;
  /** For titles: `Redis (6379/tcp)`, `port 3000/tcp (node)`. */
  readonly label: string;
  readonly process?: string;
  readonly pid?: number;
  readonly user?: string;
  readonly origin: 'socket' | 'docker';
  readonly verdict: DetailedVerdict;
}

export interface EffectiveExposure extends Exposure {
  assessDetailed(endpoint: Endpoint): DetailedVerdict;
  /** Every listening socket and Docker-published port, grouped by port and protocol, with its verdict. */
  listeners(): Listener[];
  /** The verdict for one Docker publication (also when Docker picks a random host port). */
  assessPublication(publication: DockerPublication): DetailedVerdict;
  readonly publications: readonly DockerPublication[];
}

export function isEffectiveExposure(exposure: Exposure): exposure is EffectiveExposure {
  return typeof (exposure as Partial<EffectiveExposure>).listeners === 'function';
}

const REACH_ORDER: readonly Reach[] = ['local', 'private', 'internet'];

function wider(a: Reach, b: Reach): Reach {
  return REACH_ORDER.indexOf(a) >= REACH_ORDER.indexOf(b) ? a : b;
}

export function describeReach(reach: Reach): string {
  return reach === 'internet'
    ? 'reachable from the internet'
    : reach === 'private'
      ? 'reachable from private networks or listed sources only'
      : 'reachable only from this host';
}

// ---------------------------------------------------------------------------------------------
// Bind addresses.

type Scope = 'loopback' | 'private' | 'any';

interface Bind {
  readonly text: string;
  readonly scope: Scope;
  readonly families: readonly (4 | 6)[];
  readonly note?: string;
}

/** What a bind value means: `0.0.0.0`, `::`, `*`, `127.0.0.1`, `localhost`, `-::1` (redis), `_site_` (ES). */
export function bindOf(raw: string): Bind {
  const text = raw
    .trim()
    .replace(/^-/, '')
    .replace(/^\[(.*)\]$/, '$1');
  const lower = text.toLowerCase();
  if (lower === '*' || lower === '' || lower === '_global_') return { text, scope: 'any', families: [4, 6] };
  if (lower === 'localhost' || lower === '_local_') return { text, scope: 'loopback', families: [4, 6] };
  if (lower === '_site_') return { text, scope: 'private', families: [4, 6] };
  const address = parseAddress(text);
  if (!address) {
    return {
      text,
      scope: 'any',
      families: [4, 6],
      note: `"${text}" is not an address; assuming it can be any interface`,
    };
  }
  const scope = scopeOf(address);
  const v6 = address.kind() === 'ipv6';
  // `::` also accepts IPv4 (dual-stack sockets), unless the service sets IPV6_V6ONLY.
  const families: (4 | 6)[] = v6 ? (scope === 'any' ? [4, 6] : [6]) : [4];
  return { text, scope: scope === 'public' ? 'any' : scope, families };
}

function bindReach(binds: readonly Bind[]): Reach {
  let reach: Reach = 'local';
  for (const bind of binds)
    reach = wider(reach, bind.scope === 'any' ? 'internet' : bind.scope === 'private' ? 'private' : 'local');
  return reach;
}

// ---------------------------------------------------------------------------------------------
// Firewall layers.

interface Layer {
  readonly ruleset: FirewallRuleset;
  readonly chain: string;
  /** `base`: a hooked chain with a policy; `user`: DOCKER-USER, whose fall-through Docker accepts. */
  readonly kind: 'base' | 'user';
}

function appliesTo(ruleset: FirewallRuleset, family: 4 | 6): boolean {
  return ruleset.family === 'both' || ruleset.family === family;
}

function isDockerOwnTable(ruleset: FirewallRuleset): boolean {
  return /^nftables table \S+ docker/.test(ruleset.name);
}

/** iptables' own tables as nftables lists them (iptables-nft): DOCKER-USER lives there. */
function isIptablesCompat(ruleset: FirewallRuleset): boolean {
  return (
    ruleset.chains['DOCKER-USER'] !== undefined ||
    (/^nftables table ip6? (filter|nat|mangle|raw|security)$/.test(ruleset.name) &&
      ruleset.chains['FORWARD'] !== undefined)
  );
}

interface Model {
  readonly input: (family: 4 | 6) => Layer[];
  readonly docker: (family: 4 | 6) => Layer[];
  /** Why nothing filters INPUT, when nothing does. */
  readonly noFirewall: (family: 4 | 6) => Evidence;
  readonly ufwActive: boolean;
}

function buildModel(facts: Facts): Model {
  const ufw = facts.ufw;
  const ufwActive = ufw?.active === true;
  const netfilter = facts.netfilter?.rulesets ?? [];
  const ufwSets = ufwActive ? (ufw?.rulesets ?? []) : [];
  const input = (family: 4 | 6): Layer[] => {
    const layers: Layer[] = [];
    for (const ruleset of ufwSets)
      if (appliesTo(ruleset, family)) layers.push({ ruleset, chain: 'INPUT', kind: 'base' });
    for (const ruleset of netfilter) {
      if (!appliesTo(ruleset, family) || isDockerOwnTable(ruleset)) continue;
      // The live iptables ruleset holds ufw's chains too: ufw's files already stand for them.
      if (ufwActive && Object.keys(ruleset.chains).some((name) => name.startsWith('ufw-'))) continue;
      for (const chain of ruleset.input) layers.push({ ruleset, chain, kind: 'base' });
    }
    return layers;
  };
  const docker = (family: 4 | 6): Layer[] => {
    const layers: Layer[] = [];
    const fromNetfilter = netfilter.filter(
      (r) => appliesTo(r, family) && r.chains['DOCKER-USER'] !== undefined,
    );
    const fromUfw = ufwSets.filter(
      (r) => appliesTo(r, family) && (r.chains['DOCKER-USER']?.rules.length ?? 0) > 0,
    );
    // Live rulesets already contain what ufw loaded; files (--root) are loaded side by side.
    const live = fromNetfilter.some((r) => !r.source.startsWith('/'));
    for (const ruleset of [...fromNetfilter, ...(live ? [] : fromUfw)]) {
      layers.push({ ruleset, chain: 'DOCKER-USER', kind: 'user' });
    }
    // Native nftables forward-hook chains also see Docker's forwarded traffic, and each can drop it.
    // (iptables' FORWARD chain does not matter: Docker's own rules there accept published ports.)
    for (const ruleset of netfilter) {
      if (!appliesTo(ruleset, family) || isDockerOwnTable(ruleset) || isIptablesCompat(ruleset)) continue;
      if (!ruleset.name.startsWith('nftables')) continue;
      for (const chain of ruleset.forward) layers.push({ ruleset, chain, kind: 'base' });
    }
    return layers;
  };
  const noFirewall = (family: 4 | 6): Evidence => {
    if (ufw && !ufwActive) {
      const where = ufw.enabled ? { file: ufw.enabled.file, line: ufw.enabled.line } : {};
      const how =
        ufw.status === 'inactive'
          ? '`ufw status` says inactive'
          : (ufw.enabled?.text ?? 'ENABLED is not yes');
      return {
        ...where,
        detail: `ufw is installed but inactive (${how}): no host firewall filters incoming traffic`,
      };
    }
    if (ufw && ufwActive && family === 6 && ufw.defaults.ipv6) {
      return {
        file: ufw.defaults.ipv6.file,
        line: ufw.defaults.ipv6.line,
        detail: `ufw does not filter IPv6 (${ufw.defaults.ipv6.text}) and no other firewall does`,
      };
    }
    const why = facts.netfilter
      ? facts.netfilter.rulesets.length === 0
        ? 'no nftables or iptables rules are loaded'
        : 'no nftables or iptables input chain'
      : 'no nftables or iptables ruleset read';
    return {
      detail: `no host firewall filters incoming traffic (${ufw ? 'ufw does not apply' : 'no ufw'}; ${why})`,
    };
  };
  return { input, docker, noFirewall, ufwActive };
}

// ---------------------------------------------------------------------------------------------
// Describing what a layer does.

function portText(port: number, protocol: string): string {
  return `${port}/${protocol}`;
}

function layerName(layer: Layer): string {
  if (layer.kind === 'user') return 'DOCKER-USER';
  if (layer.ruleset.name === 'ufw') return 'ufw';
  return layer.chain === 'INPUT' || layer.chain === 'FORWARD'
    ? `${layer.ruleset.name} ${layer.chain}`
    : `${layer.ruleset.name} chain ${layer.chain}`;
}

function stepEvidence(step: Step): Evidence {
  if (step.rule) {
    const quoted = step.rule.label ?? step.rule.text;
    return {
      ...(step.rule.file !== undefined ? { file: step.rule.file } : {}),
      ...(step.rule.line !== undefined ? { line: step.rule.line } : {}),
      detail: `\`${quoted}\``,
    };
  }
  const chain = step.ruleset.chains[step.chain];
  return {
    ...(chain?.policyFile !== undefined ? { file: chain.policyFile } : {}),
    ...(chain?.policyLine !== undefined ? { line: chain.policyLine } : {}),
    detail:
      chain?.policyText !== undefined
        ? `\`${chain.policyText}\``
        : `default policy ${step.effect === 'policy-drop' ? 'drop' : 'accept'}`,
  };
}

function withDetail(evidence: Evidence, detail: string): Evidence {
  return { ...evidence, detail };
}

function cdnName(sources: Sources): string | undefined {
  if (sources.kind !== 'only' || sources.items.length === 0) return undefined;
  const ranges = builtinCloudflareRanges();
  const all = sources.items.every((item) => {
    const cidr = parseCidr(item);
    return cidr !== undefined && inCdnRanges(ranges, cidr);
  });
  return all ? "Cloudflare's ranges" : undefined;
}

function sourcesText(sources: Sources): string {
  const cdn = cdnName(sources);
  return cdn ? `${cdn} (${describeSources(sources, 3)})` : describeSources(sources);
}

/** Evidence lines for what one layer does to the class's traffic. */
function describeLayer(layer: Layer, outcome: ChainOutcome, port: string, from: SourceClass): Evidence[] {
  const name = layerName(layer);
  const origin = from === 'public' ? 'from the internet' : 'from private networks';
  const verbAllow = name === 'ufw' ? 'allows' : 'accepts';
  const verbDeny = name === 'ufw' ? 'denies' : 'drops';
  const accepts = outcome.steps.filter((s) => s.effect === 'accept' || s.effect === 'policy-accept');
  const drops = outcome.steps.filter((s) => s.effect === 'drop' || s.effect === 'policy-drop');
  if (layer.kind === 'user') {
    if (isEmpty(outcome.accepted)) {
      const first = drops[0];
      return [
        first
          ? withDetail(stepEvidence(first), `DOCKER-USER drops it ${origin}: ${stepEvidence(first).detail}`)
          : { detail: `DOCKER-USER drops it ${origin}` },
      ];
    }
    if (outcome.accepted.kind === 'all-except' && drops.length === 0) {
      return [{ detail: `DOCKER-USER (${layer.ruleset.source}) has no rule restricting it` }];
    }
    return [
      { detail: `DOCKER-USER lets it through ${origin} only from ${sourcesText(outcome.accepted)}` },
      ...[...accepts, ...drops].slice(0, 3).map(stepEvidence),
    ];
  }
  if (isEmpty(outcome.accepted)) {
    const first = drops[0];
    if (!first) return [{ detail: `${name} drops ${port} ${origin}` }];
    if (first.effect === 'policy-drop') {
      return [
        withDetail(
          stepEvidence(first),
          `${name} has no rule that accepts ${port} ${origin}, and its default ${layer.chain === 'FORWARD' ? 'forward' : 'incoming'} policy drops it: ${stepEvidence(first).detail}`,
        ),
      ];
    }
    return [
      withDetail(stepEvidence(first), `${name} ${verbDeny} ${port} ${origin}: ${stepEvidence(first).detail}`),
    ];
  }
  if (isEffectivelyEverywhere(outcome.accepted) && from === 'public') {
    const first = accepts[0];
    if (first?.effect === 'policy-accept') {
      return [
        withDetail(
          stepEvidence(first),
          `${name} has no rule for ${port} and its default policy accepts it: ${stepEvidence(first).detail}`,
        ),
      ];
    }
    if (first)
      return [
        withDetail(
          stepEvidence(first),
          `${name} ${verbAllow} ${port} from anywhere: ${stepEvidence(first).detail}`,
        ),
      ];
    return [{ detail: `${name} ${verbAllow} ${port} from anywhere` }];
  }
  if (outcome.accepted.kind === 'all-except') {
    const first = accepts[0];
    return [
      first
        ? withDetail(
            stepEvidence(first),
            `${name} ${verbAllow} ${port} ${origin}: ${stepEvidence(first).detail}`,
          )
        : { detail: `${name} ${verbAllow} ${port} ${origin}` },
    ];
  }
  const shown = accepts.slice(0, 3).map(stepEvidence);
  const more = accepts.length > 3 ? [{ detail: `… and ${accepts.length - 3} more rules like these` }] : [];
  const rest = drops[drops.length - 1];
  return [
    { detail: `${name} ${verbAllow} ${port} ${origin} only from ${sourcesText(outcome.accepted)}` },
    ...shown,
    ...more,
    ...(rest
      ? [withDetail(stepEvidence(rest), `everyone else is dropped: ${stepEvidence(rest).detail}`)]
      : []),
  ];
}

interface PathResult {
  readonly accepted: Sources;
  readonly steps: Evidence[];
}

function runLayers(layers: readonly Layer[], packet: Packet, port: string): PathResult {
  let accepted: Sources = ALL;
  const steps: Evidence[] = [];
  for (const layer of layers) {
    const outcome =
      layer.kind === 'base'
        ? evaluateBaseChain(layer.ruleset, layer.chain, packet)
        : evaluateUserChain(layer.ruleset, layer.chain, packet);
    accepted = intersect(accepted, outcome.accepted);
    steps.push(...describeLayer(layer, outcome, port, packet.from));
  }
  return { accepted, steps };
}

// ---------------------------------------------------------------------------------------------
// Docker publications.

function rangeText(range: PortRange): string {
  return range.from === range.to ? String(range.from) : `${range.from}-${range.to}`;
}

function publicationsOf(facts: Facts): DockerPublication[] {
  const out: DockerPublication[] = [];
  const docker = facts.docker;
  for (const compose of docker?.composeFiles ?? []) {
    for (const service of compose.services) {
      if (service.networkModeHost) continue; // ports are ignored with network_mode: host
      for (const port of service.ports) out.push(fromCompose(port, service, compose.hostBindings, facts));
    }
  }
  for (const rule of facts.netfilter?.dockerDnat ?? []) {
    const covered = out.some(
      (p) =>
        p.protocol === rule.protocol &&
        p.published !== undefined &&
        rule.port >= p.published.from &&
        rule.port <= p.published.to,
    );
    if (!covered) out.push(fromDnat(rule));
  }
  return out;
}

function fromCompose(
  port: ComposePort,
  service: ComposeService,
  hostBindings: Readonly<Record<string, string>>,
  facts: Facts,
): DockerPublication {
  let hostIp = port.hostIp;
  let hostIpNote: string | undefined;
  if (hostIp === undefined) {
    const bindings = service.networks.map((network) => hostBindings[network]);
    const daemonIp = facts.docker?.ip;
    if (service.defaultBridge && daemonIp) {
      hostIp = daemonIp.value;
      hostIpNote = `the daemon's default address for published ports (${daemonIp.text}, ${daemonIp.file}:${daemonIp.line})`;
    } else if (bindings.length > 0 && bindings.every((b) => b !== undefined && b === bindings[0])) {
      hostIp = bindings[0]!;
      hostIpNote = `the network's com.docker.network.bridge.host_binding_ipv4 (${service.file})`;
    } else {
      hostIp = '0.0.0.0';
    }
  }
  const info = serviceForImage(service.image) ?? serviceForPort(port.target.from);
  const mapping =
    port.hostIp !== undefined
      ? `on ${port.hostIp}`
      : hostIpNote
        ? `on ${hostIp} (no host IP in the mapping, so ${hostIpNote})`
        : 'on every host address (no host IP)';
  const published = port.published ? `port ${rangeText(port.published)}` : 'a random host port';
  return {
    service: service.name,
    ...(info ? { info } : {}),
    ...(service.image !== undefined ? { image: service.image } : {}),
    hostIp,
    ...(hostIpNote ? { hostIpNote } : {}),
    ...(port.published ? { published: port.published } : {}),
    target: port.target,
    protocol: port.protocol,
    evidence: {
      file: port.file,
      line: port.line,
      detail: `compose publishes ${port.text} for service ${service.name}${service.image ? ` (image ${service.image})` : ''}: ${published} ${mapping}`,
    },
    compose: service,
  };
}

function fromDnat(rule: DnatRule): DockerPublication {
  const info = serviceForPort(rule.toPort);
  return {
    service: 'container',
    ...(info ? { info } : {}),
    hostIp: rule.hostAddress ?? '0.0.0.0',
    published: { from: rule.port, to: rule.port },
    target: { from: rule.toPort, to: rule.toPort },
    protocol: rule.protocol,
    evidence: {
      ...(rule.file !== undefined ? { file: rule.file } : {}),
      ...(rule.line !== undefined ? { line: rule.line } : {}),
      detail: `Docker publishes ${rule.port}/${rule.protocol} to ${rule.toAddress}:${rule.toPort}: \`${rule.text}\``,
    },
  };
}

function publicationFor(publications: readonly DockerPublication[], port: number, protocol: string) {
  return publications.find(
    (p) =>
      p.protocol === protocol &&
      p.published !== undefined &&
      port >= p.published.from &&
      port <= p.published.to,
  );
}

// ---------------------------------------------------------------------------------------------
// The verdict.

export function createExposure(facts: Facts): EffectiveExposure {
  const model = buildModel(facts);
  const publications = publicationsOf(facts);
  const sockets = facts.sockets?.sockets ?? [];

  /** Evaluates INPUT (or the Docker path) for both classes and the given families. */
  const evaluate = (
    families: readonly (4 | 6)[],
    maxReach: Reach,
    endpointPort: { port: number; protocol: 'tcp' | 'udp'; target: number },
    path: 'input' | 'forward',
  ) => {
    const port = portText(endpointPort.port, endpointPort.protocol);
    let best: { reach: Reach; steps: Evidence[]; restrictedTo?: Sources } | undefined;
    for (const family of families) {
      const layers = path === 'input' ? model.input(family) : model.docker(family);
      const packet = (from: SourceClass): Packet => ({
        family,
        protocol: endpointPort.protocol,
        port: endpointPort.target,
        origPort: endpointPort.port,
        path,
        from,
      });
      const steps: Evidence[] = [];
      let reach: Reach = 'local';
      let restrictedTo: Sources | undefined;
      if (path === 'input' && layers.length === 0) {
        steps.push(model.noFirewall(family));
        reach = maxReach;
      } else if (path === 'forward' && layers.length === 0) {
        steps.push({ detail: 'DOCKER-USER has no rule restricting it' });
        reach = maxReach;
      } else {
        const pub = maxReach === 'internet' ? runLayers(layers, packet('public'), port) : undefined;
        if (pub && !isEmpty(pub.accepted) && isEffectivelyEverywhere(pub.accepted)) {
          reach = 'internet';
          steps.push(...pub.steps);
        } else {
          const priv = runLayers(layers, packet('private'), port);
          if (pub) steps.push(...pub.steps);
          if (pub && !isEmpty(pub.accepted)) {
            reach = 'private';
            restrictedTo = pub.accepted;
            steps.push({
              detail: `only ${sourcesText(pub.accepted)} can connect from the internet: restricted, not open to everyone`,
            });
          }
          if (!isEmpty(priv.accepted)) {
            reach = 'private';
            if (!restrictedTo) steps.push(...priv.steps);
          } else if (!pub) {
            steps.push(...priv.steps); // bound to a private address and firewalled: say how
          }
        }
      }
      if (family === 6 && families.length > 1) {
        for (let i = 0; i < steps.length; i++)
          steps[i] = { ...steps[i]!, detail: `over IPv6: ${steps[i]!.detail}` };
      }
      if (!best || REACH_ORDER.indexOf(reach) > REACH_ORDER.indexOf(best.reach)) {
        best = { reach, steps, ...(restrictedTo ? { restrictedTo } : {}) };
      }
    }
    return best ?? { reach: 'local' as Reach, steps: [] };
  };

  const assessDocker = (publication: DockerPublication, port: number): DetailedVerdict => {
    const steps: Evidence[] = [publication.evidence];
    const protocol = publication.protocol;
    const target = publication.target.from + (port - (publication.published?.from ?? port));
    const bind = bindOf(publication.hostIp);
    const maxReach = bindReach([bind]);
    let bypassesInput = false;
    const done = (reach: Reach, more: Evidence[], restrictedTo?: Sources): DetailedVerdict => {
      const all = [...steps, ...more];
      return {
        reach,
        reasons: all.map(reasonText),
        steps: all,
        docker: publication,
        ...(restrictedTo ? { restrictedTo } : {}),
        ...(bypassesInput && reach === 'internet' ? { bypassesInput: true } : {}),
      };
    };
    if (maxReach === 'local') {
      return done('local', [
        { detail: `published on ${publication.hostIp} only: reachable only from this host` },
      ]);
    }
    const iptables = facts.docker?.iptables;
    if (iptables && !iptables.value) {
      const off: Evidence = {
        file: iptables.file,
        line: iptables.line,
        detail: `Docker does not manage iptables (${iptables.text}): no DNAT rule, so connections reach the port only through docker-proxy on the host and pass INPUT`,
      };
      const proxy = facts.docker?.userlandProxy;
      if (proxy && !proxy.value) {
        return done('local', [
          off,
          {
            file: proxy.file,
            line: proxy.line,
            detail: `and the userland proxy is off (${proxy.text}): nothing forwards the port to the container`,
          },
        ]);
      }
      const input = evaluate(bind.families, maxReach, { port, protocol, target: port }, 'input');
      return done(input.reach, [off, ...input.steps], input.restrictedTo);
    }
    const inputLayers = bind.families.flatMap((family) => model.input(family));
    const more: Evidence[] = [];
    if (inputLayers.length > 0) {
      const input = evaluate(bind.families.slice(0, 1), maxReach, { port, protocol, target: port }, 'input');
      bypassesInput = input.reach !== 'internet';
      more.push(...input.steps.filter((s) => !s.detail.startsWith('only ')));
      more.push({
        detail: model.ufwActive
          ? 'Docker-published ports bypass ufw: the traffic goes through FORWARD, not INPUT'
          : `Docker-published ports bypass the host's INPUT rules (${[...new Set(inputLayers.map(layerName))].join(', ')}): the traffic goes through FORWARD, not INPUT`,
      });
    } else {
      more.push({
        detail: 'Docker publishes the port with a DNAT rule: the traffic goes through FORWARD, not INPUT',
      });
    }
    const forward = evaluate(bind.families.slice(0, 1), maxReach, { port, protocol, target }, 'forward');
    return done(forward.reach, [...more, ...forward.steps], forward.restrictedTo);
  };

  const assessPublication = (publication: DockerPublication): DetailedVerdict => {
    if (publication.published) return assessDocker(publication, publication.published.from);
    const port = publication.target.from;
    return {
      ...assessDocker({ ...publication, published: { from: port, to: port } }, port),
      docker: publication,
    };
  };

  const assessDetailed = (endpoint: Endpoint): DetailedVerdict => {
    const port = portText(endpoint.port, endpoint.protocol);
    const publication = publicationFor(publications, endpoint.port, endpoint.protocol);
    if (publication) return assessDocker(publication, endpoint.port);

    const steps: Evidence[] = [];
    let binds: Bind[];
    if (endpoint.binds.length > 0) {
      binds = endpoint.binds.map(bindOf);
      steps.push({
        detail: `${endpoint.service} listens on ${binds.map((b) => addressPort(b.text, endpoint.port)).join(', ')}`,
      });
      for (const b of binds) if (b.note) steps.push({ detail: b.note });
    } else {
      const seen = sockets.filter((s) => s.port === endpoint.port && s.protocol === endpoint.protocol);
      if (seen.length > 0) {
        binds = seen.map((s) => bindOf(s.address));
        steps.push(...seen.slice(0, 4).map(socketEvidence));
      } else {
        binds = [bindOf('0.0.0.0'), bindOf('::')];
        steps.push({
          detail: `no bind address given for ${endpoint.service} and no listening socket seen on ${port}: assuming every interface`,
        });
      }
    }
    const maxReach = bindReach(binds);
    if (maxReach === 'local') {
      steps.push({ detail: 'bound to loopback only: reachable only from this host' });
      return { reach: 'local', reasons: steps.map(reasonText), steps };
    }
    const families = [
      ...new Set(binds.filter((b) => b.scope !== 'loopback').flatMap((b) => b.families)),
    ].sort();
    const result = evaluate(
      families,
      maxReach,
      { port: endpoint.port, protocol: endpoint.protocol, target: endpoint.port },
      'input',
    );
    const all = [...steps, ...result.steps];
    return {
      reach: result.reach,
      reasons: all.map(reasonText),
      steps: all,
      ...(result.restrictedTo ? { restrictedTo: result.restrictedTo } : {}),
    };
  };

  const listeners = (): Listener[] => {
    const out: Listener[] = [];
    const seenPorts = new Set<string>();
    for (const publication of publications) {
      const port = publication.published?.from ?? publication.target.from;
      const key = `${publication.protocol}/${port}`;
      if (publication.published && seenPorts.has(key)) continue;
      if (publication.published) seenPorts.add(key);
      const info = publication.info;
      const endpoint: Endpoint = {
        service: info?.name ?? publication.service,
        port,
        protocol: publication.protocol,
        binds: [publication.hostIp],
      };
      const verdict = assessPublication(publication);
      out.push({
        endpoint,
        ...(info ? { info } : {}),
        label: `${info?.label ?? `service ${publication.service}`} (${publication.published ? `${port}/${publication.protocol}` : `container port ${port}/${publication.protocol} on a random host port`})`,
        origin: 'docker',
        verdict,
      });
    }
    const groups = new Map<string, ListeningSocket[]>();
    for (const socket of sockets) {
      const key = `${socket.protocol}/${socket.port}`;
      if (seenPorts.has(key)) continue; // docker-proxy for a published port
      const list = groups.get(key) ?? [];
      list.push(socket);
      groups.set(key, list);
    }
    for (const group of groups.values()) {
      const first = group.find((s) => s.process !== undefined) ?? group[0]!;
      const info = serviceForProcess(first.process, first.port);
      const endpoint: Endpoint = {
        service: info?.name ?? first.process ?? `port ${first.port}`,
        port: first.port,
        protocol: first.protocol,
        binds: [],
      };
      out.push({
        endpoint,
        ...(info ? { info } : {}),
        label: info
          ? `${info.label} (${first.port}/${first.protocol}${first.process ? `, ${first.process}` : ''})`
          : `${first.process ?? 'an unknown service'} on ${first.port}/${first.protocol}`,
        ...(first.process !== undefined ? { process: first.process } : {}),
        ...(first.pid !== undefined ? { pid: first.pid } : {}),
        ...(first.user !== undefined ? { user: first.user } : {}),
        origin: 'socket',
        verdict: assessDetailed(endpoint),
      });
    }
    return out.sort(
      (a, b) => a.endpoint.port - b.endpoint.port || a.endpoint.protocol.localeCompare(b.endpoint.protocol),
    );
  };

  return {
    assess: (endpoint) => {
      const verdict = assessDetailed(endpoint);
      return { reach: verdict.reach, reasons: verdict.reasons };
    },
    assessDetailed,
    assessPublication,
    listeners,
    publications,
  };
}

function addressPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

function socketEvidence(socket: ListeningSocket): Evidence {
  const owner = [
    socket.process,
    socket.pid !== undefined ? `pid ${socket.pid}` : undefined,
    socket.user !== undefined ? `user ${socket.user}` : undefined,
  ].filter(Boolean);
  return {
    file: socket.file,
    line: socket.line,
    detail: `listening socket ${addressPort(socket.address, socket.port)}/${socket.protocol}${owner.length > 0 ? ` (${owner.join(', ')})` : ''}`,
  };
}

/** One reason line: the detail, with its file:line when it has one. */
export function reasonText(evidence: Evidence): string {
  if (evidence.file === undefined) return evidence.detail;
  return `${evidence.detail} (${evidence.file}${evidence.line !== undefined ? `:${evidence.line}` : ''})`;
}

/** The service a name stands for, for checks that only have the endpoint. */
export function serviceInfoOf(name: string, port: number): ServiceInfo | undefined {
  return serviceNamed(name) ?? serviceForPort(port);
}

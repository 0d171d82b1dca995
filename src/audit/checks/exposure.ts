/**
 * Effective exposure of every listening service (sockets and Docker-published ports): datastores
 * and admin interfaces reachable from the internet or from private networks, and a list of the
 * other public listeners. The config-level checks (redis, elasticsearch…) judge each service's own
 * settings; this one judges where it can really be reached from, which config files alone cannot
 * show — above all a Docker-published port walking past ufw. Pure.
 */
import { type Evidence, type Finding, findingOf, type Rule } from '../../core/finding.ts';
import { createExposure, describeReach, isEffectiveExposure, type Listener } from '../exposure.ts';
import { sensitiveServiceList } from '../services.ts';
import type { Check } from '../types.ts';

const READS =
  'listening sockets (/proc/net/tcp, tcp6, udp, udp6, mapped to processes on the live host), compose files and Docker DNAT rules, ufw (/etc/ufw, /etc/default/ufw), nftables and iptables rulesets, /etc/docker/daemon.json';

export const exposureInternetDatastore: Rule = {
  id: 'exposure-internet-datastore',
  severity: 'critical',
  title: 'A datastore or admin service is reachable from the internet',
  why: `Scanners find an open Redis, Elasticsearch, MongoDB or Docker API within hours; then data is read, wiped and ransomed, Redis is turned into an attacker's replica with REPLICAOF or made to write a crontab (DESIGN.md incidents 1, 2 and 5). The verdict combines the bind address, the host firewall (ufw, nftables, iptables), Docker publishing — which bypasses ufw unless DOCKER-USER restricts it — and source allowlists, and the evidence gives that chain step by step. Services counted: ${sensitiveServiceList()}.`,
  reads: READS,
  fix: 'Make it listen on 127.0.0.1 (or publish it as "127.0.0.1:PORT:PORT" in compose); if other machines need it, allow only their addresses (`ufw allow from 10.0.3.17 to any port PORT proto tcp`, or a DOCKER-USER rule for a container) and turn on the service’s authentication.',
};

export const exposurePrivateDatastore: Rule = {
  id: 'exposure-private-datastore',
  severity: 'medium',
  title: 'A datastore or admin service is reachable from private networks',
  why: 'A cloud "private" network is often shared with other tenants or every VM of the account; a datastore that trusts it is one compromised neighbour away from an incident (DESIGN.md incident 2).',
  reads: READS,
  fix: 'Bind it to 127.0.0.1 when only this host uses it; otherwise allow only the addresses of the machines that need it (`ufw allow from 10.0.3.17 to any port PORT proto tcp`) and turn on authentication.',
};

export const exposurePublicListeners: Rule = {
  id: 'exposure-public-listeners',
  severity: 'info',
  title: 'Services reachable from the internet',
  why: 'Everything listed here answers anyone on the internet. Check that each one is meant to: an origin behind a CDN should accept 80/443 only from the CDN, SSH only from admin addresses where possible.',
  reads: READS,
  fix: 'For each service that should not be public, bind it to 127.0.0.1 or restrict it in the firewall (`ufw allow from ADMIN_RANGE to any port 22 proto tcp`, then `ufw delete allow 22/tcp`).',
};

/** Extra facts that make an exposed datastore worse, from its compose definition. */
function authEvidence(listener: Listener): Evidence[] {
  const service = listener.verdict.docker?.compose;
  if (!service) return [];
  const out: Evidence[] = [];
  const security = service.environment['xpack.security.enabled'];
  if (listener.info?.name === 'elasticsearch' && security && security.value.toLowerCase() === 'false') {
    out.push({
      file: service.file,
      line: security.line,
      detail: `and the container runs without authentication: \`xpack.security.enabled=${security.value}\` in its environment`,
    });
  }
  if (listener.info?.name === 'redis' && !/--requirepass\b/.test(service.command ?? '')) {
    const passwordEnv = Object.keys(service.environment).some((key) => /PASSWORD/i.test(key));
    if (!passwordEnv) {
      out.push({
        file: service.file,
        line: service.line,
        detail: `and service ${service.name} sets no --requirepass: the official redis image runs with protected-mode off and no password`,
      });
    }
  }
  return out;
}

function fixFor(listener: Listener): string {
  const publication = listener.verdict.docker;
  const port = listener.endpoint.port;
  if (publication) {
    const target = publication.target.from;
    const where = publication.evidence.file
      ? ` in ${publication.evidence.file}${publication.evidence.line ? `:${publication.evidence.line}` : ''}`
      : '';
    return `Publish it on loopback only${where}: \`"127.0.0.1:${port}:${target}"\` (or remove \`ports:\` and reach it over the compose network), then \`docker compose up -d\`. ufw rules cannot close a Docker-published port; if outside machines need it, add a DOCKER-USER rule such as \`iptables -I DOCKER-USER -i eth0 -p ${listener.endpoint.protocol} -m conntrack --ctorigdstport ${port} ! -s 10.0.3.17 -j DROP\` (persist it in /etc/ufw/after.rules). Turn on the service's authentication as well.`;
  }
  return `Bind ${listener.info?.label ?? 'the service'} to 127.0.0.1 in its configuration, or deny the port to everyone but the machines that need it: \`ufw allow from 10.0.3.17 to any port ${port} proto ${listener.endpoint.protocol}\` and \`ufw deny ${port}/${listener.endpoint.protocol}\` (with ufw active and default deny incoming). Turn on the service's authentication as well.`;
}

export const exposureCheck: Check = {
  name: 'exposure',
  rules: [exposureInternetDatastore, exposurePrivateDatastore, exposurePublicListeners],
  run(context) {
    const { facts } = context;
    if (!facts.sockets && !facts.docker && !facts.netfilter?.dockerDnat.length) return [];
    const exposure = isEffectiveExposure(context.exposure) ? context.exposure : createExposure(facts);
    const findings: Finding[] = [];
    const publicOthers: Evidence[] = [];
    for (const listener of exposure.listeners()) {
      const { verdict } = listener;
      const sensitive = listener.info?.sensitive === true;
      if (sensitive && verdict.reach === 'internet') {
        findings.push(
          findingOf(
            exposureInternetDatastore,
            [
              ...verdict.steps,
              ...authEvidence(listener),
              { detail: `so ${listener.label} is ${describeReach('internet')}` },
            ],
            { title: `${listener.label} is reachable from the internet`, fix: fixFor(listener) },
          ),
        );
      } else if (sensitive && verdict.reach === 'private' && verdict.restrictedTo === undefined) {
        findings.push(
          findingOf(
            exposurePrivateDatastore,
            [
              ...verdict.steps,
              ...authEvidence(listener),
              { detail: `so ${listener.label} is reachable from private networks` },
            ],
            { title: `${listener.label} is reachable from private networks`, fix: fixFor(listener) },
          ),
        );
      } else if (!sensitive && verdict.reach === 'internet') {
        const where = verdict.steps[0];
        const why = verdict.steps
          .slice(1)
          .map((step) => step.detail)
          .join('; ');
        publicOthers.push({
          ...(where?.file !== undefined ? { file: where.file } : {}),
          ...(where?.line !== undefined ? { line: where.line } : {}),
          detail: `${listener.label}: ${where?.detail ?? ''}${why ? `; ${why}` : ''}`,
        });
      }
    }
    if (publicOthers.length > 0) {
      findings.push(
        findingOf(exposurePublicListeners, publicOthers, {
          title: `${publicOthers.length} other service${publicOthers.length === 1 ? ' is' : 's are'} reachable from the internet`,
        }),
      );
    }
    return findings;
  },
};

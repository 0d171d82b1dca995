/**
 * Docker: published ports without a host IP (they bypass ufw), `iptables: false`, the API on TCP
 * without TLS client verification, docker.sock mounted into a container, privileged containers,
 * host networking. Pure.
 */
import { type Evidence, type Finding, findingOf, type Rule, type Severity } from '../../core/finding.ts';
import { createExposure, type DockerPublication, describeReach, isEffectiveExposure } from '../exposure.ts';
import type { Check, CheckContext, Reach } from '../types.ts';

const READS_COMPOSE =
  'compose files (--compose, config audit.compose, and /opt/*, /srv/*, /root, /home/* and one level below), /etc/docker/daemon.json, the firewall (ufw, nftables, iptables)';

export const dockerPortWithoutHostIp: Rule = {
  id: 'docker-port-without-host-ip',
  severity: 'high',
  title: 'A Docker port is published on every host address',
  why: 'A port published as "6379:6379" (no host IP) is bound on 0.0.0.0 and reached through a DNAT rule: the traffic goes through the FORWARD chain, so ufw and any INPUT rule never see it — `ufw deny 6379` changes nothing. Only DOCKER-USER rules can restrict it. This is how Redis and Elasticsearch containers end up on the internet behind an "active" firewall (DESIGN.md incident 5). Severity follows the service and the effective reach: critical for a datastore reachable from the internet, high when the firewall denies the port but Docker bypasses it, lower when DOCKER-USER or the bind keeps it in.',
  reads: READS_COMPOSE,
  fix: 'Publish on loopback when only the host (nginx, the app) needs it: `ports: ["127.0.0.1:6379:6379"]`, or drop `ports:` and let containers talk over the compose network. If it must be public, restrict it in DOCKER-USER, e.g. `iptables -I DOCKER-USER -i eth0 -p tcp -m conntrack --ctorigdstport 6379 ! -s 203.0.113.0/24 -j DROP` (persist it in /etc/ufw/after.rules or your ruleset).',
};

export const dockerIptablesDisabled: Rule = {
  id: 'docker-iptables-disabled',
  severity: 'medium',
  title: 'Docker is told not to manage iptables (`iptables: false`)',
  why: 'Often set to stop Docker bypassing ufw, it does more: Docker then creates no NAT, no port mapping and none of its isolation rules. Published ports fall back to docker-proxy on the host (so INPUT rules apply again), but containers lose outbound NAT unless you add masquerading by hand, and nothing stops hosts that can route to the bridge network — neighbours on a shared private network — from reaching every port of every container directly. Docker documents the option as unsuitable for most users.',
  reads: '/etc/docker/daemon.json, the dockerd command line (systemd unit and drop-ins, /etc/default/docker)',
  fix: 'Remove `"iptables": false` from /etc/docker/daemon.json (and `--iptables=false` from the unit), restart Docker, and restrict published ports where Docker expects it: bind them to 127.0.0.1 in compose, or add DOCKER-USER rules (see docker-port-without-host-ip).',
};

export const dockerApiWithoutTls: Rule = {
  id: 'docker-api-tcp-no-tls',
  severity: 'critical',
  title: 'The Docker API listens on TCP without TLS client verification',
  why: 'Whoever reaches the Docker API controls the host: one `docker run -v /:/host --privileged` is a root shell. Scanners look for 2375 all day and turn exposed daemons into crypto miners within hours. `--tls` without `--tlsverify` encrypts but still lets anyone in.',
  reads:
    '/etc/docker/daemon.json (`hosts`, `tls`, `tlsverify`), the dockerd command line (`-H tcp://…`) in systemd units and drop-ins, /etc/default/docker',
  fix: 'Remove the tcp:// host and use the local socket (or `DOCKER_HOST=ssh://user@host` from remote machines). If TCP is required, listen on 2376 with `"tlsverify": true`, `"tlscacert"`, `"tlscert"`, `"tlskey"` and client certificates, and firewall it to the admin addresses.',
};

export const dockerSocketMounted: Rule = {
  id: 'docker-socket-mounted',
  severity: 'high',
  title: 'The Docker socket is mounted into a container',
  why: 'A container with /var/run/docker.sock can start a privileged container that mounts the host root: a compromise of that container (a web UI, a CI runner, a proxy) is root on the host. Mounting it read-only (`:ro`) does not help: the API still accepts every request.',
  reads: READS_COMPOSE,
  fix: 'Remove the docker.sock volume. If the container must watch Docker (Traefik, monitoring), put a filtering proxy in between (e.g. tecnativa/docker-socket-proxy allowing only GET on containers) and give it no published ports.',
};

export const dockerPrivileged: Rule = {
  id: 'docker-privileged',
  severity: 'high',
  title: 'A container runs privileged',
  why: '`privileged: true` gives the container every capability and all host devices; escaping to the host is a matter of mounting the host disk. Any bug in the service becomes a host compromise.',
  reads: READS_COMPOSE,
  fix: 'Remove `privileged: true`; grant only the capabilities the service needs with `cap_add:` (e.g. `NET_ADMIN`) and the devices it needs with `devices:`.',
};

export const dockerNetworkHost: Rule = {
  id: 'docker-network-host',
  severity: 'low',
  title: 'A container uses the host network',
  why: 'With `network_mode: host` the container shares the host network stack: its ports open directly on the host (ufw applies, but `ports:` mappings are ignored) and it can reach every service bound to 127.0.0.1, such as an unauthenticated Redis, as if it were local.',
  reads: READS_COMPOSE,
  fix: 'Use a bridge network and publish only the ports needed (`ports: ["127.0.0.1:8080:8080"]`); keep host networking only where it is required and reviewed.',
};

const UNSPECIFIED = new Set(['0.0.0.0', '::', '']);

export function dockerPortSeverity(
  sensitive: boolean,
  reach: Reach,
  bypassesInput: boolean,
  port: number,
): Severity {
  if (sensitive) return reach === 'internet' ? 'critical' : reach === 'private' ? 'medium' : 'low';
  if (reach === 'internet') {
    if (bypassesInput) return 'high';
    return port === 80 || port === 443 ? 'info' : 'medium';
  }
  return reach === 'private' ? 'low' : 'info';
}

function portFindings(context: CheckContext): Finding[] {
  const exposure = isEffectiveExposure(context.exposure) ? context.exposure : createExposure(context.facts);
  const findings: Finding[] = [];
  for (const publication of exposure.publications) {
    if (!UNSPECIFIED.has(publication.hostIp)) continue;
    const port = publication.published?.from ?? publication.target.from;
    const verdict = exposure.assessPublication(publication);
    const sensitive = publication.info?.sensitive === true;
    const severity = dockerPortSeverity(sensitive, verdict.reach, verdict.bypassesInput === true, port);
    findings.push(
      findingOf(
        dockerPortWithoutHostIp,
        [...verdict.steps, { detail: `so it is ${describeReach(verdict.reach)}` }],
        {
          severity,
          title: `${describe(publication)} is published on every host address (${portLabel(publication)})`,
          fix: portFix(publication),
        },
      ),
    );
  }
  return findings;
}

function describe(publication: DockerPublication): string {
  const what = publication.info
    ? `${publication.info.label} (service ${publication.service})`
    : `Service ${publication.service}`;
  return publication.service === 'container' ? (publication.info?.label ?? 'A container port') : what;
}

function portLabel(publication: DockerPublication): string {
  return publication.published
    ? `${publication.published.from === publication.published.to ? publication.published.from : `${publication.published.from}-${publication.published.to}`}/${publication.protocol}`
    : `container port ${publication.target.from}/${publication.protocol} on a random host port`;
}

function portFix(publication: DockerPublication): string {
  const target = publication.target.from;
  const published = publication.published?.from ?? target;
  const where = publication.evidence.file ? ` in ${publication.evidence.file}` : '';
  return `Publish it on loopback${where}: \`"127.0.0.1:${published}:${target}"\` (or remove the port and reach the container over the compose network). If it must be reachable from outside, restrict it in DOCKER-USER: \`iptables -I DOCKER-USER -i eth0 -p ${publication.protocol} -m conntrack --ctorigdstport ${published} ! -s <allowed range> -j DROP\`, persisted in /etc/ufw/after.rules or your ruleset.`;
}

export const dockerCheck: Check = {
  name: 'docker',
  rules: [
    dockerPortWithoutHostIp,
    dockerApiWithoutTls,
    dockerSocketMounted,
    dockerPrivileged,
    dockerIptablesDisabled,
    dockerNetworkHost,
  ],
  run(context) {
    const docker = context.facts.docker;
    if (!docker && !context.facts.netfilter?.dockerDnat.length) return [];
    const findings: Finding[] = [...portFindings(context)];
    if (!docker) return findings;

    if (docker.iptables && !docker.iptables.value) {
      findings.push(
        findingOf(dockerIptablesDisabled, [
          { file: docker.iptables.file, line: docker.iptables.line, detail: `\`${docker.iptables.text}\`` },
        ]),
      );
    }

    for (const listener of docker.apiListeners) {
      if (listener.tlsVerify) continue;
      const verdict = context.exposure.assess({
        service: 'docker',
        port: listener.port,
        protocol: 'tcp',
        binds: [listener.host],
      });
      const evidence: Evidence[] = [
        {
          file: listener.file,
          line: listener.line,
          detail: `dockerd listens on ${listener.address} ${listener.tls ? 'with TLS but without client verification (tlsverify)' : 'without TLS'}: \`${listener.text}\``,
        },
        ...verdict.reasons.map((reason) => ({ detail: reason })),
        { detail: `so the Docker API is ${describeReach(verdict.reach)}` },
      ];
      findings.push(
        findingOf(dockerApiWithoutTls, evidence, {
          severity: verdict.reach === 'local' ? 'high' : 'critical',
          title: `The Docker API listens on ${listener.address} without TLS client verification`,
        }),
      );
    }

    for (const compose of docker.composeFiles) {
      for (const service of compose.services) {
        if (service.dockerSocket) {
          findings.push(
            findingOf(
              dockerSocketMounted,
              [
                {
                  file: service.dockerSocket.file,
                  line: service.dockerSocket.line,
                  detail: `service ${service.name} mounts the Docker socket: ${service.dockerSocket.text}`,
                },
              ],
              { title: `The Docker socket is mounted into service ${service.name}` },
            ),
          );
        }
        if (service.privileged) {
          findings.push(
            findingOf(
              dockerPrivileged,
              [
                {
                  file: service.privileged.file,
                  line: service.privileged.line,
                  detail: `service ${service.name}: \`${service.privileged.text}\``,
                },
              ],
              { title: `Service ${service.name} runs privileged` },
            ),
          );
        }
        if (service.networkModeHost) {
          findings.push(
            findingOf(
              dockerNetworkHost,
              [
                {
                  file: service.networkModeHost.file,
                  line: service.networkModeHost.line,
                  detail: `service ${service.name}: \`${service.networkModeHost.text}\``,
                },
              ],
              { title: `Service ${service.name} uses the host network` },
            ),
          );
        }
      }
    }
    return findings;
  },
};

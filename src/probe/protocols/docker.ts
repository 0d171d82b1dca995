/**
 * Docker Engine API: `GET /_ping` then `GET /version`, over HTTP (2375) or TLS without a client
 * certificate (2376). Both are read-only endpoints. An API that answers gives root on the host.
 */
import { findingOf, type Rule } from '../../core/finding.ts';
import { endpointText, httpGet } from '../net.ts';
import { notRecognised, type ProbeContext, type ProbeResult, type ProtocolProbe } from '../types.ts';
import { getAuto, headerText } from './http.ts';

export const dockerApiNoAuthRule: Rule = {
  id: 'probe-docker-api-no-auth',
  severity: 'critical',
  title: 'The Docker API answers without authentication',
  why: 'The Docker API is root on the host: anyone who reaches it runs `docker -H tcp://HOST:2375 run -v /:/host --privileged …` and owns the machine (cryptominer botnets scan for exactly this).',
  reads: 'TCP HOST:PORT: `GET /_ping` and `GET /version` over HTTP, or over TLS without a client certificate',
  fix: 'Remove `-H tcp://0.0.0.0:2375` from the dockerd flags (or `"hosts"` in /etc/docker/daemon.json) and use the local socket or `ssh://` contexts; if remote access is required, use `--tlsverify` with client certificates on 2376 and firewall it to known addresses.',
};

export const dockerRules: readonly Rule[] = [dockerApiNoAuthRule];

interface VersionInfo {
  readonly Version?: unknown;
  readonly ApiVersion?: unknown;
  readonly Os?: unknown;
  readonly Arch?: unknown;
  readonly KernelVersion?: unknown;
}

/** TLS alerts a server sends when it wants a client certificate we did not give. */
const CLIENT_CERT_REQUIRED = /certificate[_ ]required|bad[_ ]certificate|handshake[_ ]failure/i;

export const dockerProbe: ProtocolProbe = {
  name: 'docker',
  rules: dockerRules,
  ports: [2375, 2376],
  async run(context: ProbeContext): Promise<ProbeResult> {
    const useTls = context.port === 2376 ? true : 'auto';
    const ping = await getAuto(context, '/_ping', useTls);
    if (!ping) return (await requiresClientCertificate(context)) ?? notRecognised;
    const apiVersion = headerText(ping.reply.headers['api-version']);
    if (
      ping.reply.status !== 200 ||
      ping.reply.body.toString('utf8').trim() !== 'OK' ||
      apiVersion === undefined
    ) {
      return notRecognised;
    }
    const scheme = ping.tls ? 'HTTPS' : 'HTTP';
    const where = endpointText(context.host, context.port);
    const facts = [`Api-Version ${apiVersion}`];
    const version = await getAuto(context, '/version', ping.tls);
    if (version && version.reply.status === 200) {
      try {
        const info = JSON.parse(version.reply.body.toString('utf8')) as VersionInfo;
        for (const [key, value] of Object.entries(info)) {
          if (['Version', 'Os', 'Arch', 'KernelVersion'].includes(key) && typeof value === 'string') {
            facts.push(`${key} ${value}`);
          }
        }
      } catch {
        // /_ping already proved it; the version is detail.
      }
    }
    return {
      recognised: true,
      service: `Docker API over ${scheme} (no authentication)`,
      findings: [
        findingOf(dockerApiNoAuthRule, [
          {
            detail: `${where} answered ${scheme} GET /_ping with OK and GET /version without a client certificate (${facts.join(', ')})`,
          },
        ]),
      ],
    };
  },
};

/** On the TLS port, a handshake refused for want of a client certificate is the safe setup. */
async function requiresClientCertificate(context: ProbeContext): Promise<ProbeResult | undefined> {
  if (context.port !== 2376) return undefined;
  try {
    await httpGet({ ...context, tls: true, path: '/_ping' });
    return undefined;
  } catch (error) {
    const text = `${(error as NodeJS.ErrnoException).code ?? ''} ${(error as Error).message}`;
    if (!CLIENT_CERT_REQUIRED.test(text)) return undefined;
    return {
      recognised: true,
      service: 'TLS service that requires a client certificate (Docker --tlsverify?)',
      findings: [],
    };
  }
}

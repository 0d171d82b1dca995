/**
 * HTTP(S): one `GET /` (plain first, then TLS when the port does not speak plain HTTP), reporting
 * the status, the Server header, the page title and, over TLS, the certificate and its expiry.
 */
import { type Finding, findingOf, type Rule } from '../../core/finding.ts';
import { type CertificateInfo, endpointText, type HttpReply, httpGet } from '../net.ts';
import { notRecognised, type ProbeContext, type ProbeResult, type ProtocolProbe } from '../types.ts';

export const httpServiceRule: Rule = {
  id: 'probe-http-service',
  severity: 'info',
  title: 'An HTTP service answers',
  why: 'Every HTTP service that answers is attack surface: admin panels, metrics endpoints and default pages are what scanners look for first. The Server header tells them which exploits to try.',
  reads:
    'TCP HOST:PORT: `GET /` over HTTP, and over TLS when plain HTTP is not spoken (status, Server header, <title>)',
  fix: 'Make sure this service is meant to be public. Admin and metrics ports (Grafana 3000, Prometheus 9090, node_exporter 9100, RabbitMQ 15672, kubelet 10250) belong on loopback or behind a VPN; hide versions with `server_tokens off;` in nginx.',
};

export const tlsCertificateRule: Rule = {
  id: 'probe-tls-certificate',
  severity: 'info',
  title: 'TLS certificate presented',
  why: 'The certificate names the hosts it serves (which can reveal an origin hidden behind a CDN) and its expiry date.',
  reads: 'TLS handshake to HOST:PORT (certificate read, not verified)',
  fix: 'Nothing to do if the subject and expiry are as expected; renew before it expires (`certbot renew`).',
};

export const tlsExpiredRule: Rule = {
  id: 'probe-tls-cert-expired',
  severity: 'medium',
  title: 'The TLS certificate has expired',
  why: 'Browsers and API clients refuse the connection, or users learn to click through warnings, which makes a man-in-the-middle easy.',
  reads: 'TLS handshake to HOST:PORT: the certificate’s notAfter',
  fix: 'Renew the certificate (`certbot renew`, then reload the server) and check that the renewal timer runs: `systemctl list-timers | grep certbot`.',
};

export const tlsExpiringRule: Rule = {
  id: 'probe-tls-cert-expiring',
  severity: 'low',
  title: 'The TLS certificate expires within 14 days',
  why: 'Automatic renewal normally happens 30 days before expiry; a certificate this close to its end means renewal is failing.',
  reads: 'TLS handshake to HOST:PORT: the certificate’s notAfter',
  fix: 'Run `certbot renew --dry-run` to see why renewal fails, fix it, and reload the server.',
};

export const httpRules: readonly Rule[] = [
  httpServiceRule,
  tlsCertificateRule,
  tlsExpiredRule,
  tlsExpiringRule,
];

const DAY_MS = 86_400_000;
export const EXPIRING_WITHIN_MS = 14 * DAY_MS;

/** A GET that tells plain from TLS: plain first unless `tls` says otherwise. */
export async function getAuto(
  context: ProbeContext,
  path: string,
  tls: boolean | 'auto',
  extra: { hostHeader?: string; servername?: string } = {},
): Promise<{ reply: HttpReply; tls: boolean } | undefined> {
  const attempt = async (useTls: boolean) => {
    try {
      return await httpGet({ ...context, ...extra, tls: useTls, path });
    } catch {
      return undefined;
    }
  };
  if (tls !== true) {
    const plain = await attempt(false);
    if (
      plain &&
      !(plain.status === 400 && /plain HTTP request was sent to HTTPS port/i.test(plain.body.toString()))
    ) {
      return { reply: plain, tls: false };
    }
    if (tls === false) return undefined;
  }
  const secure = await attempt(true);
  return secure ? { reply: secure, tls: true } : undefined;
}

export function titleOf(body: Buffer): string | undefined {
  const match = /<title[^>]*>([^<]{0,200})<\/title>/i.exec(body.toString('utf8'));
  return match?.[1]?.trim().replace(/\s+/g, ' ') || undefined;
}

export function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/** Findings about a certificate: always the info one, plus expired or expiring. */
export function certificateFindings(where: string, certificate: CertificateInfo, nowMs: number): Finding[] {
  const expiry = new Date(certificate.validToMs).toISOString().slice(0, 10);
  const names = certificate.altNames.length > 0 ? certificate.altNames.join(' ') : 'none';
  const findings = [
    findingOf(tlsCertificateRule, [
      {
        detail: `${where} presented subject "${certificate.subject}", issuer "${certificate.issuer}"${certificate.selfSigned ? ' (self-signed)' : ''}, names ${names}, valid until ${expiry}, SHA-256 ${certificate.fingerprint256}`,
      },
    ]),
  ];
  const leftMs = certificate.validToMs - nowMs;
  if (leftMs < 0) {
    findings.push(
      findingOf(tlsExpiredRule, [
        {
          detail: `${where} certificate "${certificate.subject}" expired on ${expiry} (${Math.ceil(-leftMs / DAY_MS)} days ago)`,
        },
      ]),
    );
  } else if (leftMs < EXPIRING_WITHIN_MS) {
    findings.push(
      findingOf(tlsExpiringRule, [
        {
          detail: `${where} certificate "${certificate.subject}" expires on ${expiry} (in ${Math.floor(leftMs / DAY_MS)} days)`,
        },
      ]),
    );
  }
  return findings;
}

/** Ports where TLS is expected first. */
const TLS_PORTS = new Set([443, 6443, 8443, 9443, 10250]);

export const httpProbe: ProtocolProbe = {
  name: 'http',
  rules: httpRules,
  ports: [
    80, 443, 3000, 5000, 5601, 6443, 8000, 8008, 8080, 8081, 8086, 8443, 8888, 9000, 9090, 9093, 9100, 9443,
    10250, 15672, 2379,
  ],
  async run(context: ProbeContext): Promise<ProbeResult> {
    const got = await getAuto(context, '/', TLS_PORTS.has(context.port) ? true : 'auto');
    if (!got) return notRecognised;
    const where = endpointText(context.host, context.port);
    const { reply } = got;
    const server = headerText(reply.headers.server);
    const title = titleOf(reply.body);
    const scheme = got.tls ? 'https' : 'http';
    const parts = [`status ${reply.status}`];
    if (server) parts.push(`Server: ${server}`);
    if (title) parts.push(`title "${title}"`);
    const findings: Finding[] = [
      findingOf(
        httpServiceRule,
        [{ detail: `${where} answered ${scheme.toUpperCase()} GET / with ${parts.join(', ')}` }],
        {
          title: `An ${scheme.toUpperCase()} service answers${server ? ` (${server})` : ''}`,
        },
      ),
    ];
    if (reply.certificate) findings.push(...certificateFindings(where, reply.certificate, context.nowMs));
    return { recognised: true, service: `${scheme}${server ? ` (${server})` : ''}`, findings };
  },
};

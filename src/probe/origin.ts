/**
 * `--origin DOMAIN`: does this address serve DOMAIN itself, so that anyone can bypass the CDN (its
 * WAF, rate limits and IP allowlists) by talking to it directly?
 *
 * For HTTP (80) and HTTPS (443) the probe asks the address twice: once for DOMAIN (Host header and
 * TLS SNI) and once for a name no server is configured for (`moat-probe.invalid`). The address serves
 * the site when its certificate for DOMAIN names DOMAIN, or when its answer for DOMAIN differs from
 * the answer for the unknown name, or when the page title equals the one served through DNS.
 */
import { type Finding, findingOf, type Rule } from '../core/finding.ts';
import { type CertificateInfo, endpointText, type HttpReply, httpGet } from './net.ts';
import { headerText, titleOf } from './protocols/http.ts';
import type { Lookup } from './targets.ts';

export const originExposedRule: Rule = {
  id: 'probe-origin-exposed',
  severity: 'high',
  title: 'The origin serves the site directly, outside its CDN',
  why: 'Anyone who finds the origin address (certificate-transparency logs, old DNS records, a mail header) skips the CDN and its WAF, rate limits, bot checks and DDoS absorption, and reaches the server with their real address unseen by CDN rules (incident 5: the origin must accept 80/443 only from Cloudflare).',
  reads:
    'HTTP GET / to ADDRESS:80 and HTTPS GET / to ADDRESS:443 with Host and SNI set to DOMAIN, compared with the same requests for an unknown name and with the site as served through DNS',
  fix: 'Allow 80/443 only from the CDN’s ranges (`moat harden` writes the ufw/nftables rules; with Cloudflare see https://www.cloudflare.com/ips/), or use an outbound-only tunnel (cloudflared) and close 80/443; with Docker, restrict DOCKER-USER too. Authenticated origin pulls (mTLS from the CDN) close the gap for HTTPS.',
};

export const originHiddenRule: Rule = {
  id: 'probe-origin-not-served',
  severity: 'info',
  title: 'The address does not serve the site directly',
  why: 'Confirms that requests for DOMAIN sent straight to this address are refused or answered like any unknown name.',
  reads: 'HTTP GET / to ADDRESS:80 and HTTPS GET / to ADDRESS:443 with Host and SNI set to DOMAIN',
  fix: 'Nothing to do.',
};

export const originRules: readonly Rule[] = [originExposedRule, originHiddenRule];

/** A name no server has a virtual host for (RFC 2606 reserves .invalid). */
export const UNKNOWN_HOST = 'moat-probe.invalid';

export interface OriginOptions {
  readonly host: string;
  readonly domain: string;
  readonly timeoutMs: number;
  readonly sourceAddress?: string | undefined;
  readonly ports?: { readonly http: number; readonly https: number } | undefined;
  /** Resolves DOMAIN to compare with the site as the world sees it. */
  readonly lookup: Lookup;
}

/** True when the certificate names `domain` (SAN DNS entries, wildcards one label deep, else CN). */
export function certificateNames(certificate: CertificateInfo, domain: string): boolean {
  const wanted = domain.toLowerCase().replace(/\.$/, '');
  const names = certificate.altNames
    .filter((name) => name.startsWith('DNS:'))
    .map((name) => name.slice(4).toLowerCase());
  if (names.length === 0) {
    const cn = /(?:^|, )CN=([^,]+)/.exec(certificate.subject)?.[1];
    if (cn) names.push(cn.toLowerCase());
  }
  return names.some((name) => {
    if (name === wanted) return true;
    if (!name.startsWith('*.')) return false;
    const rest = wanted.slice(wanted.indexOf('.') + 1);
    return wanted.includes('.') && rest === name.slice(2);
  });
}

interface Shape {
  readonly status: number;
  readonly title: string | undefined;
  readonly location: string | undefined;
}

function shapeOf(reply: HttpReply, hostName: string): Shape {
  const location = headerText(reply.headers.location);
  return {
    status: reply.status,
    title: titleOf(reply.body),
    // `return 301 https://$host$request_uri` answers every name alike: compare with the name taken out.
    location: location?.split(hostName).join('<host>'),
  };
}

function describe(shape: Shape): string {
  return [
    `status ${shape.status}`,
    shape.title ? `title "${shape.title}"` : '',
    shape.location ? `Location ${shape.location}` : '',
  ]
    .filter(Boolean)
    .join(', ');
}

/** Status codes that mean "this virtual host exists" (a refusal is 4xx/5xx or a closed connection). */
function served(status: number): boolean {
  return (status >= 200 && status < 400) || status === 401 || status === 403;
}

export async function probeOrigin(options: OriginOptions): Promise<Finding> {
  const ports = options.ports ?? { http: 80, https: 443 };
  const ask = async (tls: boolean, name: string, address = options.host): Promise<HttpReply | undefined> => {
    try {
      return await httpGet({
        host: address,
        port: tls ? ports.https : ports.http,
        timeoutMs: options.timeoutMs,
        sourceAddress: options.sourceAddress,
        tls,
        path: '/',
        hostHeader: name,
        servername: name,
      });
    } catch {
      return undefined;
    }
  };

  let published: readonly string[] = [];
  try {
    published = await options.lookup(options.domain);
  } catch {
    // The comparison with the public site is a bonus; the direct checks stand alone.
  }
  const reference = published.find((address) => address !== options.host);

  const reasons: string[] = [];
  const checked: string[] = [];
  for (const tls of [false, true]) {
    const where = endpointText(options.host, tls ? ports.https : ports.http);
    const scheme = tls ? 'HTTPS' : 'HTTP';
    const [direct, unknown, viaDns] = await Promise.all([
      ask(tls, options.domain),
      ask(tls, UNKNOWN_HOST),
      reference === undefined ? Promise.resolve(undefined) : ask(tls, options.domain, reference),
    ]);
    if (!direct) {
      checked.push(`${where} did not answer ${scheme} for ${options.domain}`);
      continue;
    }
    const shape = shapeOf(direct, options.domain);
    const before = reasons.length;
    if (tls && direct.certificate && certificateNames(direct.certificate, options.domain)) {
      reasons.push(
        `${where} presents a certificate for ${options.domain} (subject "${direct.certificate.subject}", names ${direct.certificate.altNames.join(' ') || 'none'})`,
      );
    }
    if (served(shape.status)) {
      if (!unknown) {
        reasons.push(
          `${where} answers ${scheme} for Host ${options.domain} (${describe(shape)}) but not for an unknown name`,
        );
      } else {
        const other = shapeOf(unknown, UNKNOWN_HOST);
        if (
          other.status !== shape.status ||
          other.title !== shape.title ||
          other.location !== shape.location
        ) {
          reasons.push(
            `${where} answers ${scheme} for Host ${options.domain} with ${describe(shape)}, unlike an unknown name (${describe(other)})`,
          );
        } else if (viaDns && shape.title !== undefined && titleOf(viaDns.body) === shape.title) {
          reasons.push(
            `${where} answers ${scheme} for Host ${options.domain} with the same title as the site served through DNS (${reference}): "${shape.title}"`,
          );
        }
      }
    }
    if (reasons.length === before)
      checked.push(
        `${where} answered ${scheme} for ${options.domain} like any unknown name (${describe(shape)})`,
      );
  }

  if (reasons.length > 0) {
    const resolvesHere = published.includes(options.host);
    const evidence = [
      ...reasons.map((detail) => ({ detail })),
      ...(resolvesHere
        ? [
            {
              detail: `${options.domain} resolves to ${options.host} itself: the site is not behind a CDN at all`,
            },
          ]
        : []),
    ];
    return findingOf(originExposedRule, evidence, {
      title: `${options.host} serves ${options.domain} directly, outside its CDN`,
    });
  }
  return findingOf(
    originHiddenRule,
    checked.map((detail) => ({ detail })),
    { title: `${options.host} does not serve ${options.domain} directly` },
  );
}

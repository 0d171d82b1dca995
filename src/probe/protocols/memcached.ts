/**
 * Memcached: `version` over TCP (read-only), and `stats` over UDP with memcached's 8-byte UDP frame
 * header. A UDP answer makes the server a DDoS amplifier: a 15-byte spoofed request returns
 * kilobytes to the victim.
 */
import { findingOf, type Rule } from '../../core/finding.ts';
import { converse, type Endpoint, endpointText, line, ProbeIoError, udpExchange } from '../net.ts';
import { notRecognised, type ProbeContext, type ProbeResult, type ProtocolProbe } from '../types.ts';

export const memcachedNoAuthRule: Rule = {
  id: 'probe-memcached-no-auth',
  severity: 'high',
  title: 'Memcached answers without authentication',
  why: 'Memcached has no access control by default: anyone who reaches the port can read every cached value (sessions, tokens, rendered pages), overwrite them to poison what the app serves, or `flush_all` the cache and push the full load onto the database.',
  reads: 'TCP HOST:PORT: `version`',
  fix: 'Listen on loopback only (`-l 127.0.0.1` in /etc/memcached.conf, or publish the container as `127.0.0.1:11211:11211`), firewall 11211, and if other hosts need it, enable SASL (`-S`) on a private network.',
};

export const memcachedAuthRequiredRule: Rule = {
  id: 'probe-memcached-auth-required',
  severity: 'info',
  title: 'Memcached answers but requires authentication',
  why: 'The port is reachable; the SASL or auth-file credentials are the only barrier.',
  reads: 'TCP HOST:PORT: `version` (reply CLIENT_ERROR unauthenticated, or the text protocol refused)',
  fix: 'If no other host needs it, listen on loopback only (`-l 127.0.0.1`) and firewall 11211.',
};

export const memcachedUdpRule: Rule = {
  id: 'probe-memcached-udp-amplifier',
  severity: 'high',
  title: 'Memcached answers over UDP: a DDoS amplifier',
  why: 'Over UDP the source address is not checked: attackers spoof a victim’s address and a 15-byte `stats` request makes this server send kilobytes to the victim (the 2018 memcached attacks reached 1.7 Tbps). Providers suspend hosts that take part.',
  reads: 'UDP HOST:PORT: `stats` with the 8-byte memcached UDP frame header',
  fix: 'Disable UDP: `-U 0` in /etc/memcached.conf (the default since memcached 1.5.6), restart memcached, and firewall 11211/udp.',
};

export const memcachedRules: readonly Rule[] = [
  memcachedNoAuthRule,
  memcachedAuthRequiredRule,
  memcachedUdpRule,
];

export const memcachedProbe: ProtocolProbe = {
  name: 'memcached',
  rules: [memcachedNoAuthRule, memcachedAuthRequiredRule],
  ports: [11211],
  async run(context: ProbeContext): Promise<ProbeResult> {
    const where = endpointText(context.host, context.port);
    const conversation = await converse(context);
    try {
      conversation.write('version\r\n');
      let reply: string;
      try {
        reply = await conversation.read(line);
      } catch (error) {
        if (error instanceof ProbeIoError) return notRecognised;
        throw error;
      }
      const version = /^VERSION (\S+)/.exec(reply);
      if (version) {
        return {
          recognised: true,
          service: `Memcached ${version[1]} (no authentication)`,
          findings: [
            findingOf(memcachedNoAuthRule, [{ detail: `${where} answered \`version\` with "${reply}"` }]),
          ],
        };
      }
      if (/^CLIENT_ERROR.*(unauthenticated|auth)/i.test(reply)) {
        return {
          recognised: true,
          service: 'Memcached (authentication required)',
          findings: [
            findingOf(memcachedAuthRequiredRule, [
              { detail: `${where} answered \`version\` with "${reply}"` },
            ]),
          ],
        };
      }
      return notRecognised;
    } finally {
      conversation.close();
    }
  },
};

/** `stats\r\n` behind the UDP frame header: request id 0x6d6f ("mo"), sequence 0, 1 datagram, reserved 0. */
export const MEMCACHED_UDP_STATS = Buffer.concat([
  Buffer.from([0x6d, 0x6f, 0, 0, 0, 1, 0, 0]),
  Buffer.from('stats\r\n', 'latin1'),
]);

/** Sends `stats` over UDP; a reply with memcached's frame header and STAT lines is a finding. */
export async function probeMemcachedUdp(endpoint: Endpoint): Promise<ProbeResult> {
  const reply = await udpExchange(endpoint, MEMCACHED_UDP_STATS);
  if (reply === undefined || reply.length < 8) return notRecognised;
  const requestId = reply.readUInt16BE(0);
  const total = reply.readUInt16BE(4);
  const text = reply.subarray(8).toString('latin1');
  if (requestId !== 0x6d6f || !text.startsWith('STAT ')) return notRecognised;
  const version = /^STAT version (\S+)/m.exec(text)?.[1];
  const factor = (reply.length / MEMCACHED_UDP_STATS.length).toFixed(0);
  const where = endpointText(endpoint.host, endpoint.port);
  return {
    recognised: true,
    service: `Memcached${version ? ` ${version}` : ''} over UDP`,
    findings: [
      findingOf(memcachedUdpRule, [
        {
          detail: `${where}/udp answered a ${MEMCACHED_UDP_STATS.length}-byte \`stats\` request with ${total} datagram(s), the first ${reply.length} bytes (×${factor}${total > 1 ? ' or more' : ''})${version ? `, version ${version}` : ''}`,
        },
      ]),
    ],
  };
}

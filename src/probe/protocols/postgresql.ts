/**
 * PostgreSQL: one StartupMessage for user `postgres`, database `postgres`, and the server's first
 * answer. AuthenticationOk (R, 0) means pg_hba.conf trusts this address: the probe then sends
 * Terminate at once, having run no query. If the server insists on TLS (`hostssl` only), the probe
 * retries once after an SSLRequest.
 */
import { findingOf, type Rule } from '../../core/finding.ts';
import { type Conversation, converse, endpointText, type Parse, ProbeIoError, upgradeToTls } from '../net.ts';
import { notRecognised, type ProbeContext, type ProbeResult, type ProtocolProbe } from '../types.ts';

export const postgresqlTrustRule: Rule = {
  id: 'probe-postgresql-trust',
  severity: 'critical',
  title: 'PostgreSQL lets the postgres superuser in without a password (trust)',
  why: 'pg_hba.conf trusts this client address: anyone who reaches the port logs in as the superuser with no password, reads or drops every database, and can run shell commands on the server with `COPY … FROM PROGRAM`.',
  reads:
    'TCP HOST:PORT: StartupMessage (protocol 3.0, user postgres, database postgres); AuthenticationOk means trust',
  fix: "In pg_hba.conf replace `trust` with `scram-sha-256` for every `host` line (keep `trust` or `peer` only for `local` socket lines), set `listen_addresses = 'localhost'` unless other hosts need it, firewall 5432, then `SELECT pg_reload_conf();`.",
};

export const postgresqlAuthRequiredRule: Rule = {
  id: 'probe-postgresql-auth-required',
  severity: 'info',
  title: 'PostgreSQL answers and asks for authentication',
  why: 'The port is reachable; the password method is the barrier. `password` (cleartext) and `md5` are weaker than `scram-sha-256`.',
  reads: 'TCP HOST:PORT: StartupMessage; the AuthenticationRequest type the server answers with',
  fix: "Use `scram-sha-256` in pg_hba.conf (`password_encryption = scram-sha-256`), and if no other host needs the database, set `listen_addresses = 'localhost'` and firewall 5432.",
};

export const postgresqlRules: readonly Rule[] = [postgresqlTrustRule, postgresqlAuthRequiredRule];

const AUTH_METHODS: Readonly<Record<number, string>> = {
  0: 'AuthenticationOk (trust)',
  2: 'Kerberos V5',
  3: 'cleartext password',
  5: 'MD5 password',
  7: 'GSSAPI',
  9: 'SSPI',
  10: 'SASL',
};

export type BackendMessage = { readonly type: string; readonly body: Buffer };

/** One backend message: a type byte, an int32 length (including itself), the body. */
export const backendMessage: Parse<BackendMessage> = (buffer) => {
  if (buffer.length < 5) return undefined;
  const type = String.fromCharCode(buffer[0]!);
  const length = buffer.readUInt32BE(1);
  if (!/^[A-Za-z]$/.test(type) || length < 4 || length > 1 << 20) throw new NotPostgres(type);
  if (buffer.length < 1 + length) return undefined;
  return { value: { type, body: buffer.subarray(5, 1 + length) }, consumed: 1 + length };
};

class NotPostgres extends Error {
  override readonly name = 'NotPostgres';
}

export function startupMessage(parameters: Readonly<Record<string, string>>): Buffer {
  const pairs = Object.entries(parameters).flat();
  const body = Buffer.from(`${pairs.join('\0')}\0\0`, 'utf8');
  const header = Buffer.alloc(8);
  header.writeUInt32BE(8 + body.length, 0);
  header.writeUInt32BE(196_608, 4); // protocol 3.0
  return Buffer.concat([header, body]);
}

const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
const TERMINATE = Buffer.from([0x58, 0, 0, 0, 4]);

/** Error/notice fields: `S` severity, `C` SQLSTATE, `M` message. */
export function errorFields(body: Buffer): Map<string, string> {
  const fields = new Map<string, string>();
  let offset = 0;
  while (offset < body.length && body[offset] !== 0) {
    const code = String.fromCharCode(body[offset]!);
    const end = body.indexOf(0, offset + 1);
    if (end < 0) break;
    fields.set(code, body.subarray(offset + 1, end).toString('utf8'));
    offset = end + 1;
  }
  return fields;
}

export const postgresqlProbe: ProtocolProbe = {
  name: 'postgresql',
  rules: postgresqlRules,
  ports: [5432, 5433],
  async run(context: ProbeContext): Promise<ProbeResult> {
    const first = await attempt(context, false);
    if (first.kind !== 'needs-tls') return first.result;
    // The refusal stands unless the TLS retry gets a real answer (a server without SSL says 'N').
    const second = await attempt(context, true).catch(() => undefined);
    return second?.result.recognised ? second.result : first.result;
  },
};

type Attempt =
  | { readonly kind: 'done'; readonly result: ProbeResult }
  | { readonly kind: 'needs-tls'; readonly result: ProbeResult };

async function attempt(context: ProbeContext, withTls: boolean): Promise<Attempt> {
  const where = endpointText(context.host, context.port);
  let conversation: Conversation = await converse(context);
  try {
    if (withTls) {
      conversation.write(SSL_REQUEST);
      const answer = await conversation.read((buffer) =>
        buffer.length > 0 ? { value: String.fromCharCode(buffer[0]!), consumed: 1 } : undefined,
      );
      if (answer !== 'S') return { kind: 'done', result: notRecognised };
      conversation = await upgradeToTls(conversation, context.timeoutMs);
    }
    conversation.write(
      startupMessage({ user: 'postgres', database: 'postgres', application_name: 'moat-probe' }),
    );
    let message: BackendMessage;
    try {
      message = await conversation.read(backendMessage);
    } catch (error) {
      if (error instanceof NotPostgres || error instanceof ProbeIoError)
        return { kind: 'done', result: notRecognised };
      throw error;
    }
    const over = withTls ? ' over TLS' : '';
    if (message.type === 'R' && message.body.length >= 4) {
      const method = message.body.readUInt32BE(0);
      if (method === 0) {
        const version = await serverVersion(conversation);
        conversation.write(TERMINATE);
        return {
          kind: 'done',
          result: {
            recognised: true,
            service: `PostgreSQL${version ? ` ${version}` : ''} (trust)`,
            findings: [
              findingOf(postgresqlTrustRule, [
                {
                  detail: `${where}${over} answered the startup for user postgres, database postgres with AuthenticationOk and asked for no password${version ? ` (server_version ${version})` : ''}`,
                },
              ]),
            ],
          },
        };
      }
      const name = AUTH_METHODS[method] ?? `authentication type ${method}`;
      const detail =
        method === 10
          ? `SASL (${saslMechanisms(message.body.subarray(4)).join(', ') || 'no mechanism'})`
          : name;
      return {
        kind: 'done',
        result: {
          recognised: true,
          service: `PostgreSQL (asks for ${detail})`,
          findings: [
            findingOf(postgresqlAuthRequiredRule, [
              {
                detail: `${where}${over} answered the startup for user postgres with a request for ${detail}`,
              },
            ]),
          ],
        },
      };
    }
    if (message.type === 'E') {
      const fields = errorFields(message.body);
      const text = `${fields.get('S') ?? 'ERROR'} ${fields.get('C') ?? ''}: ${fields.get('M') ?? ''}`.trim();
      const result: ProbeResult = {
        recognised: true,
        service: 'PostgreSQL (refused the startup)',
        findings: [
          findingOf(
            postgresqlAuthRequiredRule,
            [{ detail: `${where}${over} refused the startup for user postgres: ${text}` }],
            { title: 'PostgreSQL answers but refuses this client' },
          ),
        ],
      };
      // pg_hba.conf with only `hostssl` lines rejects a plain startup with "no encryption".
      if (!withTls && /no encryption/i.test(fields.get('M') ?? '')) return { kind: 'needs-tls', result };
      return { kind: 'done', result };
    }
    return { kind: 'done', result: notRecognised };
  } finally {
    conversation.close();
  }
}

function saslMechanisms(body: Buffer): string[] {
  return body
    .toString('utf8')
    .split('\0')
    .filter((name) => name.length > 0);
}

/** After AuthenticationOk the server sends ParameterStatus messages; server_version is among them. */
async function serverVersion(conversation: Conversation): Promise<string | undefined> {
  try {
    for (let count = 0; count < 32; count++) {
      const message = await conversation.read(backendMessage);
      if (message.type === 'S') {
        const [name, value] = message.body.toString('utf8').split('\0');
        if (name === 'server_version') return value;
      }
      if (message.type === 'Z' || message.type === 'E') return undefined;
    }
  } catch {
    // The version is a nicety; the finding stands without it.
  }
  return undefined;
}

/**
 * MongoDB: OP_MSG `hello` (falling back to `isMaster`), `buildInfo` for the version, then
 * `listDatabases` (nameOnly) on admin. All three are read-only; listDatabases succeeding without
 * credentials means authorization is off.
 */
import { findingOf, type Rule } from '../../core/finding.ts';
import { type Conversation, converse, endpointText, type Parse, ProbeIoError } from '../net.ts';
import { notRecognised, type ProbeContext, type ProbeResult, type ProtocolProbe } from '../types.ts';
import { type BsonDocument, BsonError, decodeBson, encodeBson } from './bson.ts';

export const mongodbNoAuthRule: Rule = {
  id: 'probe-mongodb-no-auth',
  severity: 'critical',
  title: 'MongoDB lists its databases without authentication',
  why: 'Authorization is off: anyone who reaches the port reads, changes or drops every database. Exposed MongoDB instances are wiped and ransomed by automated campaigns within hours.',
  reads: 'TCP HOST:PORT: OP_MSG `hello`, `buildInfo`, `listDatabases {nameOnly: true}` on admin',
  fix: 'In /etc/mongod.conf set `security.authorization: enabled` (after creating an admin user) and `net.bindIp: 127.0.0.1`, restart mongod, and firewall 27017.',
};

export const mongodbAuthRequiredRule: Rule = {
  id: 'probe-mongodb-auth-required',
  severity: 'info',
  title: 'MongoDB answers and requires authentication',
  why: 'The port is reachable, so credentials are the only barrier; `hello` and `buildInfo` still reveal the version and replica-set names to anyone.',
  reads: 'TCP HOST:PORT: OP_MSG `hello`, `listDatabases` (refused with Unauthorized)',
  fix: 'If only this host uses it, set `net.bindIp: 127.0.0.1` in /etc/mongod.conf and firewall 27017.',
};

export const mongodbRules: readonly Rule[] = [mongodbNoAuthRule, mongodbAuthRequiredRule];

const OP_MSG = 2013;
let nextRequestId = 1;

export function opMsg(command: Readonly<Record<string, string | number | boolean | BsonDocument>>): Buffer {
  const body = encodeBson(command);
  const header = Buffer.alloc(21);
  header.writeInt32LE(21 + body.length, 0);
  header.writeInt32LE(nextRequestId++ & 0x7fffffff, 4);
  header.writeInt32LE(0, 8);
  header.writeInt32LE(OP_MSG, 12);
  header.writeUInt32LE(0, 16); // flagBits
  header.writeUInt8(0, 20); // section kind 0: body
  return Buffer.concat([header, body]);
}

class NotMongo extends Error {
  override readonly name = 'NotMongo';
}

/** One OP_MSG reply: the kind-0 body document. */
export const opMsgReply: Parse<BsonDocument> = (buffer) => {
  if (buffer.length < 16) return undefined;
  const length = buffer.readInt32LE(0);
  const opCode = buffer.readInt32LE(12);
  if (length < 21 || length > 48 * 1024 * 1024 || opCode !== OP_MSG)
    throw new NotMongo('not an OP_MSG reply');
  if (buffer.length < length) return undefined;
  const flags = buffer.readUInt32LE(16);
  const end = flags & 1 ? length - 4 : length;
  let offset = 20;
  while (offset < end) {
    const kind = buffer[offset]!;
    if (kind === 0) return { value: decodeBson(buffer.subarray(0, end), offset + 1), consumed: length };
    // kind 1: document sequence (int32 size, then identifier and documents): skip it.
    offset += 1 + buffer.readInt32LE(offset + 1);
  }
  throw new NotMongo('OP_MSG without a body section');
};

async function command(
  conversation: Conversation,
  document: Readonly<Record<string, string | number | boolean>>,
): Promise<BsonDocument> {
  conversation.write(opMsg({ ...document, $db: 'admin' }));
  return conversation.read(opMsgReply);
}

function ok(reply: BsonDocument): boolean {
  return reply['ok'] === 1 || reply['ok'] === true;
}

export const mongodbProbe: ProtocolProbe = {
  name: 'mongodb',
  rules: mongodbRules,
  ports: [27017, 27018, 27019],
  async run(context: ProbeContext): Promise<ProbeResult> {
    const where = endpointText(context.host, context.port);
    const conversation = await converse(context);
    try {
      let hello: BsonDocument;
      try {
        hello = await command(conversation, { hello: 1 });
        if (!ok(hello)) hello = await command(conversation, { isMaster: 1 });
      } catch (error) {
        if (error instanceof NotMongo || error instanceof BsonError || error instanceof ProbeIoError) {
          return notRecognised;
        }
        throw error;
      }
      if (!ok(hello) || hello['maxWireVersion'] === undefined) return notRecognised;
      const facts: string[] = [];
      const build = await command(conversation, { buildInfo: 1 }).catch(() => undefined);
      const version = build && typeof build['version'] === 'string' ? build['version'] : undefined;
      if (version) facts.push(`version ${version}`);
      if (typeof hello['setName'] === 'string') facts.push(`replica set "${hello['setName']}"`);
      const listed = await command(conversation, { listDatabases: 1, nameOnly: true });
      const label = `MongoDB${version ? ` ${version}` : ''}`;
      if (ok(listed)) {
        const names = Array.isArray(listed['databases'])
          ? listed['databases'].flatMap((entry) =>
              entry &&
              typeof entry === 'object' &&
              !Array.isArray(entry) &&
              typeof (entry as BsonDocument)['name'] === 'string'
                ? [(entry as BsonDocument)['name'] as string]
                : [],
            )
          : [];
        return {
          recognised: true,
          service: `${label} (no authentication)`,
          findings: [
            findingOf(mongodbNoAuthRule, [
              {
                detail: `${where} answered listDatabases without credentials: ${names.length} database(s)${names.length > 0 ? ` (${names.slice(0, 10).join(', ')}${names.length > 10 ? ', …' : ''})` : ''}${facts.length > 0 ? `; ${facts.join(', ')}` : ''}`,
              },
            ]),
          ],
        };
      }
      const reason = `${listed['codeName'] ?? listed['code'] ?? 'error'}: ${String(listed['errmsg'] ?? '').slice(0, 120)}`;
      return {
        recognised: true,
        service: `${label} (authentication required)`,
        findings: [
          findingOf(mongodbAuthRequiredRule, [
            {
              detail: `${where} refused listDatabases without credentials (${reason})${facts.length > 0 ? `; ${facts.join(', ')}` : ''}`,
            },
          ]),
        ],
      };
    } finally {
      conversation.close();
    }
  },
};

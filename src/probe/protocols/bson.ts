/**
 * The small subset of BSON the MongoDB probe needs: encode flat command documents, decode replies
 * (nested documents and arrays, strings, numbers, booleans; other types are skipped by length).
 */

export type BsonValue = string | number | boolean | null | bigint | BsonDocument | BsonValue[] | Uint8Array;
export interface BsonDocument {
  [key: string]: BsonValue;
}

export class BsonError extends Error {
  override readonly name = 'BsonError';
}

/** Encodes strings, numbers (int32 when integral and in range, else double), booleans and documents. */
export function encodeBson(
  document: Readonly<Record<string, string | number | boolean | BsonDocument>>,
): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of Object.entries(document)) {
    const name = Buffer.from(`${key}\0`, 'utf8');
    if (typeof value === 'string') {
      const text = Buffer.from(`${value}\0`, 'utf8');
      const length = Buffer.alloc(4);
      length.writeInt32LE(text.length);
      parts.push(Buffer.from([0x02]), name, length, text);
    } else if (typeof value === 'number' && Number.isInteger(value) && Math.abs(value) < 2 ** 31) {
      const number = Buffer.alloc(4);
      number.writeInt32LE(value);
      parts.push(Buffer.from([0x10]), name, number);
    } else if (typeof value === 'number') {
      const number = Buffer.alloc(8);
      number.writeDoubleLE(value);
      parts.push(Buffer.from([0x01]), name, number);
    } else if (typeof value === 'boolean') {
      parts.push(Buffer.from([0x08]), name, Buffer.from([value ? 1 : 0]));
    } else {
      parts.push(Buffer.from([0x03]), name, encodeBson(value as Record<string, string | number | boolean>));
    }
  }
  const body = Buffer.concat(parts);
  const header = Buffer.alloc(4);
  header.writeInt32LE(4 + body.length + 1);
  return Buffer.concat([header, body, Buffer.from([0])]);
}

/** Decodes one document starting at `offset`; throws BsonError on malformed input. */
export function decodeBson(buffer: Buffer, offset = 0): BsonDocument {
  return decodeDocument(buffer, offset, false) as BsonDocument;
}

function decodeDocument(buffer: Buffer, offset: number, asArray: boolean): BsonDocument | BsonValue[] {
  if (offset + 5 > buffer.length) throw new BsonError('document truncated');
  const length = buffer.readInt32LE(offset);
  const end = offset + length;
  if (length < 5 || end > buffer.length || buffer[end - 1] !== 0) throw new BsonError('bad document length');
  const document: BsonDocument = {};
  const array: BsonValue[] = [];
  let position = offset + 4;
  while (position < end - 1) {
    const type = buffer[position]!;
    const nameEnd = buffer.indexOf(0, position + 1);
    if (nameEnd < 0 || nameEnd >= end) throw new BsonError('bad element name');
    const name = buffer.subarray(position + 1, nameEnd).toString('utf8');
    position = nameEnd + 1;
    const [value, next] = decodeValue(buffer, type, position, end);
    position = next;
    if (asArray) array.push(value);
    else document[name] = value;
  }
  return asArray ? array : document;
}

function decodeValue(buffer: Buffer, type: number, at: number, end: number): [BsonValue, number] {
  const need = (bytes: number) => {
    if (at + bytes > end) throw new BsonError(`element of type 0x${type.toString(16)} truncated`);
  };
  switch (type) {
    case 0x01:
      need(8);
      return [buffer.readDoubleLE(at), at + 8];
    case 0x02:
    case 0x0d:
    case 0x0e: {
      need(4);
      const length = buffer.readInt32LE(at);
      need(4 + length);
      if (length < 1) throw new BsonError('bad string length');
      return [buffer.subarray(at + 4, at + 4 + length - 1).toString('utf8'), at + 4 + length];
    }
    case 0x03:
    case 0x04: {
      need(4);
      const length = buffer.readInt32LE(at);
      return [decodeDocument(buffer, at, type === 0x04), at + length];
    }
    case 0x05: {
      need(5);
      const length = buffer.readInt32LE(at);
      need(5 + length);
      return [new Uint8Array(buffer.subarray(at + 5, at + 5 + length)), at + 5 + length];
    }
    case 0x06:
    case 0x0a:
    case 0xff:
    case 0x7f:
      return [null, at];
    case 0x07:
      need(12);
      return [buffer.subarray(at, at + 12).toString('hex'), at + 12];
    case 0x08:
      need(1);
      return [buffer[at] === 1, at + 1];
    case 0x09:
    case 0x11:
    case 0x12:
      need(8);
      return [buffer.readBigInt64LE(at), at + 8];
    case 0x10:
      need(4);
      return [buffer.readInt32LE(at), at + 4];
    case 0x13:
      need(16);
      return [null, at + 16];
    case 0x0b: {
      const first = buffer.indexOf(0, at);
      const second = first < 0 ? -1 : buffer.indexOf(0, first + 1);
      if (second < 0 || second >= end) throw new BsonError('bad regex');
      return [null, second + 1];
    }
    default:
      throw new BsonError(`unsupported BSON type 0x${type.toString(16)}`);
  }
}

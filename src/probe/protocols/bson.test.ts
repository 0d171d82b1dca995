import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BsonError, decodeBson, encodeBson } from './bson.ts';

describe('BSON', () => {
  test('encodes a command document byte for byte as the spec lays it out', () => {
    // {hello: 1, $db: "admin"}: int32 length 31, 0x10 "hello" int32 1, 0x02 "$db" string "admin", 0x00.
    assert.equal(
      encodeBson({ hello: 1, $db: 'admin' }).toString('hex'),
      '1f0000001068656c6c6f000100000002246462000600000061646d696e0000',
    );
  });

  test('round-trips strings, int32, doubles, booleans and nested documents', () => {
    const document = { name: 'shop', count: 3, ratio: 0.5, ok: true, inner: { deep: 'x' } };
    assert.deepEqual(decodeBson(encodeBson(document)), document);
  });

  test('decodes arrays, int64, null and ObjectId', () => {
    const hex =
      // length patched below, array "a" of [int32 1], int64 "b" 5, null "c", objectid "d"
      '3b000000' +
      '046100' +
      '0c000000' +
      '10300001000000' +
      '00' +
      '126200' +
      '0500000000000000' +
      '0a6300' +
      '076400' +
      '0102030405060708090a0b0c' +
      '00';
    const buffer = Buffer.from(hex, 'hex');
    buffer.writeInt32LE(buffer.length, 0);
    assert.deepEqual(decodeBson(buffer), { a: [1], b: 5n, c: null, d: '0102030405060708090a0b0c' });
  });

  test('throws BsonError on truncated or lying input instead of reading past the end', () => {
    const good = encodeBson({ hello: 'world' });
    assert.throws(() => decodeBson(good.subarray(0, good.length - 3)), BsonError);
    const lying = Buffer.from(good);
    lying.writeInt32LE(1000, 0);
    assert.throws(() => decodeBson(lying), BsonError);
  });
});

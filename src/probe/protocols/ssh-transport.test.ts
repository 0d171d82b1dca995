import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, test } from 'node:test';
import {
  deriveKey,
  mpint,
  negotiate,
  PacketCodec,
  parseKexInit,
  SshError,
  sshString,
} from './ssh-transport.ts';

describe('SSH encoding', () => {
  test('mpint strips leading zeros and adds a sign byte when the top bit is set (RFC 4251 examples)', () => {
    assert.equal(mpint(Buffer.from([0, 0])).toString('hex'), '00000000');
    assert.equal(mpint(Buffer.from('09a378f9b2e332a7', 'hex')).toString('hex'), '0000000809a378f9b2e332a7');
    assert.equal(mpint(Buffer.from([0x80])).toString('hex'), '000000020080');
  });

  test('key derivation extends with HASH(K || H || K1) when one hash is too short', () => {
    const k = mpint(Buffer.from('01', 'hex'));
    const h = Buffer.alloc(20, 7);
    const first = crypto.createHash('sha1').update(k).update(h).update('C').update(h).digest();
    const second = crypto.createHash('sha1').update(k).update(h).update(first).digest();
    assert.deepEqual(deriveKey('sha1', k, h, 'C', 32), Buffer.concat([first, second]).subarray(0, 32));
  });
});

describe('algorithm negotiation', () => {
  const kexInit = (lists: string[]) =>
    Buffer.concat([
      Buffer.from([20]),
      Buffer.alloc(16),
      ...lists.map((list) => sshString(list)),
      Buffer.from([0]),
      Buffer.alloc(4),
    ]);

  test('takes the first of our algorithms the server also offers; AEAD ciphers need no MAC', () => {
    const server = parseKexInit(
      kexInit([
        'sntrup761x25519-sha512@openssh.com,curve25519-sha256',
        'rsa-sha2-512,ssh-ed25519',
        'chacha20-poly1305@openssh.com,aes256-gcm@openssh.com',
        'aes128-ctr',
        'umac-64-etm@openssh.com',
        'hmac-sha2-256',
        'none,zlib@openssh.com',
        'none',
        '',
        '',
      ]),
    );
    assert.deepEqual(negotiate(server), {
      kex: 'curve25519-sha256',
      hostKey: 'ssh-ed25519',
      cipherC2S: 'aes256-gcm@openssh.com',
      cipherS2C: 'aes128-ctr',
      macC2S: undefined,
      macS2C: 'hmac-sha2-256',
    });
  });

  test('says which list had nothing in common', () => {
    const server = parseKexInit(
      kexInit([
        'curve25519-sha256',
        'ssh-ed25519',
        'chacha20-poly1305@openssh.com',
        'chacha20-poly1305@openssh.com',
        'x',
        'x',
        'none',
        'none',
        '',
        '',
      ]),
    );
    assert.throws(
      () => negotiate(server),
      (error: unknown) => error instanceof SshError && /no cipher in common/.test(error.message),
    );
  });
});

describe('packet codec', () => {
  const combinations: [string, string | undefined][] = [
    ['aes128-gcm@openssh.com', undefined],
    ['aes256-gcm@openssh.com', undefined],
    ['aes128-ctr', 'hmac-sha2-256'],
    ['aes256-ctr', 'hmac-sha2-512'],
    ['aes128-ctr', 'hmac-sha2-256-etm@openssh.com'],
    ['aes256-ctr', 'hmac-sha2-512-etm@openssh.com'],
  ];
  for (const [cipher, mac] of combinations) {
    test(`${cipher}${mac ? ` + ${mac}` : ''}: what one side encodes the other decodes, packet after packet`, () => {
      const sizes = PacketCodec.keySizes(cipher, mac);
      const keys = {
        key: crypto.randomBytes(sizes.key),
        iv: crypto.randomBytes(sizes.iv),
        macKey: sizes.mac > 0 ? crypto.randomBytes(sizes.mac) : undefined,
      };
      const sender = new PacketCodec();
      const receiver = new PacketCodec();
      // One plain packet first, so the sequence numbers are not zero when encryption starts.
      const plain = sender.encode(Buffer.from([20, 1, 2, 3]));
      assert.deepEqual(receiver.decode(plain)?.value, Buffer.from([20, 1, 2, 3]));
      sender.activate('send', cipher, mac, keys);
      receiver.activate('receive', cipher, mac, keys);
      const payloads = [Buffer.from([5, 1]), crypto.randomBytes(100), crypto.randomBytes(33)];
      const wire = Buffer.concat(payloads.map((payload) => sender.encode(payload)));
      let rest = wire;
      for (const payload of payloads) {
        // Feed one byte short first: the decoder must wait, not fail or lose state.
        assert.equal(receiver.decode(rest.subarray(0, 17)), undefined);
        const decoded = receiver.decode(rest);
        assert.deepEqual(decoded?.value, payload);
        rest = rest.subarray(decoded?.consumed);
      }
      assert.equal(rest.length, 0);
    });
  }

  test('a flipped bit fails authentication instead of yielding garbage', () => {
    const keys = { key: crypto.randomBytes(16), iv: crypto.randomBytes(12), macKey: undefined };
    const sender = new PacketCodec();
    const receiver = new PacketCodec();
    sender.activate('send', 'aes128-gcm@openssh.com', undefined, keys);
    receiver.activate('receive', 'aes128-gcm@openssh.com', undefined, keys);
    const wire = sender.encode(Buffer.from('hello'));
    wire[8] = (wire[8] ?? 0) ^ 1;
    assert.throws(() => receiver.decode(wire), SshError);
  });
});

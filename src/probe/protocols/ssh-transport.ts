/**
 * Just enough of the SSH transport layer (RFC 4253) to ask a server which authentication methods it
 * offers: version exchange, one key exchange (curve25519-sha256, ecdh-sha2-nistp256 or
 * diffie-hellman-group14-sha256/sha1), the server's host-key signature checked, then encrypted
 * packets (aes-gcm, or aes-ctr with hmac-sha2 / -etm). No authentication secret is ever sent.
 */
import crypto from 'node:crypto';
import type { Conversation, Parse } from '../net.ts';

export const MSG = {
  DISCONNECT: 1,
  IGNORE: 2,
  UNIMPLEMENTED: 3,
  DEBUG: 4,
  SERVICE_REQUEST: 5,
  SERVICE_ACCEPT: 6,
  KEXINIT: 20,
  NEWKEYS: 21,
  KEX_REPLY: 31,
  USERAUTH_REQUEST: 50,
  USERAUTH_FAILURE: 51,
  USERAUTH_SUCCESS: 52,
  USERAUTH_BANNER: 53,
} as const;

export class SshError extends Error {
  override readonly name = 'SshError';
}

// ---- wire encoding -------------------------------------------------------------------------------

export function u32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value >>> 0);
  return out;
}

export function sshString(value: Buffer | string): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  return Buffer.concat([u32(bytes.length), bytes]);
}

/** An unsigned big-endian integer as an SSH mpint (leading zeros stripped, sign byte added). */
export function mpint(unsigned: Buffer): Buffer {
  let start = 0;
  while (start < unsigned.length && unsigned[start] === 0) start++;
  const trimmed = unsigned.subarray(start);
  const body =
    trimmed.length > 0 && trimmed[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed;
  return sshString(body);
}

/** Reads SSH fields from a payload in order. */
export class Reader {
  private readonly buffer: Buffer;
  private offset: number;
  constructor(buffer: Buffer, offset = 0) {
    this.buffer = buffer;
    this.offset = offset;
  }
  byte(): number {
    this.need(1);
    return this.buffer[this.offset++]!;
  }
  bool(): boolean {
    return this.byte() !== 0;
  }
  uint32(): number {
    this.need(4);
    const value = this.buffer.readUInt32BE(this.offset);
    this.offset += 4;
    return value;
  }
  bytes(length: number): Buffer {
    this.need(length);
    const value = this.buffer.subarray(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }
  string(): Buffer {
    return this.bytes(this.uint32());
  }
  text(): string {
    return this.string().toString('utf8');
  }
  nameList(): string[] {
    const text = this.text();
    return text.length === 0 ? [] : text.split(',');
  }
  private need(length: number): void {
    if (this.offset + length > this.buffer.length) throw new SshError('packet field runs past its end');
  }
}

// ---- algorithms ------------------------------------------------------------------------------------

const KEX = [
  'curve25519-sha256',
  'curve25519-sha256@libssh.org',
  'ecdh-sha2-nistp256',
  'diffie-hellman-group14-sha256',
  'diffie-hellman-group14-sha1',
];
const HOST_KEYS = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
const CIPHERS = ['aes128-gcm@openssh.com', 'aes256-gcm@openssh.com', 'aes128-ctr', 'aes256-ctr'];
const MACS = [
  'hmac-sha2-256-etm@openssh.com',
  'hmac-sha2-512-etm@openssh.com',
  'hmac-sha2-256',
  'hmac-sha2-512',
];

interface CipherSpec {
  readonly node: string;
  readonly keyBytes: number;
  readonly ivBytes: number;
  readonly gcm: boolean;
}

const CIPHER_SPECS: Readonly<Record<string, CipherSpec>> = {
  'aes128-gcm@openssh.com': { node: 'aes-128-gcm', keyBytes: 16, ivBytes: 12, gcm: true },
  'aes256-gcm@openssh.com': { node: 'aes-256-gcm', keyBytes: 32, ivBytes: 12, gcm: true },
  'aes128-ctr': { node: 'aes-128-ctr', keyBytes: 16, ivBytes: 16, gcm: false },
  'aes256-ctr': { node: 'aes-256-ctr', keyBytes: 32, ivBytes: 16, gcm: false },
};

const MAC_SPECS: Readonly<
  Record<string, { readonly hash: string; readonly bytes: number; readonly etm: boolean }>
> = {
  'hmac-sha2-256-etm@openssh.com': { hash: 'sha256', bytes: 32, etm: true },
  'hmac-sha2-512-etm@openssh.com': { hash: 'sha512', bytes: 64, etm: true },
  'hmac-sha2-256': { hash: 'sha256', bytes: 32, etm: false },
  'hmac-sha2-512': { hash: 'sha512', bytes: 64, etm: false },
};

export interface Negotiated {
  readonly kex: string;
  readonly hostKey: string;
  readonly cipherC2S: string;
  readonly cipherS2C: string;
  readonly macC2S: string | undefined;
  readonly macS2C: string | undefined;
}

export interface ServerKexInit {
  readonly kex: readonly string[];
  readonly hostKeys: readonly string[];
  readonly ciphersC2S: readonly string[];
  readonly ciphersS2C: readonly string[];
  readonly macsC2S: readonly string[];
  readonly macsS2C: readonly string[];
  readonly compressionC2S: readonly string[];
  readonly compressionS2C: readonly string[];
}

export function parseKexInit(payload: Buffer): ServerKexInit {
  const reader = new Reader(payload, 1 + 16);
  const kex = reader.nameList();
  const hostKeys = reader.nameList();
  const ciphersC2S = reader.nameList();
  const ciphersS2C = reader.nameList();
  const macsC2S = reader.nameList();
  const macsS2C = reader.nameList();
  const compressionC2S = reader.nameList();
  const compressionS2C = reader.nameList();
  return { kex, hostKeys, ciphersC2S, ciphersS2C, macsC2S, macsS2C, compressionC2S, compressionS2C };
}

function choose(kind: string, ours: readonly string[], theirs: readonly string[]): string {
  const found = ours.find((name) => theirs.includes(name));
  if (found === undefined) {
    throw new SshError(`no ${kind} in common (server offers ${theirs.join(',') || 'none'})`);
  }
  return found;
}

export function negotiate(server: ServerKexInit): Negotiated {
  const cipherC2S = choose('cipher', CIPHERS, server.ciphersC2S);
  const cipherS2C = choose('cipher', CIPHERS, server.ciphersS2C);
  if (!server.compressionC2S.includes('none') || !server.compressionS2C.includes('none')) {
    throw new SshError('the server requires compression');
  }
  return {
    kex: choose('key exchange', KEX, server.kex),
    hostKey: choose('host key type', HOST_KEYS, server.hostKeys),
    cipherC2S,
    cipherS2C,
    macC2S: CIPHER_SPECS[cipherC2S]!.gcm ? undefined : choose('MAC', MACS, server.macsC2S),
    macS2C: CIPHER_SPECS[cipherS2C]!.gcm ? undefined : choose('MAC', MACS, server.macsS2C),
  };
}

export function clientKexInit(): Buffer {
  return Buffer.concat([
    Buffer.from([MSG.KEXINIT]),
    crypto.randomBytes(16),
    sshString(KEX.join(',')),
    sshString(HOST_KEYS.join(',')),
    sshString(CIPHERS.join(',')),
    sshString(CIPHERS.join(',')),
    sshString(MACS.join(',')),
    sshString(MACS.join(',')),
    sshString('none'),
    sshString('none'),
    sshString(''),
    sshString(''),
    Buffer.from([0]),
    u32(0),
  ]);
}

// ---- key exchange ----------------------------------------------------------------------------------

export interface KexState {
  readonly hash: string;
  /** The client's public value as it goes on the wire (already string- or mpint-encoded). */
  readonly clientPublic: Buffer;
  /** Reads the server's reply fields after K_S; returns the encoded server public value and K (mpint). */
  finish(reader: Reader): { serverPublic: Buffer; sharedSecret: Buffer };
}

export function startKex(kex: string): KexState {
  if (kex.startsWith('curve25519')) {
    const { publicKey, privateKey } = crypto.generateKeyPairSync('x25519');
    const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x ?? '', 'base64url');
    return {
      hash: 'sha256',
      clientPublic: sshString(raw),
      finish(reader) {
        const serverRaw = reader.string();
        if (serverRaw.length !== 32) throw new SshError('bad curve25519 public key from the server');
        const serverKey = crypto.createPublicKey({
          key: { kty: 'OKP', crv: 'X25519', x: serverRaw.toString('base64url') },
          format: 'jwk',
        });
        const secret = crypto.diffieHellman({ privateKey, publicKey: serverKey });
        return { serverPublic: sshString(serverRaw), sharedSecret: mpint(secret) };
      },
    };
  }
  if (kex === 'ecdh-sha2-nistp256') {
    const ecdh = crypto.createECDH('prime256v1');
    const raw = ecdh.generateKeys();
    return {
      hash: 'sha256',
      clientPublic: sshString(raw),
      finish(reader) {
        const serverRaw = reader.string();
        return { serverPublic: sshString(serverRaw), sharedSecret: mpint(ecdh.computeSecret(serverRaw)) };
      },
    };
  }
  const dh = crypto.getDiffieHellman('modp14');
  const raw = dh.generateKeys();
  return {
    hash: kex.endsWith('sha1') ? 'sha1' : 'sha256',
    clientPublic: mpint(raw),
    finish(reader) {
      const f = reader.string();
      return { serverPublic: sshString(f), sharedSecret: mpint(dh.computeSecret(f)) };
    },
  };
}

/** Checks the server's signature over the exchange hash with the host key it sent. */
export function verifyHostKeySignature(
  hostKeyBlob: Buffer,
  signatureBlob: Buffer,
  exchangeHash: Buffer,
): void {
  const key = new Reader(hostKeyBlob);
  const keyType = key.text();
  const signature = new Reader(signatureBlob);
  const signatureType = signature.text();
  const signatureBytes = signature.string();
  let ok: boolean;
  if (keyType === 'ssh-ed25519') {
    const publicKey = crypto.createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: key.string().toString('base64url') },
      format: 'jwk',
    });
    ok = crypto.verify(null, exchangeHash, publicKey, signatureBytes);
  } else if (keyType === 'ecdsa-sha2-nistp256') {
    key.text();
    const point = key.string();
    if (point.length !== 65 || point[0] !== 4) throw new SshError('unsupported ECDSA host key encoding');
    const publicKey = crypto.createPublicKey({
      key: {
        kty: 'EC',
        crv: 'P-256',
        x: point.subarray(1, 33).toString('base64url'),
        y: point.subarray(33).toString('base64url'),
      },
      format: 'jwk',
    });
    const parts = new Reader(signatureBytes);
    const r = fixed(parts.string(), 32);
    const s = fixed(parts.string(), 32);
    ok = crypto.verify(
      'sha256',
      exchangeHash,
      { key: publicKey, dsaEncoding: 'ieee-p1363' },
      Buffer.concat([r, s]),
    );
  } else if (keyType === 'ssh-rsa') {
    const e = key.string();
    const n = key.string();
    const publicKey = crypto.createPublicKey({
      key: { kty: 'RSA', e: strip(e).toString('base64url'), n: strip(n).toString('base64url') },
      format: 'jwk',
    });
    const hash = { 'rsa-sha2-512': 'sha512', 'rsa-sha2-256': 'sha256', 'ssh-rsa': 'sha1' }[signatureType];
    if (hash === undefined) throw new SshError(`unsupported RSA signature type ${signatureType}`);
    ok = crypto.verify(hash, exchangeHash, publicKey, signatureBytes);
  } else {
    throw new SshError(`unsupported host key type ${keyType}`);
  }
  if (!ok) throw new SshError(`the ${keyType} host key signature over the key exchange does not verify`);
}

function strip(value: Buffer): Buffer {
  let start = 0;
  while (start < value.length - 1 && value[start] === 0) start++;
  return value.subarray(start);
}

function fixed(value: Buffer, length: number): Buffer {
  const stripped = strip(value);
  if (stripped.length > length) throw new SshError('ECDSA signature component too long');
  return Buffer.concat([Buffer.alloc(length - stripped.length), stripped]);
}

/** `SHA256:base64` as ssh-keygen -l prints it. */
export function fingerprint(hostKeyBlob: Buffer): string {
  return `SHA256:${crypto.createHash('sha256').update(hostKeyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** RFC 4253 7.2: HASH(K || H || letter || session_id), extended until long enough. */
export function deriveKey(
  hash: string,
  sharedSecret: Buffer,
  exchangeHash: Buffer,
  letter: string,
  bytes: number,
): Buffer {
  let key = crypto
    .createHash(hash)
    .update(sharedSecret)
    .update(exchangeHash)
    .update(letter)
    .update(exchangeHash)
    .digest();
  while (key.length < bytes) {
    key = Buffer.concat([
      key,
      crypto.createHash(hash).update(sharedSecret).update(exchangeHash).update(key).digest(),
    ]);
  }
  return key.subarray(0, bytes);
}

// ---- packets ---------------------------------------------------------------------------------------

interface Direction {
  readonly spec: CipherSpec;
  readonly key: Buffer;
  readonly iv: Buffer;
  readonly mac?: {
    readonly hash: string;
    readonly bytes: number;
    readonly etm: boolean;
    readonly key: Buffer;
  };
  /** The running CTR cipher (one per direction: the counter continues across packets). */
  readonly ctr?: crypto.Cipheriv | crypto.Decipheriv;
}

/** Packet framing, plain before NEWKEYS and encrypted after. Tracks sequence numbers both ways. */
export class PacketCodec {
  private sendSeq = 0;
  private receiveSeq = 0;
  private outgoing: Direction | undefined;
  private incoming: Direction | undefined;
  /** CTR, non-etm: the first block is decrypted to learn the length; kept until the rest arrives. */
  private partial: Buffer | undefined;

  encode(payload: Buffer): Buffer {
    const direction = this.outgoing;
    const seq = this.sendSeq++;
    const block = direction ? 16 : 8;
    const lengthInClear = direction !== undefined && (direction.spec.gcm || direction.mac?.etm === true);
    const covered = 1 + payload.length + (lengthInClear ? 0 : 4);
    let padding = block - (covered % block);
    if (padding < 4) padding += block;
    const packetLength = 1 + payload.length + padding;
    const plain = Buffer.concat([
      u32(packetLength),
      Buffer.from([padding]),
      payload,
      crypto.randomBytes(padding),
    ]);
    if (!direction) return plain;
    if (direction.spec.gcm) {
      const cipher = crypto.createCipheriv(
        direction.spec.node,
        direction.key,
        gcmNonce(direction.iv, seq - this.gcmBaseSend),
      ) as crypto.CipherGCM;
      cipher.setAAD(plain.subarray(0, 4));
      const body = Buffer.concat([cipher.update(plain.subarray(4)), cipher.final()]);
      return Buffer.concat([plain.subarray(0, 4), body, cipher.getAuthTag()]);
    }
    const mac = direction.mac!;
    const ctr = direction.ctr as crypto.Cipheriv;
    if (mac.etm) {
      const body = ctr.update(plain.subarray(4));
      const tag = crypto
        .createHmac(mac.hash, mac.key)
        .update(u32(seq))
        .update(plain.subarray(0, 4))
        .update(body)
        .digest();
      return Buffer.concat([plain.subarray(0, 4), body, tag]);
    }
    const tag = crypto.createHmac(mac.hash, mac.key).update(u32(seq)).update(plain).digest();
    return Buffer.concat([ctr.update(plain), tag]);
  }

  /** A Parse for the next packet's payload. */
  readonly decode: Parse<Buffer> = (buffer) => {
    const direction = this.incoming;
    if (!direction) {
      if (buffer.length < 5) return undefined;
      const length = buffer.readUInt32BE(0);
      if (length < 5 || length > 256 * 1024) throw new SshError(`bad packet length ${length}`);
      if (buffer.length < 4 + length) return undefined;
      this.receiveSeq++;
      return { value: payloadOf(buffer.subarray(4, 4 + length)), consumed: 4 + length };
    }
    if (direction.spec.gcm) {
      if (buffer.length < 4) return undefined;
      const length = buffer.readUInt32BE(0);
      if (length > 256 * 1024) throw new SshError(`bad packet length ${length}`);
      if (buffer.length < 4 + length + 16) return undefined;
      const seq = this.receiveSeq++;
      const decipher = crypto.createDecipheriv(
        direction.spec.node,
        direction.key,
        gcmNonce(direction.iv, seq - this.gcmBaseReceive),
      ) as crypto.DecipherGCM;
      decipher.setAAD(buffer.subarray(0, 4));
      decipher.setAuthTag(buffer.subarray(4 + length, 4 + length + 16));
      let plain: Buffer;
      try {
        plain = Buffer.concat([decipher.update(buffer.subarray(4, 4 + length)), decipher.final()]);
      } catch {
        throw new SshError('packet authentication failed (AES-GCM tag)');
      }
      return { value: payloadOf(plain), consumed: 4 + length + 16 };
    }
    const mac = direction.mac!;
    const ctr = direction.ctr as crypto.Decipheriv;
    if (mac.etm) {
      if (buffer.length < 4) return undefined;
      const length = buffer.readUInt32BE(0);
      if (length > 256 * 1024) throw new SshError(`bad packet length ${length}`);
      if (buffer.length < 4 + length + mac.bytes) return undefined;
      const seq = this.receiveSeq++;
      const expected = crypto
        .createHmac(mac.hash, mac.key)
        .update(u32(seq))
        .update(buffer.subarray(0, 4 + length))
        .digest();
      if (!crypto.timingSafeEqual(expected, buffer.subarray(4 + length, 4 + length + mac.bytes))) {
        throw new SshError('packet authentication failed (MAC)');
      }
      return {
        value: payloadOf(ctr.update(buffer.subarray(4, 4 + length))),
        consumed: 4 + length + mac.bytes,
      };
    }
    if (buffer.length < 16) return undefined;
    this.partial ??= ctr.update(buffer.subarray(0, 16));
    const length = this.partial.readUInt32BE(0);
    if (length > 256 * 1024 || (length + 4) % 16 !== 0) throw new SshError(`bad packet length ${length}`);
    if (buffer.length < 4 + length + mac.bytes) return undefined;
    const plain = Buffer.concat([this.partial, ctr.update(buffer.subarray(16, 4 + length))]);
    this.partial = undefined;
    const seq = this.receiveSeq++;
    const expected = crypto.createHmac(mac.hash, mac.key).update(u32(seq)).update(plain).digest();
    if (!crypto.timingSafeEqual(expected, buffer.subarray(4 + length, 4 + length + mac.bytes))) {
      throw new SshError('packet authentication failed (MAC)');
    }
    return { value: payloadOf(plain.subarray(4)), consumed: 4 + length + mac.bytes };
  };

  private gcmBaseSend = 0;
  private gcmBaseReceive = 0;

  /** Switches one direction to the negotiated cipher (after NEWKEYS is sent or received). */
  activate(
    side: 'send' | 'receive',
    cipher: string,
    mac: string | undefined,
    keys: { key: Buffer; iv: Buffer; macKey: Buffer | undefined },
  ): void {
    const spec = CIPHER_SPECS[cipher];
    if (!spec) throw new SshError(`unsupported cipher ${cipher}`);
    const macSpec = mac === undefined ? undefined : MAC_SPECS[mac];
    const direction: Direction = {
      spec,
      key: keys.key,
      iv: keys.iv,
      ...(macSpec && keys.macKey ? { mac: { ...macSpec, key: keys.macKey } } : {}),
      ...(spec.gcm
        ? {}
        : {
            ctr:
              side === 'send'
                ? crypto.createCipheriv(spec.node, keys.key, keys.iv)
                : crypto.createDecipheriv(spec.node, keys.key, keys.iv),
          }),
    };
    // The GCM invocation counter starts at the derived IV and counts packets from activation.
    if (side === 'send') {
      this.outgoing = direction;
      this.gcmBaseSend = this.sendSeq;
    } else {
      this.incoming = direction;
      this.gcmBaseReceive = this.receiveSeq;
    }
  }

  static keySizes(cipher: string, mac: string | undefined): { key: number; iv: number; mac: number } {
    const spec = CIPHER_SPECS[cipher];
    if (!spec) throw new SshError(`unsupported cipher ${cipher}`);
    return {
      key: spec.keyBytes,
      iv: spec.ivBytes,
      mac: mac === undefined ? 0 : (MAC_SPECS[mac]?.bytes ?? 0),
    };
  }
}

function payloadOf(packet: Buffer): Buffer {
  const padding = packet[0]!;
  if (padding + 1 > packet.length) throw new SshError('padding longer than the packet');
  return packet.subarray(1, packet.length - padding);
}

/** RFC 5647: the last 8 bytes of the IV are a big-endian counter incremented per packet. */
function gcmNonce(iv: Buffer, packetsSinceActivation: number): Buffer {
  const nonce = Buffer.from(iv);
  const counter = nonce.readBigUInt64BE(4) + BigInt(packetsSinceActivation);
  nonce.writeBigUInt64BE(counter & 0xffffffffffffffffn, 4);
  return nonce;
}

// ---- the session -----------------------------------------------------------------------------------

export const CLIENT_VERSION = 'SSH-2.0-moat_probe';

export interface AuthMethods {
  /** The server's identification line, e.g. `SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3`. */
  readonly banner: string;
  readonly negotiated: Negotiated;
  readonly hostKeyFingerprint: string;
  /** The methods offered after a `none` request, or `['none']` when that request succeeded. */
  readonly methods: readonly string[];
  readonly noneAccepted: boolean;
}

/** Reads the identification line the server sends (lines before it are allowed and skipped). */
export async function readBanner(conversation: Conversation, read: Parse<string>): Promise<string> {
  for (let count = 0; count < 20; count++) {
    const text = await conversation.read(read);
    if (text.startsWith('SSH-')) return text;
  }
  throw new SshError('no SSH identification line');
}

async function nextPayload(conversation: Conversation, codec: PacketCodec): Promise<Buffer> {
  for (;;) {
    const payload = await conversation.read(codec.decode);
    const type = payload[0];
    if (type === MSG.IGNORE || type === MSG.DEBUG || type === MSG.UNIMPLEMENTED) continue;
    if (type === MSG.DISCONNECT) {
      const reader = new Reader(payload, 1);
      const code = reader.uint32();
      throw new SshError(`the server disconnected (${code}): ${reader.text()}`);
    }
    return payload;
  }
}

/**
 * After the banner: key exchange, `ssh-userauth` service, one `none` authentication request for
 * `user`. Returns what the server offers. The caller closes the conversation.
 */
export async function queryAuthMethods(
  conversation: Conversation,
  banner: string,
  user: string,
): Promise<AuthMethods> {
  const codec = new PacketCodec();
  const ourKexInit = clientKexInit();
  conversation.write(codec.encode(ourKexInit));
  const theirKexInit = await nextPayload(conversation, codec);
  if (theirKexInit[0] !== MSG.KEXINIT) throw new SshError(`expected KEXINIT, got message ${theirKexInit[0]}`);
  const negotiated = negotiate(parseKexInit(theirKexInit));

  const kex = startKex(negotiated.kex);
  conversation.write(codec.encode(Buffer.concat([Buffer.from([30]), kex.clientPublic])));
  const reply = await nextPayload(conversation, codec);
  if (reply[0] !== MSG.KEX_REPLY)
    throw new SshError(`expected the key exchange reply, got message ${reply[0]}`);
  const reader = new Reader(reply, 1);
  const hostKeyBlob = reader.string();
  const { serverPublic, sharedSecret } = kex.finish(reader);
  const signatureBlob = reader.string();
  const exchangeHash = crypto
    .createHash(kex.hash)
    .update(
      Buffer.concat([
        sshString(CLIENT_VERSION),
        sshString(banner),
        sshString(ourKexInit),
        sshString(theirKexInit),
        sshString(hostKeyBlob),
        kex.clientPublic,
        serverPublic,
        sharedSecret,
      ]),
    )
    .digest();
  verifyHostKeySignature(hostKeyBlob, signatureBlob, exchangeHash);

  conversation.write(codec.encode(Buffer.from([MSG.NEWKEYS])));
  const sizesC2S = PacketCodec.keySizes(negotiated.cipherC2S, negotiated.macC2S);
  const sizesS2C = PacketCodec.keySizes(negotiated.cipherS2C, negotiated.macS2C);
  const derive = (letter: string, bytes: number) =>
    deriveKey(kex.hash, sharedSecret, exchangeHash, letter, bytes);
  codec.activate('send', negotiated.cipherC2S, negotiated.macC2S, {
    iv: derive('A', sizesC2S.iv),
    key: derive('C', sizesC2S.key),
    macKey: sizesC2S.mac > 0 ? derive('E', sizesC2S.mac) : undefined,
  });
  const newKeys = await nextPayload(conversation, codec);
  if (newKeys[0] !== MSG.NEWKEYS) throw new SshError(`expected NEWKEYS, got message ${newKeys[0]}`);
  codec.activate('receive', negotiated.cipherS2C, negotiated.macS2C, {
    iv: derive('B', sizesS2C.iv),
    key: derive('D', sizesS2C.key),
    macKey: sizesS2C.mac > 0 ? derive('F', sizesS2C.mac) : undefined,
  });

  conversation.write(
    codec.encode(Buffer.concat([Buffer.from([MSG.SERVICE_REQUEST]), sshString('ssh-userauth')])),
  );
  const accept = await nextPayload(conversation, codec);
  if (accept[0] !== MSG.SERVICE_ACCEPT)
    throw new SshError(`expected SERVICE_ACCEPT, got message ${accept[0]}`);

  conversation.write(
    codec.encode(
      Buffer.concat([
        Buffer.from([MSG.USERAUTH_REQUEST]),
        sshString(user),
        sshString('ssh-connection'),
        sshString('none'),
      ]),
    ),
  );
  const base = { banner, negotiated, hostKeyFingerprint: fingerprint(hostKeyBlob) };
  for (;;) {
    const answer = await nextPayload(conversation, codec);
    if (answer[0] === MSG.USERAUTH_BANNER) continue;
    if (answer[0] === MSG.USERAUTH_SUCCESS) {
      conversation.write(codec.encode(disconnect()));
      return { ...base, methods: ['none'], noneAccepted: true };
    }
    if (answer[0] === MSG.USERAUTH_FAILURE) {
      const methods = new Reader(answer, 1).nameList();
      conversation.write(codec.encode(disconnect()));
      return { ...base, methods, noneAccepted: false };
    }
    throw new SshError(`unexpected message ${answer[0]} in reply to the authentication request`);
  }
}

function disconnect(): Buffer {
  return Buffer.concat([Buffer.from([MSG.DISCONNECT]), u32(11), sshString('moat probe done'), sshString('')]);
}

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  checkUpgradeRequest,
  parseProtocols,
  relayedClose,
  relayedUpgradeHeaders,
  upstreamHandshakeHeaders,
  upstreamUrl,
} from './websocket.ts';

const handshake = {
  upgrade: 'websocket',
  connection: 'Upgrade',
  'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
  'sec-websocket-version': '13',
};

test('a well-formed handshake passes, with its subprotocols in order', () => {
  assert.deepEqual(checkUpgradeRequest('GET', handshake), { ok: true, protocols: [] });
  assert.deepEqual(checkUpgradeRequest('GET', { ...handshake, upgrade: 'WebSocket' }), {
    ok: true,
    protocols: [],
  });
  assert.deepEqual(checkUpgradeRequest('GET', { ...handshake, 'sec-websocket-protocol': 'b, a' }), {
    ok: true,
    protocols: ['b', 'a'],
  });
});

test('malformed handshakes are refused with the status RFC 6455 asks for', () => {
  const status = (method: string, headers: Record<string, string>) => {
    const check = checkUpgradeRequest(method, headers);
    return check.ok ? 101 : check.status;
  };
  assert.equal(status('POST', handshake), 405);
  assert.equal(status('GET', { ...handshake, upgrade: 'h2c' }), 400);
  assert.equal(status('GET', { ...handshake, 'sec-websocket-key': 'short' }), 400);
  assert.equal(status('GET', { ...handshake, 'sec-websocket-version': '12' }), 400);
  assert.equal(status('GET', { ...handshake, 'sec-websocket-protocol': 'a,,b' }), 400);
  const badVersion = checkUpgradeRequest('GET', { ...handshake, 'sec-websocket-version': '7' });
  assert.equal(badVersion.ok, false);
  assert.deepEqual(!badVersion.ok && badVersion.headers, { 'Sec-WebSocket-Version': '13, 8' });
});

test('subprotocol lists: tokens only, no duplicates', () => {
  assert.deepEqual(parseProtocols('chat.v1,chat.v2'), ['chat.v1', 'chat.v2']);
  assert.deepEqual(parseProtocols(' mqtt '), ['mqtt']);
  assert.equal(parseProtocols('a, a'), undefined);
  assert.equal(parseProtocols('a b'), undefined);
  assert.equal(parseProtocols(''), undefined);
  assert.equal(parseProtocols('a;b'), undefined);
});

test('upstream headers: application headers kept, hop-by-hop and forged forwarding headers dropped', () => {
  const headers = upstreamHandshakeHeaders(
    {
      ...handshake,
      host: 'app.example',
      origin: 'https://app.example',
      cookie: 'sid=1',
      authorization: 'Bearer x',
      'sec-websocket-protocol': 'chat',
      'sec-websocket-extensions': 'permessage-deflate',
      'x-forwarded-for': '203.0.113.9',
      'x-real-ip': '203.0.113.9',
      forwarded: 'for=203.0.113.9',
      'cf-connecting-ip': '203.0.113.9',
      'x-cluster-client-ip': '203.0.113.9',
      x_real_ip: '203.0.113.9',
      'proxy-connection': 'keep-alive',
      'http2-settings': 'AAMAAABkAAQAAP__',
      'keep-alive': 'timeout=5',
      'proxy-authorization': 'Basic eA==',
      'x-trace': 'abc',
      'x-secret-hop': 'drop me',
      connection: 'Upgrade, X-Secret-Hop',
      'x-app': ['one', 'two'] as unknown as string,
    },
    { 'X-Forwarded-For': '198.51.100.7', 'X-Real-IP': '198.51.100.7', 'X-Forwarded-Proto': 'https' },
  );
  assert.deepEqual(headers, {
    host: 'app.example',
    origin: 'https://app.example',
    cookie: 'sid=1',
    authorization: 'Bearer x',
    'x-trace': 'abc',
    'x-app': ['one', 'two'],
    'x-forwarded-for': '198.51.100.7',
    'x-real-ip': '198.51.100.7',
    'x-forwarded-proto': 'https',
  });
});

test("the upstream's 101 headers reach the client except handshake and hop-by-hop ones", () => {
  assert.deepEqual(
    relayedUpgradeHeaders([
      'Upgrade',
      'websocket',
      'Connection',
      'Upgrade',
      'Sec-WebSocket-Accept',
      'xyz',
      'Sec-WebSocket-Protocol',
      'chat',
      'Set-Cookie',
      'a=1',
      'Set-Cookie',
      'b=2',
      'X-Server',
      'app',
    ]),
    ['Set-Cookie: a=1', 'Set-Cookie: b=2', 'X-Server: app'],
  );
});

test('close codes pass through; vanished peers and unsendable codes become 1001 or 1011', () => {
  const reason = Buffer.from('bye');
  assert.deepEqual(relayedClose(1000, reason, 'client'), { code: 1000, reason });
  assert.deepEqual(relayedClose(4001, reason, 'upstream'), { code: 4001, reason });
  assert.deepEqual(relayedClose(1005, Buffer.alloc(0), 'client'), {});
  assert.equal(relayedClose(1006, Buffer.alloc(0), 'client').code, 1001);
  assert.equal(relayedClose(1006, Buffer.alloc(0), 'upstream').code, 1011);
  assert.equal(relayedClose(1015, Buffer.alloc(0), 'upstream').code, 1011);
  assert.equal(relayedClose(2000, Buffer.alloc(0), 'client').code, 1001);
});

test('upstream URLs keep path and query, switch to ws/wss, and refuse what ws cannot send', () => {
  const http = new URL('http://127.0.0.1:3000');
  const https = new URL('https://api.internal:8443/');
  assert.equal(upstreamUrl(http, '/chat?room=1'), 'ws://127.0.0.1:3000/chat?room=1');
  assert.equal(upstreamUrl(https, '/'), 'wss://api.internal:8443/');
  assert.equal(upstreamUrl(new URL('http://[::1]:3000'), '/x'), 'ws://[::1]:3000/x');
  assert.equal(upstreamUrl(http, 'http://evil.example/steal?x=1'), 'ws://127.0.0.1:3000/steal?x=1');
  assert.equal(upstreamUrl(http, '/a#frag'), undefined);
  assert.equal(upstreamUrl(http, '*'), undefined);
  assert.equal(upstreamUrl(http, undefined), undefined);
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../config/load.ts';
import { builtinCloudflareRanges, type CdnRanges, parseCdnRanges } from '../../core/cdn.ts';
import type { Finding } from '../../core/finding.ts';
import type { NginxFacts } from '../collectors/nginx.ts';
import { parseNginx } from '../collectors/nginx-syntax.ts';
import type { Endpoint, Exposure, ExposureVerdict, Reach } from '../types.ts';
import { nginxCheck, parseListen, parseNginxSeconds } from './nginx.ts';

const FILE = '/etc/nginx/sites-enabled/app';

function nginx(text: string, cdn: CdnRanges = builtinCloudflareRanges()): NginxFacts {
  const parsed = parseNginx(text, FILE);
  assert.equal(parsed.error, undefined, parsed.error?.message);
  return { source: 'files', mainFile: FILE, files: [FILE], directives: parsed.directives, cdn };
}

function exposure(reach: Reach, sources?: string[], seen: Endpoint[] = []): Exposure {
  return {
    assess(endpoint): ExposureVerdict {
      seen.push(endpoint);
      const verdict = { reach, reasons: [`${endpoint.service} on ${endpoint.port}: ${reach}`] };
      return sources === undefined ? verdict : Object.assign(verdict, { sources });
    },
  };
}

function run(
  text: string,
  options: { reach?: Reach; sources?: string[]; config?: unknown; cdn?: CdnRanges } = {},
): Finding[] {
  return nginxCheck.run({
    facts: { nginx: nginx(text, options.cdn) },
    exposure: exposure(options.reach ?? 'internet', options.sources),
    config: parseConfig(options.config ?? {}),
  });
}

function where(findings: readonly Finding[]): string[] {
  return findings.map((f) => `${f.id}:${f.severity}@${f.evidence[0]?.line ?? '-'}`);
}

function only(findings: readonly Finding[], id: string): Finding[] {
  return findings.filter((f) => f.id === id);
}

/** An http block with one server, limits on, for tests about one thing. */
function site(server: string, http = ''): string {
  return `http {\n${http}\nserver {\nlisten 8000;\nlimit_req zone=z burst=5;\n${server}\n}\n}\n`;
}

describe('nginx check', () => {
  it('declares every rule it emits', () => {
    const declared = new Set(nginxCheck.rules.map((r) => r.id));
    const found = run(
      'http { real_ip_header CF-Connecting-IP; set_real_ip_from 0.0.0.0/0; set_real_ip_from 199.27.128.0/21;\n' +
        'server { listen 443; location /ws/ { proxy_pass http://a; } location /socket.io/ { proxy_pass http://b; proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection upgrade; } } }',
    );
    assert.deepEqual([...new Set(found.map((f) => f.id))].sort(), [...declared].sort());
  });

  it('finds nothing on a config without http servers', () => {
    assert.deepEqual(run('events {}\nstream { server { listen 6379; proxy_pass 127.0.0.1:6380; } }'), []);
  });

  describe('nginx-real-ip-trusts-any', () => {
    it('is critical for 0.0.0.0/0 and ::/0, at the line of the directive', () => {
      const found = run(
        'http {\n  real_ip_header X-Forwarded-For;\n  set_real_ip_from 0.0.0.0/0;\n  set_real_ip_from ::/0;\n}',
      );
      assert.deepEqual(where(found), [
        'nginx-real-ip-trusts-any:critical@3',
        'nginx-real-ip-trusts-any:critical@4',
      ]);
      assert.deepEqual(found[0]?.evidence[1], {
        file: FILE,
        line: 2,
        detail:
          'real_ip_header X-Forwarded-For: any client can send "X-Forwarded-For: 198.51.100.7" and nginx takes it as the client address',
      });
    });

    it('is not raised for a trusted internal proxy', () => {
      assert.deepEqual(
        run('http { set_real_ip_from 10.0.0.0/8; set_real_ip_from 127.0.0.1; set_real_ip_from unix:; }'),
        [],
      );
    });
  });

  describe('nginx-real-ip-stale-cdn-range', () => {
    it('flags a public range that is not one of Cloudflare’s current ranges when nginx expects Cloudflare', () => {
      const found = run(
        'http {\n  real_ip_header CF-Connecting-IP;\n  set_real_ip_from 173.245.48.0/20;\n  set_real_ip_from 199.27.128.0/21;\n  set_real_ip_from 104.16.0.0/12;\n  set_real_ip_from 172.16.0.0/12;\n}',
        { reach: 'local' },
      );
      assert.deepEqual(where(found), [
        'nginx-real-ip-stale-cdn-range:medium@4',
        'nginx-real-ip-stale-cdn-range:medium@5',
      ]);
      assert.match(found[0]?.evidence[1]?.detail ?? '', /built-in list of Cloudflare ranges \(taken /);
    });

    it('takes cdn.provider: cloudflare as "behind a CDN" too', () => {
      const text = 'http { set_real_ip_from 203.0.113.0/24; }';
      assert.deepEqual(run(text), []);
      assert.deepEqual(where(run(text, { config: { cdn: { provider: 'cloudflare' } } })), [
        'nginx-real-ip-stale-cdn-range:medium@1',
      ]);
    });

    it('compares with the ranges file when one is configured', () => {
      const cdn: CdnRanges = {
        provider: 'cloudflare',
        source: '/etc/moat/cf.txt',
        cidrs: parseCdnRanges('199.27.128.0/21\n').cidrs,
      };
      const found = run('http { real_ip_header CF-Connecting-IP; set_real_ip_from 199.27.128.0/21; }', {
        cdn,
        reach: 'local',
      });
      assert.deepEqual(found, []);
    });
  });

  describe('nginx-proxy-no-rate-limit', () => {
    it('lists, per server, every proxied location with no limit in effect', () => {
      const found = run(
        'http {\nserver {\nserver_name api.example.com;\nlocation / {\nproxy_pass http://app;\n}\nlocation /static/ { root /srv; }\nlocation /v2/ {\nlocation /v2/upload { proxy_pass http://app; }\n}\n}\n}',
      );
      assert.deepEqual(where(found), ['nginx-proxy-no-rate-limit:medium@4']);
      assert.equal(
        found[0]?.title,
        'nginx proxies to the application with no per-IP rate limit (server api.example.com)',
      );
      assert.deepEqual(
        found[0]?.evidence.map((e) => e.line),
        [4, 9],
      );
    });

    it('counts limit_req or limit_conn inherited from http, server or an outer location', () => {
      for (const text of [
        'http { limit_req zone=z; server { location / { proxy_pass http://a; } } }',
        'http { server { limit_conn perip 10; location / { proxy_pass http://a; } } }',
        'http { server { location /api/ { limit_req zone=z; location /api/x { proxy_pass http://a; } } } }',
        'http { server { location / { fastcgi_pass unix:/run/php.sock; limit_req zone=z; } } }',
      ]) {
        assert.deepEqual(only(run(text), 'nginx-proxy-no-rate-limit'), [], text);
      }
    });

    it('does not count limits in dry-run mode', () => {
      const found = run(
        'http { limit_req zone=z; limit_req_dry_run on; server { location / { proxy_pass http://a; } } }',
      );
      assert.equal(found.length, 1);
      assert.match(found[0]?.evidence[0]?.detail ?? '', /dry-run mode only/);
    });
  });

  describe('nginx-websocket-timeout', () => {
    it('flags a WebSocket location left at the 60 s default', () => {
      const found = run(
        site(
          'location /ws/ {\nproxy_pass http://app;\nproxy_http_version 1.1;\nproxy_set_header Upgrade $http_upgrade;\nproxy_set_header Connection "upgrade";\n}',
        ),
      );
      assert.deepEqual(where(found), ['nginx-websocket-timeout:medium@6']);
      assert.equal(found[0]?.title, 'nginx closes idle WebSocket connections on /ws/ after 60 s');
      assert.match(found[0]?.evidence[1]?.detail ?? '', /default 60s applies/);
    });

    it('flags an explicit timeout of 60 s or less, at its line', () => {
      const found = run(
        site(
          'location /cable {\nproxy_pass http://app;\nproxy_read_timeout 1m;\nproxy_http_version 1.1;\nproxy_set_header Upgrade $http_upgrade;\nproxy_set_header Connection upgrade;\n}',
        ),
      );
      assert.deepEqual(where(found), ['nginx-websocket-timeout:medium@6']);
      assert.deepEqual(found[0]?.evidence[1], {
        file: FILE,
        line: 8,
        detail: 'proxy_read_timeout 1m: an idle WebSocket is closed after 60 s',
      });
    });

    it('accepts a longer timeout, also inherited from the server', () => {
      const ws =
        'location /ws/ { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection upgrade; }';
      assert.deepEqual(run(site(`proxy_read_timeout 1h;\n${ws}`)), []);
      assert.deepEqual(run(site(ws, 'proxy_read_timeout 61s;')), []);
    });

    it('does not treat an ordinary proxied location as a WebSocket', () => {
      assert.deepEqual(run(site('location /api/ { proxy_pass http://app; }')), []);
    });
  });

  describe('nginx-websocket-no-upgrade', () => {
    it('flags a WebSocket path proxied without HTTP/1.1 and the Upgrade headers', () => {
      const found = run(site('location /socket.io/ {\nproxy_pass http://app;\nproxy_read_timeout 3600s;\n}'));
      assert.deepEqual(where(found), ['nginx-websocket-no-upgrade:medium@6']);
      assert.deepEqual(
        found[0]?.evidence.slice(1).map((e) => e.detail),
        [
          'no proxy_http_version 1.1: nginx talks HTTP/1.0 to the upstream, which cannot upgrade',
          'no proxy_set_header Upgrade $http_upgrade in effect',
          'no proxy_set_header Connection "upgrade" (or $connection_upgrade) in effect',
        ],
      );
    });

    it('recognises a WebSocket by the path it proxies to', () => {
      const found = run(
        site('location /live {\nproxy_pass http://app/api/v1/streaming;\nproxy_read_timeout 1d;\n}'),
      );
      assert.deepEqual(where(found), ['nginx-websocket-no-upgrade:medium@6']);
    });

    it('explains that a location’s own proxy_set_header hides the inherited Upgrade header', () => {
      const found = run(
        site(
          'location /ws/ {\nproxy_pass http://app;\nproxy_set_header Host $host;\n}',
          'proxy_http_version 1.1; proxy_read_timeout 1h; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $connection_upgrade;',
        ),
      );
      assert.deepEqual(where(found), ['nginx-websocket-no-upgrade:medium@6']);
      assert.match(
        found[0]?.evidence[1]?.detail ?? '',
        /not inherited: this location sets its own proxy_set_header/,
      );
    });

    it('flags proxy_http_version 1.0 set explicitly', () => {
      const found = run(
        site(
          'location /ws/ {\nproxy_pass http://app;\nproxy_http_version 1.0;\nproxy_read_timeout 1h;\nproxy_set_header Upgrade $http_upgrade;\nproxy_set_header Connection upgrade;\n}',
        ),
      );
      assert.deepEqual(found[0]?.evidence[1], {
        file: FILE,
        line: 8,
        detail: 'proxy_http_version 1.0: WebSockets need HTTP/1.1 to the upstream',
      });
    });
  });

  describe('nginx-origin-open-outside-cdn', () => {
    const behindCloudflare =
      'http {\nreal_ip_header CF-Connecting-IP;\nset_real_ip_from 173.245.48.0/20;\nserver {\nlisten 80;\nlisten [::]:80;\nreturn 301 https://$host$request_uri;\n}\nserver {\nlisten 443 ssl;\nlisten 127.0.0.1:9000;\nserver_name www.example.com;\n}\n}';

    it('is medium when 80/443 reach the internet with no CDN-only restriction', () => {
      const seen: Endpoint[] = [];
      const found = nginxCheck.run({
        facts: { nginx: nginx(behindCloudflare) },
        exposure: exposure('internet', undefined, seen),
        config: parseConfig({}),
      });
      assert.deepEqual(where(found), ['nginx-origin-open-outside-cdn:medium@5']);
      assert.equal(
        found[0]?.title,
        'The site sits behind Cloudflare, but nginx answers on ports 80, 443 from anywhere',
      );
      assert.deepEqual(seen, [
        { service: 'nginx', port: 80, protocol: 'tcp', binds: ['0.0.0.0', '::'] },
        { service: 'nginx', port: 443, protocol: 'tcp', binds: ['0.0.0.0'] },
      ]);
      assert.ok(found[0]?.evidence.some((e) => e.detail === 'port 80: nginx on 80: internet'));
    });

    it('is not raised when the firewall lets only CDN (or internal) ranges in', () => {
      const sources = ['173.245.48.0/20', '2606:4700::/32', '10.0.0.0/8'];
      assert.deepEqual(run(behindCloudflare, { sources }), []);
      assert.deepEqual(where(run(behindCloudflare, { sources: ['0.0.0.0/0'] })), [
        'nginx-origin-open-outside-cdn:medium@5',
      ]);
    });

    it('is not raised when the ports do not reach the internet, or when no CDN is in front', () => {
      assert.deepEqual(run(behindCloudflare, { reach: 'private' }), []);
      assert.deepEqual(run('http { server { listen 80; } }'), []);
    });

    it('is low when nginx itself allows only CDN ranges (allow …; deny all;)', () => {
      const found = run(
        'http { real_ip_header CF-Connecting-IP; allow 173.245.48.0/20; allow 2400:cb00::/32; deny all; server { listen 443; } }',
      );
      assert.deepEqual(where(found), ['nginx-origin-open-outside-cdn:low@1']);
    });

    it('counts a server without listen as *:80', () => {
      const found = run('http { real_ip_header CF-Connecting-IP;\nserver { server_name _; } }');
      assert.deepEqual(where(found), ['nginx-origin-open-outside-cdn:medium@2']);
      assert.match(found[0]?.evidence[0]?.detail ?? '', /no listen line/);
    });
  });
});

describe('nginx value syntax', () => {
  it('reads nginx times in seconds', () => {
    assert.equal(parseNginxSeconds('60'), 60);
    assert.equal(parseNginxSeconds('75s'), 75);
    assert.equal(parseNginxSeconds('1h30m'), 5400);
    assert.equal(parseNginxSeconds('500ms'), 0.5);
    assert.equal(parseNginxSeconds('1d'), 86_400);
    assert.equal(parseNginxSeconds('soon'), undefined);
  });

  it('reads listen addresses', () => {
    assert.deepEqual(parseListen('80'), { bind: '0.0.0.0', port: 80 });
    assert.deepEqual(parseListen('*:443'), { bind: '0.0.0.0', port: 443 });
    assert.deepEqual(parseListen('[::]:443'), { bind: '::', port: 443 });
    assert.deepEqual(parseListen('127.0.0.1'), { bind: '127.0.0.1', port: 80 });
    assert.deepEqual(parseListen('10.0.0.5:8080'), { bind: '10.0.0.5', port: 8080 });
    assert.equal(parseListen('unix:/run/nginx.sock'), undefined);
  });
});

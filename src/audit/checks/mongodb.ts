/**
 * MongoDB: mongod reachable beyond localhost without access control (`security.authorization`).
 */
import { type Evidence, type Finding, findingOf, type Rule, type Severity } from '../../core/finding.ts';
import type { MongodConfig } from '../collectors/mongodb.ts';
import { quoteSetting, settingList } from '../collectors/yaml-settings.ts';
import type { Check, Exposure, Reach } from '../types.ts';
import { addressTerm, assessTerms, type BindTerm, reachEvidence } from './datastores.ts';

const READS = '/etc/mongod.conf, /etc/mongodb.conf (YAML or legacy ini format)';

export const mongodbNoAuth: Rule = {
  id: 'mongodb-no-auth',
  severity: 'critical',
  title: 'MongoDB accepts connections without authentication',
  why:
    'Without `security.authorization: enabled` every client that reaches mongod is an administrator: it can ' +
    'dump, drop or ransom every database. Tens of thousands of open MongoDB servers were wiped and held for ' +
    'ransom in the 2017 and 2020 "READ_ME_TO_RECOVER_YOUR_DATA" waves. Severity follows reach: critical from ' +
    'the internet, high from private networks, low when only local processes can connect.',
  reads: READS,
  fix:
    'Create an admin user (`mongosh admin --eval \'db.createUser({user: "admin", pwd: passwordPrompt(), roles: ' +
    '["root"]})\'`), then in /etc/mongod.conf set `security:` / `  authorization: enabled` and keep ' +
    '`net.bindIp: 127.0.0.1` (or a private address firewalled to the app hosts); `systemctl restart mongod`.',
};

export const mongodbPublicBind: Rule = {
  id: 'mongodb-public-bind',
  severity: 'medium',
  title: 'MongoDB is reachable from the internet',
  why:
    'Even with authorization on, a mongod open to the internet takes password guessing and every pre-auth bug ' +
    'of its wire protocol (CVE-2025-14847 "MongoBleed" leaked server memory before authentication).',
  reads: READS,
  fix:
    'Set `net.bindIp: 127.0.0.1` (or a private address) in /etc/mongod.conf and drop `net.bindIpAll`, or allow ' +
    '27017 only from the application hosts in the firewall; `systemctl restart mongod`.',
};

const NO_AUTH_SEVERITY: Record<Reach, Severity> = { internet: 'critical', private: 'high', local: 'low' };

export const mongodbCheck: Check = {
  name: 'mongodb',
  rules: [mongodbNoAuth, mongodbPublicBind],
  run({ facts, exposure }) {
    return (facts.mongodb?.configs ?? []).flatMap((config) => checkConfig(config, exposure));
  },
};

function checkConfig(config: MongodConfig, exposure: Exposure): Finding[] {
  const { settings, file } = config;
  const port = Number(settingList(settings['net.port'])[0] ?? '27017') || 27017;
  const bindAll = settings['net.bindIpAll'];
  const bindIp = settings['net.bindIp'];
  const ipv6 = /^true$/i.test(settingList(settings['net.ipv6'])[0] ?? '');
  let terms: BindTerm[];
  let bindEvidence: Evidence;
  if (bindAll && /^(true|1)$/i.test(settingList(bindAll)[0] ?? '')) {
    terms = [{ binds: ipv6 ? ['0.0.0.0', '::'] : ['0.0.0.0'], cap: 'internet' }];
    bindEvidence = { file, line: bindAll.line, detail: quoteSetting(bindAll) };
  } else if (bindIp) {
    const values = settingList(bindIp)
      .flatMap((value) => value.split(','))
      .map((value) => value.trim())
      // Unix domain socket paths are local by nature.
      .filter((value) => value !== '' && !value.startsWith('/'));
    terms = values.map((value) => addressTerm(value, 'mongod'));
    bindEvidence = { file, line: bindIp.line, detail: quoteSetting(bindIp) };
  } else {
    terms = [{ binds: ['127.0.0.1'], cap: 'local' }];
    bindEvidence = {
      file,
      detail:
        'net.bindIp is not set: mongod binds 127.0.0.1 by default since MongoDB 3.6 (older versions listened on all interfaces)',
    };
  }
  const verdict =
    terms.length > 0
      ? assessTerms(exposure, { service: 'mongodb', port, protocol: 'tcp' }, terms)
      : { reach: 'local' as const, reasons: ['mongod listens only on Unix domain sockets'] };
  const reach = verdict.reach;
  const reachLines = reachEvidence(`port ${port}`, verdict);

  const authorization = settings['security.authorization'];
  const keyFile = settings['security.keyFile'];
  const transition = settings['security.transitionToAuth'];
  const authOn = /^enabled$/i.test(settingList(authorization)[0] ?? '') || keyFile !== undefined;
  const transitional = transition !== undefined && /^true$/i.test(settingList(transition)[0] ?? '');
  if (authOn && !transitional) {
    if (reach === 'local') return [];
    const severity: Severity = reach === 'internet' ? 'medium' : 'low';
    const title =
      reach === 'internet'
        ? 'MongoDB is reachable from the internet'
        : 'MongoDB is reachable from private networks';
    return [findingOf(mongodbPublicBind, [bindEvidence, ...reachLines], { severity, title })];
  }

  let authEvidence: Evidence;
  if (transitional && transition) {
    authEvidence = {
      file,
      line: transition.line,
      detail: `${quoteSetting(transition)}: mongod also accepts clients that do not authenticate`,
    };
  } else if (authorization) {
    authEvidence = { file, line: authorization.line, detail: quoteSetting(authorization) };
  } else {
    authEvidence = { file, detail: 'security.authorization is not set: access control is off by default' };
  }
  const evidence =
    authEvidence.line !== undefined
      ? [authEvidence, bindEvidence, ...reachLines]
      : [bindEvidence, authEvidence, ...reachLines];
  const title =
    reach === 'internet'
      ? 'MongoDB is reachable from the internet without authentication'
      : reach === 'private'
        ? 'MongoDB is reachable from private networks without authentication'
        : 'MongoDB runs without authentication (reachable only locally)';
  return [findingOf(mongodbNoAuth, evidence, { severity: NO_AUTH_SEVERITY[reach], title })];
}

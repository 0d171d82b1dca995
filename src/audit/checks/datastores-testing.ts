/**
 * Test support for the datastore checks: an Exposure that answers from bind addresses alone (like a
 * host with no firewall), optionally narrowed as a firewall would, and records every question.
 */
import type { Endpoint, Exposure, Reach } from '../types.ts';
import { narrower, reachOfAddress, wider } from './datastores.ts';

export interface FakeExposure extends Exposure {
  readonly calls: Endpoint[];
}

export function fakeExposure(options: { unresolved?: Reach; firewall?: Reach } = {}): FakeExposure {
  const calls: Endpoint[] = [];
  return {
    calls,
    assess(endpoint) {
      calls.push(endpoint);
      let reach: Reach =
        endpoint.binds.length === 0
          ? (options.unresolved ?? 'internet')
          : endpoint.binds.reduce<Reach>(
              (widest, bind) => wider(widest, reachOfAddress(bind) ?? 'internet'),
              'local',
            );
      const reasons = [
        `fake: ${endpoint.service} binds [${endpoint.binds.join(' ')}] ${endpoint.protocol}/${endpoint.port}`,
      ];
      if (options.firewall && reach !== 'local') {
        reach = narrower(reach, options.firewall);
        reasons.push(`fake firewall: at most ${options.firewall}`);
      }
      return { reach, reasons };
    },
  };
}

/** The one place a firewall backend is chosen from config. */
import type { FirewallConfig } from '../config/schema.ts';
import { createDryRunFirewall } from '../enforcement/dry-run.ts';
import { createIptablesIpsetFirewall } from '../enforcement/iptables-ipset.ts';
import { createNftablesFirewall } from '../enforcement/nftables.ts';
import { createUfwFirewall } from '../enforcement/ufw.ts';
import type { Firewall } from '../enforcement/types.ts';
import type { Logger } from './log.ts';

export function createFirewall(config: FirewallConfig, logger: Logger): Firewall {
  switch (config.backend) {
    case 'nftables':
      return createNftablesFirewall({
        table: config.table,
        priority: config.priority,
        ...(config.netns === undefined ? {} : { netns: config.netns }),
      });
    case 'iptables-ipset':
      return createIptablesIpsetFirewall(config.netns === undefined ? {} : { netns: config.netns });
    case 'ufw':
      return createUfwFirewall(config.netns === undefined ? {} : { netns: config.netns });
    case 'dry-run':
      return createDryRunFirewall({ log: (line) => logger.log('info', `dry-run firewall: ${line}`) });
  }
}

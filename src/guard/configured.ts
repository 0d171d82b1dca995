import type { GuardConfig } from '../config/guard.ts';

/** Whether a guard section has anything to do (the daemon hosts the guard only then). */
export function guardConfigured(config: GuardConfig): boolean {
  const { system } = config;
  return (
    config.redis.length > 0 ||
    config.checks.length > 0 ||
    system.cpu !== undefined ||
    system.memory !== undefined ||
    system.disks.length > 0
  );
}

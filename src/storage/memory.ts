/** In-memory Store: for replay (nothing to persist) and as the contract suite's second implementation. */
import type { Ban } from '../core/events.ts';
import type { Position, Store } from './types.ts';

export function createMemoryStore(): Store {
  const bans: (Ban & { removed: boolean })[] = [];
  const positions = new Map<string, Position>();
  let nextId = 1;
  const active = (now: number) => bans.filter((ban) => !ban.removed && ban.expiresAt > now);
  return {
    kind: 'memory',
    async addBan(decision, expiresAt) {
      const existing = active(decision.at).filter((ban) => ban.target === decision.target);
      for (const ban of existing) ban.removed = true;
      const ban = {
        ...decision,
        id: nextId++,
        expiresAt: Math.max(expiresAt, ...existing.map((b) => b.expiresAt)),
        removed: false,
      };
      bans.push(ban);
      const { removed: _removed, ...out } = ban;
      return out;
    },
    async addBans(items) {
      for (const item of items) await this.addBan(item.decision, item.expiresAt);
    },
    async removeBan(target, now) {
      let removed = false;
      for (const ban of active(now)) {
        if (ban.target === target) {
          ban.removed = true;
          removed = true;
        }
      }
      return removed;
    },
    async activeBans(now) {
      return active(now)
        .sort((a, b) => a.at - b.at || a.id - b.id)
        .map(({ removed: _removed, ...ban }) => ban);
    },
    async offences(target, sinceMs) {
      return bans.filter((ban) => ban.target === target && ban.at >= sinceMs).length;
    },
    async getPosition(source) {
      return positions.get(source);
    },
    async setPosition(source, position) {
      positions.set(source, position);
    },
    async close() {},
  };
}

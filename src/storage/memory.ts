/** In-memory Store: for replay (nothing to persist) and as the contract suite's second implementation. */
import type { Ban } from '../core/events.ts';
import type { Position, Store } from './types.ts';

/** The data behind memory stores; pass one to several createMemoryStore calls for several handles. */
export interface MemoryData {
  readonly bans: (Ban & { removed: boolean })[];
  readonly positions: Map<string, Position>;
  nextId: number;
  /** Bumped by every write of any handle. */
  version: number;
}

export function createMemoryData(): MemoryData {
  return { bans: [], positions: new Map(), nextId: 1, version: 0 };
}

export function createMemoryStore(data: MemoryData = createMemoryData()): Store {
  const { bans, positions } = data;
  // The version this handle has seen: its own writes keep it current unless another handle wrote
  // in between.
  let seen = data.version;
  const wrote = () => {
    if (data.version === seen) seen = ++data.version;
    else data.version++;
  };
  const active = (now: number) => bans.filter((ban) => !ban.removed && ban.expiresAt > now);
  return {
    kind: 'memory',
    async addBan(decision, expiresAt) {
      const existing = active(decision.at).filter((ban) => ban.target === decision.target);
      for (const ban of existing) ban.removed = true;
      const ban = {
        ...decision,
        id: data.nextId++,
        expiresAt: Math.max(expiresAt, ...existing.map((b) => b.expiresAt)),
        removed: false,
      };
      bans.push(ban);
      wrote();
      const { removed: _removed, ...out } = ban;
      return out;
    },
    async addBans(items) {
      const out: Ban[] = [];
      for (const item of items) out.push(await this.addBan(item.decision, item.expiresAt));
      return out;
    },
    async removeBan(target, now) {
      let removed = false;
      for (const ban of active(now)) {
        if (ban.target === target) {
          ban.removed = true;
          removed = true;
        }
      }
      if (removed) wrote();
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
      wrote();
    },
    async changedElsewhere() {
      const changed = data.version !== seen;
      seen = data.version;
      return changed;
    },
    async close() {},
  };
}

/**
 * Host saturation from the kernel's own counters: CPU busy share over a window (/proc/stat),
 * memory in use (/proc/meminfo), disk space (statfs). The parsing and window math are pure; the
 * readers take the file text or statfs result from the caller.
 */

/** Cumulative CPU time of all cores, in clock ticks. */
export interface CpuTimes {
  readonly busy: number;
  readonly total: number;
}

/** The aggregate `cpu` line of /proc/stat → busy and total ticks (idle and iowait are not busy). */
export function parseProcStat(text: string): CpuTimes | undefined {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (line === undefined) return undefined;
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  if (values.length < 4 || values.some((v) => !Number.isFinite(v))) return undefined;
  // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in user.
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = values;
  const total = user + nice + system + idle + iowait + irq + softirq + steal;
  return { busy: total - idle - iowait, total };
}

/**
 * CPU busy percent over a sliding window of samples. `add` returns the percent once the samples
 * span at least the window (undefined before: a short spike at start-up is not saturation).
 * Bounded: samples older than the window are dropped (the newest such one is kept as the anchor).
 */
export function createCpuWindow(windowMs: number) {
  const samples: { at: number; times: CpuTimes }[] = [];
  return {
    add(at: number, times: CpuTimes): number | undefined {
      samples.push({ at, times });
      // Keep one sample at or before the window's start as the baseline of the difference.
      while (samples.length > 2 && (samples[1] as { at: number }).at <= at - windowMs) samples.shift();
      const first = samples[0] as { at: number; times: CpuTimes };
      if (at - first.at < windowMs) return undefined;
      const total = times.total - first.times.total;
      if (total <= 0) return undefined;
      return Math.min(100, Math.max(0, ((times.busy - first.times.busy) / total) * 100));
    },
    get size() {
      return samples.length;
    },
  };
}

/** /proc/meminfo → percent of memory in use (1 − MemAvailable / MemTotal). */
export function parseMeminfo(text: string): number | undefined {
  const read = (key: string) => {
    const match = new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text);
    return match ? Number(match[1]) : undefined;
  };
  const total = read('MemTotal');
  const available = read('MemAvailable') ?? (read('MemFree') ?? 0) + (read('Cached') ?? 0);
  if (total === undefined || total <= 0) return undefined;
  return Math.min(100, Math.max(0, (1 - available / total) * 100));
}

/** statfs → percent of space used, as `df` counts it: used / (used + available to users). */
export function diskUsedPercent(stats: {
  blocks: number;
  bfree: number;
  bavail: number;
}): number | undefined {
  const used = stats.blocks - stats.bfree;
  const denominator = used + stats.bavail;
  if (!(denominator > 0)) return undefined;
  return (used / denominator) * 100;
}

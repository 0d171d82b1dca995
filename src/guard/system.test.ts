import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createCpuWindow, diskUsedPercent, parseMeminfo, parseProcStat } from './system.ts';

const stat = (user: number, idle: number) =>
  `cpu  ${user} 0 0 ${idle} 0 0 0 0 0 0\ncpu0 ${user} 0 0 ${idle} 0 0 0 0 0 0\nintr 1 2 3\n`;

describe('host counters', () => {
  it('/proc/stat: busy and total ticks of the cpu line', () => {
    assert.deepEqual(parseProcStat('cpu  100 5 20 800 50 1 2 3 0 0\n'), { busy: 131, total: 981 });
    assert.equal(parseProcStat('intr 1 2\n'), undefined);
    assert.equal(parseProcStat('cpu  a b c d\n'), undefined);
  });

  it('CPU busy percent over a window, only once the window is covered', () => {
    const window = createCpuWindow(60_000);
    let user = 0;
    let idle = 0;
    const percents: (number | undefined)[] = [];
    // 30 s idle, then 60 s saturated: 100 % over the last minute only once the idle part left it.
    for (let t = 0; t <= 90_000; t += 10_000) {
      if (t > 0 && t <= 30_000) idle += 1000;
      else if (t > 30_000) user += 1000;
      percents.push(window.add(t, parseProcStat(stat(user, idle)) as { busy: number; total: number }));
    }
    assert.deepEqual(percents.slice(0, 6), [
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    assert.equal(Math.round(percents[6] as number), 50);
    assert.equal(percents[9], 100);
    assert.ok(window.size <= 8, 'old samples are dropped');
  });

  it('/proc/meminfo: in use = 1 − MemAvailable / MemTotal', () => {
    assert.equal(parseMeminfo('MemTotal:       1000 kB\nMemFree:  100 kB\nMemAvailable:    250 kB\n'), 75);
    assert.equal(parseMeminfo('nothing'), undefined);
  });

  it('disk space as df counts it (reserved blocks excluded)', () => {
    // 1000 blocks, 300 free of which 50 reserved for root: used 700 of 950 usable.
    assert.equal((diskUsedPercent({ blocks: 1000, bfree: 300, bavail: 250 }) as number).toFixed(2), '73.68');
    assert.equal(diskUsedPercent({ blocks: 0, bfree: 0, bavail: 0 }), undefined);
  });
});

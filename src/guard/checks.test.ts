import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Alert } from '../alerts/types.ts';
import { parseConfig } from '../config/load.ts';
import { manualClock } from '../core/clock.ts';
import type { ParsedEvent } from '../core/events.ts';
import { createCheckRunner } from './checks.ts';

function harness() {
  const clock = manualClock(1_000_000);
  const alerts: Alert[] = [];
  const events: ParsedEvent[] = [];
  const services = {
    clock,
    logger: { log() {} },
    alerts: { send: (alert: Alert) => alerts.push(alert) },
    ingest: (event: ParsedEvent) => events.push(event),
  };
  return { clock, alerts, events, services };
}

describe('host checks (fixture /proc and statfs)', () => {
  it('CPU at 100 % over the window: one alert going bad, one recovering, none in between', async () => {
    const { clock, alerts, events, services } = harness();
    let user = 0;
    let idle = 0;
    const config = parseConfig({ guard: { system: { interval: '10s', cpu: { window: '30s' } } } });
    const runner = createCheckRunner(
      {
        checks: [],
        system: config.guard.system,
        readProc: () => `cpu  ${user} 0 0 ${idle} 0 0 0 0 0 0\n`,
      },
      services,
    );
    const step = async (busyPercent: number) => {
      clock.advance(10_000);
      user += busyPercent * 10;
      idle += (100 - busyPercent) * 10;
      await runner.runAll();
    };
    for (let i = 0; i < 4; i++) await step(100);
    assert.deepEqual(
      alerts.map((a) => a.kind),
      ['check-down'],
    );
    assert.match(alerts[0]?.title ?? '', /^cpu is down: CPU 100 % busy over the last 30 s/);
    assert.equal(alerts[0]?.incident, 'check:cpu');
    // 90 % is below the alert level but above recoverBelow (80 %): no flapping.
    for (let i = 0; i < 4; i++) await step(90);
    assert.equal(alerts.length, 1);
    await step(50);
    assert.deepEqual(
      alerts.map((a) => a.kind),
      ['check-down', 'check-up'],
    );
    assert.equal(alerts[1]?.incident, 'check:cpu');
    assert.match(alerts[1]?.title ?? '', /cpu is up again \(down for 50 s\)/);
    assert.deepEqual(
      events.map((e) => [e.service, e.kind, e.fields?.['check']]),
      [
        ['guard', 'check-down', 'cpu'],
        ['guard', 'check-up', 'cpu'],
      ],
    );
  });

  it('disk full and memory high, each once; an unreadable source is logged, not fatal', async () => {
    const { alerts, services } = harness();
    let used = 50;
    const config = parseConfig({
      guard: { system: { memory: {}, disks: [{ path: '/data' }, { path: '/missing' }] } },
    });
    const runner = createCheckRunner(
      {
        checks: [],
        system: config.guard.system,
        readProc: () => 'MemTotal: 1000 kB\nMemAvailable: 20 kB\n',
        statfs: (path) => {
          if (path === '/missing') throw new Error('ENOENT');
          return { blocks: 100, bfree: 100 - used, bavail: 100 - used };
        },
      },
      services,
    );
    await runner.runAll();
    used = 96;
    await runner.runAll();
    await runner.runAll();
    assert.deepEqual(alerts.map((a) => a.incident).sort(), ['check:disk:/data', 'check:memory']);
    used = 70;
    await runner.runAll();
    assert.deepEqual(
      alerts.filter((a) => a.kind === 'check-up').map((a) => a.incident),
      ['check:disk:/data'],
    );
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { banSummaryMessage, heldBackMessage, incidentMessage, truncate } from './messages.ts';
import type { Alert } from './types.ts';

const base: Alert = { kind: 'x', severity: 'info', title: 't', text: '', incident: 'i', at: 1 };

describe('messages', () => {
  it('merges an incident: texts once, actions once, later details win, most severe title leads', () => {
    const message = incidentMessage(
      [
        { ...base, title: 'first', text: 'seen', actions: ['a'], fields: { n: 1, keep: 'yes' } },
        {
          ...base,
          severity: 'critical',
          title: 'worst',
          text: 'seen',
          actions: ['a', 'b'],
          fields: { n: 2 },
        },
        { ...base, severity: 'warning', title: 'later', text: 'more', ip: '192.0.2.1' },
      ],
      { more: 4, suppressedBefore: 2 },
    );
    assert.equal(message.severity, 'critical');
    assert.equal(message.title, 'worst');
    assert.equal(message.at, 1);
    assert.equal(
      message.text,
      'seen\nmore\n\nDone:\n- a\n- b\n\nip: 192.0.2.1\nn: 2\nkeep: yes\n\n' +
        '4 more alerts of this incident were counted, not listed.\n' +
        '2 repeats of this incident were suppressed since it was last sent.',
    );
  });

  it('lists at most 50 addresses in a ban summary and says how many more', () => {
    const groups = Array.from({ length: 60 }, (_, i) => [
      {
        ...base,
        kind: 'ban',
        ip: `198.51.100.${i}`,
        fields: { scenario: i % 3 === 0 ? 'http-probing' : 'ssh' },
      },
    ]);
    const message = banSummaryMessage(groups);
    assert.equal(message.title, '60 addresses banned');
    assert.equal(message.alerts.length, 60);
    assert.match(message.text, /Top scenarios: ssh ×40, http-probing ×20/);
    assert.match(message.text, /198\.51\.100\.49 \(ssh\)\n… and 10 more$/);
    assert.doesNotMatch(message.text, /198\.51\.100\.50 /);
  });

  it('counts held-back alerts beyond those kept, and repeats of one title', () => {
    const kept = [
      { ...base, title: 'disk full' },
      { ...base, title: 'disk full' },
      { ...base, title: 'cpu' },
    ];
    const message = heldBackMessage(kept, 10);
    assert.equal(message.title, '10 alerts held back by the rate limit');
    assert.match(message.text, /disk full \(×2\)\ncpu\n… and 7 more$/);
  });

  it('truncates with a mark, never beyond the limit', () => {
    assert.equal(truncate('abcdef', 4), 'abc…');
    assert.equal(truncate('abc', 3), 'abc');
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_RANGE_HEADER, parseRange } from '../../daemon/boot/range.ts';

describe('boot asset Range header (RFC 9110 §14)', () => {
  const size = 1000;
  const cases: [header: string | undefined, expected: ReturnType<typeof parseRange>][] = [
    [undefined, { kind: 'full' }],
    ['bytes=0-99', { kind: 'partial', start: 0, end: 99 }],
    ['bytes=100-', { kind: 'partial', start: 100, end: 999 }],
    ['bytes=-100', { kind: 'partial', start: 900, end: 999 }],
    ['bytes=-5000', { kind: 'partial', start: 0, end: 999 }], // suffix longer than the file: all of it
    ['bytes=990-5000', { kind: 'partial', start: 990, end: 999 }], // last-pos past the end is clamped
    ['bytes=999-999', { kind: 'partial', start: 999, end: 999 }],
    ['BYTES = 5-9', { kind: 'partial', start: 5, end: 9 }], // unit is case-insensitive
    ['bytes=1000-', { kind: 'unsatisfiable' }],
    ['bytes=5000-6000', { kind: 'unsatisfiable' }],
    ['bytes=-0', { kind: 'unsatisfiable' }],
    ['bytes=9-5', { kind: 'full' }], // invalid spec: header ignored
    ['bytes=0-9,20-29', { kind: 'full' }], // several ranges: whole file instead of multipart
    ['items=0-9', { kind: 'full' }],
    ['bytes=-', { kind: 'full' }],
    ['bytes=a-b', { kind: 'full' }],
    ['bytes 0-9', { kind: 'full' }],
    [`bytes=0-${'9'.repeat(MAX_RANGE_HEADER)}`, { kind: 'full' }],
    ['bytes=99999999999999999999999-', { kind: 'unsatisfiable' }],
  ];
  for (const [h, want] of cases) test(`${h ?? '(none)'} → ${want.kind}`, () => assert.deepEqual(parseRange(h, size), want));

  test('an empty file has no satisfiable range', () => {
    assert.deepEqual(parseRange('bytes=0-', 0), { kind: 'unsatisfiable' });
    assert.deepEqual(parseRange('bytes=-1', 0), { kind: 'unsatisfiable' });
    assert.deepEqual(parseRange(undefined, 0), { kind: 'full' });
  });
});

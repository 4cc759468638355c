// The PID line ironbay's commands print first on stderr: found however the stream is split and
// whatever a login script printed before it; everything else on stderr passes through intact.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PidLine } from '../../daemon/ssh/connection.ts';

/** Feeds `chunks`, then flushes; the PID found and every byte passed on. */
function feed(p: PidLine, chunks: string[]): { pid?: number; passed: string } {
  let pid: number | undefined;
  let passed = '';
  for (const c of chunks) {
    const r = p.push(Buffer.from(c, 'utf8'));
    if (r.pid) pid = r.pid;
    passed += r.pass.toString('utf8');
  }
  passed += p.flush().toString('utf8');
  return { ...(pid && { pid }), passed };
}

test('the prefix a command is sent with prints the mark and the shell PID on stderr', () => {
  const p = new PidLine('abc');
  assert.equal(p.prefix, `printf 'ironbay-pid-abc %s\\n' "$$" >&2; `);
});

test('first line, split anywhere: the PID, and nothing of the mark passed on', () => {
  const whole = 'ironbay-pid-n1 4242\nreal error\n';
  for (let cut = 0; cut <= whole.length; cut++) {
    const r = feed(new PidLine('n1'), [whole.slice(0, cut), whole.slice(cut)]);
    assert.deepEqual(r, { pid: 4242, passed: 'real error\n' }, `cut at ${cut}`);
  }
});

test("a login script's output before the mark passes through, the PID is still found", () => {
  const r = feed(new PidLine('n2'), ['pyenv: cannot rehash: couldn\'t acquire lock\n', 'half a li', 'ne\nironbay-pid-n2 77', '\nafter\n']);
  assert.deepEqual(r, { pid: 77, passed: "pyenv: cannot rehash: couldn't acquire lock\nhalf a line\nafter\n" });
  const sameLine = feed(new PidLine('n3'), ['no newline', 'ironbay-pid-n3 9\nx']);
  assert.deepEqual(sameLine, { pid: 9, passed: 'no newlinex' });
});

test('a mark with another nonce, a bad PID or no mark at all: no PID, every byte passed on', () => {
  assert.deepEqual(feed(new PidLine('n4'), ['ironbay-pid-other 5\n', 'e\n']), { passed: 'ironbay-pid-other 5\ne\n' });
  assert.deepEqual(feed(new PidLine('n5'), ['ironbay-pid-n5 x1\n']), { passed: '' });
  const big = 'e'.repeat(70 * 1024);
  assert.deepEqual(feed(new PidLine('n6'), [big, 'ironbay-pid-n6 3\n']), { passed: big + 'ironbay-pid-n6 3\n' }, 'the search stops after 64 KiB');
  assert.deepEqual(feed(new PidLine('n7'), ['partial, no end']), { passed: 'partial, no end' });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ReadTransfer, wireBlock, type Outgoing, type SenderConfig, type Step } from '../../daemon/tftp/transfer.ts';
import { mulberry32 } from '../helpers/prng.ts';

const base: SenderConfig = { size: 700, blksize: 512, windowsize: 1, oack: false, timeoutMs: 1000, maxTimeoutMs: 8000, maxRetries: 4 };
const make = (c: Partial<SenderConfig> = {}): ReadTransfer => new ReadTransfer({ ...base, ...c });

/** What a step sends, compactly: 'oack' or the wire block numbers. */
const sent = (s: Step): (number | 'oack')[] => s.send.map((o) => (o.kind === 'oack' ? 'oack' : o.wire));
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('ReadTransfer: lock-step (RFC 1350)', () => {
  test('700 bytes: DATA 1 (512) then DATA 2 (188), complete on ACK 2', () => {
    const t = make();
    const s = t.start(0);
    assert.deepEqual(s, { event: 'started', send: [{ kind: 'data', block: 1, wire: 1, offset: 0, length: 512 }] });
    assert.equal(t.deadline, 1000);
    assert.deepEqual(t.onAck(1, 10), { event: 'advanced', send: [{ kind: 'data', block: 2, wire: 2, offset: 512, length: 188 }] });
    assert.deepEqual(t.onAck(2, 20), { event: 'complete', send: [] });
    assert.equal(t.status, 'complete');
    assert.equal(t.deadline, undefined);
    assert.deepEqual(t.onAck(2, 30), { event: 'finished', send: [] });
    assert.deepEqual(t.onTimeout(99999), { event: 'finished', send: [] });
  });

  test('a size that is a multiple of blksize ends with an empty block (RFC 1350 §6)', () => {
    const t = make({ size: 1024 });
    assert.equal(t.lastBlock, 3);
    t.start(0);
    t.onAck(1, 1);
    const last = t.onAck(2, 2).send[0]!;
    assert.deepEqual(last, { kind: 'data', block: 3, wire: 3, offset: 1024, length: 0 });
    assert.equal(t.onAck(3, 3).event, 'complete');
  });

  test('an empty file is one empty block', () => {
    const t = make({ size: 0 });
    assert.deepEqual(t.start(0).send, [{ kind: 'data', block: 1, wire: 1, offset: 0, length: 0 }]);
    assert.equal(t.onAck(1, 1).event, 'complete');
  });

  test('sorcerer\'s apprentice: a late ACK and its duplicate send each block once more at most, not forever', () => {
    // DATA 1 times out and is resent; both copies are ACKed. The second ACK 1 must not send
    // DATA 2 again (RFC 1123 §4.2.3.1), or every later block would go out twice.
    const t = make({ size: 5000 });
    t.start(0);
    assert.deepEqual(sent(t.onTimeout(1000)), [1]);
    assert.deepEqual(sent(t.onAck(1, 1100)), [2]);
    assert.deepEqual(t.onAck(1, 1200), { event: 'duplicate-ignored', send: [] });
    assert.deepEqual(sent(t.onAck(2, 1300)), [3]);
    assert.deepEqual(t.stats, { dataSent: 4, dataResent: 1, oackSent: 0, duplicateAcks: 1, staleAcks: 0, timeouts: 1 });
  });

  test('with one block per window a duplicate is never answered, even for a block sent once', () => {
    const t = make({ size: 5000 });
    t.start(0);
    t.onAck(1, 1);
    for (let i = 0; i < 5; i++) assert.equal(t.onAck(1, 2 + i).event, 'duplicate-ignored');
  });

  test('before start() the machine refuses to be driven', () => {
    assert.throws(() => make().onAck(1, 0), /before start/);
    const t = make();
    t.start(0);
    assert.throws(() => t.start(0), /twice/);
  });

  test('bad configurations are refused', () => {
    for (const c of [{ blksize: 0 }, { windowsize: 0 }, { windowsize: 65536 }, { size: -1 }, { size: 1.5 }, { timeoutMs: 0 }, { maxTimeoutMs: 10 }, { maxRetries: -1 }]) {
      assert.throws(() => make(c), RangeError, JSON.stringify(c));
    }
  });
});

describe('ReadTransfer: OACK phase (RFC 2347)', () => {
  test('OACK first; ACK 0 starts DATA 1', () => {
    const t = make({ oack: true });
    assert.deepEqual(t.start(0), { event: 'started', send: [{ kind: 'oack' }] });
    assert.equal(t.status, 'oack');
    assert.equal(t.acked, -1);
    assert.deepEqual(sent(t.onAck(0, 5)), [1]);
    assert.equal(t.status, 'sending');
  });

  test('ACKs other than 0 while waiting for ACK 0 are ignored', () => {
    const t = make({ oack: true });
    t.start(0);
    for (const w of [1, 2, 65535]) assert.deepEqual(t.onAck(w, 1), { event: 'stale-ignored', send: [] });
    assert.equal(t.status, 'oack');
  });

  test('the OACK is retransmitted on timeout, with backoff, then the transfer fails', () => {
    const t = make({ oack: true, maxRetries: 2 });
    t.start(0);
    assert.deepEqual(t.onTimeout(1000), { event: 'timeout-resent', send: [{ kind: 'oack' }] });
    assert.equal(t.deadline, 3000);
    assert.deepEqual(sent(t.onTimeout(3000)), ['oack']);
    assert.equal(t.deadline, 7000);
    assert.deepEqual(t.onTimeout(7000), { event: 'failed', send: [] });
    assert.equal(t.failure, 'timeout');
    assert.equal(t.stats.oackSent, 3);
  });

  test('EDK2 answers the OACK with ERROR 8 when it only wanted tsize: the transfer ends quietly', () => {
    const t = make({ oack: true });
    t.start(0);
    assert.deepEqual(t.onPeerError(), { event: 'failed', send: [] });
    assert.equal(t.failure, 'peer-error');
    assert.equal(t.deadline, undefined);
  });

  test('ACK 0 for an OACK sent twice: the duplicate ACK 0 is the echo, never answered', () => {
    const t = make({ oack: true, windowsize: 4, size: 100_000 });
    t.start(0);
    t.onTimeout(1000); // OACK resent; the client ACKs both copies
    assert.deepEqual(sent(t.onAck(0, 1100)), [1, 2, 3, 4]);
    assert.equal(t.onAck(0, 1150).event, 'duplicate-ignored');
  });
});

describe('ReadTransfer: windows (RFC 7440)', () => {
  const windowed = (c: Partial<SenderConfig> = {}): ReadTransfer => {
    const t = make({ oack: true, windowsize: 4, size: 10 * 512 - 100, ...c });
    t.start(0);
    return t;
  };

  test('whole windows: 4 blocks per ACK; the last window is short', () => {
    const t = windowed();
    assert.deepEqual(sent(t.onAck(0, 1)), range(1, 4));
    assert.deepEqual(sent(t.onAck(4, 2)), range(5, 8));
    const last = t.onAck(8, 3).send;
    assert.deepEqual(sent({ send: last, event: 'advanced' }), [9, 10]);
    assert.equal((last[1] as Extract<Outgoing, { kind: 'data' }>).length, 412);
    assert.equal(t.onAck(10, 4).event, 'complete');
  });

  test('an ACK inside the window (block 6 lost) starts the next window after it (RFC 7440 §4)', () => {
    const t = windowed();
    t.onAck(0, 1);
    t.onAck(4, 2);
    const s = t.onAck(5, 3);
    assert.equal(s.event, 'sequence-error-resent');
    assert.deepEqual(sent(s), range(6, 9));
    assert.equal(t.stats.dataResent, 3, '6, 7 and 8 go out again: the client dropped them');
  });

  test('an ACK inside the window for a block sent twice only slides the window: it may answer our own resend', () => {
    const t = windowed({ size: 100 * 512 });
    t.onAck(0, 1);
    t.onAck(4, 2);
    t.onAck(5, 3); // 6–9 resent: 6, 7, 8 now sent twice
    const s = t.onAck(7, 4); // the client saw our second copy of 6 and reports 7
    assert.equal(s.event, 'slid');
    assert.deepEqual(sent(s), range(10, 11), 'only blocks never sent: the window is now 8–11');
    assert.equal(t.acked, 7);
    assert.deepEqual(sent(t.onTimeout(t.deadline!)), range(8, 11), 'the timer still recovers a real loss');
  });

  test('duplicate of an ACK for a block sent once: window resent once, further duplicates ignored', () => {
    const t = windowed();
    t.onAck(0, 1);
    assert.deepEqual(sent(t.onAck(4, 2)), range(5, 8));
    // Block 5 lost: the client sees 6, 7, 8 out of order and answers each with ACK 4.
    const first = t.onAck(4, 3);
    assert.equal(first.event, 'duplicate-resent');
    assert.deepEqual(sent(first), range(5, 8));
    assert.equal(t.deadline, 3 + 1000, 'the resend restarts the timer without backoff');
    assert.equal(t.onAck(4, 4).event, 'duplicate-ignored');
    assert.equal(t.onAck(4, 5).event, 'duplicate-ignored');
    assert.deepEqual(sent(t.onAck(8, 6)), [9, 10]);
    assert.equal(t.stats.duplicateAcks, 3);
  });

  test('after the window moves on, a duplicate of the new ACK may resend once again', () => {
    const t = windowed({ size: 100 * 512 });
    t.onAck(0, 1);
    t.onAck(4, 2);
    assert.equal(t.onAck(4, 3).event, 'duplicate-resent');
    t.onAck(8, 4);
    assert.equal(t.onAck(8, 5).event, 'duplicate-ignored', 'block 8 went out twice (window 5–8 was resent)');
    t.onAck(12, 6);
    assert.equal(t.onAck(12, 7).event, 'duplicate-resent', 'block 12 went out once');
  });

  test('duplicate of an ACK whose block went out twice is ignored: it may echo our own retransmission', () => {
    const t = windowed();
    t.onAck(0, 1);
    assert.deepEqual(sent(t.onTimeout(1001)), [1, 2, 3, 4]); // 1–4 now sent twice
    assert.deepEqual(sent(t.onAck(4, 1100)), [5, 6, 7, 8]);
    assert.equal(t.onAck(4, 1200).event, 'duplicate-ignored');
  });

  test('an ACK older than the last acknowledged one is stale', () => {
    const t = windowed();
    t.onAck(0, 1);
    t.onAck(4, 2);
    for (const w of [0, 1, 3]) assert.deepEqual(t.onAck(w, 3), { event: 'stale-ignored', send: [] });
    assert.equal(t.stats.staleAcks, 3);
  });

  test('timeout resends the whole window from the last ACK; progress resets the backoff', () => {
    const t = windowed({ size: 100 * 512 });
    t.onAck(0, 0);
    t.onAck(2, 10); // partial: window 3–6 sent at 10
    assert.equal(t.deadline, 1010);
    assert.deepEqual(t.onTimeout(1009), { event: 'not-due', send: [] });
    assert.deepEqual(sent(t.onTimeout(1010)), [3, 4, 5, 6]);
    assert.equal(t.deadline, 1010 + 2000);
    assert.deepEqual(sent(t.onTimeout(3010)), [3, 4, 5, 6]);
    assert.equal(t.deadline, 3010 + 4000);
    assert.deepEqual(sent(t.onAck(6, 3100)), [7, 8, 9, 10]);
    assert.equal(t.deadline, 3100 + 1000);
  });

  test('backoff doubles up to maxTimeoutMs, and maxRetries timeouts without progress fail the transfer', () => {
    const t = windowed({ maxRetries: 5, timeoutMs: 1000, maxTimeoutMs: 4000 });
    t.onAck(0, 0);
    const gaps: number[] = [];
    let now = 0;
    for (;;) {
      const due = t.deadline!;
      gaps.push(due - now);
      now = due;
      if (t.onTimeout(now).event === 'failed') break;
    }
    assert.deepEqual(gaps, [1000, 2000, 4000, 4000, 4000, 4000]);
    assert.equal(t.failure, 'timeout');
    assert.equal(t.stats.timeouts, 6);
  });
});

describe('ReadTransfer: block numbers roll over from 65535 to 0', () => {
  test('wireBlock', () => {
    assert.deepEqual([65534, 65535, 65536, 65537, 131072].map(wireBlock), [65534, 65535, 0, 1, 0]);
  });

  test('a 70,000-block file (8-byte blocks), window 8, lossless: wire numbers wrap and ACKs map back', () => {
    const blocks = 70_000;
    const t = make({ oack: true, windowsize: 8, blksize: 8, size: blocks * 8 - 3 });
    t.start(0);
    let s = t.onAck(0, 0);
    let expected = 1;
    let now = 0;
    while (s.event !== 'complete') {
      for (const o of s.send) {
        assert.ok(o.kind === 'data');
        assert.equal(o.block, expected);
        assert.equal(o.wire, expected % 65536);
        assert.equal(o.offset, (expected - 1) * 8);
        expected++;
      }
      const lastWire = (s.send.at(-1) as Extract<Outgoing, { kind: 'data' }>).wire;
      s = t.onAck(lastWire, ++now);
    }
    assert.equal(expected - 1, blocks);
    assert.equal(t.acked, blocks);
  });

  test('lock-step across the wrap: ACK 65535 → DATA 0, ACK 0 → DATA 1; a pre-wrap ACK then is stale', () => {
    const t = make({ blksize: 8, size: 70_000 * 8 });
    t.start(0);
    for (let b = 1; b < 65535; b++) t.onAck(b, b);
    assert.deepEqual(t.onAck(65535, 70_000).send, [{ kind: 'data', block: 65536, wire: 0, offset: 65535 * 8, length: 8 }]);
    assert.deepEqual(sent(t.onAck(0, 70_001)), [1]);
    assert.equal(t.acked, 65536);
    assert.equal(t.onAck(65534, 70_002).event, 'stale-ignored');
    assert.equal(t.onAck(0, 70_003).event, 'duplicate-ignored');
  });
});

describe('ReadTransfer: simulated lossy network (seeded)', () => {
  const prng = mulberry32;

  /** 'once': a sequence error is reported once per position, as U-Boot does; 'every': for
   *  every out-of-order block (the chattiest client RFC 7440 allows). */
  type Nack = 'once' | 'every';
  /** Each direction is FIFO, as one LAN path is, except that a `reorder` fraction of packets
   *  is held back by three latencies and overtaken. */
  interface Net {
    loss: number;
    duplicate: number;
    latency: number;
    reorder: number;
  }
  interface Result {
    done: boolean;
    received: number;
    stats: ReadTransfer['stats'];
    failure: string | undefined;
    elapsed: number;
  }

  /**
   * One transfer between ReadTransfer and an RFC 7440 client over a network that loses,
   * duplicates and reorders (jitter) packets. The client takes the next block in order only;
   * it ACKs at the end of a window and the last block, answers any other block with an ACK
   * of the last one it took (a "sequence error", RFC 7440 §4 — the echo that feeds a
   * sorcerer's apprentice), and re-ACKs after 1.5 s of silence.
   */
  function simulate(seed: number, cfg: Partial<SenderConfig>, net: Net, nack: Nack = 'once'): Result {
    const rnd = prng(seed);
    const t = make({ oack: true, timeoutMs: 1000, maxTimeoutMs: 8000, maxRetries: 6, ...cfg });
    const c = { ...base, oack: true, timeoutMs: 1000, maxTimeoutMs: 8000, maxRetries: 6, ...cfg };
    type Ev = { at: number; to: 'client' | 'server'; kind: 'oack' | 'data' | 'ack' | 'client-timer'; wire: number; length: number };
    const queue: Ev[] = [];
    const push = (e: Ev): void => {
      let i = queue.length;
      while (i > 0 && queue[i - 1]!.at > e.at) i--;
      queue.splice(i, 0, e);
    };
    const lastArrival = { client: 0, server: 0 };
    const transmit = (now: number, e: Omit<Ev, 'at'>): void => {
      for (let copies = rnd() < net.duplicate ? 2 : 1; copies > 0; copies--) {
        if (rnd() < net.loss) continue;
        if (rnd() < net.reorder) {
          push({ ...e, at: now + 4 * net.latency });
          continue;
        }
        // 0.01 ms apart: a window's packets leave one after another.
        const at = Math.max(now + net.latency, lastArrival[e.to] + 0.01);
        lastArrival[e.to] = at;
        push({ ...e, at });
      }
    };
    const serverSend = (now: number, s: Step): void => {
      for (const o of s.send) transmit(now, o.kind === 'oack' ? { to: 'client', kind: 'oack', wire: 0, length: 0 } : { to: 'client', kind: 'data', wire: o.wire, length: o.length });
    };
    // client state
    let expectWire = 1;
    let lastAcked = 0; // wire number of the last block taken (0 = the OACK)
    let lastNack = -1;
    let inWindow = 0;
    let received = 0;
    let clientDone = false;
    let clientTimerAt = 1500;
    const ack = (now: number, wire: number): void => transmit(now, { to: 'server', kind: 'ack', wire, length: 0 });
    push({ at: clientTimerAt, to: 'client', kind: 'client-timer', wire: 0, length: 0 });

    let now = 0;
    serverSend(now, t.start(now));
    // Stop a snowball (a broken rule) rather than simulate it for ever.
    const limit = 600_000;
    const maxSends = 20 * Math.ceil((c.size + 1) / c.blksize);
    while (now < limit && t.stats.dataSent < maxSends && (t.status === 'oack' || t.status === 'sending')) {
      const next = queue[0];
      const deadline = t.deadline!;
      if (!next || deadline <= next.at) {
        now = deadline;
        serverSend(now, t.onTimeout(now));
        continue;
      }
      queue.shift();
      now = next.at;
      if (next.to === 'server') {
        serverSend(now, t.onAck(next.wire, now));
      } else if (next.kind === 'client-timer') {
        if (clientDone) continue; // a finished client only answers (dallies), it sends nothing by itself
        if (now >= clientTimerAt) {
          ack(now, lastAcked);
          clientTimerAt = now + 1500;
        }
        push({ at: clientTimerAt, to: 'client', kind: 'client-timer', wire: 0, length: 0 });
      } else if (next.kind === 'oack') {
        ack(now, 0); // the client answers every OACK copy with ACK 0
      } else if (!clientDone && next.wire === expectWire) {
        received += next.length;
        lastAcked = next.wire;
        expectWire = (expectWire + 1) % 65536;
        clientTimerAt = now + 1500;
        const last = next.length < c.blksize;
        if (last) clientDone = true;
        if (last || ++inWindow === c.windowsize) {
          inWindow = 0;
          ack(now, next.wire);
        }
      } else {
        // Out of order, a duplicate, or data after the end (dallying): ACK what we have, and
        // count the next window from here (U-Boot's tftp_next_ack = cur + windowsize).
        if (nack === 'every' || lastNack !== lastAcked || clientDone) {
          inWindow = 0;
          lastNack = lastAcked;
          ack(now, lastAcked);
        }
      }
    }
    return { done: t.status === 'complete', received, stats: t.stats, failure: t.failure, elapsed: now };
  }

  const size = 300 * 512 + 17; // 301 blocks at 512
  const blocks = 301;

  test('no loss: exactly one send per block, any window', () => {
    for (const w of [1, 4, 16]) {
      const r = simulate(1, { size, windowsize: w }, { loss: 0, duplicate: 0, latency: 2, reorder: 0 });
      assert.ok(r.done);
      assert.equal(r.received, size);
      assert.equal(r.stats.dataSent, blocks, `window ${w}`);
    }
  });

  test('sorcerer\'s apprentice check: round trip longer than the timeout costs at most 2 sends per block', () => {
    // Every window times out once before its ACK arrives, and the client answers each resent
    // copy. A sender that resent on those answers would snowball.
    for (const w of [1, 4, 16]) {
      for (const nack of ['once', 'every'] as const) {
        const r = simulate(2, { size, windowsize: w }, { loss: 0, duplicate: 0, latency: 600, reorder: 0 }, nack);
        assert.ok(r.done, `window ${w}`);
        assert.equal(r.received, size);
        assert.ok(r.stats.dataSent <= 2 * blocks + w, `window ${w} ${nack}: ${r.stats.dataSent} sends for ${blocks} blocks`);
      }
    }
  });

  test('duplicated packets (5%) cost at most one window each: sends stay under 1.5 per block', () => {
    for (const w of [1, 8]) {
      const r = simulate(3, { size, windowsize: w }, { loss: 0, duplicate: 0.05, latency: 2, reorder: 0 }, 'every');
      assert.ok(r.done);
      assert.equal(r.received, size);
      assert.ok(r.stats.dataSent <= 1.5 * blocks, `window ${w}: ${r.stats.dataSent} sends`);
    }
  });

  test('100 seeds of loss (5%), duplication (2%) and reordering (1%): every transfer completes intact', () => {
    for (let seed = 100; seed < 200; seed++) {
      const w = [1, 2, 4, 8, 16][seed % 5]!;
      const nack = seed % 2 ? 'once' : 'every';
      const r = simulate(seed, { size, windowsize: w }, { loss: 0.05, duplicate: 0.02, latency: 5, reorder: 0.01 }, nack);
      const what = `seed ${seed} window ${w} ${nack}`;
      assert.ok(r.done, `${what}: ${r.failure ?? 'unfinished'} at ${r.elapsed} ms, ${JSON.stringify(r.stats)}`);
      assert.equal(r.received, size, what);
      // Resends are whole windows, so large windows pay more per loss; never a snowball.
      assert.ok(r.stats.dataSent < 3 * blocks, `${what}: ${r.stats.dataSent} sends`);
      assert.ok(r.elapsed < 120_000, `${what}: took ${r.elapsed} ms`);
    }
  });

  test('a dead client: the transfer fails after maxRetries timeouts', () => {
    const r = simulate(4, { size, windowsize: 4, maxRetries: 3 }, { loss: 1, duplicate: 0, latency: 1, reorder: 0 });
    assert.equal(r.done, false);
    assert.equal(r.failure, 'timeout');
    assert.equal(r.stats.oackSent, 4);
    assert.equal(r.elapsed, 1000 + 2000 + 4000 + 8000);
  });
});

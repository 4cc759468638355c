// The sending side of one read transfer (RRQ), as a state machine: it says which blocks to
// put on the wire and when, and the server does the I/O. No sockets, no timers: time is an
// argument (milliseconds from any monotonic clock), so loss, reordering and timeouts are
// tested by calling it.
//
// Blocks are counted from 1 without limit ("absolute" numbers); on the wire a block number is
// 16 bits and rolls over from 65535 to 0 (see wireBlock). Windows follow RFC 7440 §4: up to
// `windowsize` consecutive blocks go out, then the sender waits for the ACK of the last one.
// A timeout resends the whole window after the last ACK, with the timeout doubled each time.
//
// Which ACKs may resend data — the sorcerer's apprentice rule. RFC 7440 §4 has the client
// report a gap ("sequence error") by ACKing the last block it took in order, and the server
// start a new window after it. But a client also reports a gap when it receives a block a
// second time, and it receives blocks twice exactly when we resent them: answering those
// reports with more resends is the sorcerer's apprentice bug (RFC 1123 §4.2.3.1), where every
// later packet goes out twice, or W times with windows. So:
//   - An ACK for the last block sent (the end of a window) sends the next window: all new
//     blocks, never a resend.
//   - An ACK inside the window (block a < last sent) moves the window to a + 1. It resends
//     the blocks after a — as RFC 7440 asks — only if block a went out exactly once; then the
//     client cannot have seen a duplicate and the gap is real. If block a went out twice, the
//     ACK may answer our own duplicate: only blocks never sent before go out (the window
//     slides), and the timer recovers any real loss.
//   - A duplicate ACK (for the block already acknowledged) resends the window at most once
//     per window, and only if windowsize > 1 and the acknowledged block went out exactly
//     once. With one block per window traffic must equal plain RFC 1350 (RFC 7440 §4), where
//     RFC 1123 forbids resending on a duplicate ACK at all.
//   - An ACK older than the last acknowledged one is stale and ignored.
// So every resend is caused either by the timer, which backs off, or by an ACK that cannot be
// an echo of a resend; a late or duplicated packet costs at most one window, and no ACK
// pattern makes the traffic snowball (test/unit/tftp-transfer.test.ts simulates this).
import { BLOCK_MODULO } from './codec/index.ts';

export interface SenderConfig {
  /** Bytes of the file (after netascii conversion, if any). */
  readonly size: number;
  readonly blksize: number;
  readonly windowsize: number;
  /** An OACK goes first and the transfer waits for ACK 0 (RFC 2347). */
  readonly oack: boolean;
  /** First retransmission timeout; doubled after each timeout without progress. */
  readonly timeoutMs: number;
  /** Ceiling of the doubled timeout. */
  readonly maxTimeoutMs: number;
  /** Retransmissions of one window (or of the OACK) before the transfer fails. */
  readonly maxRetries: number;
}

/** One DATA packet to send: file bytes [offset, offset + length) as block `wire`. */
export interface BlockToSend {
  readonly kind: 'data';
  /** Absolute block number, 1-based. */
  readonly block: number;
  readonly wire: number;
  readonly offset: number;
  readonly length: number;
}
export type Outgoing = { readonly kind: 'oack' } | BlockToSend;

export const TRANSFER_EVENTS = {
  started: 'first packets sent',
  advanced: 'ACK for the end of the window: next window sent',
  'sequence-error-resent': 'ACK inside the window for a block sent once: window restarted after it (RFC 7440 §4)',
  slid: 'ACK inside the window for a block sent twice: only new blocks sent',
  complete: 'last block acknowledged',
  'duplicate-resent': 'duplicate ACK: window resent once (RFC 7440 §4 sequence error)',
  'duplicate-ignored': 'duplicate ACK ignored (sorcerer\'s apprentice rule)',
  'stale-ignored': 'ACK older than the last one acknowledged',
  'timeout-resent': 'no progress in time: window or OACK resent, timeout doubled',
  'not-due': 'timer fired before the deadline; nothing to do',
  failed: 'gave up',
  finished: 'transfer already over; packet ignored',
} as const;
export type TransferEvent = keyof typeof TRANSFER_EVENTS;

export interface Step {
  /** Packets to send now, in order. */
  readonly send: readonly Outgoing[];
  readonly event: TransferEvent;
}

/** Counters for metrics. */
export interface TransferStats {
  dataSent: number;
  dataResent: number;
  oackSent: number;
  duplicateAcks: number;
  staleAcks: number;
  timeouts: number;
}

export type TransferStatus = 'oack' | 'sending' | 'complete' | 'failed';
export type FailReason = 'timeout' | 'peer-error';

/**
 * The 16-bit block number on the wire. After 65535 comes 0: tftp-hpa's default (its
 * "rollover" option, 0 unless a client asks otherwise), and what iPXE's tftp_rx_data assumes
 * when it counts a wire 0 after a wrap as block 65536. Files over 65535 blocks (32 MiB at
 * 512 bytes) depend on it.
 */
export function wireBlock(block: number): number {
  return block % BLOCK_MODULO;
}

export class ReadTransfer {
  readonly #c: SenderConfig;
  readonly #last: number;
  #status: TransferStatus;
  #failure: FailReason | undefined;
  /** Highest block acknowledged; the OACK counts as block 0, so −1 before ACK 0. */
  #acked: number;
  #highestSent = 0;
  /** How often each block from #acked on has gone out (block 0 is the OACK). */
  readonly #sends = new Map<number, number>();
  #duplicateResent = false;
  #retries = 0;
  #rto: number;
  #deadline: number | undefined;
  #started = false;
  readonly #stats: TransferStats = { dataSent: 0, dataResent: 0, oackSent: 0, duplicateAcks: 0, staleAcks: 0, timeouts: 0 };

  constructor(config: SenderConfig) {
    checkConfig(config);
    this.#c = { ...config };
    // The last block is shorter than blksize; a size that is a multiple of blksize ends with
    // an empty block (RFC 1350 §6), so there is always one more block than full blocks.
    this.#last = Math.floor(config.size / config.blksize) + 1;
    this.#status = config.oack ? 'oack' : 'sending';
    this.#acked = config.oack ? -1 : 0;
    this.#rto = config.timeoutMs;
  }

  get status(): TransferStatus {
    return this.#status;
  }
  get failure(): FailReason | undefined {
    return this.#failure;
  }
  /** When onTimeout should be called; undefined once the transfer is over. */
  get deadline(): number | undefined {
    return this.#deadline;
  }
  /** Number of the last block of the file (absolute). */
  get lastBlock(): number {
    return this.#last;
  }
  /** Highest block acknowledged (absolute; −1 while waiting for ACK 0 of the OACK). */
  get acked(): number {
    return this.#acked;
  }
  get stats(): Readonly<TransferStats> {
    return { ...this.#stats };
  }

  /** The first packets: the OACK, or the first window of DATA when no options were accepted. */
  start(now: number): Step {
    if (this.#started) throw new Error('ReadTransfer.start called twice');
    this.#started = true;
    return { send: this.#sendCurrent(now), event: 'started' };
  }

  /** An ACK from the client's transfer id, with its 16-bit block number. */
  onAck(wire: number, now: number): Step {
    this.#requireStarted();
    if (this.#over()) return { send: [], event: 'finished' };
    const block = this.#unwrap(wire);
    if (block < 0 || block < this.#acked) {
      this.#stats.staleAcks++;
      return { send: [], event: 'stale-ignored' };
    }
    const sentOnce = this.#sends.get(block) === 1;
    if (block > this.#acked) return this.#advance(block, sentOnce, now);
    this.#stats.duplicateAcks++;
    if (this.#c.windowsize === 1 || !sentOnce || this.#duplicateResent) return { send: [], event: 'duplicate-ignored' };
    this.#duplicateResent = true;
    return { send: this.#sendWindow(now, this.#acked + 1), event: 'duplicate-resent' };
  }

  /** The retransmission timer. Early or repeated calls do nothing. */
  onTimeout(now: number): Step {
    this.#requireStarted();
    if (this.#over()) return { send: [], event: 'finished' };
    if (this.#deadline === undefined || now < this.#deadline) return { send: [], event: 'not-due' };
    this.#stats.timeouts++;
    if (++this.#retries > this.#c.maxRetries) return this.#fail('timeout');
    this.#rto = Math.min(this.#rto * 2, this.#c.maxTimeoutMs);
    return { send: this.#sendCurrent(now), event: 'timeout-resent' };
  }

  /** The client sent an ERROR (EDK2 does so right after the OACK when it only wanted tsize). */
  onPeerError(): Step {
    if (this.#over()) return { send: [], event: 'finished' };
    return this.#fail('peer-error');
  }

  #advance(block: number, sentOnce: boolean, now: number): Step {
    const insideWindow = block < this.#highestSent;
    this.#acked = block;
    this.#status = 'sending';
    this.#retries = 0;
    this.#rto = this.#c.timeoutMs;
    this.#duplicateResent = false;
    for (const b of this.#sends.keys()) if (b < block) this.#sends.delete(b);
    if (block >= this.#last) {
      this.#status = 'complete';
      this.#deadline = undefined;
      return { send: [], event: 'complete' };
    }
    if (!insideWindow) return { send: this.#sendWindow(now, block + 1), event: 'advanced' };
    if (sentOnce) return { send: this.#sendWindow(now, block + 1), event: 'sequence-error-resent' };
    return { send: this.#sendWindow(now, this.#highestSent + 1), event: 'slid' };
  }

  /** What the client waits for after a timeout: the OACK, or the window after #acked. */
  #sendCurrent(now: number): Outgoing[] {
    if (this.#status !== 'oack') return this.#sendWindow(now, this.#acked + 1);
    this.#deadline = now + this.#rto;
    this.#count(0);
    this.#stats.oackSent++;
    return [{ kind: 'oack' }];
  }

  /** Blocks from `from` to the end of the window after #acked, and restart the timer. */
  #sendWindow(now: number, from: number): BlockToSend[] {
    this.#deadline = now + this.#rto;
    const out: BlockToSend[] = [];
    const to = Math.min(this.#acked + this.#c.windowsize, this.#last);
    for (let b = from; b <= to; b++) {
      if (this.#count(b) > 1) this.#stats.dataResent++;
      this.#stats.dataSent++;
      const offset = (b - 1) * this.#c.blksize;
      out.push({ kind: 'data', block: b, wire: wireBlock(b), offset, length: Math.min(this.#c.blksize, this.#c.size - offset) });
    }
    this.#highestSent = Math.max(this.#highestSent, to);
    return out;
  }

  #count(block: number): number {
    const n = (this.#sends.get(block) ?? 0) + 1;
    this.#sends.set(block, n);
    return n;
  }

  /**
   * The absolute block an ACK's 16-bit number stands for: the latest one sent with that
   * number, i.e. the one in (highestSent − 65536, highestSent]. Everything the client can
   * legitimately acknowledge (#acked … highestSent, at most 65535 blocks) lies in that range;
   * anything else comes out below #acked and is treated as stale.
   */
  #unwrap(wire: number): number {
    const behind = (((this.#highestSent - wire) % BLOCK_MODULO) + BLOCK_MODULO) % BLOCK_MODULO;
    return this.#highestSent - behind;
  }

  #fail(reason: FailReason): Step {
    this.#status = 'failed';
    this.#failure = reason;
    this.#deadline = undefined;
    return { send: [], event: 'failed' };
  }

  #requireStarted(): void {
    if (!this.#started) throw new Error('ReadTransfer used before start()');
  }

  #over(): boolean {
    return this.#status === 'complete' || this.#status === 'failed';
  }
}

function checkConfig(c: SenderConfig): void {
  const whole = (name: keyof SenderConfig, min: number, max = Number.MAX_SAFE_INTEGER): void => {
    const v = c[name];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new RangeError(`ReadTransfer ${name} ${String(v)} is not an integer in ${min}–${max}`);
  };
  whole('size', 0);
  whole('blksize', 1);
  whole('windowsize', 1, BLOCK_MODULO - 1);
  whole('timeoutMs', 1);
  whole('maxTimeoutMs', c.timeoutMs);
  whole('maxRetries', 0);
}

// RFC 2347 option negotiation for a read request: which of the client's options the server
// accepts, with which values, and so whether the transfer starts with an OACK or with DATA 1.
// Pure: the file size and the server's limits are passed in.
//
// A value the server cannot use makes it ignore that option, never fail the request: RFC 2347
// lets a server leave options out of its OACK, and firmware does send odd values. tftp-hpa
// 5.2, which Debian 12 ships, fails the whole request with ERROR 8 instead (fixture
// tftpd-hpa-error-option-negotiation.bin, for blksize 7), and U-Boot boards are known to trip
// over that with their timeout option; newer tftp-hpa ignores such options too.
import {
  MAX_BLKSIZE,
  MAX_DECIMAL_DIGITS,
  MAX_TIMEOUT_S,
  MAX_WINDOWSIZE,
  MIN_BLKSIZE,
  MIN_TIMEOUT_S,
  MIN_WINDOWSIZE,
  DEFAULT_BLKSIZE,
  type TftpOption,
} from './codec/index.ts';

export interface ServerLimits {
  /** Largest block offered; blksizeForMtu() of the boot network, so no block is fragmented. */
  readonly maxBlksize: number;
  /** Largest window offered (RFC 7440). 1 turns windowing off. */
  readonly maxWindowsize: number;
  /** Cap on the bytes of one window (window × blksize), as tftp-hpa's max_windowbytes. */
  readonly maxWindowBytes: number;
}

export const IGNORE_REASONS = {
  'unknown-option': 'not an option this server implements',
  'not-a-number': 'value is not a decimal number',
  'out-of-range': 'value outside the range its RFC allows',
  'size-unknown': 'transfer size is not known in advance (netascii)',
  'no-windowing': 'window would be 1 block, the same as no option (RFC 7440 §4)',
} as const;
export type IgnoreReason = keyof typeof IGNORE_REASONS;

export interface Negotiation {
  /** The OACK's options in request order. Empty: send no OACK, start with DATA 1 (RFC 2347). */
  readonly oack: TftpOption[];
  readonly blksize: number;
  readonly windowsize: number;
  /** The client's retransmission timeout (RFC 2349), if it asked for one. */
  readonly timeoutMs: number | undefined;
  /** Options left out of the OACK and why, for the debug log. */
  readonly ignored: { name: string; value: string; why: IgnoreReason }[];
}

/**
 * The largest blksize whose DATA packets fit the MTU unfragmented: MTU − IP header (20 for
 * IPv4 without options, 40 for IPv6) − 8 (UDP) − 4 (TFTP). 1500 → 1468 over IPv4, as the
 * tftp-hpa manual recommends; 1448 over IPv6.
 */
export function blksizeForMtu(mtu: number, family: 4 | 6): number {
  const size = mtu - (family === 4 ? 20 : 40) - 8 - 4;
  return Math.min(MAX_BLKSIZE, Math.max(MIN_BLKSIZE, size));
}

/**
 * @param fileSize bytes the transfer will send, or undefined when not known beforehand
 *   (netascii conversion changes the length), in which case tsize is not answered.
 */
export function negotiate(requested: readonly TftpOption[], limits: ServerLimits, fileSize: number | undefined): Negotiation {
  checkLimits(limits);
  const ignored: Negotiation['ignored'] = [];
  const answers = new Map<string, string>();
  let blksize = DEFAULT_BLKSIZE;
  let timeoutMs: number | undefined;
  let windowRequest: number | undefined;

  for (const { name, value } of requested) {
    const skip = (why: IgnoreReason): void => {
      ignored.push({ name, value, why });
    };
    if (!KNOWN.has(name)) {
      skip('unknown-option');
      continue;
    }
    const n = decimal(value);
    if (n === undefined) {
      skip('not-a-number');
      continue;
    }
    switch (name) {
      case 'blksize':
        // RFC 2348: below 8 is invalid. Above the server's limit (even above 65464, as
        // tftp-hpa does) the server answers its own limit: the OACK value "must be less than
        // or equal to the value specified by the client".
        if (n < MIN_BLKSIZE) skip('out-of-range');
        else {
          blksize = Math.min(n, limits.maxBlksize);
          answers.set(name, String(blksize));
        }
        break;
      case 'timeout':
        // RFC 2349: 1–255 s, and the OACK must repeat the client's value unchanged.
        if (n < MIN_TIMEOUT_S || n > MAX_TIMEOUT_S) skip('out-of-range');
        else {
          answers.set(name, String(n));
          timeoutMs = n * 1000;
        }
        break;
      case 'tsize':
        // RFC 2349: an RRQ carries "0" and the OACK the real size. Another number is answered
        // the same way (tftp-hpa would echo it back, telling the client a wrong size).
        if (fileSize === undefined) skip('size-unknown');
        else answers.set(name, String(fileSize));
        break;
      case 'windowsize':
        // Decided after the loop: its byte cap depends on blksize, which may come later.
        if (n < MIN_WINDOWSIZE || n > MAX_WINDOWSIZE) skip('out-of-range');
        else windowRequest = n;
        break;
    }
  }

  let windowsize = 1;
  if (windowRequest !== undefined) {
    const w = Math.min(windowRequest, limits.maxWindowsize, Math.floor(limits.maxWindowBytes / blksize));
    if (w < 2) ignored.push({ name: 'windowsize', value: String(windowRequest), why: 'no-windowing' });
    else {
      windowsize = w;
      answers.set('windowsize', String(w));
    }
  }

  // Request order (RFC 2347 says order is not significant; this makes an OACK read like its RRQ).
  const oack = requested.filter((o) => answers.has(o.name)).map((o) => ({ name: o.name, value: answers.get(o.name)! }));
  return { oack, blksize, windowsize, timeoutMs, ignored };
}

const KNOWN = new Set(['blksize', 'timeout', 'tsize', 'windowsize']);

/** Plain ASCII digits only (no sign, space or hex, which strtoumax would take), ≤ 16 of them. */
function decimal(s: string): number | undefined {
  if (!s || s.length > MAX_DECIMAL_DIGITS || !/^[0-9]+$/.test(s)) return undefined;
  return Number(s);
}

function checkLimits(l: ServerLimits): void {
  const bad = (what: string, v: number, lo: number, hi: number): never => {
    throw new RangeError(`TFTP ${what} ${v} is outside ${lo}–${hi}`);
  };
  if (!Number.isInteger(l.maxBlksize) || l.maxBlksize < MIN_BLKSIZE || l.maxBlksize > MAX_BLKSIZE) bad('maxBlksize', l.maxBlksize, MIN_BLKSIZE, MAX_BLKSIZE);
  if (!Number.isInteger(l.maxWindowsize) || l.maxWindowsize < MIN_WINDOWSIZE || l.maxWindowsize > MAX_WINDOWSIZE) bad('maxWindowsize', l.maxWindowsize, MIN_WINDOWSIZE, MAX_WINDOWSIZE);
  if (!Number.isInteger(l.maxWindowBytes) || l.maxWindowBytes < 1) bad('maxWindowBytes', l.maxWindowBytes, 1, Infinity);
}

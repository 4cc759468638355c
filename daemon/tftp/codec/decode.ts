// Bytes → TFTP packet. Every byte is hostile: each read is bounds-checked first, every way a
// datagram can fail has its own reason, and nothing here throws.
import { HEADER_BYTES, MAX_BLKSIZE, MAX_OPTIONS, MAX_REQUEST_BYTES, OPCODE_BYTES } from './limits.ts';
import { MODES, type DecodeReason, type DecodeResult, type Mode, type TftpOption } from './packet.ts';

const fail = (reason: DecodeReason): DecodeResult => ({ ok: false, reason });

export function decode(buf: Uint8Array): DecodeResult {
  if (buf.length < OPCODE_BYTES) return fail('too-short');
  const op = u16(buf, 0);
  switch (op) {
    case 1:
    case 2:
      return decodeRequest(buf, op === 1 ? 'rrq' : 'wrq');
    case 3:
      // An empty block is legal: it ends a file whose size is a multiple of blksize.
      if (buf.length < HEADER_BYTES) return fail('data-truncated');
      if (buf.length - HEADER_BYTES > MAX_BLKSIZE) return fail('data-too-long');
      return { ok: true, packet: { op: 'data', block: u16(buf, 2), data: buf.subarray(HEADER_BYTES) } };
    case 4:
      // Exactly 4: an ACK carries nothing else, and no client seen pads it.
      if (buf.length !== HEADER_BYTES) return fail('ack-length');
      return { ok: true, packet: { op: 'ack', block: u16(buf, 2) } };
    case 5:
      return decodeError(buf);
    case 6: {
      const options = decodeOptions(buf, OPCODE_BYTES);
      if (!Array.isArray(options)) return options;
      if (!options.length) return fail('oack-empty');
      return { ok: true, packet: { op: 'oack', options } };
    }
    default:
      return fail('unknown-opcode');
  }
}

/** RRQ/WRQ: | opcode | filename | 0 | mode | 0 | (option | 0 | value | 0)* | (RFC 2347) */
function decodeRequest(buf: Uint8Array, op: 'rrq' | 'wrq'): DecodeResult {
  if (buf.length > MAX_REQUEST_BYTES) return fail('request-too-long');
  const filename = cstring(buf, OPCODE_BYTES);
  if (!filename) return fail('filename-unterminated');
  if (!filename.text) return fail('filename-empty');
  if (filename.next === buf.length) return fail('mode-missing');
  const mode = cstring(buf, filename.next);
  if (!mode) return fail('mode-unterminated');
  const m = asciiLower(mode.text);
  if (!isMode(m)) return fail('unknown-mode');
  const options = decodeOptions(buf, mode.next);
  if (!Array.isArray(options)) return options;
  return { ok: true, packet: { op, filename: filename.text, mode: m, options } };
}

/**
 * The option list of a request or OACK, from `pos` to the end of the datagram.
 *
 * Names are lower-cased: RFC 2347 makes them case-insensitive, and one spelling lets
 * negotiate.ts compare with ===. Order is kept (the RFC says it is not significant; keeping it
 * makes an OACK read like its request). A name given twice is refused: the RFC is silent,
 * tftp-hpa would answer both copies in one OACK, and no real client sends it.
 *
 * Padding: an empty string where a name should start ends the list, and only NULs may follow.
 * tftp-hpa stops at the first empty string the same way, so requests padded with zeros (some
 * PXE ROMs send fixed-size buffers) keep working; anything else after the padding is refused.
 */
function decodeOptions(buf: Uint8Array, pos: number): TftpOption[] | DecodeResult {
  const options: TftpOption[] = [];
  const seen = new Set<string>();
  while (pos < buf.length) {
    if (buf[pos] === 0) {
      for (let i = pos; i < buf.length; i++) if (buf[i] !== 0) return fail('junk-after-padding');
      break;
    }
    const name = cstring(buf, pos);
    if (!name) return fail('option-name-unterminated');
    if (name.next === buf.length) return fail('option-value-missing');
    const value = cstring(buf, name.next);
    if (!value) return fail('option-value-unterminated');
    pos = value.next;
    const key = asciiLower(name.text);
    if (seen.has(key)) return fail('option-duplicate');
    if (options.length === MAX_OPTIONS) return fail('too-many-options');
    seen.add(key);
    options.push({ name: key, value: value.text });
  }
  return options;
}

/**
 * ERROR: | 05 | code | message | 0 |. The message is read up to its NUL or, when a peer
 * forgot the NUL, to the end of the datagram: an ERROR ends a transfer either way, and
 * refusing it would leave the server retransmitting to a client that has given up.
 */
function decodeError(buf: Uint8Array): DecodeResult {
  if (buf.length < HEADER_BYTES) return fail('error-truncated');
  let end = buf.indexOf(0, HEADER_BYTES);
  if (end < 0) end = buf.length;
  return { ok: true, packet: { op: 'error', code: u16(buf, 2), message: latin1(buf, HEADER_BYTES, end) } };
}

function u16(buf: Uint8Array, at: number): number {
  return (buf[at]! << 8) | buf[at + 1]!;
}

/** A NUL-terminated string starting at `from`, and the offset after its NUL; none if no NUL. */
function cstring(buf: Uint8Array, from: number): { text: string; next: number } | undefined {
  const end = buf.indexOf(0, from);
  if (end < 0) return undefined;
  return { text: latin1(buf, from, end), next: end + 1 };
}

function latin1(buf: Uint8Array, from: number, to: number): string {
  let s = '';
  for (let i = from; i < to; i++) s += String.fromCharCode(buf[i]!);
  return s;
}

/** Lower-cases A–Z only, so a byte ≥ 0x80 stays the same byte. */
export function asciiLower(s: string): string {
  return s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

function isMode(s: string): s is Mode {
  return (MODES as readonly string[]).includes(s);
}

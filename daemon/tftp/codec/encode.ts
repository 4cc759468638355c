// TFTP packet → bytes. Packets come from our own code, so a packet that cannot be put on the
// wire (a block number past 16 bits, a NUL inside a string, a character past U+00FF) is a bug
// and throws a RangeError rather than sending something a client would misread.
import { HEADER_BYTES, MAX_BLKSIZE, MAX_REQUEST_BYTES, OPCODE_BYTES } from './limits.ts';
import { OPCODES, type Packet, type TftpOption } from './packet.ts';

export function encode(p: Packet): Uint8Array {
  switch (p.op) {
    case 'rrq':
    case 'wrq': {
      if (!p.filename) throw new RangeError('TFTP request without a filename');
      const out = strings(OPCODES[p.op], [p.filename, p.mode, ...flatten(p.options)]);
      if (out.length > MAX_REQUEST_BYTES) throw new RangeError(`TFTP request of ${out.length} bytes exceeds ${MAX_REQUEST_BYTES} (RFC 2347)`);
      return out;
    }
    case 'oack':
      if (!p.options.length) throw new RangeError('OACK without options');
      return strings(OPCODES.oack, flatten(p.options));
    case 'data': {
      if (p.data.length > MAX_BLKSIZE) throw new RangeError(`DATA block of ${p.data.length} bytes exceeds ${MAX_BLKSIZE}`);
      const out = header(OPCODES.data, p.block, p.data.length);
      out.set(p.data, HEADER_BYTES);
      return out;
    }
    case 'ack':
      return header(OPCODES.ack, p.block, 0);
    case 'error': {
      const msg = bytes(p.message, 'error message');
      const out = header(OPCODES.error, p.code, msg.length + 1);
      out.set(msg, HEADER_BYTES); // the final byte stays 0: the NUL terminator
      return out;
    }
  }
}

/** | opcode | u16 | …extra bytes, zeroed | */
function header(opcode: number, value: number, extra: number): Uint8Array {
  u16Check(value);
  const out = new Uint8Array(HEADER_BYTES + extra);
  out[1] = opcode;
  out[2] = value >> 8;
  out[3] = value & 0xff;
  return out;
}

/** | opcode | s1 | 0 | s2 | 0 | … | */
function strings(opcode: number, parts: string[]): Uint8Array {
  const encoded = parts.map((s) => bytes(s, 'string'));
  const out = new Uint8Array(OPCODE_BYTES + encoded.reduce((n, b) => n + b.length + 1, 0));
  out[1] = opcode;
  let at = OPCODE_BYTES;
  for (const b of encoded) {
    out.set(b, at);
    at += b.length + 1; // skipping one zeroed byte writes the NUL
  }
  return out;
}

function flatten(options: readonly TftpOption[]): string[] {
  return options.flatMap((o) => {
    if (!o.name) throw new RangeError('TFTP option with an empty name');
    return [o.name, o.value];
  });
}

/** One byte per character (Latin-1), the inverse of the decoder's reading. */
function bytes(s: string, what: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0 || c > 0xff) throw new RangeError(`${what} ${JSON.stringify(s)} has a character that cannot be sent (U+${c.toString(16).padStart(4, '0')})`);
    out[i] = c;
  }
  return out;
}

function u16Check(n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff) throw new RangeError(`${n} does not fit a 16-bit TFTP field`);
}

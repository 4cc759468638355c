// What a datagram claims to be before (or without) decoding it whole: the server answers a
// malformed request with ERROR 4 but drops any other malformed datagram silently.
import { OPCODE_BYTES } from './limits.ts';
import { OPCODES, type Op } from './packet.ts';

const BY_CODE = new Map<number, Op>(Object.entries(OPCODES).map(([op, code]) => [code, op as Op]));

/** The operation named by the first two bytes, if they name one (RFC 1350 §5). */
export function peekOp(buf: Uint8Array): Op | undefined {
  if (buf.length < OPCODE_BYTES) return undefined;
  return BY_CODE.get((buf[0]! << 8) | buf[1]!);
}

// RMCP and ASF (IPMI v2.0 §13.1.3, DMTF DSP0136 "ASF 2.0" §3.2.4): the 4-byte RMCP header every
// datagram on port 623 starts with, and the ASF presence ping/pong used to tell "host down"
// from "no BMC" before any session is attempted.
import { type Decoded, fail, ok } from './result.ts';

export const RMCP_VERSION = 0x06;
/** RMCP sequence 0xff: "do not send an RMCP ACK" — IPMI never wants one (§13.1.3). */
export const RMCP_NO_ACK = 0xff;
export const RMCP_CLASS = { asf: 0x06, ipmi: 0x07 } as const;
/** ASF's IANA enterprise number, big-endian on the wire (DSP0136 §3.2.4.1). */
export const ASF_IANA = 4542;
const ASF_PING = 0x80;
const ASF_PONG = 0x40;

export function rmcpHeader(cls: number): Buffer {
  return Buffer.from([RMCP_VERSION, 0x00, RMCP_NO_ACK, cls]);
}

/*
 * ASF message, after the RMCP header:
 *   IANA (4, BE) | type (1) | tag (1) | reserved (1) | data length (1) | data
 */
export function encodeAsfPing(tag: number): Buffer {
  const b = Buffer.alloc(12);
  rmcpHeader(RMCP_CLASS.asf).copy(b);
  b.writeUInt32BE(ASF_IANA, 4);
  b[8] = ASF_PING;
  b[9] = tag & 0xff;
  return b;
}

export interface AsfPong {
  tag: number;
  /** Supported entities byte bit 7: the managed node has IPMI. */
  ipmi: boolean;
  /** OEM IANA of the BMC (0 or 4542 when none). */
  iana: number;
}

/** Pong data is 16 bytes: IANA (4), OEM (4), entities (1), interactions (1), reserved (6). */
const PONG_DATA = 16;

export function decodeAsf(body: Uint8Array): Decoded<AsfPong | { ping: number }> {
  if (body.length < 8) return fail('asf-short');
  const b = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (b.readUInt32BE(0) !== ASF_IANA) return fail('asf-iana');
  const type = b[4]!;
  const tag = b[5]!;
  if (type === ASF_PING) return ok({ ping: tag });
  if (type !== ASF_PONG) return fail('asf-type');
  if (b[7]! < PONG_DATA || b.length < 8 + PONG_DATA) return fail('asf-pong-short');
  return ok({ tag, iana: b.readUInt32BE(8), ipmi: (b[16]! & 0x80) !== 0 });
}

export function encodeAsfPong(tag: number, ipmi = true): Buffer {
  const b = Buffer.alloc(4 + 8 + PONG_DATA);
  rmcpHeader(RMCP_CLASS.asf).copy(b);
  b.writeUInt32BE(ASF_IANA, 4);
  b[8] = ASF_PONG;
  b[9] = tag & 0xff;
  b[11] = PONG_DATA;
  b.writeUInt32BE(ASF_IANA, 12);
  b[20] = ipmi ? 0x81 : 0x01; // IPMI supported; ASF 1.0
  return b;
}

/** Splits a datagram into its RMCP class and body. */
export function decodeRmcp(datagram: Uint8Array): Decoded<{ cls: number; body: Uint8Array }> {
  if (datagram.length < 4) return fail('rmcp-short');
  if (datagram[0] !== RMCP_VERSION) return fail('rmcp-version');
  const cls = datagram[3]! & 0x1f; // bit 7: ACK flag; bits 4:0 the class
  if ((datagram[3]! & 0x80) !== 0) return fail('rmcp-ack');
  if (cls !== RMCP_CLASS.asf && cls !== RMCP_CLASS.ipmi) return fail('rmcp-class');
  return ok({ cls, body: datagram.subarray(4) });
}

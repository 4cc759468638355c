// IPMI messages on LAN (IPMI v2.0 §13.8, Table 13-4): the bus addresses, NetFn/LUN, sequence
// and command around a request's data or a response's completion code and data, with the
// two two's-complement checksums.
import { type Decoded, fail, ok } from './result.ts';

/** BMC responder address (§5.5: the BMC is 20h on IPMB). */
export const BMC_ADDRESS = 0x20;
/** Remote console software ID 81h (§5.5, Table 5-4: software IDs 81h–8Dh are system software). */
export const CONSOLE_ADDRESS = 0x81;

export const NETFN = { chassis: 0x00, app: 0x06 } as const;

export interface IpmiRequest {
  netFn: number;
  cmd: number;
  /** 6-bit requester sequence number: how responses are matched to requests. */
  seq: number;
  data: Uint8Array;
  rsAddr?: number;
  rqAddr?: number;
  lun?: number;
}

export interface IpmiResponse {
  /** The response NetFn (request NetFn + 1). */
  netFn: number;
  cmd: number;
  seq: number;
  completionCode: number;
  data: Buffer;
  rqAddr: number;
  rsAddr: number;
}

const checksum = (b: Uint8Array, from: number, to: number): number => {
  let s = 0;
  for (let i = from; i < to; i++) s = (s + b[i]!) & 0xff;
  return (0x100 - s) & 0xff;
};

/*
 * Request:  rsAddr | netFn<<2 | rsLUN | chk1 | rqAddr | rqSeq<<2 | rqLUN | cmd | data | chk2
 */
export function encodeRequest(r: IpmiRequest): Buffer {
  const b = Buffer.alloc(7 + r.data.length);
  b[0] = r.rsAddr ?? BMC_ADDRESS;
  b[1] = ((r.netFn & 0x3f) << 2) | ((r.lun ?? 0) & 3);
  b[2] = checksum(b, 0, 2);
  b[3] = r.rqAddr ?? CONSOLE_ADDRESS;
  b[4] = ((r.seq & 0x3f) << 2) | ((r.lun ?? 0) & 3);
  b[5] = r.cmd;
  Buffer.from(r.data).copy(b, 6);
  b[b.length - 1] = checksum(b, 3, b.length - 1);
  return b;
}

/*
 * Response: rqAddr | netFn<<2 | rqLUN | chk1 | rsAddr | rqSeq<<2 | rsLUN | cmd | completion | data | chk2
 */
export function encodeResponse(r: IpmiResponse): Buffer {
  const b = Buffer.alloc(8 + r.data.length);
  b[0] = r.rqAddr;
  b[1] = (r.netFn & 0x3f) << 2;
  b[2] = checksum(b, 0, 2);
  b[3] = r.rsAddr;
  b[4] = (r.seq & 0x3f) << 2;
  b[5] = r.cmd;
  b[6] = r.completionCode;
  r.data.copy(b, 7);
  b[b.length - 1] = checksum(b, 3, b.length - 1);
  return b;
}

export function decodeResponse(p: Uint8Array): Decoded<IpmiResponse> {
  // Some BMCs answer an unsupported command without a completion code byte: 7 is the floor.
  if (p.length < 7) return fail('message-short');
  if (checksum(p, 0, 2) !== p[2]) return fail('message-checksum-1');
  if (checksum(p, 3, p.length - 1) !== p[p.length - 1]) return fail('message-checksum-2');
  if ((p[1]! >> 2) % 2 !== 1) return fail('message-not-a-response');
  return ok({
    rqAddr: p[0]!,
    netFn: p[1]! >> 2,
    rsAddr: p[3]!,
    seq: p[4]! >> 2,
    cmd: p[5]!,
    completionCode: p.length > 7 ? p[6]! : 0xff,
    data: Buffer.from(p.subarray(7, p.length - 1)),
  });
}

export function decodeRequest(p: Uint8Array): Decoded<Required<IpmiRequest>> {
  if (p.length < 7) return fail('message-short');
  if (checksum(p, 0, 2) !== p[2]) return fail('message-checksum-1');
  if (checksum(p, 3, p.length - 1) !== p[p.length - 1]) return fail('message-checksum-2');
  if ((p[1]! >> 2) % 2 !== 0) return fail('message-not-a-request');
  return ok({
    rsAddr: p[0]!,
    netFn: p[1]! >> 2,
    lun: p[1]! & 3,
    rqAddr: p[3]!,
    seq: p[4]! >> 2,
    cmd: p[5]!,
    data: Buffer.from(p.subarray(6, p.length - 1)),
  });
}

/** Generic completion codes (§5.2, Table 5-2). */
const COMPLETION: Readonly<Record<number, string>> = {
  0xc0: 'node busy',
  0xc1: 'invalid command',
  0xc2: 'command invalid for given LUN',
  0xc3: 'timeout while processing command',
  0xc4: 'out of space',
  0xc5: 'reservation canceled or invalid',
  0xc6: 'request data truncated',
  0xc7: 'request data length invalid',
  0xc8: 'request data field length limit exceeded',
  0xc9: 'parameter out of range',
  0xca: 'cannot return number of requested data bytes',
  0xcb: 'requested sensor, data, or record not present',
  0xcc: 'invalid data field in request',
  0xcd: 'command illegal for specified sensor or record type',
  0xce: 'command response could not be provided',
  0xcf: 'cannot execute duplicated request',
  0xd0: 'SDR repository in update mode',
  0xd1: 'device in firmware update mode',
  0xd2: 'BMC initialization in progress',
  0xd3: 'destination unavailable',
  0xd4: 'insufficient privilege level',
  0xd5: 'command not supported in present state',
  0xd6: 'command sub-function disabled or unavailable',
  0xff: 'unspecified error',
};

export const completionText = (cc: number): string => COMPLETION[cc] ?? `completion code 0x${cc.toString(16).padStart(2, '0')}`;

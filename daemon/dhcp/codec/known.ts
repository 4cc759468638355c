// The options a boot server reads, typed. decode() only checks framing; a known option whose
// value breaks its format (53 of two bytes, 97 of 16) is reported here as a problem and left
// out of the typed view, the rest of the message still usable — the server decides whether
// a problem makes the request unanswerable (no usable 53 does).
import type { DhcpMessage } from './message.ts';
import type { DhcpOption } from './options.ts';
import { decodeIpxeOptions, type IpxeOptions } from './ipxe.ts';
import {
  decodeClientArch,
  decodeClientMachineId,
  decodeClientNdi,
  decodePxeVendorOptions,
  decodeVendorClass,
  type ClientMachineId,
  type ClientNdi,
  type PxeVendorOptions,
  type VendorClass,
} from './pxe.ts';
import { decodeRelayAgentInfo, type RelayAgentInfo } from './relay.ts';
import {
  decodeClientId,
  decodeCodeList,
  decodeIp,
  decodeIpList,
  decodeMaxMessageSize,
  decodeMessageType,
  decodeText,
  decodeU32,
  type ClientId,
  type MessageType,
} from './standard.ts';
import type { Parsed } from './suboptions.ts';
import { decodeUserClass, type UserClass } from './user-class.ts';

export interface KnownOptions {
  subnetMask?: string; // 1
  routers?: string[]; // 3
  dnsServers?: string[]; // 6
  hostname?: string; // 12
  domainName?: string; // 15
  broadcastAddress?: string; // 28
  requestedIp?: string; // 50
  leaseTime?: number; // 51, seconds; 0xffffffff = infinite
  messageType?: MessageType; // 53
  serverId?: string; // 54
  parameterRequestList?: number[]; // 55
  message?: string; // 56
  maxMessageSize?: number; // 57
  renewalTime?: number; // 58 (T1)
  rebindingTime?: number; // 59 (T2)
  vendorClass?: VendorClass; // 60
  clientId?: ClientId; // 61
  tftpServerName?: string; // 66
  bootfileName?: string; // 67
  userClass?: UserClass; // 77
  relayAgent?: RelayAgentInfo; // 82
  clientArch?: number[]; // 93
  clientNdi?: ClientNdi; // 94
  clientMachineId?: ClientMachineId; // 97
  /** 43 read as PXE sub-options: only when 60 says PXEClient (43's format is the vendor's). */
  pxe?: PxeVendorOptions;
  ipxe?: IpxeOptions; // 175
}

type Decoders = { [K in keyof KnownOptions]-?: readonly [code: number, decode: (data: Uint8Array) => Parsed<NonNullable<KnownOptions[K]>>] };

const DECODERS: Omit<Decoders, 'pxe'> = {
  subnetMask: [1, decodeIp],
  routers: [3, decodeIpList],
  dnsServers: [6, decodeIpList],
  hostname: [12, decodeText],
  domainName: [15, decodeText],
  broadcastAddress: [28, decodeIp],
  requestedIp: [50, decodeIp],
  leaseTime: [51, decodeU32],
  messageType: [53, decodeMessageType],
  serverId: [54, decodeIp],
  parameterRequestList: [55, decodeCodeList],
  message: [56, decodeText],
  maxMessageSize: [57, decodeMaxMessageSize],
  renewalTime: [58, decodeU32],
  rebindingTime: [59, decodeU32],
  vendorClass: [60, decodeVendorClass],
  clientId: [61, decodeClientId],
  tftpServerName: [66, decodeText],
  bootfileName: [67, decodeText],
  userClass: [77, decodeUserClass],
  relayAgent: [82, decodeRelayAgentInfo],
  clientArch: [93, decodeClientArch],
  clientNdi: [94, decodeClientNdi],
  clientMachineId: [97, decodeClientMachineId],
  ipxe: [175, decodeIpxeOptions],
};

export interface OptionProblem {
  code: number;
  problem: string;
}

export interface KnownRead {
  known: KnownOptions;
  problems: OptionProblem[];
}

export function getOption(m: Pick<DhcpMessage, 'options'>, code: number): DhcpOption | undefined {
  return m.options.find((o) => o.code === code);
}

export function readKnownOptions(m: Pick<DhcpMessage, 'options'>): KnownRead {
  const known: KnownOptions = {};
  const problems: OptionProblem[] = [];
  const take = <K extends keyof typeof DECODERS>(key: K, [code, decodeValue]: (typeof DECODERS)[K]): void => {
    const o = getOption(m, code);
    if (!o) return;
    const r = decodeValue(o.data);
    if (r.ok) known[key] = r.value as KnownOptions[K];
    else problems.push({ code, problem: r.problem });
  };
  for (const key of Object.keys(DECODERS) as (keyof typeof DECODERS)[]) take(key, DECODERS[key]);
  const vendor = getOption(m, 43);
  if (vendor && known.vendorClass?.boot === 'PXEClient') {
    const r = decodePxeVendorOptions(vendor.data);
    if (r.ok) known.pxe = r.value;
    else problems.push({ code: 43, problem: r.problem });
  }
  problems.sort((a, b) => a.code - b.code);
  return { known, problems };
}

// The BOOTP/DHCPv4 codec: bytes ⇄ typed message, no sockets, no clock, no logger.
// decode() → { ok, message, framing } | { ok: false, reason, detail }; readKnownOptions()
// types the options a boot server uses; buildReply() + encode() answer a request.
export { decode, encode, wireOrder, HTYPE_ETHERNET, type DhcpMessage, type Decoded, type Encoded, type EncodeLimits, type Op } from './message.ts';
export { type DhcpOption, type OptionFraming, type OptionField } from './options.ts';
export { REJECT_REASONS, type RejectReason, type Rejection } from './reasons.ts';
export { getOption, readKnownOptions, type KnownOptions, type KnownRead, type OptionProblem } from './known.ts';
export { MESSAGE_TYPES, type MessageType, type ClientId } from './standard.ts';
export {
  CLIENT_ARCHITECTURES,
  DISCOVERY_CONTROL,
  PXE,
  parseVendorClass,
  type ClientMachineId,
  type ClientNdi,
  type PxeVendorOptions,
  type VendorClass,
} from './pxe.ts';
export { IPXE, IPXE_FEATURES, type IpxeOptions } from './ipxe.ts';
export { RELAY_SUBOPTION, printable, type RelayAgentInfo } from './relay.ts';
export { userClassNames, type UserClass } from './user-class.ts';
export { type SubOption, type Parsed } from './suboptions.ts';
export { option } from './build.ts';
export { buildReply, maxReplyLength, type ReplySpec } from './reply.ts';
export * as limits from './limits.ts';

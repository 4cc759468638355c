// Option 82, relay agent information (RFC 3046): sub-options a relay adds to a client's
// request. The server reads them to know where the client is (which switch port) and must
// echo the whole option, byte for byte, in its reply (RFC 3046 §2.2): the relay may strip
// it and forward only replies that carry what it sent. The echo uses the raw value kept
// in message.options; the typed view is for matching.
import { parsed, parseSubOptions, problem, type Parsed, type SubOption } from './suboptions.ts';
import { readIpv4 } from './wire.ts';

/** Sub-option codes: RFC 3046 §2.0 (1, 2), RFC 3527 (5), RFC 3993 (6), RFC 5107 (11), RFC 6925 (12). */
export const RELAY_SUBOPTION = {
  CIRCUIT_ID: 1,
  REMOTE_ID: 2,
  LINK_SELECTION: 5,
  SUBSCRIBER_ID: 6,
  SERVER_ID_OVERRIDE: 11,
  RELAY_ID: 12,
} as const;

export interface RelayAgentInfo {
  /** The option's whole value as received: what the reply echoes. */
  raw: Uint8Array;
  /** Agent circuit ID: the port or VLAN the request came in on; often text, not always. */
  circuitId?: Uint8Array;
  /** Agent remote ID: the relay itself (often its MAC or name). */
  remoteId?: Uint8Array;
  /** The subnet the client is on when giaddr is not in it (RFC 3527). */
  linkSelection?: string;
  /** Address the relay wants the client to use as server identifier (RFC 5107). */
  serverIdOverride?: string;
  /** Every sub-option in order, the ones above included. */
  subOptions: SubOption[];
}

/**
 * Sub-options are code/length/value with no PAD or END (RFC 3046 §2.0), at least one. A
 * 4-byte sub-option 5 or 11 is read as an address; any other length is kept only in
 * subOptions, since the relay's intent is then unclear.
 */
export function decodeRelayAgentInfo(data: Uint8Array): Parsed<RelayAgentInfo> {
  const subs = parseSubOptions(data, false);
  if (!subs.ok) return subs;
  if (subs.value.length === 0) return problem('no sub-options');
  const out: RelayAgentInfo = { raw: data, subOptions: subs.value };
  for (const s of subs.value) {
    if (s.code === RELAY_SUBOPTION.CIRCUIT_ID) out.circuitId ??= s.data;
    else if (s.code === RELAY_SUBOPTION.REMOTE_ID) out.remoteId ??= s.data;
    else if (s.code === RELAY_SUBOPTION.LINK_SELECTION && s.data.length === 4) out.linkSelection ??= readIpv4(s.data, 0);
    else if (s.code === RELAY_SUBOPTION.SERVER_ID_OVERRIDE && s.data.length === 4) out.serverIdOverride ??= readIpv4(s.data, 0);
  }
  return parsed(out);
}

/** The bytes as text when all are printable ASCII (switch circuit IDs often are: "Gi1/0/7:42"). */
export function printable(bytes: Uint8Array): string | undefined {
  let out = '';
  for (const b of bytes) {
    if (b < 0x20 || b > 0x7e) return undefined;
    out += String.fromCharCode(b);
  }
  return out;
}

// A server's OFFER, ACK or NAK for a request, filled in as RFC 2131 §4.3.1 Table 3 says,
// with the options a client or relay expects back echoed. The server decides the lease;
// this only gets the fields right.
import { option } from './build.ts';
import { getOption } from './known.ts';
import { IP_UDP_OVERHEAD, MAX_MESSAGE_LENGTH, MIN_MAX_MESSAGE_SIZE } from './limits.ts';
import type { DhcpMessage } from './message.ts';
import type { DhcpOption } from './options.ts';
import { decodeMaxMessageSize } from './standard.ts';

export interface ReplySpec {
  type: 'OFFER' | 'ACK' | 'NAK';
  /** Option 54, the address the client answers to (RFC 2131 §4.3.1: MUST be in every reply). */
  serverId: string;
  /** The address offered or confirmed; 0.0.0.0 for an ACK to an INFORM (RFC 2131 §4.3.5). Ignored for NAK. */
  yiaddr?: string;
  /** Next server (TFTP) address. Ignored for NAK. */
  siaddr?: string;
  sname?: string;
  /** Boot file name: PXE firmware reads it from here (ignored for NAK). */
  file?: string;
  /** Further options, built with `option.*`; 53, 54 and the echoes are added here. */
  options?: DhcpOption[];
}

const ZERO = '0.0.0.0';

export function buildReply(request: DhcpMessage, spec: ReplySpec): Omit<DhcpMessage, 'mac'> {
  const nak = spec.type === 'NAK';
  const echoes: DhcpOption[] = [];
  // RFC 6842: a server MUST echo the client identifier in OFFER, ACK and NAK.
  const clientId = getOption(request, 61);
  if (clientId) echoes.push(clientId);
  // RFC 3046 §2.2: echo relay agent information unchanged; encode puts it last (§2.1).
  const relay = getOption(request, 82);
  if (relay) echoes.push(relay);
  // Table 3: a NAK carries 53, 54, 61 and at most a message (56); nothing else.
  const given = (spec.options ?? []).filter((o) => ![53, 54, 61, 82].includes(o.code) && (!nak || o.code === 56));
  return {
    op: 'BOOTREPLY',
    htype: request.htype,
    hlen: request.hlen,
    hops: 0,
    xid: request.xid,
    secs: 0,
    // RFC 2131 §4.3.2: a NAK to a relayed request carries the B flag, so that the relay
    // broadcasts it on the client's subnet. Otherwise the client's own flag.
    broadcast: request.broadcast || (nak && request.giaddr !== ZERO),
    reservedFlags: 0,
    // Table 3: ciaddr is the request's in an ACK (renewing, INFORM), 0 otherwise.
    ciaddr: spec.type === 'ACK' ? request.ciaddr : ZERO,
    yiaddr: nak ? ZERO : (spec.yiaddr ?? ZERO),
    siaddr: nak ? ZERO : (spec.siaddr ?? ZERO),
    giaddr: request.giaddr,
    chaddr: request.chaddr,
    sname: nak ? '' : (spec.sname ?? ''),
    file: nak ? '' : (spec.file ?? ''),
    options: [option.messageType(spec.type), option.serverId(spec.serverId), ...given, ...echoes],
  };
}

/**
 * Longest reply the client takes: its option 57, else 576 (RFC 2131 §2), capped at the
 * decoder's bound (an Ethernet frame). 57 is read as the whole IP datagram — RFC 2132
 * §9.10's 576 minimum is the IP minimum datagram — so IP and UDP headers come off it;
 * reading it as the DHCP message alone would overrun clients that mean the datagram.
 */
export function maxReplyLength(request: Pick<DhcpMessage, 'options'>): number {
  const o = getOption(request, 57);
  const r = o ? decodeMaxMessageSize(o.data) : undefined;
  const datagram = r?.ok ? r.value : MIN_MAX_MESSAGE_SIZE;
  return Math.min(datagram - IP_UDP_OVERHEAD, MAX_MESSAGE_LENGTH);
}

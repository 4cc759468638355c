// Sizes of a BOOTP/DHCPv4 message and the bounds the decoder holds every packet to, each
// with where its number comes from. Offsets are from the start of the UDP payload.

/**
 * Fixed BOOTP header (RFC 951 §3, RFC 2131 §2 Figure 1), without the options/vend area:
 * op 1 + htype 1 + hlen 1 + hops 1 + xid 4 + secs 2 + flags 2 + ciaddr 4 + yiaddr 4 +
 * siaddr 4 + giaddr 4 + chaddr 16 + sname 64 + file 128 = 236 bytes.
 */
export const HEADER_LENGTH = 236;

/** The magic cookie 99.130.83.99 opens the options field (RFC 2131 §3, RFC 1497). */
export const MAGIC_COOKIE = [99, 130, 83, 99] as const;

/** 236-byte header + 4-byte cookie: the shortest message that can be DHCP at all. */
export const MIN_DHCP_LENGTH = HEADER_LENGTH + MAGIC_COOKIE.length;

/**
 * RFC 951's message had a 64-byte vend field: 236 + 64 = 300 bytes, and BOOTP-era relays and
 * clients drop shorter packets — dnsmasq pads to 300 because the Linux in-kernel client
 * ignores anything shorter (MIN_PACKETSZ in its dhcp-protocol.h). The encoder pads up to it.
 */
export const BOOTP_MIN_LENGTH = 300;

/**
 * Largest message decoded: 1500 (Ethernet MTU) − 20 (IPv4 header) − 8 (UDP header) = 1472.
 * A client's request fits its link's MTU (what it accepts, option 57, can be more: EDK2 says
 * 65280), and a relay must not grow a request past the MTU when adding option 82 (RFC 3046
 * §2.1). ISC dhcpd sizes its packets from the same 1500 (DHCP_MTU_MAX). Anything longer is
 * not a real DHCP packet on the boot network.
 */
export const MAX_MESSAGE_LENGTH = 1500 - 20 - 8;

/** Field positions (RFC 2131 §2 Figure 1). */
export const OFFSET = {
  op: 0,
  htype: 1,
  hlen: 2,
  hops: 3,
  xid: 4,
  secs: 8,
  flags: 10,
  ciaddr: 12,
  yiaddr: 16,
  siaddr: 20,
  giaddr: 24,
  chaddr: 28,
  sname: 44,
  file: 108,
  cookie: 236,
  options: 240,
} as const;

export const CHADDR_LENGTH = 16;
export const SNAME_LENGTH = 64;
export const FILE_LENGTH = 128;

/**
 * Most option instances (code + length + value, PAD and END not counted) accepted in one
 * message. A message that names every code 1–254 once has 254; real clients send far fewer
 * (captured: iPXE's DISCOVER 10, EDK2's 7, udhcpc's 6), and RFC 3396 splitting adds one
 * instance per 255 bytes of a long option. 256 leaves room for all of that; more can only be
 * the same codes repeated, which no client does, and each repeat is an allocation the decoder
 * would make for nothing. EDK2's DHCP driver has the same bound (DHCP_MAX_OPTIONS, Dhcp4Option.h).
 */
export const MAX_OPTION_INSTANCES = 256;

/** Largest value one option instance can carry: its length is one byte (RFC 2132 §2). */
export const MAX_INSTANCE_LENGTH = 255;

/**
 * The smallest reply every client must accept: a 576-byte IP datagram (RFC 2131 §2,
 * RFC 2132 §9.10), i.e. 576 − 20 (IP) − 8 (UDP) = 548 bytes of DHCP message, of which
 * 548 − 236 = 312 bytes of options field (the "312 octets" of RFC 2131 §2).
 */
export const MIN_MAX_MESSAGE_SIZE = 576;
export const IP_UDP_OVERHEAD = 20 + 8;

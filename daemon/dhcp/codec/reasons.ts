// Why a packet was not decoded. The reason is a short stable name — the server counts drops
// by it (a metric label needs a small fixed set) — and the detail says where and what, for
// the debug log. Every reason has its own test in test/unit/dhcp-codec.test.ts.

export const REJECT_REASONS = {
  'too-short': 'shorter than the 236-byte BOOTP header',
  'too-long': 'longer than any DHCP packet on an Ethernet link',
  'bad-op': 'op is neither BOOTREQUEST (1) nor BOOTREPLY (2)',
  'bad-htype': 'hardware type 0 is reserved',
  'bad-hlen': 'hardware address length does not fit chaddr or the hardware type',
  'no-magic-cookie': 'the options field does not start with 99.130.83.99',
  'option-no-length': 'an option code is the last byte of its field, with no length byte',
  'option-past-end': "an option's length runs past the end of its field",
  'too-many-options': 'more option instances than any client sends',
  'bad-overload': 'option 52 (overload) is not one byte of 1, 2 or 3',
  'overload-in-overloaded-field': 'option 52 appears inside the file or sname field it governs',
} as const;

export type RejectReason = keyof typeof REJECT_REASONS;

export interface Rejection {
  ok: false;
  reason: RejectReason;
  /** What was found and where, e.g. "option 61 at offset 250 needs 7 bytes, 3 left". */
  detail: string;
}

export const reject = (reason: RejectReason, detail: string): Rejection => ({ ok: false, reason, detail });

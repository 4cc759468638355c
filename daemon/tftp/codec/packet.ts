// TFTP packets as typed objects: RFC 1350 §5 (RRQ, WRQ, DATA, ACK, ERROR) and RFC 2347
// (options on requests, OACK). decode.ts and encode.ts convert them to and from bytes.
//
// Strings (filename, mode, option names and values, error messages) are kept byte for byte:
// each byte is one character U+0000–U+00FF (Latin-1), so decode → encode gives back the same
// bytes whatever a firmware sends. What names are acceptable is paths.ts's business.

/** RFC 1350 §5; OACK is RFC 2347. */
export const OPCODES = { rrq: 1, wrq: 2, data: 3, ack: 4, error: 5, oack: 6 } as const;
export type Op = keyof typeof OPCODES;

/**
 * RFC 1350 §1: "netascii", "octet" or "mail", in any mix of case. Mail is obsolete ("should
 * not be implemented or used") but is still a well-formed request: the server refuses it.
 */
export const MODES = ['netascii', 'octet', 'mail'] as const;
export type Mode = (typeof MODES)[number];

/** One RFC 2347 option. `name` is lower-cased (options are case-insensitive); order is kept. */
export interface TftpOption {
  readonly name: string;
  readonly value: string;
}

/**
 * RRQ / WRQ (RFC 1350 §5, RFC 2347):
 *   | 01/02 | filename | 0 | mode | 0 | opt1 | 0 | value1 | 0 | … | optN | 0 | valueN | 0 |
 */
export interface RequestPacket {
  readonly op: 'rrq' | 'wrq';
  readonly filename: string;
  readonly mode: Mode;
  readonly options: readonly TftpOption[];
}

/** DATA (RFC 1350 §5):  | 03 | block | 0–blksize bytes | */
export interface DataPacket {
  readonly op: 'data';
  readonly block: number;
  readonly data: Uint8Array;
}

/** ACK (RFC 1350 §5):  | 04 | block | */
export interface AckPacket {
  readonly op: 'ack';
  readonly block: number;
}

/** ERROR (RFC 1350 §5):  | 05 | code | message | 0 | */
export interface ErrorPacket {
  readonly op: 'error';
  readonly code: number;
  readonly message: string;
}

/** OACK (RFC 2347):  | 06 | opt1 | 0 | value1 | 0 | … | */
export interface OackPacket {
  readonly op: 'oack';
  readonly options: readonly TftpOption[];
}

export type Packet = RequestPacket | DataPacket | AckPacket | ErrorPacket | OackPacket;

/** RFC 1350 Appendix "Error Codes", and 8 from RFC 2347. */
export const ERROR_CODES = {
  notDefined: 0,
  fileNotFound: 1,
  accessViolation: 2,
  diskFull: 3,
  illegalOperation: 4,
  unknownTransferId: 5,
  fileExists: 6,
  noSuchUser: 7,
  optionNegotiation: 8,
} as const;

/**
 * Why a datagram is not a TFTP packet. Codes are stable (metric labels, tests); the text is
 * what a log line or an ERROR message to the client says.
 */
export const DECODE_REASONS = {
  'too-short': 'shorter than the 2-byte opcode',
  'unknown-opcode': 'opcode is not 1–6',
  'request-too-long': 'request longer than 512 bytes (RFC 2347)',
  'filename-unterminated': 'filename is not NUL-terminated',
  'filename-empty': 'filename is empty',
  'mode-missing': 'request ends after the filename',
  'mode-unterminated': 'mode is not NUL-terminated',
  'unknown-mode': 'mode is not netascii, octet or mail',
  'option-name-unterminated': 'option name is not NUL-terminated',
  'option-value-missing': 'option has no value',
  'option-value-unterminated': 'option value is not NUL-terminated',
  'option-duplicate': 'option given twice',
  'too-many-options': 'more than 16 options',
  'junk-after-padding': 'bytes other than NUL after the options',
  'oack-empty': 'OACK without options',
  'data-truncated': 'DATA shorter than its 4-byte header',
  'data-too-long': 'DATA block longer than 65464 bytes (RFC 2348)',
  'ack-length': 'ACK is not 4 bytes',
  'error-truncated': 'ERROR shorter than its 4-byte header',
} as const;
export type DecodeReason = keyof typeof DECODE_REASONS;

export type DecodeResult = { ok: true; packet: Packet } | { ok: false; reason: DecodeReason };

// Sizes and ranges of TFTP packets and options, each from its RFC. The decoder checks the
// structural ones; negotiate.ts checks option values against the ranges, because an option
// with a bad value is ignored (RFC 2347), not a bad packet.

/** Opcode and block number/error code are 16-bit big-endian fields (RFC 1350 §5). */
export const OPCODE_BYTES = 2;
export const HEADER_BYTES = OPCODE_BYTES + 2; // DATA, ACK, ERROR: opcode + block or code

/** "The maximum size of a request packet is 512 octets." (RFC 2347, Packet Formats) */
export const MAX_REQUEST_BYTES = 512;

/**
 * The longest filename a request can carry: 512 − 2 (opcode) − 1 (its NUL) − 5 (the shortest
 * mode, "mail" and its NUL) = 504 bytes.
 */
export const MAX_FILENAME_BYTES = MAX_REQUEST_BYTES - OPCODE_BYTES - 1 - ('mail'.length + 1);

/**
 * A cap on options per request. The 512-byte limit alone allows (512 − 2 − 2 − 5) / 3 = 167
 * one-letter options with empty values; real clients send at most 5 (atftp: tsize, timeout,
 * blksize, windowsize, multicast; EDK2: tsize, blksize, windowsize). Three times that is room
 * for anything honest.
 */
export const MAX_OPTIONS = 16;

/** RFC 1350 §2: data is sent in blocks of 512 bytes unless blksize says otherwise. */
export const DEFAULT_BLKSIZE = 512;

/**
 * RFC 2348: "Valid values range between 8 and 65464 octets, inclusive." The RFC gives no
 * derivation; for comparison the UDP-over-IPv4 ceiling is 65535 − 20 (IP) − 8 (UDP) − 4 (TFTP)
 * = 65503, so 65464 stays under it with room for IP options.
 */
export const MIN_BLKSIZE = 8;
export const MAX_BLKSIZE = 65464;

/** The largest DATA packet: header + one block of the largest size, 4 + 65464 = 65468. */
export const MAX_DATA_PACKET_BYTES = HEADER_BYTES + MAX_BLKSIZE;

/** RFC 7440 §3: "Valid values range between 1 and 65535 blocks, inclusive." */
export const MIN_WINDOWSIZE = 1;
export const MAX_WINDOWSIZE = 65535;

/** RFC 2349 (Timeout Interval): "Valid values range between 1 and 255 seconds, inclusive." */
export const MIN_TIMEOUT_S = 1;
export const MAX_TIMEOUT_S = 255;

/**
 * RFC 2349 (Transfer Size) sets no upper bound. Sizes are JavaScript numbers here, exact up
 * to 2^53 − 1 (9 PiB), whose 16 digits bound the decimal text we parse.
 */
export const MAX_TSIZE = Number.MAX_SAFE_INTEGER;
export const MAX_DECIMAL_DIGITS = String(MAX_TSIZE).length;

/** Block numbers are 16 bits (RFC 1350 §5); after 65535 they roll over (see transfer.ts). */
export const BLOCK_MODULO = 0x10000;

// DATA packets in bulk, for the sending hot path. encode() builds one packet object by object;
// a boot storm sends the same file to hundreds of clients, so the server lays out every DATA
// packet of a file once, end to end in one buffer, and hands out views of it:
//
//   | 00 03 | block 1 | blksize bytes | 00 03 | block 2 | blksize bytes | … | 00 03 | last | < blksize |
//
// (RFC 1350 §5 DATA). Block numbers roll over from 65535 to 0, as transfer.ts's wireBlock.
import { BLOCK_MODULO, HEADER_BYTES, MAX_BLKSIZE, MIN_BLKSIZE } from './limits.ts';
import { OPCODES } from './packet.ts';

/** Blocks of a file of `size` bytes: a size that is a multiple of blksize ends with an empty block. */
export function blockCount(size: number, blksize: number): number {
  return Math.floor(size / blksize) + 1;
}

/** Writes the DATA header for absolute block `block` (1-based) at `at`. */
export function writeDataHeader(into: Uint8Array, at: number, block: number): void {
  const wire = block % BLOCK_MODULO;
  into[at] = 0;
  into[at + 1] = OPCODES.data;
  into[at + 2] = wire >> 8;
  into[at + 3] = wire & 0xff;
}

/**
 * Every DATA packet of `data` at `blksize`, laid end to end. Packet of block b starts at
 * (b − 1) × (blksize + 4); see dataPacket().
 */
export function dataImage(data: Uint8Array, blksize: number): Buffer {
  checkBlksize(blksize);
  const blocks = blockCount(data.length, blksize);
  const image = Buffer.allocUnsafe(data.length + blocks * HEADER_BYTES);
  for (let b = 1, src = 0, at = 0; b <= blocks; b++) {
    const n = Math.min(blksize, data.length - src);
    writeDataHeader(image, at, b);
    image.set(data.subarray(src, src + n), at + HEADER_BYTES);
    src += n;
    at += HEADER_BYTES + n;
  }
  return image;
}

/** The DATA packet of absolute block `block` in an image from dataImage(); a view, no copy. */
export function dataPacket(image: Buffer, blksize: number, block: number): Buffer {
  const start = (block - 1) * (blksize + HEADER_BYTES);
  return image.subarray(start, Math.min(start + blksize + HEADER_BYTES, image.length));
}

function checkBlksize(blksize: number): void {
  if (!Number.isInteger(blksize) || blksize < MIN_BLKSIZE || blksize > MAX_BLKSIZE) throw new RangeError(`blksize ${blksize} is outside ${MIN_BLKSIZE}–${MAX_BLKSIZE}`);
}

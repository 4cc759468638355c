// The bytes a transfer sends, as ready DATA packets. Two ways to get them:
//   - Small files (iPXE binaries, boot scripts: what a boot storm fetches hundreds of times at
//     once) are read whole once and kept in a cache keyed by the file's identity (device,
//     inode, mtime, size; open.ts), so a new version is a new entry and never a mix of the
//     two. For each blksize in use the cache also keeps every DATA packet laid out in one
//     buffer (codec/data-packets.ts): sending a block is then a view of that buffer, with no
//     read, copy or allocation per packet. Least recently used entries go past a byte budget.
//   - Larger files (installer images) stay on disk: the transfer keeps its own descriptor and
//     reads each window with one positioned readv straight into the packets' data slots.
import type { FileHandle } from 'node:fs/promises';
import { blockCount, dataImage, dataPacket, writeDataHeader } from './codec/data-packets.ts';
import { HEADER_BYTES } from './codec/index.ts';
import { toNetascii } from './netascii.ts';
import type { OpenedFile } from './open.ts';

export interface CacheLimits {
  /** Files up to this size are served from memory. */
  readonly maxFileBytes: number;
  /** Budget for file contents and their packet images together. */
  readonly maxTotalBytes: number;
}

/** Linux IOV_MAX: the most buffers one readv takes. */
const IOV_MAX = 1024;

/** Blocks of a transfer, as DATA packets ready for the socket. */
export type BlockSource =
  | { readonly kind: 'memory'; packet(block: number): Buffer }
  | { readonly kind: 'disk'; read(from: number, to: number): Promise<Buffer[]>; close(): Promise<void> };

export interface Content {
  readonly size: number;
  source(blksize: number): BlockSource;
}

export class ContentError extends Error {
  readonly reason: 'too-large-for-netascii' | 'file-changed' | 'io-error';
  constructor(message: string, reason: ContentError['reason'], options?: ErrorOptions) {
    super(message, options);
    this.reason = reason;
  }
}

interface Packets {
  readonly image: Buffer;
  /** Block b's packet at index b, filled on first use: no Buffer object per packet sent. */
  readonly views: Buffer[];
}

interface Entry {
  readonly key: string;
  data: Buffer | undefined;
  readonly loading: Promise<Buffer>;
  /** Per blksize: the packet image and its packets as views, made once and shared by all transfers. */
  readonly images: Map<number, Packets>;
  bytes: number;
}

export class ContentCache {
  readonly #limits: CacheLimits;
  /** Map order is recency: a hit moves the entry to the end, eviction starts at the front. */
  readonly #entries = new Map<string, Entry>();
  #bytes = 0;
  hits = 0;
  misses = 0;

  constructor(limits: CacheLimits) {
    this.#limits = limits;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /**
   * The content of an opened file in `mode`. Takes ownership of the file's handle: closed here
   * when the bytes come from memory, by the disk source's close() otherwise.
   */
  async load(file: OpenedFile, mode: 'octet' | 'netascii'): Promise<Content> {
    if (file.size > this.#limits.maxFileBytes) {
      if (mode === 'netascii') {
        await file.handle.close();
        throw new ContentError(`${file.real}: ${file.size} bytes is too large for netascii (limit ${this.#limits.maxFileBytes})`, 'too-large-for-netascii');
      }
      return diskContent(file);
    }
    let entry: Entry;
    try {
      entry = this.#entry(`${file.key}:${mode}`, file, mode);
      await entry.loading;
    } finally {
      await file.handle.close();
    }
    return this.#content(entry);
  }

  /**
   * The content of the file version `key` (OpenedFile.key) in `mode` if it is in memory,
   * without opening anything; undefined if not cached, still loading or evicted.
   */
  cached(key: string, mode: 'octet' | 'netascii'): Content | undefined {
    const k = `${key}:${mode}`;
    const hit = this.#entries.get(k);
    if (!hit?.data) return undefined;
    this.hits++;
    this.#entries.delete(k);
    this.#entries.set(k, hit);
    return this.#content(hit);
  }

  #content(entry: Entry): Content {
    return { size: entry.data!.length, source: (blksize) => ({ kind: 'memory', packet: packetsOf(this.#image(entry, blksize), blksize) }) };
  }

  #entry(key: string, file: OpenedFile, mode: 'octet' | 'netascii'): Entry {
    const hit = this.#entries.get(key);
    if (hit) {
      this.hits++;
      this.#entries.delete(key);
      this.#entries.set(key, hit);
      return hit;
    }
    this.misses++;
    const loading = readWhole(file).then((raw) => (mode === 'netascii' ? toNetascii(raw) : raw));
    const entry: Entry = { key, data: undefined, loading, images: new Map(), bytes: 0 };
    this.#entries.set(key, entry);
    loading.then(
      (data) => {
        entry.data = data;
        this.#account(entry, data.length);
      },
      () => this.#entries.get(key) === entry && this.#entries.delete(key),
    );
    return entry;
  }

  #image(entry: Entry, blksize: number): Packets {
    let packets = entry.images.get(blksize);
    if (!packets) {
      const image = dataImage(entry.data!, blksize);
      packets = { image, views: [] };
      entry.images.set(blksize, packets);
      this.#account(entry, image.length);
    }
    return packets;
  }

  #account(entry: Entry, bytes: number): void {
    entry.bytes += bytes;
    if (this.#entries.get(entry.key) !== entry) return; // already evicted: its users still hold it
    this.#bytes += bytes;
    // Evict from the least recently used end; transfers in progress keep their buffers alive.
    for (const [k, e] of this.#entries) {
      if (this.#bytes <= this.#limits.maxTotalBytes) break;
      this.#entries.delete(k);
      this.#bytes -= e.bytes;
    }
  }
}

/** Views kept per image: a view costs ~100 bytes, and a tiny blksize on a large file would make millions. */
const MAX_VIEWS = 32768;

function packetsOf(p: Packets, blksize: number): (block: number) => Buffer {
  return (block) => (block < MAX_VIEWS ? (p.views[block] ??= dataPacket(p.image, blksize, block)) : dataPacket(p.image, blksize, block));
}

async function readWhole(file: OpenedFile): Promise<Buffer> {
  const data = Buffer.allocUnsafe(file.size);
  let at = 0;
  while (at < file.size) {
    const { bytesRead } = await file.handle.read(data, at, file.size - at, at);
    if (bytesRead === 0) throw new ContentError(`${file.real} shrank from ${file.size} to ${at} bytes while being read`, 'file-changed');
    at += bytesRead;
  }
  return data;
}

function diskContent(file: OpenedFile): Content {
  return { size: file.size, source: (blksize) => diskSource(file.handle, file.real, file.size, blksize) };
}

function diskSource(handle: FileHandle, real: string, size: number, blksize: number): BlockSource {
  const last = blockCount(size, blksize);
  return {
    kind: 'disk',
    close: () => handle.close(),
    async read(from, to) {
      if (from < 1 || to > last || from > to) throw new RangeError(`blocks ${from}–${to} outside 1–${last}`);
      const packets: Buffer[] = [];
      for (let first = from; first <= to; first += IOV_MAX) {
        const upto = Math.min(to, first + IOV_MAX - 1);
        packets.push(...(await readBlocks(handle, real, size, blksize, first, upto)));
      }
      return packets;
    },
  };
}

/** Blocks first..upto with one readv into the data slots of a fresh buffer of packets. */
async function readBlocks(handle: FileHandle, real: string, size: number, blksize: number, first: number, upto: number): Promise<Buffer[]> {
  const start = (first - 1) * blksize;
  const end = Math.min(upto * blksize, size);
  const buf = Buffer.allocUnsafe(end - start + (upto - first + 1) * HEADER_BYTES);
  const slots: Buffer[] = [];
  const packets: Buffer[] = [];
  for (let b = first, at = 0; b <= upto; b++) {
    const len = Math.min(blksize, size - (b - 1) * blksize);
    writeDataHeader(buf, at, b);
    slots.push(buf.subarray(at + HEADER_BYTES, at + HEADER_BYTES + len));
    packets.push(buf.subarray(at, at + HEADER_BYTES + len));
    at += HEADER_BYTES + len;
  }
  let bytesRead: number;
  try {
    ({ bytesRead } = await handle.readv(slots, start));
  } catch (e) {
    throw new ContentError(`${real}: reading bytes ${start}–${end}: ${(e as Error).message}`, 'io-error', { cause: e });
  }
  if (bytesRead !== end - start) throw new ContentError(`${real} changed during the transfer: read ${bytesRead} of ${end - start} bytes at ${start}`, 'file-changed');
  return packets;
}

// Hot boot files held in memory. A boot storm sends the same kernel and initrd to hundreds of
// machines; node has no sendfile, and streaming from disk costs a read into a fresh buffer
// per chunk on top of the socket write. bench/http.ts measured a 30 MiB initrd to 50 clients
// at about a quarter of nginx's throughput streamed, and on a par with it from memory: a
// Buffer is written to the socket without further copies in JavaScript.
//
// Entries are keyed by real path and checked against the fstat of the file just opened
// (inode, size, mtime), so a replaced file (installed by rename, as it should be) is read
// again and never served stale. Least recently used entries go first once the budget is
// spent; a file larger than a quarter of the budget is never cached (disk images), it is
// streamed. Concurrent first requests share one read.
import type { Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';

export const DEFAULT_CACHE_BYTES = 256 * 1024 * 1024;

interface Entry {
  ino: number;
  size: number;
  mtimeMs: number;
  data: Promise<Buffer>;
}

export interface FileCache {
  /** The file's bytes when it may be cached (reading them now if needed), else undefined: stream it. */
  get(real: string, handle: FileHandle, stats: Stats): Promise<Buffer | undefined>;
  readonly bytes: number;
}

export function fileCache(budget = DEFAULT_CACHE_BYTES): FileCache {
  const entries = new Map<string, Entry>(); // insertion order = recency (re-inserted on use)
  let bytes = 0;
  const maxFile = Math.floor(budget / 4);

  const drop = (key: string): void => {
    const e = entries.get(key);
    if (!e) return;
    entries.delete(key);
    bytes -= e.size;
  };

  return {
    get bytes() {
      return bytes;
    },
    async get(real, handle, stats) {
      if (stats.size > maxFile || stats.size === 0) return undefined;
      const hit = entries.get(real);
      if (hit && hit.ino === stats.ino && hit.size === stats.size && hit.mtimeMs === stats.mtimeMs) {
        entries.delete(real);
        entries.set(real, hit);
        return hit.data;
      }
      drop(real);
      while (bytes + stats.size > budget && entries.size) drop(entries.keys().next().value!);
      // Read through the handle already opened (and confined); its position is still 0.
      const data = handle.readFile().then((b) => {
        // The file changed length while read: serve what was read, keep nothing.
        if (b.length !== stats.size) {
          if (entries.get(real) === entry) drop(real);
        }
        return b;
      });
      const entry: Entry = { ino: stats.ino, size: stats.size, mtimeMs: stats.mtimeMs, data };
      entries.set(real, entry);
      bytes += stats.size;
      data.catch(() => entries.get(real) === entry && drop(real));
      return data;
    },
  };
}

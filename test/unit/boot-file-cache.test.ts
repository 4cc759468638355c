import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileCache, type FileCache } from '../../daemon/boot/file-cache.ts';

const dir = mkdtempSync(join(tmpdir(), 'ironbay-file-cache-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function get(cache: FileCache, name: string): Promise<Buffer | undefined> {
  const h = await open(join(dir, name));
  try {
    return await cache.get(join(dir, name), h, await h.stat());
  } finally {
    await h.close();
  }
}

describe('boot asset memory cache', () => {
  test('a hit serves the bytes read before; a file replaced by rename (new inode) is read again', async () => {
    const cache = fileCache(4096);
    writeFileSync(join(dir, 'a'), 'first');
    assert.equal((await get(cache, 'a'))?.toString(), 'first');
    assert.equal(cache.bytes, 5);
    writeFileSync(join(dir, 'a.new'), 'second');
    renameSync(join(dir, 'a.new'), join(dir, 'a'));
    assert.equal((await get(cache, 'a'))?.toString(), 'second');
    assert.equal(cache.bytes, 6, 'the old copy is dropped');
  });

  test('files over a quarter of the budget and empty files are not cached (streamed instead)', async () => {
    const cache = fileCache(4096);
    writeFileSync(join(dir, 'big'), Buffer.alloc(1025));
    writeFileSync(join(dir, 'empty'), '');
    assert.equal(await get(cache, 'big'), undefined);
    assert.equal(await get(cache, 'empty'), undefined);
    assert.equal(cache.bytes, 0);
  });

  test('least recently used files leave first once the budget is spent', async () => {
    const cache = fileCache(4096);
    for (const n of ['x', 'y', 'z', 'w']) writeFileSync(join(dir, n), Buffer.alloc(1000, n));
    await get(cache, 'x');
    await get(cache, 'y');
    await get(cache, 'z');
    await get(cache, 'x'); // x is now the most recent
    await get(cache, 'w'); // 4,000 bytes: fits
    writeFileSync(join(dir, 'v'), Buffer.alloc(1000, 'v'));
    await get(cache, 'v'); // 5,000 > 4,096: y (least recent) goes
    assert.equal(cache.bytes, 4000);
    const before = cache.bytes;
    await get(cache, 'x');
    assert.equal(cache.bytes, before, 'x still cached');
  });
});

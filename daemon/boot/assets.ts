// The files the boot network may fetch over HTTP: iPXE binaries (pxe-assets/ipxe/) first,
// then the operator's assets directory (kernels, initrds, images; profiles' paths are
// relative to it). The same confinement as TFTP (daemon/tftp/paths.ts): the request path is
// cleaned and refused when it could never be a file under a root ("..", NUL, control
// characters), then the file's real path must lie inside the root's real path, and the real
// path is opened with O_NOFOLLOW so a symlink swapped in afterwards is not followed.
//
// Resolutions are cached for RESOLVE_CACHE_MS: a boot storm fetches the same kernel
// thousands of times, and two realpath calls per root per request would be most of the
// per-request cost. Only found files (and refusals) are cached. A stale entry is harmless: a file that moved fails to open (and is
// resolved again at once), and the open file's own fstat gives its size and time.
import { constants, type Stats } from 'node:fs';
import { open, realpath, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/schema.ts';
import { confineToRoot, requestPath, underRoot, type ConfineResult, type PathRefusal } from '../tftp/paths.ts';

export const RESOLVE_CACHE_MS = 1_000;
/** Distinct names cached at once; past it the cache starts over (names come from clients). */
export const RESOLVE_CACHE_ENTRIES = 4_096;

/** pxe-assets/ipxe in this checkout or installation. */
export const IPXE_ROOT = fileURLToPath(new URL('../../pxe-assets/ipxe', import.meta.url));

/** The roots in lookup order, from the config (read once, in main). */
export function assetRoots(config: Readonly<Config>): string[] {
  return [IPXE_ROOT, config.boot.assets ?? join(config.dataDir, 'assets')];
}

export interface OpenAsset {
  /** The cleaned request path, e.g. "debian12/vmlinuz". */
  relative: string;
  real: string;
  handle: FileHandle;
  stats: Stats;
}

export type AssetRefusal = PathRefusal | 'not-a-file';
export type OpenResult = { ok: true; file: OpenAsset } | { ok: false; reason: AssetRefusal };

export interface BootAssets {
  readonly roots: readonly string[];
  /** Opens the file a client asked for; the caller closes the handle (a read stream does). */
  open(name: string): Promise<OpenResult>;
  /** Whether a regular file of this relative name is served (discovery image, profile kernels). */
  exists(name: string): Promise<boolean>;
}

/** Refusals that say the request itself is malformed (400), not that a file is missing (404). */
export const BAD_REQUEST_REFUSALS: ReadonlySet<AssetRefusal> = new Set(['empty', 'nul-byte', 'control-character', 'non-ascii', 'too-long', 'segment-too-long', 'dot-dot']);

export function bootAssets(roots: readonly string[], opts: { cacheMs?: number; now?: () => number } = {}): BootAssets {
  const cacheMs = opts.cacheMs ?? RESOLVE_CACHE_MS;
  const now = opts.now ?? Date.now;
  const cache = new Map<string, { result: ConfineResult; until: number }>();

  async function confine(root: string, candidate: string, fresh: boolean): Promise<ConfineResult> {
    const t = now();
    const hit = fresh ? undefined : cache.get(candidate);
    if (hit && hit.until > t) return hit.result;
    const result = await confineToRoot(root, candidate, realpath);
    if (cache.size >= RESOLVE_CACHE_ENTRIES) cache.clear();
    // Misses are not cached: a file the operator just installed (a discovery image) is served at once.
    if (cacheMs > 0 && (result.ok || result.reason !== 'not-found')) cache.set(candidate, { result, until: t + cacheMs });
    return result;
  }

  async function openIn(root: string, relative: string, fresh: boolean): Promise<OpenResult | undefined> {
    const candidate = underRoot(root, relative);
    const c = await confine(root, candidate, fresh);
    if (!c.ok) return c.reason === 'not-found' ? undefined : { ok: false, reason: c.reason };
    let handle: FileHandle;
    try {
      handle = await open(c.real, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (err) {
      cache.delete(candidate);
      const code = (err as NodeJS.ErrnoException).code;
      // Moved or replaced by a link since it was resolved: resolve again, once.
      if (!fresh && (code === 'ENOENT' || code === 'ELOOP')) return openIn(root, relative, true);
      if (code === 'ENOENT') return undefined;
      return { ok: false, reason: code === 'EACCES' || code === 'EPERM' ? 'access-denied' : 'io-error' };
    }
    const stats = await handle.stat();
    if (!stats.isFile()) {
      await handle.close();
      return { ok: false, reason: 'not-a-file' };
    }
    return { ok: true, file: { relative, real: c.real, handle, stats } };
  }

  return {
    roots,
    async open(name) {
      const p = requestPath(name);
      if (!p.ok) return p;
      for (const root of roots) {
        const r = await openIn(root, p.relative, false);
        if (r) return r;
      }
      return { ok: false, reason: 'not-found' };
    },
    async exists(name) {
      const r = await this.open(name);
      if (r.ok) await r.file.handle.close();
      return r.ok;
    },
  };
}

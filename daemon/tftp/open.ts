// Finds and opens the file a read request names: roots are tried in order and the first one
// holding the file wins. paths.ts decides on names and symlinks; this module does the system
// calls, and opens the confined real path with O_NOFOLLOW so that a symlink swapped in
// between realpath and open is refused, not followed. O_NONBLOCK keeps a FIFO planted in a
// root from blocking the open; the fstat that follows refuses anything but a regular file.
import { constants, promises as fsp, type BigIntStats } from 'node:fs';
import { confineToRoot, requestPath, underRoot, type PathRefusal } from './paths.ts';

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

export type OpenRefusal = PathRefusal | 'not-a-file';

export interface OpenedFile {
  readonly handle: fsp.FileHandle;
  /** The confined real path that was opened. */
  readonly real: string;
  readonly size: number;
  /** Identity of this version of the file: a replaced or rewritten file gets a new one. */
  readonly key: string;
  /** The path as named under its root, before symlinks were resolved. */
  readonly candidate: string;
  /** key plus ctime: also changes on chmod, chown, rename or a new link (see statStamp). */
  readonly stamp: string;
}

export type OpenResult = { ok: true; file: OpenedFile } | { ok: false; reason: OpenRefusal; cause?: unknown };

export async function openInRoots(roots: readonly string[], filename: string): Promise<OpenResult> {
  const rel = requestPath(filename);
  if (!rel.ok) return rel;
  let notFound: OpenResult = { ok: false, reason: 'not-found' };
  for (const root of roots) {
    const confined = await confineToRoot(root, underRoot(root, rel.relative), fsp.realpath);
    if (!confined.ok) {
      // Only absence lets the next root answer; a refusal (a symlink out of the root) is final.
      if (confined.reason === 'not-found') {
        notFound = confined;
        continue;
      }
      return confined;
    }
    return openConfined(confined.real, underRoot(root, rel.relative));
  }
  return notFound;
}

async function openConfined(real: string, candidate: string): Promise<OpenResult> {
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(real, OPEN_FLAGS);
  } catch (e) {
    // ELOOP under O_NOFOLLOW: the final component became a symlink after realpath.
    const code = (e as NodeJS.ErrnoException).code;
    const reason: OpenRefusal = code === 'ELOOP' ? 'outside-root' : code === 'ENOENT' ? 'not-found' : code === 'EACCES' || code === 'EPERM' ? 'access-denied' : 'io-error';
    return { ok: false, reason, cause: e };
  }
  let st: BigIntStats;
  try {
    st = await handle.stat({ bigint: true });
  } catch (e) {
    await handle.close();
    return { ok: false, reason: 'io-error', cause: e };
  }
  if (!st.isFile()) {
    await handle.close();
    return { ok: false, reason: 'not-a-file' };
  }
  if (st.size > BigInt(Number.MAX_SAFE_INTEGER)) {
    await handle.close();
    return { ok: false, reason: 'io-error', cause: new Error(`${real} is ${st.size} bytes`) };
  }
  const key = fileKey(st);
  return { ok: true, file: { handle, real, size: Number(st.size), key, candidate, stamp: `${key}:${st.ctimeNs}` } };
}

function fileKey(st: BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.mtimeNs}:${st.size}`;
}

/**
 * The stamp of whatever `candidate` names now, following symlinks; undefined if it cannot be
 * stat'ed. Equal to an earlier OpenedFile's stamp means the very file that was resolved,
 * confined and opened then, unchanged — and so a cheap way to revalidate that decision.
 */
export async function statStamp(candidate: string): Promise<string | undefined> {
  try {
    const st = await fsp.stat(candidate, { bigint: true });
    return st.isFile() ? `${fileKey(st)}:${st.ctimeNs}` : undefined;
  } catch {
    return undefined;
  }
}

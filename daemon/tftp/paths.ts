// Which file a request names, and whether the server may send it. Files are served only from
// under a root directory (pxe-assets/ or the configured boot root); the server tries each root
// with the same relative path.
//
// Two steps. requestPath() is pure string work on the name as the client sent it: it refuses
// what can never be a file under a root and gives a clean relative path. The file system then
// has the last word on symlinks: confineToRoot() resolves both the root and the file to their
// real paths and refuses a file whose real path is outside the root. It takes realpath as a
// parameter so tests need no files; the server passes fs.promises.realpath and then opens the
// real path it returns (with O_NOFOLLOW), so a link swapped in afterwards is not followed.
//
// Decisions:
// - A leading "/" is relative to the root. Firmware asks for "/pxelinux.0" and
//   "/boot/grub/x86_64-efi/core.efi"; tftp-hpa with -s chroots into its directory, so there
//   "/boot/pxelinux.0" is the file under the root (fixture tftp-hpa-rrq-leading-slash.bin is
//   such a request, which tftp-hpa served). Repeated slashes and "." segments are dropped.
// - A backslash is a directory separator. Windows boot programs ask for "\Boot\BCD" and PXE
//   ROMs pass such names on; operators of tftp-hpa add the remap rule `rg \\ /` for exactly
//   this. Converting first means the checks below see the real separators, so "..\..\etc"
//   is refused like "../../etc".
// - ".." is refused wherever it stands, even where it would stay inside the root ("a/../b"):
//   no boot loader needs it and a name with it is a probe.
// - Only printable ASCII (0x20–0x7E). NUL ends a C string and so the name seen by the OS;
//   control characters forge log lines; names outside ASCII have no single meaning (the bytes
//   arrive as Latin-1 and files on disk are UTF-8). Boot files are named in ASCII.
import path from 'node:path';
import { MAX_FILENAME_BYTES } from './codec/index.ts';

/** Linux NAME_MAX: no single file or directory name on disk is longer. */
export const MAX_SEGMENT_BYTES = 255;

export const PATH_REFUSALS = {
  empty: 'names no file (empty, or only slashes and dots)',
  'nul-byte': 'contains a NUL byte',
  'control-character': 'contains a control character',
  'non-ascii': 'contains a character outside printable ASCII',
  'too-long': `longer than ${MAX_FILENAME_BYTES} bytes`,
  'segment-too-long': `a path segment is longer than ${MAX_SEGMENT_BYTES} bytes`,
  'dot-dot': 'contains a ".." segment',
  'outside-root': 'resolves (through a symlink) outside the root',
  'not-found': 'does not exist',
  'symlink-loop': 'symlink loop',
  'access-denied': 'not readable by the server',
  'io-error': 'could not be resolved',
} as const;
export type PathRefusal = keyof typeof PATH_REFUSALS;

export type RequestPathResult = { ok: true; relative: string } | { ok: false; reason: PathRefusal };

/** The request's filename as a clean path relative to a root ("boot/pxelinux.0"). */
export function requestPath(filename: string): RequestPathResult {
  if (filename.length > MAX_FILENAME_BYTES) return { ok: false, reason: 'too-long' };
  for (let i = 0; i < filename.length; i++) {
    const c = filename.charCodeAt(i);
    if (c === 0) return { ok: false, reason: 'nul-byte' };
    if (c < 0x20 || c === 0x7f) return { ok: false, reason: 'control-character' };
    if (c > 0x7e) return { ok: false, reason: 'non-ascii' };
  }
  const segments: string[] = [];
  for (const s of filename.replaceAll('\\', '/').split('/')) {
    if (s === '' || s === '.') continue;
    if (s === '..') return { ok: false, reason: 'dot-dot' };
    if (s.length > MAX_SEGMENT_BYTES) return { ok: false, reason: 'segment-too-long' };
    segments.push(s);
  }
  if (!segments.length) return { ok: false, reason: 'empty' };
  return { ok: true, relative: segments.join('/') };
}

/** The candidate file under `root` (absolute) for a relative path from requestPath(). */
export function underRoot(root: string, relative: string): string {
  if (!path.isAbsolute(root)) throw new Error(`TFTP root ${root} is not an absolute path`);
  return path.join(root, relative);
}

export type RealPath = (p: string) => Promise<string>;
export type ConfineResult = { ok: true; real: string } | { ok: false; reason: PathRefusal; cause?: unknown };

/**
 * The real path of `candidate` if it lies inside the real path of `root`. A symlink inside the
 * root to elsewhere inside the root is fine (pxe-assets may link versions); one that leads
 * out is refused, as is the root itself (a directory, not a file).
 */
export async function confineToRoot(root: string, candidate: string, realpath: RealPath): Promise<ConfineResult> {
  let realRoot: string;
  let real: string;
  try {
    realRoot = await realpath(root);
    real = await realpath(candidate);
  } catch (e) {
    return { ok: false, reason: errnoReason(e), cause: e };
  }
  const prefix = realRoot.endsWith(path.sep) ? realRoot : realRoot + path.sep;
  if (!real.startsWith(prefix)) return { ok: false, reason: 'outside-root' };
  return { ok: true, real };
}

function errnoReason(e: unknown): PathRefusal {
  const code = (e as { code?: unknown } | null)?.code;
  switch (code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return 'not-found';
    case 'ELOOP':
      return 'symlink-loop';
    case 'EACCES':
    case 'EPERM':
      return 'access-denied';
    default:
      return 'io-error';
  }
}

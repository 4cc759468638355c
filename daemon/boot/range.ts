// The HTTP Range header for boot assets: one byte range, RFC 9110 §14.1.2 (range-spec) and
// §14.4 (Content-Range). Pure: header and file size in, decision out.
//
// Decisions:
// - Only "bytes" ranges exist (§14.1); another unit is ignored and the whole file is sent,
//   as §14.2 allows a server to ignore Range.
// - Several ranges ("0-9,20-29") would need multipart/byteranges. No boot client asks for
//   that (iPXE sends no Range; UEFI HTTP boot and curl resume send one range), so the whole
//   file is sent instead — again allowed by §14.2.
// - A syntactically invalid header is ignored (200 with the whole file), a valid one that
//   selects nothing is 416 (§15.5.17): the difference matters to resuming clients.

export type RangeDecision =
  /** Send the whole file (no Range, or one we choose to ignore). */
  | { kind: 'full' }
  /** 206 with bytes start..end inclusive. */
  | { kind: 'partial'; start: number; end: number }
  /** 416 with `Content-Range: bytes *\/size`. */
  | { kind: 'unsatisfiable' };

/** Longest Range header considered; a real one is a few dozen bytes. */
export const MAX_RANGE_HEADER = 256;

const SPEC = /^(\d*)-(\d*)$/;

export function parseRange(header: string | undefined, size: number): RangeDecision {
  if (header === undefined || header.length > MAX_RANGE_HEADER) return { kind: 'full' };
  const eq = header.indexOf('=');
  if (eq < 0 || header.slice(0, eq).trim().toLowerCase() !== 'bytes') return { kind: 'full' };
  const specs = header.slice(eq + 1).split(',');
  if (specs.length !== 1) return { kind: 'full' };
  const m = SPEC.exec(specs[0]!.trim());
  if (!m) return { kind: 'full' };
  const [, first, last] = m as unknown as [string, string, string];
  if (first === '' && last === '') return { kind: 'full' };
  // Digits only, but possibly more than fit a double exactly; anything past 2^53 is past any file.
  const a = first === '' ? undefined : Number(first);
  const b = last === '' ? undefined : Number(last);
  if (a === undefined) {
    // suffix-range "-N": the last N bytes (§14.1.2); "-0" selects nothing.
    if (b === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, size - b!), end: size - 1 };
  }
  if (b !== undefined && b < a) return { kind: 'full' }; // invalid range-spec: ignore the header
  if (a >= size) return { kind: 'unsatisfiable' };
  return { kind: 'partial', start: a, end: b === undefined ? size - 1 : Math.min(b, size - 1) };
}

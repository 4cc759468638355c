// Option 77, user class. RFC 3004 §4 defines it as a list of length-prefixed classes; iPXE
// (and ISC dhclient's `send user-class "x"`, and Windows before RFC 3004) send one bare
// string instead: iPXE's is "iPXE", 4 bytes, not 04 "iPXE". Both are read; `format` says
// which one the bytes were.
import { parsed, problem, type Parsed } from './suboptions.ts';
import { latin1, latin1Bytes } from './wire.ts';

export type UserClass = { format: 'rfc3004'; classes: string[] } | { format: 'raw'; text: string };

/**
 * RFC 3004 when the bytes parse exactly as length-prefixed classes, each at least one byte
 * (RFC 3004 §4: UC_Len_i > 0), filling the value to its last byte; otherwise one raw string.
 * A raw string that happens to parse as RFC 3004 (its first byte a length that fits) would
 * be misread — printable text starts at byte 32 and so only when it is longer than 32
 * bytes, which no firmware's user class is.
 */
export function decodeUserClass(data: Uint8Array): Parsed<UserClass> {
  if (data.length === 0) return problem('empty');
  const classes: string[] = [];
  let i = 0;
  while (i < data.length) {
    const n = data[i]!;
    if (n === 0 || i + 1 + n > data.length) return parsed({ format: 'raw', text: latin1(data) });
    classes.push(latin1(data.subarray(i + 1, i + 1 + n)));
    i += 1 + n;
  }
  return parsed({ format: 'rfc3004', classes });
}

/** The class names whichever format came: what a server matches on ("iPXE"). */
export function userClassNames(u: UserClass): string[] {
  return u.format === 'rfc3004' ? u.classes : [u.text];
}

/** RFC 3004 encoding of a list of classes. Throws RangeError on an empty, too long or non-Latin-1 class. */
export function encodeUserClass(classes: readonly string[]): Uint8Array {
  const parts = classes.map((c) => {
    const b = latin1Bytes(c);
    if (!b || b.length === 0 || b.length > 255) throw new RangeError(`user class "${c}" must be 1–255 Latin-1 characters`);
    return b;
  });
  const out = new Uint8Array(parts.reduce((n, p) => n + 1 + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out[at] = p.length;
    out.set(p, at + 1);
    at += 1 + p.length;
  }
  return out;
}

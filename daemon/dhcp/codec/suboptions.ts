// Encapsulated options: the code/length/value list inside options 43 (vendor-specific,
// RFC 2132 §8.4), 82 (relay agent information, RFC 3046 §2.0) and 175 (iPXE). Kept in wire
// order with repeats: RFC 3396's concatenation is defined for top-level options only.

export interface SubOption {
  code: number;
  data: Uint8Array;
}

/** A typed option value, or what is wrong with its bytes. Never thrown: returned. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };

export const parsed = <T>(value: T): Parsed<T> => ({ ok: true, value });
export const problem = <T = never>(text: string): Parsed<T> => ({ ok: false, problem: text });

/**
 * `padEnd`: 43 and 175 follow the top-level option format, where 0 is a one-byte PAD and
 * 255 a one-byte END after which nothing counts (RFC 2132 §8.4 "encapsulated vendor-specific
 * options … SHOULD be encoded in the same way"). 82's sub-options have no PAD or END
 * (RFC 3046 §2.0): every byte belongs to a code/length/value.
 */
export function parseSubOptions(data: Uint8Array, padEnd: boolean): Parsed<SubOption[]> {
  const out: SubOption[] = [];
  let i = 0;
  while (i < data.length) {
    const code = data[i]!;
    if (padEnd && code === 0) {
      i++;
      continue;
    }
    if (padEnd && code === 255) break;
    if (i + 1 >= data.length) return problem(`sub-option ${code} at byte ${i} has no length byte`);
    const len = data[i + 1]!;
    if (i + 2 + len > data.length) return problem(`sub-option ${code} at byte ${i} needs ${len} bytes, ${data.length - i - 2} left`);
    out.push({ code, data: data.slice(i + 2, i + 2 + len) });
    i += 2 + len;
  }
  return parsed(out);
}

/** Writes sub-options in the order given; `end` appends the END byte (43 and 175). */
export function encodeSubOptions(list: readonly SubOption[], end: boolean): Uint8Array {
  let n = end ? 1 : 0;
  for (const s of list) {
    if (!Number.isInteger(s.code) || s.code < 1 || s.code > 254) throw new RangeError(`sub-option code ${s.code} is not 1–254`);
    if (s.data.length > 255) throw new RangeError(`sub-option ${s.code} is ${s.data.length} bytes; one byte of length holds 255`);
    n += 2 + s.data.length;
  }
  const out = new Uint8Array(n);
  let at = 0;
  for (const s of list) {
    out[at] = s.code;
    out[at + 1] = s.data.length;
    out.set(s.data, at + 2);
    at += 2 + s.data.length;
  }
  if (end) out[at] = 255;
  return out;
}

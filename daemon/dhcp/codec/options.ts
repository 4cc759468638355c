// The options of a message as one ordered list: every instance of a code concatenated into
// one value (RFC 3396 §5), read from the options field, then file, then sname when option 52
// says those carry options (RFC 2131 §4.1). And the reverse: a list written as instances of
// at most 255 bytes each.
import { FILE_LENGTH, MAX_INSTANCE_LENGTH, MAX_OPTION_INSTANCES, OFFSET, SNAME_LENGTH } from './limits.ts';
import { reject, type Rejection } from './reasons.ts';
import { concat, copy } from './wire.ts';

/** One option: its code and its whole value (all instances joined, RFC 3396). */
export interface DhcpOption {
  code: number;
  data: Uint8Array;
}

export const PAD = 0;
export const END = 255;
export const OVERLOAD = 52;

/** Option 52's value (RFC 2132 §9.3): which header fields hold options. */
export const OVERLOAD_FILE = 1;
export const OVERLOAD_SNAME = 2;

export type OptionField = 'options' | 'file' | 'sname';

/** How the options were laid out on the wire: kept for logs, not part of the message. */
export interface OptionFraming {
  /** Option 52's value: 0 none, 1 file, 2 sname, 3 both. */
  overload: number;
  /** Fields whose options ran to the field's end without an END option (tolerated, see below). */
  missingEnd: OptionField[];
  /** Option instances read (PAD and END not counted). */
  instances: number;
}

export type OptionsDecode = { ok: true; options: DhcpOption[]; framing: OptionFraming } | Rejection;

/**
 * Reads the option fields of a message whose length and magic cookie were checked.
 *
 * A field may end without END: RFC 2131 §4.1 says it MUST be there, but a field that stops
 * exactly after a complete option is unambiguous, and ISC dhcpd, Kea and dnsmasq all accept
 * it — refusing would lose a client for no safety gained. An option cut by the field's end
 * is different: its value is unknown, so the packet is refused.
 */
export function decodeOptions(buf: Uint8Array): OptionsDecode {
  const values = new Map<number, Uint8Array[]>(); // insertion order = first appearance
  const framing: OptionFraming = { overload: 0, missingEnd: [], instances: 0 };

  const walk = (field: OptionField, start: number, end: number): Rejection | undefined => {
    let i = start;
    while (i < end) {
      const code = buf[i]!;
      if (code === PAD) {
        i++;
        continue;
      }
      if (code === END) return undefined; // what follows END is padding, whatever its bytes
      if (i + 1 >= end) return reject('option-no-length', `option ${code} at offset ${i} is the last byte of the ${field} field`);
      const len = buf[i + 1]!;
      if (i + 2 + len > end) {
        return reject('option-past-end', `option ${code} at offset ${i} needs ${len} bytes, the ${field} field has ${end - i - 2} left`);
      }
      if (++framing.instances > MAX_OPTION_INSTANCES) {
        return reject('too-many-options', `more than ${MAX_OPTION_INSTANCES} option instances (at offset ${i})`);
      }
      // 52 names the fields that hold options; inside one of them it would have to be read
      // before the field it is in, which RFC 2131 §4.1's order (options, file, sname) rules out.
      if (code === OVERLOAD && field !== 'options') {
        return reject('overload-in-overloaded-field', `option 52 at offset ${i} is inside the ${field} field`);
      }
      const value = copy(buf, i + 2, i + 2 + len);
      const parts = values.get(code);
      if (parts) parts.push(value);
      else values.set(code, [value]);
      i += 2 + len;
    }
    framing.missingEnd.push(field);
    return undefined;
  };

  const bad = walk('options', OFFSET.options, buf.length);
  if (bad) return bad;
  const overload = values.get(OVERLOAD);
  if (overload) {
    const v = concat(overload);
    if (v.length !== 1 || v[0]! < 1 || v[0]! > 3) {
      return reject('bad-overload', `option 52 is ${v.length} byte(s) [${Array.from(v).join(',')}], not one byte of 1, 2 or 3`);
    }
    framing.overload = v[0]!;
    // Framing, not content: the message says which fields are text by leaving them empty.
    values.delete(OVERLOAD);
    const badFile = framing.overload & OVERLOAD_FILE ? walk('file', OFFSET.file, OFFSET.file + FILE_LENGTH) : undefined;
    if (badFile) return badFile;
    const badSname = framing.overload & OVERLOAD_SNAME ? walk('sname', OFFSET.sname, OFFSET.sname + SNAME_LENGTH) : undefined;
    if (badSname) return badSname;
  }
  const options: DhcpOption[] = [];
  for (const [code, parts] of values) options.push({ code, data: concat(parts) });
  return { ok: true, options, framing };
}

/** Bytes the options take on the wire once split into instances (END not counted). */
export function encodedLength(options: readonly DhcpOption[]): number {
  let n = 0;
  for (const o of options) n += 2 * Math.max(1, Math.ceil(o.data.length / MAX_INSTANCE_LENGTH)) + o.data.length;
  return n;
}

/**
 * Writes options at `at` in the order given, each value longer than 255 bytes as
 * consecutive instances of the same code (RFC 3396 §4), then END. Returns the next offset.
 */
export function writeOptions(out: Uint8Array, at: number, options: readonly DhcpOption[]): number {
  for (const o of options) {
    let from = 0;
    do {
      const len = Math.min(MAX_INSTANCE_LENGTH, o.data.length - from);
      out[at] = o.code;
      out[at + 1] = len;
      out.set(o.data.subarray(from, from + len), at + 2);
      at += 2 + len;
      from += len;
    } while (from < o.data.length);
  }
  out[at] = END;
  return at + 1;
}

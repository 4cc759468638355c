// Small readers and writers for the field types DHCP uses. Callers check bounds before
// calling the readers; these never look past what they are told to read.

/** Dotted quad of the 4 bytes at `at`. */
export function readIpv4(buf: Uint8Array, at: number): string {
  return `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`;
}

/** Strict dotted quad (four decimal octets, no leading zeros) as 4 bytes, or undefined. */
export function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

export const readU16 = (buf: Uint8Array, at: number): number => (buf[at]! << 8) | buf[at + 1]!;

export const readU32 = (buf: Uint8Array, at: number): number => ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;

export function u16(n: number): Uint8Array {
  return Uint8Array.of((n >>> 8) & 0xff, n & 0xff);
}

export function u32(n: number): Uint8Array {
  return Uint8Array.of((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

/** Lower-case colon hex, the MAC spelling used everywhere in ironbay (daemon/lib/net.ts). */
export function hex(bytes: Uint8Array, sep = ':'): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += (i ? sep : '') + bytes[i]!.toString(16).padStart(2, '0');
  return out;
}

/**
 * Text in DHCP is NVT ASCII (RFC 2132 §2) but firmware sends what it likes. Each byte is
 * read as one character (Latin-1), so nothing is lost and writing the string back yields the
 * same bytes. (TextDecoder's 'latin1' is windows-1252 and would change 0x80–0x9f.)
 */
export function latin1(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += String.fromCharCode(bytes[i]!);
  return out;
}

/** The inverse of latin1(); undefined when a character does not fit one byte. */
export function latin1Bytes(text: string): Uint8Array | undefined {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0xff) return undefined;
    out[i] = c;
  }
  return out;
}

/** Text up to the first NUL, as in the sname and file fields and NUL-terminated options. */
export function cString(bytes: Uint8Array): string {
  const nul = bytes.indexOf(0);
  return latin1(nul < 0 ? bytes : bytes.subarray(0, nul));
}

/** A copy as a plain Uint8Array: never a Buffer, never a view sharing the receive buffer. */
export function copy(buf: Uint8Array, start: number, end: number): Uint8Array {
  const out = new Uint8Array(end - start);
  out.set(buf.subarray(start, end));
  return out;
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

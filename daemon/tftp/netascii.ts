// RFC 1350 netascii (RFC 764's NVT ASCII): a line ends in CR LF and a bare CR is sent as
// CR NUL. Files are converted whole before the transfer starts, so the converted length is
// known and tsize can be answered; only small files are allowed in this mode (server.ts), as
// no boot loader asks for netascii and tftp-hpa's client is the only peer that defaults to it.
const CR = 0x0d;
const LF = 0x0a;

/** The netascii form of `data`: LF → CR LF, CR → CR NUL. */
export function toNetascii(data: Uint8Array): Buffer {
  let extra = 0;
  for (const b of data) if (b === CR || b === LF) extra++;
  if (!extra) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const out = Buffer.allocUnsafe(data.length + extra);
  let o = 0;
  for (const b of data) {
    if (b === LF) {
      out[o++] = CR;
      out[o++] = LF;
    } else if (b === CR) {
      out[o++] = CR;
      out[o++] = 0;
    } else out[o++] = b;
  }
  return out;
}

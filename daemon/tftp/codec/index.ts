// The TFTP codec: pure bytes ⇄ packets (STYLE.md §1). No sockets, no clock.
export { decode, asciiLower } from './decode.ts';
export { encode } from './encode.ts';
export * from './limits.ts';
export * from './packet.ts';

// Decoders never throw: every byte is hostile (STYLE.md §3). A failure names its reason, which
// the client counts and logs.
export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: string };

export const ok = <T>(value: T): Decoded<T> => ({ ok: true, value });
export const fail = <T = never>(reason: string): Decoded<T> => ({ ok: false, reason });

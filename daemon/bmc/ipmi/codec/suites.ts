// Cipher suites and their algorithms: IPMI v2.0 §22.15.2, Table 22-20 (suites), Table 13-17
// (authentication), 13-18 (integrity), 13-19 (confidentiality).

/** RAKP authentication algorithms (Table 13-17). */
export const AUTH = { none: 0x00, hmacSha1: 0x01, hmacMd5: 0x02, hmacSha256: 0x03 } as const;
/** Integrity algorithms (Table 13-18). */
export const INTEGRITY = { none: 0x00, hmacSha1_96: 0x01, hmacMd5_128: 0x02, md5_128: 0x03, hmacSha256_128: 0x04 } as const;
/** Confidentiality algorithms (Table 13-19). */
export const CONFIDENTIALITY = { none: 0x00, aesCbc128: 0x01, xRc4_128: 0x02, xRc4_40: 0x03 } as const;

export interface CipherSuite {
  id: number;
  auth: number;
  integrity: number;
  confidentiality: number;
}

/**
 * The suites ironbay speaks. Left out: the xRC4 ones (4, 5, 9, 10, 13, 14, 18, 19: a broken
 * cipher) and those with the MD5-128 integrity (11, 12), which no BMC offers without also
 * offering HMAC suites.
 */
export const SUITES: ReadonlyMap<number, CipherSuite> = new Map(
  (
    [
      [0, AUTH.none, INTEGRITY.none, CONFIDENTIALITY.none],
      [1, AUTH.hmacSha1, INTEGRITY.none, CONFIDENTIALITY.none],
      [2, AUTH.hmacSha1, INTEGRITY.hmacSha1_96, CONFIDENTIALITY.none],
      [3, AUTH.hmacSha1, INTEGRITY.hmacSha1_96, CONFIDENTIALITY.aesCbc128],
      [6, AUTH.hmacMd5, INTEGRITY.none, CONFIDENTIALITY.none],
      [7, AUTH.hmacMd5, INTEGRITY.hmacMd5_128, CONFIDENTIALITY.none],
      [8, AUTH.hmacMd5, INTEGRITY.hmacMd5_128, CONFIDENTIALITY.aesCbc128],
      [15, AUTH.hmacSha256, INTEGRITY.none, CONFIDENTIALITY.none],
      [16, AUTH.hmacSha256, INTEGRITY.hmacSha256_128, CONFIDENTIALITY.none],
      [17, AUTH.hmacSha256, INTEGRITY.hmacSha256_128, CONFIDENTIALITY.aesCbc128],
    ] as const
  ).map(([id, auth, integrity, confidentiality]) => [id, { id, auth, integrity, confidentiality }]),
);

/** The order ironbay tries suites in when the operator names none: SHA-256 first (issue #4). */
export const PREFERRED_SUITES = [17, 3] as const;

/** Hash behind an authentication algorithm (RAKP HMACs, SIK, K1, K2). */
export function authHash(auth: number): 'sha1' | 'md5' | 'sha256' | undefined {
  return auth === AUTH.hmacSha1 ? 'sha1' : auth === AUTH.hmacMd5 ? 'md5' : auth === AUTH.hmacSha256 ? 'sha256' : undefined;
}

/**
 * RAKP 4's integrity check value is the authentication algorithm's HMAC truncated
 * (§13.28: HMAC-SHA1-96, HMAC-MD5-128, HMAC-SHA256-128); ipmitool and OpenIPMI agree.
 */
export function rakp4IcvLength(auth: number): number {
  return auth === AUTH.hmacSha1 ? 12 : auth === AUTH.none ? 0 : 16;
}

/** AuthCode length of a session packet's integrity trailer, and its hash. */
export function integrityShape(integrity: number): { hash: 'sha1' | 'md5' | 'sha256'; length: number } | undefined {
  switch (integrity) {
    case INTEGRITY.hmacSha1_96:
      return { hash: 'sha1', length: 12 };
    case INTEGRITY.hmacMd5_128:
      return { hash: 'md5', length: 16 };
    case INTEGRITY.hmacSha256_128:
      return { hash: 'sha256', length: 16 };
    default:
      return undefined;
  }
}

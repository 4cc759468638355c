// The appliance's own SSH key, and key fingerprints. The key is made once (at install, or at
// the daemon's first start) with OpenSSH's ssh-keygen, so that an operator can use the same
// file with `ssh -i` when debugging by hand; the daemon only reads it.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import ssh2, { type ParsedKey } from 'ssh2';
import { IronbayError } from '../errors.ts';

export interface ApplianceKey {
  file: string;
  privateKey: Buffer;
  /** The `ssh-ed25519 AAAA… ironbay@HOST` line for authorized_keys. */
  publicKey: string;
  fingerprint: string;
}

/** OpenSSH's SHA256 fingerprint of a public key blob: base64 without padding. */
export function fingerprint(blob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

/** The algorithm name at the start of a public key blob (RFC 4253 §6.6: string, then data). */
export function keyType(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const n = blob.readUInt32BE(0);
  return n > 0 && n <= 64 && blob.length >= 4 + n ? blob.toString('latin1', 4, 4 + n) : 'unknown';
}

/** Reads the key, making it first if the file does not exist. */
export async function ensureApplianceKey(file: string, comment = 'ironbay'): Promise<ApplianceKey> {
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    try {
      await promisify(execFile)('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file]);
    } catch (err) {
      throw new IronbayError('IB_ERR_SSH_KEY', `cannot make the appliance SSH key ${file} with ssh-keygen: ${(err as Error).message.trim()}`, { cause: err });
    }
  }
  return readApplianceKey(file);
}

export function readApplianceKey(file: string): ApplianceKey {
  let privateKey: Buffer;
  try {
    privateKey = readFileSync(file);
  } catch (err) {
    throw new IronbayError('IB_ERR_SSH_KEY', `cannot read the appliance SSH key ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
  const parsed = ssh2.utils.parseKey(privateKey);
  if (parsed instanceof Error) throw new IronbayError('IB_ERR_SSH_KEY', `the appliance SSH key ${file} cannot be used: ${parsed.message} (a key with a passphrase cannot be)`);
  const key: ParsedKey = Array.isArray(parsed) ? (parsed as ParsedKey[])[0]! : parsed;
  if (!key.isPrivateKey()) throw new IronbayError('IB_ERR_SSH_KEY', `${file} holds a public key; the appliance needs its private key there`);
  const blob = key.getPublicSSH();
  const comment = key.comment || 'ironbay';
  return { file, privateKey, publicKey: `${key.type} ${blob.toString('base64')} ${comment}`, fingerprint: fingerprint(blob) };
}

// Making a power driver for a BMC: from an inventory entry (password from its file or
// variable) or from the standalone CLI's flags. The one place that knows both drivers.
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { Bmc } from '../../inventory/schema.ts';
import { BmcError, type BmcTarget, type PowerDriver } from './driver.ts';
import { IpmiClient } from './ipmi/client.ts';
import { IpmiDriver } from './ipmi/driver.ts';
import { createRedfishDriver } from './redfish/driver.ts';

export interface DriverDeps {
  /** The process's IPMI client: one socket and one session per BMC, shared by every driver. */
  ipmi: IpmiClient;
}

export function createPowerDriver(target: BmcTarget, deps: DriverDeps): PowerDriver {
  return target.driver === 'ipmi' ? new IpmiDriver(target, deps.ipmi) : createRedfishDriver(target);
}

export const defaultPort = (driver: BmcTarget['driver']): number => (driver === 'ipmi' ? 623 : 443);

/**
 * The password an inventory entry refers to. A relative passwordFile is relative to the
 * inventory file's folder; one trailing newline (what `echo > file` leaves) is not part of it.
 * Errors name the file or variable, never a value.
 */
export function readPassword(bmc: Pick<Bmc, 'passwordFile' | 'passwordEnv'>, endpoint: string, baseDir: string, env: NodeJS.ProcessEnv = process.env): string {
  if (bmc.passwordFile !== undefined) {
    const file = isAbsolute(bmc.passwordFile) ? bmc.passwordFile : resolve(baseDir, bmc.passwordFile);
    try {
      return stripNewline(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new BmcError('IB_ERR_BMC_AUTH', endpoint, `cannot read the password file ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
  }
  if (bmc.passwordEnv !== undefined) {
    const v = env[bmc.passwordEnv];
    if (v === undefined) throw new BmcError('IB_ERR_BMC_AUTH', endpoint, `the environment variable ${bmc.passwordEnv} holding the password is not set in the daemon's environment`);
    return v;
  }
  throw new BmcError('IB_ERR_BMC_AUTH', endpoint, 'no passwordFile or passwordEnv');
}

export const stripNewline = (s: string): string => s.replace(/\r?\n$/, '');

/** The driver target of an inventory machine's bmc entry. */
export function targetOf(bmc: Bmc, baseDir: string, env: NodeJS.ProcessEnv = process.env): BmcTarget {
  const port = bmc.port ?? defaultPort(bmc.driver);
  const endpoint = `${bmc.address}:${port}`;
  return {
    driver: bmc.driver,
    host: bmc.address,
    port,
    username: bmc.username,
    password: readPassword(bmc, endpoint, baseDir, env),
    ...(bmc.cipherSuite !== undefined && { cipherSuite: bmc.cipherSuite }),
    ...(bmc.allowCipherSuiteZero !== undefined && { allowCipherSuiteZero: bmc.allowCipherSuiteZero }),
    ...(bmc.insecureTls !== undefined && { insecureTls: bmc.insecureTls }),
    ...(bmc.tlsFingerprint !== undefined && { tlsFingerprint: bmc.tlsFingerprint }),
  };
}

export { IpmiClient };

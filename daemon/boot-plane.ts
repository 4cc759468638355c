// The boot plane: what a machine talks to when it powers on in the boot VLAN — DHCP (with
// ProxyDHCP in proxy mode), TFTP and boot HTTP — started only when boot interfaces are
// configured, and each bound to them alone.
import { existsSync, readdirSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { Config } from './config/schema.ts';
import { startDhcpServer, type DhcpServer } from './dhcp/server.ts';
import type { Observation } from './dhcp/responder.ts';
import type { Store } from './store/db.ts';

/** The iPXE binaries pxe-assets/install.sh copied from Debian's ipxe package. */
export const IPXE_DIR = fileURLToPath(new URL('../pxe-assets/ipxe/', import.meta.url));

export interface BootPlane {
  dhcp: DhcpServer;
  advertise: string;
  httpBase: string;
  close(): Promise<void>;
}

export class BootPlaneError extends Error {}

/** The address boot clients reach us at: configured, else the first boot interface's first IPv4. */
export function advertisedAddress(config: Readonly<Config>): string {
  if (config.boot.advertise) return config.boot.advertise;
  const all = networkInterfaces();
  for (const dev of config.boot.interfaces) {
    const a = (all[dev] ?? []).find((x) => x.family === 'IPv4');
    if (a) return a.address;
  }
  throw new BootPlaneError(
    `boot interfaces ${config.boot.interfaces.join(', ')} have no IPv4 address; give one an address or set boot.advertise in the config`,
  );
}

export async function startBootPlane(config: Readonly<Config>, store: Store, log: Logger, observe?: (o: Observation) => void): Promise<BootPlane> {
  const all = networkInterfaces();
  const missing = config.boot.interfaces.filter((d) => !all[d]);
  if (missing.length) throw new BootPlaneError(`boot interface${missing.length > 1 ? 's' : ''} ${missing.join(', ')} not found on this host`);
  const advertise = advertisedAddress(config);
  const httpBase = `http://${advertise}:${String(config.boot.http.port)}`;
  const assets = new Set(existsSync(IPXE_DIR) ? readdirSync(IPXE_DIR) : []);
  if (!assets.size) log.warn({ dir: IPXE_DIR }, 'no iPXE binaries: run pxe-assets/install.sh; firmware PXE clients get no boot file');
  const dhcp = await startDhcpServer({
    store,
    mode: config.boot.mode,
    interfaces: config.boot.interfaces,
    port: config.boot.dhcp.port,
    clientPort: config.boot.dhcp.clientPort,
    proxyPort: config.boot.dhcp.proxyPort,
    advertise,
    httpBase,
    hasAsset: (name) => assets.has(name),
    log: log.child({ mod: 'dhcp' }),
    ...(observe ? { observe } : {}),
  });
  return {
    dhcp,
    advertise,
    httpBase,
    close: async () => {
      await dhcp.close();
    },
  };
}

// The boot plane: what a machine talks to when it powers on in the boot VLAN — DHCP (with
// ProxyDHCP in proxy mode), TFTP and boot HTTP — started only when boot interfaces are
// configured. DHCP and TFTP sockets are bound to those interfaces alone; every stage a
// machine passes is recorded in its boot timeline.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { assetRoots, bootAssets, IPXE_ROOT } from './boot/assets.ts';
import { buildBootApp, type BootApp } from './boot/http-app.ts';
import { flushBootStages, recordBootStage } from './boot/timeline.ts';
import type { Config } from './config/schema.ts';
import { startDhcpServer, type DhcpServer } from './dhcp/server.ts';
import { startRouterAdvertiser } from './ipv6/router-advertiser.ts';
import type { Store } from './store/db.ts';
import { startTftpServer, type TftpServer } from './tftp/server.ts';

export interface BootPlane {
  dhcp: DhcpServer;
  tftp: TftpServer;
  http: BootApp;
  advertise: string;
  httpBase: string;
  close(): Promise<void>;
}

export class BootPlaneError extends Error {}

/** The first IPv4 address of the first boot interface that is up and has one. */
function firstBootIpv4(interfaces: readonly string[]): string | undefined {
  // Node lists only interfaces that are up and running: a link still negotiating shows none.
  const all = networkInterfaces();
  for (const dev of interfaces) {
    const a = (all[dev] ?? []).find((x) => x.family === 'IPv4');
    if (a) return a.address;
  }
  return undefined;
}

/** The address boot clients reach us at: configured, else the first boot interface's first IPv4. */
function advertisedAddress(config: Readonly<Config>): string {
  const address = config.boot.advertise ?? firstBootIpv4(config.boot.interfaces);
  if (address) return address;
  throw new BootPlaneError(
    `boot interfaces ${config.boot.interfaces.join(', ')} are down or have no IPv4 address; bring one up with an address, or set boot.advertise in the config`,
  );
}

/**
 * The iPXE binaries whose SHA-256 matches what pxe-assets/install.sh recorded. A mismatch
 * stops the start: a truncated or replaced binary would otherwise hang machines mid-boot,
 * far from the cause.
 */
export function verifiedIpxeBinaries(dir: string): Set<string> {
  const sums = join(dir, 'SHA256SUMS');
  if (!existsSync(sums)) return new Set();
  const bad: string[] = [];
  const ok = new Set<string>();
  for (const line of readFileSync(sums, 'utf8').split('\n')) {
    const m = /^([0-9a-f]{64}) {2}(\S+)$/.exec(line);
    if (!m) continue;
    const [, want, file] = m as unknown as [string, string, string];
    const path = join(dir, file);
    const got = existsSync(path) ? createHash('sha256').update(readFileSync(path)).digest('hex') : 'missing';
    if (got === want) ok.add(file);
    else bad.push(`${file} (${got === 'missing' ? 'missing' : `sha256 ${got.slice(0, 12)}…, recorded ${want.slice(0, 12)}…`})`);
  }
  if (bad.length) throw new BootPlaneError(`iPXE binaries in ${dir} differ from ${sums}: ${bad.join(', ')}; run pxe-assets/install.sh again`);
  return ok;
}

/** How long the start waits for a boot interface's link and address (carrier comes up late). */
const ADDRESS_WAIT_MS = 15_000;

export async function startBootPlane(config: Readonly<Config>, store: Store, log: Logger, opts: { applianceKeys?: () => string[] } = {}): Promise<BootPlane> {
  const missing = config.boot.interfaces.filter((d) => !existsSync(`/sys/class/net/${d}`));
  if (missing.length) throw new BootPlaneError(`boot interface${missing.length > 1 ? 's' : ''} ${missing.join(', ')} not found on this host`);
  for (let waited = 0; !config.boot.advertise && waited < ADDRESS_WAIT_MS; waited += 250) {
    if (firstBootIpv4(config.boot.interfaces)) break;
    if (waited === 0) log.info({ interfaces: config.boot.interfaces }, 'waiting for a boot interface to be up with an IPv4 address');
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const advertise = advertisedAddress(config);
  const httpBase = `http://${advertise}:${String(config.boot.http.port)}`;
  const ipxe = verifiedIpxeBinaries(IPXE_ROOT);
  if (!ipxe.size) log.warn({ dir: IPXE_ROOT }, 'no iPXE binaries: run pxe-assets/install.sh; firmware PXE clients get no boot file');

  const closers: (() => Promise<void>)[] = [];
  const closeAll = async (): Promise<void> => {
    for (const c of closers.reverse()) await c();
    flushBootStages(store);
  };
  try {
    const dhcp = await startDhcpServer({
      store,
      mode: config.boot.mode,
      interfaces: config.boot.interfaces,
      port: config.boot.dhcp.port,
      clientPort: config.boot.dhcp.clientPort,
      proxyPort: config.boot.dhcp.proxyPort,
      advertise,
      httpBase,
      hasAsset: (name) => ipxe.has(name),
      log: log.child({ mod: 'dhcp' }),
      observe: (o) => recordBootStage(store, { mac: o.mac, stage: o.stage, detail: o.detail }),
    });
    closers.push(() => dhcp.close());

    const roots = assetRoots(config);
    const tftpLog = log.child({ mod: 'tftp' });
    const tftp = await startTftpServer({
      roots: config.boot.tftp.root ? [...roots, config.boot.tftp.root] : roots,
      port: config.boot.tftp.port,
      devices: [...config.boot.interfaces],
      maxTransfers: config.boot.tftp.maxTransfers,
      maxWindowsize: config.boot.tftp.maxWindowsize,
      log: tftpLog,
      onTransfer: (t) => {
        // TFTP knows a client by its address only; the lease says which machine holds it.
        const mac = dhcp.leases.macOf(t.peer.slice(0, t.peer.lastIndexOf(':')), Date.now());
        const detail = t.ok ? `${t.file} (${String(t.bytes)} bytes in ${String(Math.round(t.ms))} ms)` : `${t.file}: ${t.reason ?? 'failed'}`;
        if (mac) recordBootStage(store, { mac, stage: 'tftp', detail });
        if (!t.ok) tftpLog.info({ peer: t.peer, file: t.file, reason: t.reason, detail: t.detail }, 'TFTP transfer not completed');
      },
    });
    closers.push(() => tftp.close());

    if (config.boot.routerAdvertisement) {
      const ra = startRouterAdvertiser(config.boot.interfaces, log.child({ mod: 'ra' }));
      closers.push(async () => ra.close());
    }

    const http = await buildBootApp({ config, store, log, assets: bootAssets(roots), advertise: httpBase, ...(opts.applianceKeys && { applianceKeys: opts.applianceKeys }) });
    await http.listen({ host: config.boot.http.listen ?? advertise, port: config.boot.http.port });
    closers.push(() => http.close());

    return { dhcp, tftp, http, advertise, httpBase, close: closeAll };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

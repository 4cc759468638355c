// The typed face of netsock.c: sockets confined to one network device. The boot plane opens
// every DHCP/TFTP socket through here, so nothing it sends can leave by another interface
// and nothing arriving on another interface reaches it.
import { createRequire } from 'node:module';
import dgram from 'node:dgram';
import { fileURLToPath } from 'node:url';

interface NetsockAddon {
  openUdp4(device: string, address: string, port: number, broadcast: boolean): number;
  openIcmp6(device: string): number;
  sendIcmp6(fd: number, device: string, destination: string, message: Buffer): number;
  recvIcmp6(fd: number, buffer: Buffer): { bytes: number; from: string } | null;
  closeFd(fd: number): void;
}

/** Where setup.sh puts the compiled addon; install.sh copies it beside the daemon. */
export const ADDON_PATH = fileURLToPath(new URL('../../build/netsock.node', import.meta.url));

let addon: NetsockAddon | undefined;
export function netsock(): NetsockAddon {
  if (!addon) {
    try {
      addon = createRequire(import.meta.url)(ADDON_PATH) as NetsockAddon;
    } catch (err) {
      throw new Error(`cannot load the boot-plane socket helper ${ADDON_PATH} (run ./setup.sh to build it): ${(err as Error).message}`, { cause: err });
    }
  }
  return addon;
}

export interface DeviceSocketOptions {
  device: string;
  /** Local address to bind; 0.0.0.0 to hear broadcasts on the device. */
  address?: string;
  port: number;
  broadcast?: boolean;
  /** Kernel receive buffer: a boot storm arrives faster than one event-loop turn. */
  recvBufferSize?: number;
  sendBufferSize?: number;
}

/** A dgram socket that exists only on `device`. Resolves once it is listening. */
export async function udp4OnDevice(opts: DeviceSocketOptions): Promise<dgram.Socket> {
  const fd = netsock().openUdp4(opts.device, opts.address ?? '0.0.0.0', opts.port, opts.broadcast ?? false);
  const socket = dgram.createSocket({
    type: 'udp4',
    ...(opts.recvBufferSize ? { recvBufferSize: opts.recvBufferSize } : {}),
    ...(opts.sendBufferSize ? { sendBufferSize: opts.sendBufferSize } : {}),
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => {
      netsock().closeFd(fd);
      reject(err);
    };
    socket.once('error', onError);
    socket.bind({ fd }, () => {
      socket.off('error', onError);
      resolve();
    });
  });
  return socket;
}

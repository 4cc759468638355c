// One UDP socket for every BMC this process talks to: datagrams are routed to the session that
// owns the peer's address:port. A thousand BMCs cost a thousand small objects, not a thousand
// sockets or processes (issue #4: "talks to a thousand BMCs from one process").
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import { lookup } from 'node:dns/promises';

export type DatagramHandler = (datagram: Buffer) => void;

export interface TransportStats {
  /** Datagrams from a peer no session is waiting on (late answers, strays): dropped. */
  unknownPeer: number;
  received: number;
  sent: number;
}

export class IpmiTransport {
  private socket4: dgram.Socket | undefined;
  private socket6: dgram.Socket | undefined;
  private readonly handlers = new Map<string, DatagramHandler>();
  readonly stats: TransportStats = { unknownPeer: 0, received: 0, sent: 0 };
  private closed = false;

  /** Routes datagrams from host:port (a literal address) to handler until the returned function is called. */
  register(address: string, port: number, handler: DatagramHandler): () => void {
    const key = peerKey(address, port);
    if (this.handlers.has(key)) throw new Error(`IPMI transport: ${key} already has a session`);
    this.handlers.set(key, handler);
    return () => {
      if (this.handlers.get(key) === handler) this.handlers.delete(key);
    };
  }

  async send(address: string, port: number, datagram: Uint8Array): Promise<void> {
    const socket = await this.socketFor(address);
    this.stats.sent++;
    await new Promise<void>((resolve, reject) => {
      socket.send(datagram, port, address, (err) => (err ? reject(err) : resolve()));
    });
  }

  private async socketFor(address: string): Promise<dgram.Socket> {
    if (this.closed) throw new Error('IPMI transport is closed');
    const v6 = isIP(address) === 6;
    const existing = v6 ? this.socket6 : this.socket4;
    if (existing) return existing;
    const s = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 1 << 20 });
    if (v6) this.socket6 = s;
    else this.socket4 = s;
    s.on('message', (msg, rinfo) => {
      this.stats.received++;
      const h = this.handlers.get(peerKey(rinfo.address, rinfo.port));
      if (h) h(msg);
      else this.stats.unknownPeer++;
    });
    // A UDP socket's errors are per-send (reported through the send callback); keep the
    // process alive whatever else the socket reports.
    s.on('error', () => undefined);
    await new Promise<void>((resolve) => s.bind(0, resolve));
    s.unref();
    return s;
  }

  close(): void {
    this.closed = true;
    this.socket4?.close();
    this.socket6?.close();
    this.socket4 = this.socket6 = undefined;
    this.handlers.clear();
  }
}

const peerKey = (address: string, port: number): string => `${address.toLowerCase()}|${port}`;

/** A BMC's address as a literal: inventory may name it by host name. */
export async function resolveAddress(host: string): Promise<string> {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (isIP(bare)) return bare;
  return (await lookup(bare)).address;
}

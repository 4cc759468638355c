// A UDP relay on loopback that loses datagrams on purpose (seeded, so a failure replays), in
// the spirit of netboot's lossy dialer: put it between a client and a real peer to prove the
// client's retransmission, not the peer's luck.
import dgram from 'node:dgram';
import { mulberry32 } from './prng.ts';

export interface LossyProxy {
  port: number;
  /** Datagrams forwarded and dropped, each way. */
  stats: { up: number; down: number; droppedUp: number; droppedDown: number };
  /** Every datagram forwarded, in order, as a capture would show it (c2s: client to peer). */
  recorded: { dir: 'c2s' | 's2c'; hex: string }[];
  close(): Promise<void>;
}

export async function startLossyProxy(target: { host: string; port: number }, lossRate: number, seed = 1): Promise<LossyProxy> {
  const rnd = mulberry32(seed);
  const front = dgram.createSocket('udp4');
  const back = dgram.createSocket('udp4');
  const stats = { up: 0, down: 0, droppedUp: 0, droppedDown: 0 };
  let client: { address: string; port: number } | undefined;
  const recorded: { dir: 'c2s' | 's2c'; hex: string }[] = [];
  front.on('message', (msg, rinfo) => {
    client = { address: rinfo.address, port: rinfo.port };
    if (rnd() < lossRate) {
      stats.droppedUp++;
      return;
    }
    stats.up++;
    recorded.push({ dir: 'c2s', hex: msg.toString('hex') });
    back.send(msg, target.port, target.host);
  });
  back.on('message', (msg) => {
    if (!client) return;
    if (rnd() < lossRate) {
      stats.droppedDown++;
      return;
    }
    stats.down++;
    recorded.push({ dir: 's2c', hex: msg.toString('hex') });
    front.send(msg, client.port, client.address);
  });
  await Promise.all([new Promise<void>((r) => front.bind(0, '127.0.0.1', r)), new Promise<void>((r) => back.bind(0, '127.0.0.1', r))]);
  return {
    port: front.address().port,
    stats,
    recorded,
    close: async () => {
      await Promise.all([new Promise<void>((r) => front.close(() => r())), new Promise<void>((r) => back.close(() => r()))]);
    },
  };
}

// The DHCP server: sockets, batching and accounting around the codec and the responder.
//
// Only the boot network: every socket is bound to one configured boot interface with
// SO_BINDTODEVICE (daemon/native/netsock.ts), so a DISCOVER arriving on any other interface
// never reaches us and no reply can leave by one.
//
// Group commit: packets that arrive together are answered together — one transaction for
// the batch, replies sent after it commits. Each lease is on disk (synchronous=FULL) before
// its ACK leaves, at one fsync per batch rather than per client, which is what lets a storm
// of thousands of clients be served loss-free.
import type dgram from 'node:dgram';
import { networkInterfaces } from 'node:os';
import type { Logger } from 'pino';
import { decode, encode, readKnownOptions, type RejectReason } from './codec/index.ts';
import { udp4OnDevice } from '../native/netsock.ts';
import type { Store } from '../store/db.ts';
import { DiscoveredMachines } from './discovered.ts';
import { LeaseBook } from './leases.ts';
import { Responder, type DhcpMode, type DropReason, type Ingress, type Observation, type Outcome } from './responder.ts';
import { BootView } from './view.ts';

export interface DhcpServerOptions {
  store: Store;
  mode: DhcpMode;
  /** Boot interfaces: the only devices the server listens and answers on. */
  interfaces: readonly string[];
  port: number;
  clientPort: number;
  proxyPort: number;
  advertise: string;
  httpBase: string;
  hasAsset(name: string): boolean;
  log: Logger;
  /** Called inside the batch's transaction for each boot stage seen (timeline, events). */
  observe?: (o: Observation) => void;
  now?: () => number;
}

export interface DhcpStats {
  received: number;
  replies: Record<string, number>;
  dropped: Partial<Record<DropReason, number>>;
  malformed: Partial<Record<RejectReason | 'unreadable-options', number>>;
  batches: number;
  batchErrors: number;
  sendErrors: number;
}

export interface DhcpServer {
  stats(): DhcpStats;
  /** The lease book, for the API and tests. */
  leases: LeaseBook;
  close(): Promise<void>;
}

interface Pending {
  buf: Buffer;
  ingress: Ingress;
  socket: dgram.Socket;
}

/** Most packets answered per transaction: bounds the latency a storm adds to one reply. */
const MAX_BATCH = 512;
/** A storm arrives faster than one event-loop turn; the kernel holds the rest meanwhile. */
const RECV_BUFFER = 8 << 20;
const MAX_QUEUE = MAX_BATCH * 16;

export async function startDhcpServer(opts: DhcpServerOptions): Promise<DhcpServer> {
  const { store, log } = opts;
  const now = opts.now ?? Date.now;
  const view = new BootView(store);
  const leases = new LeaseBook(store);
  const discovered = new DiscoveredMachines(store);
  const responder = new Responder(
    { mode: opts.mode, advertise: opts.advertise, httpBase: opts.httpBase, hasAsset: (n) => opts.hasAsset(n), clientPort: opts.clientPort, serverPort: opts.port },
    view,
    leases,
    (mac) => {
      const m = discovered.register(mac);
      view.add(mac, m);
      return m;
    },
  );
  const stats: DhcpStats = { received: 0, replies: {}, dropped: {}, malformed: {}, batches: 0, batchErrors: 0, sendErrors: 0 };
  const sockets: dgram.Socket[] = [];
  let queue: Pending[] = [];
  let scheduled = false;
  let closed = false;

  // Our addresses per device, re-read at most once a second (getifaddrs is costly at storm
  // rates): an address added after start counts.
  let local = new Map<string, string[]>();
  let localAt = -Infinity;
  const addresses = (): Map<string, string[]> => {
    const t = performance.now();
    if (t - localAt < 1000) return local;
    const all = networkInterfaces();
    local = new Map(opts.interfaces.map((d) => [d, (all[d] ?? []).filter((a) => a.family === 'IPv4').map((a) => a.address)]));
    localAt = t;
    return local;
  };

  const flush = (): void => {
    scheduled = false;
    if (closed) return;
    const batch = queue.splice(0, MAX_BATCH);
    if (queue.length) schedule();
    const local = addresses();
    const out: { outcome: Outcome; socket: dgram.Socket }[] = [];
    const t = now();
    let durable: Promise<void>;
    try {
      view.refresh();
      durable = store.txSyncLater(() => {
        for (const p of batch) {
          p.ingress.localAddresses = local.get(p.ingress.device) ?? [];
          const outcome = handleOne(p, t);
          if (outcome) out.push({ outcome, socket: p.socket });
        }
      }).durable;
      view.acceptOwnWrites();
      stats.batches++;
    } catch (err) {
      // The transaction rolled back: nothing of this batch was promised to anyone. Memory is
      // rebuilt from the table, and the clients' retransmissions get a fresh try.
      stats.batchErrors++;
      leases.reload();
      view.invalidate();
      log.error({ err, packets: batch.length }, 'DHCP batch failed; no replies sent for it');
      return;
    }
    // Replies leave once the batch is on disk; the next batch is handled meanwhile.
    durable.then(
      () => {
        for (const { outcome, socket } of out) send(outcome, socket);
      },
      (err: unknown) => {
        stats.batchErrors++;
        log.error({ err, packets: batch.length }, 'DHCP batch not made durable (fsync failed); no replies sent for it');
      },
    );
  };

  const handleOne = (p: Pending, t: number): Outcome | undefined => {
    const d = decode(p.buf);
    if (!d.ok) {
      stats.malformed[d.reason] = (stats.malformed[d.reason] ?? 0) + 1;
      log.debug({ from: p.ingress.from, device: p.ingress.device, reason: d.reason, detail: d.detail }, 'DHCP packet dropped: malformed');
      return undefined;
    }
    const { known, problems } = readKnownOptions(d.message);
    if (problems.some((x) => x.code === 53)) {
      stats.malformed['unreadable-options'] = (stats.malformed['unreadable-options'] ?? 0) + 1;
      return undefined;
    }
    const outcome = responder.handle(d.message, known, p.ingress, t, (o) => opts.observe?.(o));
    if (outcome.kind === 'drop') {
      stats.dropped[outcome.reason] = (stats.dropped[outcome.reason] ?? 0) + 1;
      log.debug({ mac: d.message.mac, device: p.ingress.device, reason: outcome.reason, detail: outcome.detail }, 'DHCP request not answered');
    }
    return outcome;
  };

  const send = (outcome: Outcome, socket: dgram.Socket): void => {
    // A batch made durable after close(): its sockets are gone (send would throw).
    if (outcome.kind !== 'reply' || closed) return;
    const e = encode(outcome.message, { maxLength: outcome.maxLength });
    if (!e.ok) {
      stats.sendErrors++;
      log.error({ reason: e.reason, to: outcome.to }, 'DHCP reply could not be encoded');
      return;
    }
    stats.replies[outcome.type] = (stats.replies[outcome.type] ?? 0) + 1;
    socket.send(e.bytes, outcome.to.port, outcome.to.address, (err) => {
      if (err) {
        stats.sendErrors++;
        log.warn({ err, to: outcome.to }, 'DHCP reply not sent');
      }
    });
  };

  // Whatever arrived while the last batch was being answered forms the next batch: a lone
  // request is answered at once, and under load batches (and so fsyncs) grow by themselves.
  function schedule(): void {
    if (scheduled) return;
    scheduled = true;
    setImmediate(flush);
  }

  const listen = async (device: string, port: number, kind: Ingress['port']): Promise<void> => {
    const socket = await udp4OnDevice({ device, port, broadcast: true, recvBufferSize: RECV_BUFFER });
    socket.on('message', (buf, rinfo) => {
      stats.received++;
      // A bounded queue: past it the oldest requests go (their clients retransmit), so a
      // flood cannot grow our heap without limit.
      if (queue.length >= MAX_QUEUE) {
        queue.shift();
        stats.dropped.overload = (stats.dropped.overload ?? 0) + 1;
      }
      queue.push({ buf, socket, ingress: { device, localAddresses: [], port: kind, from: { address: rinfo.address, port: rinfo.port } } });
      schedule();
    });
    socket.on('error', (err) => log.error({ err, device, port }, 'DHCP socket error'));
    sockets.push(socket);
  };

  try {
    for (const device of opts.interfaces) {
      await listen(device, opts.port, 'dhcp');
      if (opts.mode === 'proxy') await listen(device, opts.proxyPort, 'proxy');
    }
  } catch (err) {
    for (const s of sockets) s.close();
    throw err;
  }
  log.info({ interfaces: opts.interfaces, mode: opts.mode, port: opts.port, advertise: opts.advertise }, 'DHCP server listening');

  return {
    leases,
    stats: () => structuredClone(stats),
    close: async () => {
      closed = true;
      queue = [];
      await Promise.all(sockets.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    },
  };
}

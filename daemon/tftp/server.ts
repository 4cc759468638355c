// The read-only TFTP server of the boot plane (RFC 1350, with RFC 2347 options, 2348 blksize,
// 2349 timeout and tsize, 7440 windowsize). The listening socket only takes requests; each
// transfer gets a new socket, and so its own transfer id (RFC 1350 §4), and runs as a Session.
// The codec reads every datagram; paths.ts and open.ts decide what may be served; transfer.ts
// decides what to send and when; this module wires them to sockets and counts what happens.
//
// With `devices`, every socket — the listening one per device and each transfer's — is bound
// to its device (SO_BINDTODEVICE, daemon/native/netsock.ts): a transfer leaves by the
// interface its request came in on, and nothing is heard or sent on any other interface.
import dgram from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { udp4OnDevice } from '../native/netsock.ts';
import { peekOp } from './codec/peek.ts';
import { decode, DECODE_REASONS, encode, ERROR_CODES, type DecodeReason, type RequestPacket } from './codec/index.ts';
import { ContentCache, ContentError, type BlockSource, type Content } from './content.ts';
import { blksizeForMtu, negotiate } from './negotiate.ts';
import { openInRoots, statStamp } from './open.ts';
import { requestPath } from './paths.ts';
import { Session, type Peer, type SessionCounters, type SessionEnd } from './session.ts';
import { ReadTransfer } from './transfer.ts';
import { REFUSALS, type Refusal } from './refusals.ts';

export { REFUSALS, type Refusal } from './refusals.ts';

export interface TftpServerOptions {
  /** Directories served, tried in order for each request; the first holding the file wins. */
  roots: string[];
  /** 0 picks a free port (with several devices, the first one's port is used for all). */
  port: number;
  /** Local address to bind; 0.0.0.0 by default. */
  address?: string;
  /** Boot interfaces: one listening socket per device, each transfer bound to its request's device. */
  devices?: string[];
  /** Transfers at once, including requests being opened; beyond it requests get "server busy". */
  maxTransfers: number;
  /** Largest RFC 7440 window granted; 1 turns windowing off. */
  maxWindowsize: number;
  /**
   * Largest blksize granted. Default: from each device's MTU (blksizeForMtu), or 1468 (a
   * 1500-byte Ethernet MTU) without devices, so no DATA packet is fragmented.
   */
  maxBlksize?: number;
  /** Cap on one window's bytes (windowsize × blksize). Default 128 KiB. */
  maxWindowBytes?: number;
  /** First retransmission timeout when the client asks for none (RFC 2349). Default 1000 ms. */
  timeoutMs?: number;
  /** Ceiling of the doubled timeout. Default 8000 ms. */
  maxTimeoutMs?: number;
  /** Retransmissions without progress before a transfer fails. Default 5. */
  maxRetries?: number;
  /** Files up to this size are served from memory (a boot storm reads iPXE once). Default 16 MiB. */
  cacheMaxFileBytes?: number;
  /** Memory for cached files and their packet images. Default 128 MiB. */
  cacheMaxBytes?: number;
  /** Kernel receive buffer of each listening socket. Default 4 MiB (capped by net.core.rmem_max). */
  recvBufferSize?: number;
  log: Logger;
  /** Every finished transfer and every refused request, for the boot timeline and metrics. */
  onTransfer?: (e: TransferRecord) => void;
}

export interface NegotiatedOptions {
  blksize: number;
  windowsize: number;
  /** First retransmission timeout used. */
  timeoutMs: number;
  /** Whether tsize was answered in the OACK. */
  tsize: boolean;
  /** The OACK sent (empty: none, the transfer started with DATA 1). */
  oack: Record<string, string>;
}

export type FailureReason = Exclude<SessionEnd, { ok: true }>['reason'];

export interface TransferRecord {
  /** Client address:port (its transfer id). */
  peer: string;
  /** Device the request came in on, when the server is bound to devices. */
  device?: string;
  /** The filename as requested. */
  file: string;
  /** Bytes of the file sent and acknowledged (the whole size when ok). */
  bytes: number;
  /** From the request's arrival to the end. */
  ms: number;
  ok: boolean;
  /** Why not ok: a refusal (REFUSALS key; the request got an ERROR) or a failure mid-transfer. */
  reason?: Refusal | FailureReason;
  /** Detail for the log: the client's ERROR message, the I/O error. */
  detail?: string;
  /** Negotiated options; absent when the request was refused. */
  options?: NegotiatedOptions;
  /** DATA packets sent again. */
  retransmits: number;
}

export interface TftpStats {
  /** Well-formed RRQ and WRQ received. */
  requests: number;
  /** An RRQ repeated by a client whose transfer is already under way: ignored. */
  duplicateRequests: number;
  completed: number;
  failed: Partial<Record<FailureReason, number>>;
  refused: Partial<Record<Refusal, number>>;
  /** Datagrams dropped: undecodable (by decoder reason), or not a request on a listening socket. */
  malformed: Partial<Record<DecodeReason | 'not-a-request' | 'no-source-port', number>>;
  /** Malformed or unexpected datagrams on transfer sockets. */
  droppedOnTransfers: number;
  /** Datagrams from a wrong transfer id, answered with ERROR 5. */
  wrongTid: number;
  active: number;
  peakActive: number;
  dataPackets: number;
  bytesSent: number;
  retransmits: number;
  cache: { hits: number; misses: number; bytes: number };
}

export interface TftpServer {
  readonly port: number;
  stats(): TftpStats;
  /** Stops listening, aborts transfers under way (their clients get an ERROR) and closes every socket. */
  close(): Promise<void>;
}

interface Listener {
  readonly socket: dgram.Socket;
  readonly device: string | undefined;
  readonly maxBlksize: number;
}

const DEFAULTS = {
  address: '0.0.0.0',
  maxBlksize: blksizeForMtu(1500, 4),
  maxWindowBytes: 128 * 1024,
  timeoutMs: 1000,
  maxTimeoutMs: 8000,
  maxRetries: 5,
  cacheMaxFileBytes: 16 * 1024 * 1024,
  cacheMaxBytes: 128 * 1024 * 1024,
  recvBufferSize: 4 * 1024 * 1024,
} as const;

/** How often the retransmission deadlines of all transfers are checked. */
const TICK_MS = 20;

/**
 * How long a name's resolution (which root, which file) is reused. Within it a request costs
 * one stat instead of realpath × 2, open, fstat and close; a replaced, rewritten, re-linked or
 * chmod'ed file fails the stat check at once. Only a file newly appearing in an earlier root
 * goes unseen, for at most this long.
 */
const RESOLVED_TTL_MS = 2000;
const RESOLVED_MAX = 256;

/**
 * Sockets of completed transfers are kept for later ones, sparing a socket, bind and close per
 * transfer. A transfer still gets a port no other transfer is using (RFC 1350 §4). A socket
 * waits POOL_QUARANTINE_MS first, reading and dropping what its old client still sends, so
 * nothing of that transfer is left queued; it never goes back to the client it last served,
 * so even a packet delayed beyond that cannot pass as part of a new transfer — it comes from
 * a foreign transfer id and gets ERROR 5. Unused for POOL_IDLE_MS, it is closed.
 */
const POOL_QUARANTINE_MS = 500;
const POOL_IDLE_MS = 10_000;
const POOL_MAX = 256;

interface IdleSocket {
  readonly socket: dgram.Socket;
  /** address:port of the client it last served. */
  readonly lastPeer: string;
  readonly freeAt: number;
  readonly onError: () => void;
}

interface Resolved {
  readonly candidate: string;
  readonly stamp: string;
  readonly key: string;
  readonly until: number;
}

export async function startTftpServer(opts: TftpServerOptions): Promise<TftpServer> {
  const server = new Server(opts);
  await server.listen();
  return server;
}

class Server implements TftpServer {
  readonly #o: TftpServerOptions & typeof DEFAULTS;
  readonly #log: Logger;
  readonly #listeners: Listener[] = [];
  readonly #sessions = new Set<Session>();
  /**
   * Clients with a request being opened or a transfer under way, by device/address:port, with
   * the file asked for and, once started, the session.
   */
  readonly #busy = new Map<string, { file: string; session?: Session }>();
  readonly #cache: ContentCache;
  /** Recently served in-memory files by relative path (paths.ts requestPath). */
  readonly #resolved = new Map<string, Resolved>();
  readonly #counters: SessionCounters = { wrongTid: 0, malformed: 0, unexpected: 0, dataPackets: 0, bytesSent: 0 };
  readonly #stats = { requests: 0, duplicateRequests: 0, completed: 0, peakActive: 0, retransmits: 0 };
  readonly #failed: TftpStats['failed'] = {};
  readonly #refused: TftpStats['refused'] = {};
  readonly #malformed: TftpStats['malformed'] = {};
  /** Idle transfer sockets by device ('' without devices), oldest first. */
  readonly #pool = new Map<string, IdleSocket[]>();
  #sweeper: NodeJS.Timeout | undefined;
  #ticker: NodeJS.Timeout | undefined;
  #closing = false;
  #port = 0;

  constructor(opts: TftpServerOptions) {
    if (!opts.roots.length) throw new Error('TFTP server needs at least one root directory');
    if (!Number.isInteger(opts.maxTransfers) || opts.maxTransfers < 1) throw new RangeError(`TFTP maxTransfers ${opts.maxTransfers} is not a positive integer`);
    const defined = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
    this.#o = { ...DEFAULTS, ...defined } as TftpServerOptions & typeof DEFAULTS;
    this.#log = opts.log.child({ mod: 'tftp' });
    this.#cache = new ContentCache({ maxFileBytes: this.#o.cacheMaxFileBytes, maxTotalBytes: this.#o.cacheMaxBytes });
  }

  get port(): number {
    return this.#port;
  }

  async listen(): Promise<void> {
    try {
      if (this.#o.devices?.length) {
        for (const device of this.#o.devices) {
          const socket = await udp4OnDevice({ device, address: this.#o.address, port: this.#port || this.#o.port, recvBufferSize: this.#o.recvBufferSize });
          this.#adopt({ socket, device, maxBlksize: Math.min(this.#o.maxBlksize ?? Infinity, await deviceBlksize(device)) });
        }
      } else {
        const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: this.#o.recvBufferSize });
        await bind(socket, this.#o.port, this.#o.address);
        this.#adopt({ socket, device: undefined, maxBlksize: this.#o.maxBlksize });
      }
    } catch (err) {
      await this.close();
      throw new Error(`TFTP server cannot listen on ${this.#o.devices?.join(', ') ?? this.#o.address} port ${this.#o.port}: ${(err as Error).message}`, { cause: err });
    }
    this.#log.info({ port: this.#port, devices: this.#o.devices, address: this.#o.address, roots: this.#o.roots }, 'TFTP listening');
  }

  #adopt(l: Listener): void {
    this.#port ||= l.socket.address().port;
    this.#listeners.push(l);
    l.socket.on('message', (msg, rinfo) => this.#onRequest(l, msg, rinfo));
    // Only a socket error ends a serve loop (STYLE.md §4); the other listeners keep serving.
    l.socket.on('error', (err) => this.#log.error({ err, device: l.device }, 'TFTP listening socket failed'));
  }

  stats(): TftpStats {
    return {
      ...this.#stats,
      failed: { ...this.#failed },
      refused: { ...this.#refused },
      malformed: { ...this.#malformed },
      droppedOnTransfers: this.#counters.malformed + this.#counters.unexpected,
      wrongTid: this.#counters.wrongTid,
      active: this.#busy.size,
      dataPackets: this.#counters.dataPackets,
      bytesSent: this.#counters.bytesSent,
      cache: { hits: this.#cache.hits, misses: this.#cache.misses, bytes: this.#cache.bytes },
    };
  }

  async close(): Promise<void> {
    this.#closing = true;
    await Promise.all(this.#listeners.map((l) => new Promise<void>((resolve) => l.socket.close(() => resolve()))));
    this.#listeners.length = 0;
    for (const s of this.#sessions) s.abort();
    this.#stopTicker();
    for (const idle of this.#pool.values()) for (const i of idle.splice(0)) i.socket.close();
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }

  #onRequest(l: Listener, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.#closing) return;
    const d = decode(msg);
    if (!d.ok) {
      this.#drop(d.reason, rinfo);
      // A broken request still deserves an answer, so a client with a bad mode or a NUL in the
      // wrong place learns why; anything else malformed is dropped without a word.
      const op = peekOp(msg);
      if ((op === 'rrq' || op === 'wrq') && rinfo.port !== 0 && !this.#closing) l.socket.send(encode({ op: 'error', code: ERROR_CODES.illegalOperation, message: `Malformed request: ${DECODE_REASONS[d.reason]}` }), rinfo.port, rinfo.address);
      return;
    }
    const req = d.packet;
    if (req.op !== 'rrq' && req.op !== 'wrq') return this.#drop('not-a-request', rinfo);
    // Port 0 cannot be answered: a forged or broken datagram.
    if (rinfo.port === 0) return this.#drop('no-source-port', rinfo);
    this.#stats.requests++;
    const peer: Peer = { address: rinfo.address, port: rinfo.port };
    const t0 = performance.now();
    if (req.op === 'wrq') return this.#refuse(l, req, peer, t0, 'write-request');
    if (req.mode === 'mail') return this.#refuse(l, req, peer, t0, 'mail-mode');
    const key = `${l.device ?? ''}/${peer.address}:${peer.port}`;
    const current = this.#busy.get(key);
    if (current) {
      // The same request again before the client acknowledged anything: it resent its request
      // before our first packet reached it, and the transfer's own retransmission answers it.
      // Anything else from that port is a new transfer — the client gave up on the old one
      // and reuses its port (PXE ROMs often use a fixed one): the old one yields at once, or
      // the client would be shut out until it timed out.
      if (current.file === req.filename && !current.session?.acknowledged) {
        this.#stats.duplicateRequests++;
        return;
      }
      if (!current.session) return; // still opening: at most milliseconds old, let it start
      current.session.supersede();
    }
    if (this.#busy.size >= this.#o.maxTransfers) return this.#refuse(l, req, peer, t0, 'busy');
    this.#busy.set(key, { file: req.filename });
    this.#stats.peakActive = Math.max(this.#stats.peakActive, this.#busy.size);
    this.#serve(l, req, peer, t0, key).catch((err: unknown) => {
      // A bug, not a client's doing: log it loudly, free the slot, keep serving.
      this.#busy.delete(key);
      this.#log.error({ err, peer: fmt(peer), file: req.filename }, 'TFTP request handling failed');
    });
  }

  async #serve(l: Listener, req: RequestPacket, peer: Peer, t0: number, key: string): Promise<void> {
    const refuse = (reason: Refusal, detail?: string): void => {
      this.#busy.delete(key);
      this.#refuse(l, req, peer, t0, reason, detail);
    };
    const mode = req.mode === 'netascii' ? 'netascii' : 'octet';
    let content = await this.#recent(req.filename, mode);
    if (!content) {
      const opened = await openInRoots(this.#o.roots, req.filename);
      if (!opened.ok) return refuse(opened.reason, opened.cause instanceof Error ? opened.cause.message : undefined);
      try {
        content = await this.#cache.load(opened.file, mode);
      } catch (e) {
        if (e instanceof ContentError) return refuse(e.reason, e.message);
        throw e;
      }
      if (opened.file.size <= this.#o.cacheMaxFileBytes) this.#remember(req.filename, opened.file);
    }
    const n = negotiate(req.options, { maxBlksize: l.maxBlksize, maxWindowsize: this.#o.maxWindowsize, maxWindowBytes: this.#o.maxWindowBytes }, content.size);
    if (n.ignored.length) this.#log.debug({ peer: fmt(peer), ignored: n.ignored }, 'TFTP options ignored');
    const source = content.source(n.blksize);
    if (this.#closing) {
      release(source);
      this.#busy.delete(key);
      return;
    }

    let socket: dgram.Socket;
    try {
      socket = this.#takeIdle(l.device ?? '', fmt(peer)) ?? (await this.#transferSocket(l.device));
    } catch (e) {
      release(source);
      return refuse('no-socket', (e as Error).message);
    }
    if (this.#closing) {
      socket.close();
      release(source);
      this.#busy.delete(key);
      return;
    }
    const timeoutMs = n.timeoutMs ?? this.#o.timeoutMs;
    const transfer = new ReadTransfer({
      size: content.size,
      blksize: n.blksize,
      windowsize: n.windowsize,
      oack: n.oack.length > 0,
      timeoutMs,
      maxTimeoutMs: Math.max(timeoutMs, this.#o.maxTimeoutMs),
      maxRetries: this.#o.maxRetries,
    });
    const options: NegotiatedOptions = {
      blksize: n.blksize,
      windowsize: n.windowsize,
      timeoutMs,
      tsize: n.oack.some((o) => o.name === 'tsize'),
      oack: Object.fromEntries(n.oack.map((o) => [o.name, o.value])),
    };
    const session: Session = new Session({
      socket,
      peer,
      transfer,
      source,
      oack: n.oack,
      counters: this.#counters,
      now: () => performance.now(),
      release: (s) => this.#putIdle(l.device ?? '', fmt(peer), s),
      onEnd: (end) => {
        this.#sessions.delete(session);
        if (this.#busy.get(key)?.session === session) this.#busy.delete(key);
        if (!this.#sessions.size) this.#stopTicker();
        const retransmits = transfer.stats.dataResent;
        this.#stats.retransmits += retransmits;
        const bytes = end.ok ? content.size : Math.min(content.size, Math.max(0, transfer.acked) * n.blksize);
        if (end.ok) this.#stats.completed++;
        else this.#failed[end.reason] = (this.#failed[end.reason] ?? 0) + 1;
        const record: TransferRecord = { peer: fmt(peer), ...(l.device ? { device: l.device } : {}), file: req.filename, bytes, ms: performance.now() - t0, ok: end.ok, options, retransmits };
        if (!end.ok) {
          record.reason = end.reason;
          if (end.detail) record.detail = end.detail;
        }
        this.#log[end.ok ? 'debug' : 'info']({ ...record }, end.ok ? 'TFTP transfer complete' : 'TFTP transfer failed');
        this.#emit(record);
      },
    });
    this.#sessions.add(session);
    this.#busy.set(key, { file: req.filename, session });
    this.#startTicker();
    session.start();
  }

  /** The cached content `filename` named a moment ago, if the file it resolved to is unchanged. */
  async #recent(filename: string, mode: 'octet' | 'netascii'): Promise<Content | undefined> {
    const rel = requestPath(filename);
    if (!rel.ok) return undefined;
    const r = this.#resolved.get(rel.relative);
    if (!r) return undefined;
    if (performance.now() > r.until) {
      this.#resolved.delete(rel.relative);
      return undefined;
    }
    if ((await statStamp(r.candidate)) !== r.stamp) {
      if (this.#resolved.get(rel.relative) === r) this.#resolved.delete(rel.relative);
      return undefined;
    }
    return this.#cache.cached(r.key, mode);
  }

  #remember(filename: string, file: { candidate: string; stamp: string; key: string }): void {
    const rel = requestPath(filename);
    if (!rel.ok) return;
    // Expired entries are dropped on lookup; a flood of distinct names just starts over.
    if (this.#resolved.size >= RESOLVED_MAX) this.#resolved.clear();
    this.#resolved.set(rel.relative, { candidate: file.candidate, stamp: file.stamp, key: file.key, until: performance.now() + RESOLVED_TTL_MS });
  }

  /** An idle socket for a transfer to `peer`: out of quarantine and not last used with it. */
  #takeIdle(device: string, peer: string): dgram.Socket | undefined {
    const idle = this.#pool.get(device);
    if (!idle) return undefined;
    const ready = performance.now() - POOL_QUARANTINE_MS;
    for (let i = 0; i < idle.length; i++) {
      const s = idle[i]!;
      if (s.freeAt > ready) break;
      if (s.lastPeer === peer) continue;
      idle.splice(i, 1);
      s.socket.off('error', s.onError);
      return s.socket;
    }
    return undefined;
  }

  #putIdle(device: string, peer: string, socket: dgram.Socket): void {
    let idle = this.#pool.get(device);
    if (!idle) this.#pool.set(device, (idle = []));
    if (this.#closing || idle.length >= POOL_MAX) {
      socket.close();
      return;
    }
    // No 'message' listener: dgram reads and drops what arrives, which is the drain wanted.
    const entry: IdleSocket = {
      socket,
      lastPeer: peer,
      freeAt: performance.now(),
      onError: () => {
        const at = idle.indexOf(entry);
        if (at >= 0) idle.splice(at, 1);
        socket.close();
      },
    };
    socket.on('error', entry.onError);
    idle.push(entry);
    if (!this.#sweeper) {
      this.#sweeper = setInterval(() => this.#sweep(), 1000);
      this.#sweeper.unref();
    }
  }

  #sweep(): void {
    const stale = performance.now() - POOL_IDLE_MS;
    let left = 0;
    for (const idle of this.#pool.values()) {
      while (idle.length && idle[0]!.freeAt < stale) idle.shift()!.socket.close();
      left += idle.length;
    }
    if (!left) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  }

  #transferSocket(device: string | undefined): Promise<dgram.Socket> {
    if (device) return udp4OnDevice({ device, address: this.#o.address, port: 0 });
    const socket = dgram.createSocket({ type: 'udp4', lookup: literalLookup });
    return bind(socket, 0, this.#o.address).then(() => socket);
  }

  #refuse(l: Listener, req: RequestPacket, peer: Peer, t0: number, reason: Refusal, detail?: string): void {
    this.#refused[reason] = (this.#refused[reason] ?? 0) + 1;
    const r = REFUSALS[reason];
    // From the listening socket: a refusal needs no transfer id of its own, and in a storm
    // of refusals (busy) opening a socket for each would cost the most when it can least.
    if (!this.#closing) l.socket.send(encode({ op: 'error', code: r.code, message: r.message }), peer.port, peer.address);
    this.#log.debug({ peer: fmt(peer), device: l.device, file: req.filename, op: req.op, reason, detail }, 'TFTP request refused');
    this.#emit({ peer: fmt(peer), ...(l.device ? { device: l.device } : {}), file: req.filename, bytes: 0, ms: performance.now() - t0, ok: false, reason, ...(detail ? { detail } : {}), retransmits: 0 });
  }

  #drop(reason: DecodeReason | 'not-a-request' | 'no-source-port', rinfo: dgram.RemoteInfo): void {
    this.#malformed[reason] = (this.#malformed[reason] ?? 0) + 1;
    const why = reason in DECODE_REASONS ? DECODE_REASONS[reason as DecodeReason] : reason;
    this.#log.debug({ peer: `${rinfo.address}:${rinfo.port}`, bytes: rinfo.size, reason, why }, 'TFTP datagram dropped');
  }

  #emit(record: TransferRecord): void {
    if (!this.#o.onTransfer) return;
    try {
      this.#o.onTransfer(record);
    } catch (err) {
      this.#log.error({ err }, 'TFTP onTransfer callback threw');
    }
  }

  #startTicker(): void {
    if (this.#ticker) return;
    this.#ticker = setInterval(() => {
      const now = performance.now();
      for (const s of this.#sessions) {
        const due = s.deadline;
        if (due !== undefined && now >= due) s.tick(now);
      }
    }, TICK_MS);
    // Sockets keep the process alive while there is work; the ticker alone must not.
    this.#ticker.unref();
  }

  #stopTicker(): void {
    clearInterval(this.#ticker);
    this.#ticker = undefined;
  }
}

function release(source: BlockSource): void {
  if (source.kind === 'disk') source.close().catch(() => undefined);
}

/**
 * A transfer only ever sends to the address its request came from, an IP literal: answering
 * at once skips dgram's default dns.lookup (an IP check and a deferred callback per packet),
 * measurable in lock-step transfers where every block is one send.
 */
const literalLookup = (address: string, _family: unknown, callback: (err: Error | null, address: string, family: number) => void): void => callback(null, address, 4);

function bind(socket: dgram.Socket, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, address, () => {
      socket.off('error', reject);
      resolve();
    });
  });
}

/** The largest unfragmented blksize on `device`, from its MTU. */
async function deviceBlksize(device: string): Promise<number> {
  try {
    return blksizeForMtu(Number((await readFile(`/sys/class/net/${device}/mtu`, 'utf8')).trim()), 4);
  } catch {
    return DEFAULTS.maxBlksize;
  }
}

function fmt(p: Peer): string {
  return `${p.address}:${p.port}`;
}

// One read transfer on the wire: its own socket (its transfer id, RFC 1350 §4), the sender
// state machine (transfer.ts), and the packets of its content (content.ts). The server's
// ticker calls tick(); there is no timer per transfer.
//
// A datagram from any other address or port than the client's is answered with ERROR 5 and
// changes nothing (RFC 1350 §4: "the source of the incoming packet is not the expected one").
import type dgram from 'node:dgram';
import { decode, encode, ERROR_CODES, type TftpOption } from './codec/index.ts';
import type { BlockSource } from './content.ts';
import type { ReadTransfer, Step } from './transfer.ts';

export interface Peer {
  readonly address: string;
  readonly port: number;
}

export type SessionEnd = { ok: true } | { ok: false; reason: 'timeout' | 'peer-error' | 'io-error' | 'socket-error' | 'shutdown' | 'superseded'; detail?: string };

export interface SessionCounters {
  wrongTid: number;
  malformed: number;
  unexpected: number;
  dataPackets: number;
  bytesSent: number;
}

const ERROR_UNKNOWN_TID = encode({ op: 'error', code: ERROR_CODES.unknownTransferId, message: 'Unknown transfer ID' });
const ERROR_TIMEOUT = encode({ op: 'error', code: ERROR_CODES.notDefined, message: 'Transfer timed out' });
const ERROR_SHUTDOWN = encode({ op: 'error', code: ERROR_CODES.notDefined, message: 'Server shutting down' });

export class Session {
  readonly #socket: dgram.Socket;
  readonly #peer: Peer;
  readonly #transfer: ReadTransfer;
  readonly #source: BlockSource;
  readonly #oack: Uint8Array | undefined;
  readonly #counters: SessionCounters;
  readonly #now: () => number;
  readonly #onEnd: (end: SessionEnd) => void;
  readonly #release: ((socket: dgram.Socket) => void) | undefined;
  readonly #onSocketMessage = (msg: Buffer, rinfo: dgram.RemoteInfo): void => this.#onMessage(msg, rinfo);
  readonly #onSocketError = (err: Error): void => this.#end({ ok: false, reason: 'socket-error', detail: err.message });
  /** Disk reads are asynchronous: steps wait for the previous one so packets keep their order. */
  #queue: Promise<void> = Promise.resolve();
  #over = false;

  constructor(o: {
    socket: dgram.Socket;
    peer: Peer;
    transfer: ReadTransfer;
    source: BlockSource;
    oack: readonly TftpOption[];
    counters: SessionCounters;
    now: () => number;
    onEnd: (end: SessionEnd) => void;
    /**
     * Takes the socket back after a completed transfer instead of closing it (server.ts's
     * pool); given it with this session's listeners removed.
     */
    release?: (socket: dgram.Socket) => void;
  }) {
    this.#socket = o.socket;
    this.#peer = o.peer;
    this.#transfer = o.transfer;
    this.#source = o.source;
    this.#oack = o.oack.length ? encode({ op: 'oack', options: o.oack }) : undefined;
    this.#counters = o.counters;
    this.#now = o.now;
    this.#onEnd = o.onEnd;
    this.#release = o.release;
    o.socket.on('message', this.#onSocketMessage);
    o.socket.on('error', this.#onSocketError);
  }

  /** Whether the client has acknowledged anything yet (ACK 0 of the OACK, or a DATA block). */
  get acknowledged(): boolean {
    return this.#transfer.acked > (this.#oack ? -1 : 0);
  }

  get deadline(): number | undefined {
    return this.#over ? undefined : this.#transfer.deadline;
  }

  start(): void {
    this.#apply(this.#transfer.start(this.#now()));
  }

  /** The server's ticker; the transfer decides whether its timeout is due. */
  tick(now: number): void {
    if (this.#over) return;
    this.#apply(this.#transfer.onTimeout(now));
  }

  /** Ends the transfer early (server shutdown); the client is told. */
  abort(): void {
    this.#end({ ok: false, reason: 'shutdown' }, ERROR_SHUTDOWN);
  }

  /** Ends the transfer silently: the same client port has started another one. */
  supersede(): void {
    this.#end({ ok: false, reason: 'superseded' });
  }

  #onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.#over) return;
    if (rinfo.port !== this.#peer.port || rinfo.address !== this.#peer.address) {
      this.#counters.wrongTid++;
      this.#socket.send(ERROR_UNKNOWN_TID, rinfo.port, rinfo.address);
      return;
    }
    // An ACK is nearly every datagram a transfer gets: read it in place, without the decoder's
    // result objects. Same rule as decode(): exactly 4 bytes, opcode 4.
    if (msg.length === 4 && msg[0] === 0 && msg[1] === 4) {
      this.#apply(this.#transfer.onAck((msg[2]! << 8) | msg[3]!, this.#now()));
      return;
    }
    const d = decode(msg);
    if (!d.ok) {
      this.#counters.malformed++;
      return;
    }
    const p = d.packet;
    if (p.op === 'ack') this.#apply(this.#transfer.onAck(p.block, this.#now()));
    else if (p.op === 'error') {
      this.#transfer.onPeerError();
      this.#end({ ok: false, reason: 'peer-error', detail: `client sent ERROR ${p.code}: ${p.message}` });
    } else this.#counters.unexpected++; // a DATA or request to a read transfer: ignored, as tftp-hpa does
  }

  #apply(step: Step): void {
    const status = this.#transfer.status;
    if (step.send.length) {
      if (this.#source.kind === 'memory') this.#sendFromMemory(step, this.#source);
      else this.#queueFromDisk(step, this.#source);
    }
    if (status === 'complete') this.#end({ ok: true });
    else if (status === 'failed' && this.#transfer.failure === 'timeout') {
      this.#end({ ok: false, reason: 'timeout' }, ERROR_TIMEOUT);
    }
  }

  #sendFromMemory(step: Step, source: { packet(block: number): Buffer }): void {
    for (const o of step.send) {
      if (o.kind === 'oack') this.#send(this.#oack!);
      else this.#sendData(source.packet(o.block));
    }
  }

  /** The blocks of a step are consecutive (transfer.ts sends runs); one readv fetches them. */
  #queueFromDisk(step: Step, source: { read(from: number, to: number): Promise<Buffer[]> }): void {
    const oack = step.send[0]?.kind === 'oack';
    const blocks = step.send.flatMap((o) => (o.kind === 'data' ? [o.block] : []));
    this.#queue = this.#queue.then(async () => {
      if (this.#over) return;
      if (oack) this.#send(this.#oack!);
      if (!blocks.length) return;
      try {
        for (const p of await source.read(blocks[0]!, blocks[blocks.length - 1]!)) if (!this.#over) this.#sendData(p);
      } catch (e) {
        this.#end({ ok: false, reason: 'io-error', detail: (e as Error).message });
      }
    });
  }

  #sendData(packet: Buffer): void {
    this.#counters.dataPackets++;
    this.#counters.bytesSent += packet.length;
    this.#send(packet);
  }

  /** No callback: a lost send is a lost packet, and the retransmission timer covers both. */
  #send(packet: Uint8Array): void {
    this.#socket.send(packet, this.#peer.port, this.#peer.address);
  }

  /** `last`, if given, is sent before the socket closes. */
  #end(end: SessionEnd, last?: Uint8Array): void {
    if (this.#over) return;
    this.#over = true;
    // dgram drops a send still waiting for its (next-tick) address lookup when the socket
    // closes, so a last packet closes the socket from its callback.
    if (last) this.#socket.send(last, this.#peer.port, this.#peer.address, () => this.#socket.close());
    else if (end.ok && this.#release) {
      // Only a completed transfer hands its socket on: the client has nothing more to say.
      // After a failure it may still be sending, so that socket closes like any other.
      this.#socket.off('message', this.#onSocketMessage);
      this.#socket.off('error', this.#onSocketError);
      this.#release(this.#socket);
    } else this.#socket.close();
    if (this.#source.kind === 'disk') {
      const source = this.#source;
      void this.#queue.finally(() => source.close().catch(() => undefined));
    }
    this.#onEnd(end);
  }
}

// A TFTP read client (RFC 1350 receiver, RFC 2347 options, RFC 7440 windows) for the tests
// and the benchmark's load generator. It can lose DATA and repeat ACKs on purpose, and it
// counts what it receives, so a test can see the server's retransmission behaviour.
import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import { decode, encode, BLOCK_MODULO, DEFAULT_BLKSIZE, ERROR_CODES, type Packet } from '../../daemon/tftp/codec/index.ts';

export interface GetOptions {
  host: string;
  port: number;
  file: string;
  mode?: 'octet' | 'netascii';
  /** Options for the RRQ, in order (blksize, windowsize, tsize, timeout…). */
  options?: Record<string, string>;
  /** Resend the last ACK (or the RRQ) after this long without a packet. Default 1000. */
  timeoutMs?: number;
  /** Give up after this many resends without progress. Default 5. */
  retries?: number;
  /** Keep the file's bytes in the result (otherwise only its hash). */
  keep?: boolean;
  /** Loss injection: return true to act as if this DATA packet never arrived. `n` counts DATA received. */
  dropData?: (block: number, n: number) => boolean;
  /** Send every ACK this many times (duplicated ACKs on the network). Default 1. */
  ackCopies?: number;
  /** Bind the client socket to this address (default: any). */
  bind?: string;
}

export interface GetResult {
  ok: boolean;
  /** ERROR from the server, or 'timeout'. */
  error?: { code: number; message: string } | 'timeout';
  sha256: string;
  bytes: number;
  data?: Buffer;
  /** The server's OACK, if any. */
  oack?: Record<string, string>;
  blksize: number;
  windowsize: number;
  /** The server's transfer id (port). */
  serverPort?: number;
  /** DATA packets that arrived, counting duplicates and dropped ones. */
  dataReceived: number;
  /** DATA packets that arrived for a block already taken. */
  duplicates: number;
  dropped: number;
  acksSent: number;
  ms: number;
}

export function tftpGet(o: GetOptions): Promise<GetResult> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const socket = dgram.createSocket('udp4');
    const hash = createHash('sha256');
    const chunks: Buffer[] = [];
    const timeoutMs = o.timeoutMs ?? 1000;
    const maxRetries = o.retries ?? 5;
    const copies = o.ackCopies ?? 1;
    const rrq = encode({ op: 'rrq', filename: o.file, mode: o.mode ?? 'octet', options: Object.entries(o.options ?? {}).map(([name, value]) => ({ name, value })) });
    let server: number | undefined;
    let blksize = DEFAULT_BLKSIZE;
    let windowsize = 1;
    let oack: Record<string, string> | undefined;
    /** Blocks taken in order so far (absolute). */
    let taken = 0;
    let inWindow = 0;
    let gapReported = false;
    let bytes = 0;
    let retries = 0;
    let last: Uint8Array = rrq;
    const r = { dataReceived: 0, duplicates: 0, dropped: 0, acksSent: 0 };
    let done = false;

    const finish = (result: Partial<GetResult>, lastPacket?: Uint8Array): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      // dgram drops a send that is still waiting for its address lookup (next tick) when the
      // socket closes: the final ACK closes the socket from its callback.
      if (lastPacket) {
        for (let i = 1; i < copies; i++) socket.send(lastPacket, server ?? o.port, o.host);
        socket.send(lastPacket, server ?? o.port, o.host, () => socket.close());
      }
      else socket.close();
      const data = o.keep ? Buffer.concat(chunks) : undefined;
      resolve({ ok: false, sha256: hash.digest('hex'), bytes, blksize, windowsize, ...(oack ? { oack } : {}), ...(server ? { serverPort: server } : {}), ...(data ? { data } : {}), ...r, ms: performance.now() - t0, ...result });
    };
    const send = (p: Uint8Array, n = 1): void => {
      last = p;
      for (let i = 0; i < n; i++) socket.send(p, server ?? o.port, o.host);
    };
    const ack = (block: number): void => {
      r.acksSent += copies;
      send(encode({ op: 'ack', block: block % BLOCK_MODULO }), copies);
      timer.refresh();
    };
    const timer = setTimeout(function onTimeout() {
      if (done) return;
      if (++retries > maxRetries) return finish({ error: 'timeout' });
      socket.send(last, server ?? o.port, o.host);
      timer.refresh();
    }, timeoutMs);

    socket.on('error', () => finish({ error: 'timeout' }));
    socket.on('message', (msg, rinfo) => {
      if (done || rinfo.address !== o.host) return;
      if (server === undefined) server = rinfo.port;
      else if (rinfo.port !== server) {
        socket.send(encode({ op: 'error', code: ERROR_CODES.unknownTransferId, message: 'Unknown transfer ID' }), rinfo.port, rinfo.address);
        return;
      }
      const d = decode(msg);
      if (!d.ok) return;
      onPacket(d.packet);
    });

    function onPacket(p: Packet): void {
      switch (p.op) {
        case 'error':
          return finish({ error: { code: p.code, message: p.message } });
        case 'oack':
          if (taken > 0 || oack) return; // a resent OACK: our ACK 0 is on its way or resent by the timer
          oack = Object.fromEntries(p.options.map((x) => [x.name, x.value]));
          blksize = Number(oack.blksize ?? DEFAULT_BLKSIZE);
          windowsize = Number(oack.windowsize ?? 1);
          retries = 0;
          return ack(0);
        case 'data':
          return onData(p.block, p.data);
        default:
          return;
      }
    }

    function onData(wire: number, data: Uint8Array): void {
      r.dataReceived++;
      if (o.dropData?.(wire, r.dataReceived)) {
        r.dropped++;
        return;
      }
      const expected = (taken + 1) % BLOCK_MODULO;
      if (wire !== expected) {
        // Behind (a block already taken) or ahead (a gap)? Half the number space each way.
        const behind = (taken % BLOCK_MODULO - wire + BLOCK_MODULO) % BLOCK_MODULO;
        if (behind < BLOCK_MODULO / 2) {
          r.duplicates++;
          // Lock-step: the block just taken again means our ACK was lost; answer it (RFC 1350).
          if (windowsize === 1 && behind === 0) ack(taken);
          return;
        }
        // A gap inside a window: report the last block taken once (RFC 7440 §4).
        if (!gapReported) {
          gapReported = true;
          inWindow = 0;
          ack(taken);
        }
        return;
      }
      taken++;
      retries = 0;
      gapReported = false;
      bytes += data.length;
      hash.update(data);
      if (o.keep) chunks.push(Buffer.from(data));
      if (data.length < blksize) {
        r.acksSent += copies;
        return finish({ ok: true }, encode({ op: 'ack', block: taken % BLOCK_MODULO }));
      }
      if (++inWindow >= windowsize) {
        inWindow = 0;
        ack(taken);
      } else timer.refresh();
    }

    socket.bind(0, o.bind, () => send(rrq));
  });
}

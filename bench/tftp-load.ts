// The benchmark's load generator, as its own process so that its CPU is not the server's:
// N concurrent TFTP reads of one file with the given options, each checked against the
// file's sha256. Prints one JSON line with the aggregate.
//
//   node bench/tftp-load.ts '{"port":69,"file":"x","clients":200,"options":{},"sha256":"…"}'
import { tftpGet } from '../test/helpers/tftp-client.ts';

interface LoadArgs {
  host?: string;
  port: number;
  file: string;
  clients: number;
  options: Record<string, string>;
  sha256: string;
  timeoutMs?: number;
}

export interface LoadResult {
  ms: number;
  bytes: number;
  ok: number;
  failed: number;
  /** Reasons of failures (first few). */
  errors: string[];
  /** "blksize/windowsize" granted → number of transfers. */
  negotiated: Record<string, number>;
  dataReceived: number;
  duplicates: number;
}

const a = JSON.parse(process.argv[2] ?? '{}') as LoadArgs;
const t0 = performance.now();
const results = await Promise.all(
  Array.from({ length: a.clients }, () => tftpGet({ host: a.host ?? '127.0.0.1', port: a.port, file: a.file, options: a.options, timeoutMs: a.timeoutMs ?? 1000, retries: 8 })),
);
const ms = performance.now() - t0;
const out: LoadResult = { ms, bytes: 0, ok: 0, failed: 0, errors: [], negotiated: {}, dataReceived: 0, duplicates: 0 };
for (const r of results) {
  const good = r.ok && r.sha256 === a.sha256;
  if (good) {
    out.ok++;
    out.bytes += r.bytes;
  } else {
    out.failed++;
    if (out.errors.length < 5) out.errors.push(r.ok ? 'checksum mismatch' : JSON.stringify(r.error));
  }
  const k = `${r.blksize}/${r.windowsize}`;
  out.negotiated[k] = (out.negotiated[k] ?? 0) + 1;
  out.dataReceived += r.dataReceived;
  out.duplicates += r.duplicates;
}
process.stdout.write(JSON.stringify(out) + '\n');

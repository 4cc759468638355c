// The TFTP server as a process of its own: for the device test, which runs it inside a network
// namespace, and for the benchmark, which measures its CPU apart from the load generator's.
//
//   node test/helpers/tftp-serve.ts '{"roots":["/srv"],"port":0,"address":"127.0.0.1",...}'
//
// The argument is TftpServerOptions as JSON (without log and onTransfer) plus `records`: print
// each onTransfer record as a JSON line. Prints {"ready":PORT} once listening; on SIGTERM it
// closes the server, prints {"stats":…} and exits.
import { pino } from 'pino';
import { startTftpServer, type TftpServerOptions } from '../../daemon/tftp/server.ts';

type Args = Omit<TftpServerOptions, 'log' | 'onTransfer'> & { records?: boolean };
const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const { records, ...opts } = args;
const out = (o: unknown): void => void process.stdout.write(JSON.stringify(o) + '\n');

const server = await startTftpServer({
  ...opts,
  log: pino({ level: process.env.LOG_LEVEL ?? 'warn' }, pino.destination(2)),
  ...(records ? { onTransfer: (r) => out({ record: r }) } : {}),
});
out({ ready: server.port });
process.once('SIGTERM', () => {
  void server.close().then(() => {
    out({ stats: server.stats() });
    process.exit(0);
  });
});

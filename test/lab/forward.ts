// The lab's API forwarder: makes the appliance's API (127.0.0.1:PORT inside the appliance
// namespace) reachable on the host's loopback, so the web page and the CLI work from the host
// without the host's network being touched.
//
// It runs inside the appliance namespace (`ip netns exec`), so the connections it opens go to
// the appliance's own loopback; the socket it accepts on was made in the host's namespace by
// its parent (appliance.ts), which listened on the host's 127.0.0.1 and handed the listening
// socket over the IPC channel (child_process `send(message, server)`). A socket keeps the
// namespace it was created in, whoever holds it.
//
//   node test/lab/forward.ts TARGET_PORT LAB_DIR      (LAB_DIR only names the lab in `ps`)
import { connect, type Server, type Socket } from 'node:net';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port < 1 || port > 65535 || !process.send) {
  console.error('usage: node test/lab/forward.ts TARGET_PORT LAB_DIR (started by test/lab/appliance.ts, with an IPC channel)');
  process.exit(2);
}

function pipe(client: Socket): void {
  const upstream = connect({ host: '127.0.0.1', port });
  const end = (): void => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', end).on('close', end);
  upstream.on('error', end).on('close', end);
  client.pipe(upstream);
  upstream.pipe(client);
}

process.on('message', (msg: unknown, handle?: Server) => {
  if (msg !== 'listen' || !handle) return;
  const server = handle;
  server.on('connection', pipe);
  server.on('error', (e) => console.error(`forwarder: ${e.message}`));
  console.log(`forwarder: ${JSON.stringify(server.address())} -> 127.0.0.1:${port}`);
  // The parent leaves once told; the forwarder lives on (its stdio are files, not pipes).
  process.send!('ready', () => process.disconnect());
});

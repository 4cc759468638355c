// The end-to-end baseline's HTTP side, run inside the test's network namespace:
//   GET  /<file>        a file under --root (the iPXE script, kernel, initrd), or 404
//   POST --report PATH  the phone-home receiver: answers 200 {"ok":true}
// Every request is written to stdout as one JSON line once it is answered:
//   {"t":<epoch ms>,"method":"GET","path":"/boot.ipxe","status":200,"bytes":123,"remote":"198.51.100.100"}
//   {"t":...,"method":"POST","path":"/api/v1/boot/report","status":200,"remote":...,"body":{...}}
// and "listening <addr>:<port>" once the socket is bound.
// Usage: node test/e2e/boot-http.ts --root DIR --bind ADDR --port N [--report PATH]
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { resolve, sep } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    root: { type: 'string' },
    bind: { type: 'string', default: '0.0.0.0' },
    port: { type: 'string', default: '8080' },
    report: { type: 'string', default: '/api/v1/boot/report' },
  },
});
if (!values.root) throw new Error('--root is required');
const root = resolve(values.root);

function record(o: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ t: Date.now(), ...o })}\n`);
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const remote = req.socket.remoteAddress;
  if (req.method === 'POST' && url.pathname === values.report) {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // kept as text
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}\n');
      record({ method: 'POST', path: url.pathname, status: 200, remote, body });
    });
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405).end();
    record({ method: req.method, path: url.pathname, status: 405, remote });
    return;
  }
  const file = resolve(root, `.${decodeURIComponent(url.pathname)}`);
  if (file !== root && !file.startsWith(root + sep)) {
    res.writeHead(403).end();
    record({ method: req.method, path: url.pathname, status: 403, remote });
    return;
  }
  stat(file).then(
    (st) => {
      if (!st.isFile()) throw new Error('not a file');
      res.writeHead(200, { 'content-length': st.size, 'content-type': 'application/octet-stream' });
      if (req.method === 'HEAD') {
        res.end();
        record({ method: req.method, path: url.pathname, status: 200, bytes: 0, remote });
        return;
      }
      const s = createReadStream(file);
      s.pipe(res);
      res.on('finish', () => record({ method: req.method, path: url.pathname, status: 200, bytes: st.size, remote }));
      s.on('error', () => res.destroy());
    },
    () => {
      res.writeHead(404).end();
      record({ method: req.method, path: url.pathname, status: 404, remote });
    },
  );
});
server.listen(Number(values.port), values.bind, () => {
  process.stdout.write(`listening ${values.bind}:${values.port}\n`);
});
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
});

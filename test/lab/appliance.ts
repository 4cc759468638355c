// The appliance in the lab: the real `ironbay daemon` in the appliance namespace, detached (it
// outlives `npm run lab`; the state file has its pid), and the forwarder that puts its API on
// the host's loopback. Plus a small API client for the lab's own calls.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, existsSync, openSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DAEMON_ENV, DAEMON_NODE_FLAGS } from '../../daemon/runtime.ts';
import { CLI } from '../helpers/daemon.ts';
import { API_PORT, type LabFiles } from './inventory.ts';

const FORWARD = fileURLToPath(new URL('forward.ts', import.meta.url));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZXx]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
}

function tail(file: string, bytes = 3000): string {
  try {
    return readFileSync(file, 'utf8').slice(-bytes);
  } catch {
    return '';
  }
}

export interface Daemon {
  pid: number;
  logFile: string;
  token: string;
  tokenFile: string;
}

/** Starts ironbay in `appNs` and waits for its "ironbay started" log line. */
export async function startDaemon(f: LabFiles, appNs: string, timeoutMs = 30_000): Promise<Daemon> {
  const logFile = join(f.dir, 'logs', 'daemon.log');
  // A restart appends to the same log: only lines after this point say this daemon started.
  const from = existsSync(logFile) ? statSync(logFile).size : 0;
  const out = openSync(logFile, 'a');
  // `ip netns exec` execs node: the pid is the daemon's.
  const child = spawn('ip', ['netns', 'exec', appNs, process.execPath, ...DAEMON_NODE_FLAGS, CLI, 'daemon', '--config', f.configFile], {
    detached: true,
    stdio: ['ignore', out, out],
    env: { ...process.env, ...DAEMON_ENV, IRONBAY_URL: undefined, IRONBAY_TOKEN: undefined, IRONBAY_CONFIG: undefined },
  });
  closeSync(out);
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new Error('ironbay daemon did not start');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (readFileSync(logFile).subarray(from).toString('utf8').split('\n').some((l) => l.includes('"msg":"ironbay started"'))) break;
    if (!alive(pid)) throw new Error(`ironbay daemon exited at start:\n${tail(logFile)}`);
    if (Date.now() > deadline) throw new Error(`ironbay daemon not started within ${timeoutMs} ms:\n${tail(logFile)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const tokenFile = join(f.dataDir, 'admin.token');
  if (!existsSync(tokenFile)) throw new Error(`ironbay started but wrote no ${tokenFile}`);
  return { pid, logFile, tokenFile, token: readFileSync(tokenFile, 'utf8').trim() };
}

/**
 * Listens on the host's 127.0.0.1:`hostPort` (0: any free port) and hands the socket to a
 * forwarder in the appliance namespace (forward.ts). Returns the forwarder's pid and the port.
 */
export async function startForwarder(f: LabFiles, appNs: string, hostPort: number): Promise<{ pid: number; port: number }> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new Error(e.code === 'EADDRINUSE' ? `127.0.0.1:${hostPort} is taken on the host (another lab or \`npm start\`?): choose another with --port` : e.message)),
    );
    server.listen(hostPort, '127.0.0.1', resolve);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : hostPort;
  const out = openSync(join(f.dir, 'logs', 'forward.log'), 'a');
  const child = spawn('ip', ['netns', 'exec', appNs, process.execPath, FORWARD, String(API_PORT), f.dir], { detached: true, stdio: ['ignore', out, out, 'ipc'] });
  closeSync(out);
  try {
    const exited = once(child, 'exit').then(([code]) => {
      throw new Error(`API forwarder exited (${String(code)}): ${tail(join(f.dir, 'logs', 'forward.log'))}`);
    });
    await once(child, 'spawn');
    child.send('listen', server);
    await Promise.race([once(child, 'message'), exited]);
    void exited.catch(() => undefined);
  } finally {
    server.close();
  }
  if (child.connected) child.disconnect();
  child.unref();
  return { pid: child.pid!, port };
}

/** A call to the lab's API through the host forwarder. */
export async function api<T>(url: string, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url + path, { method, headers, ...(body !== undefined && { body: JSON.stringify(body) }), signal: AbortSignal.timeout(60_000) });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed as T };
}

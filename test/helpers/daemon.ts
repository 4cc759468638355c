// Starts the real daemon as a child process on a private data dir, config and inventory,
// with the API on an ephemeral loopback port. Used by integration tests and benchmarks.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DAEMON_ENV, DAEMON_NODE_FLAGS } from '../../daemon/runtime.ts';
import { run, type RunResult } from './run.ts';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = join(REPO, 'daemon/cli/ironbay.ts');

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

export interface DaemonOptions {
  inventory: string;
  /** Extra top-level YAML appended to the generated config. */
  configExtra?: string;
  /** Reuse a directory (data + files) from an earlier run. */
  dir?: string;
  logLevel?: string;
  /** Run the daemon inside this network namespace (boot-plane tests); the API is then reached through it. */
  netns?: string;
}

export class TestDaemon {
  readonly dir: string;
  readonly configFile: string;
  readonly inventoryFile: string;
  readonly logs: LogLine[] = [];
  readonly netns: string | undefined;
  proc!: ChildProcess;
  url = '';
  token = '';
  private exit: Promise<number | null> = Promise.resolve(null);
  private waiters: (() => void)[] = [];

  constructor(opts: DaemonOptions) {
    this.dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'ironbay-test-'));
    this.configFile = join(this.dir, 'ironbay.yaml');
    this.inventoryFile = join(this.dir, 'inventory.yaml');
    this.netns = opts.netns;
    writeFileSync(this.inventoryFile, opts.inventory);
    writeFileSync(
      this.configFile,
      `dataDir: ${join(this.dir, 'data')}\ninventory: ${this.inventoryFile}\napi: { listen: 127.0.0.1, port: 0 }\nlog: { level: ${opts.logLevel ?? 'debug'} }\ninventoryReload: { debounceMs: 100 }\n${opts.configExtra ?? ''}`,
    );
  }

  static async start(opts: DaemonOptions): Promise<TestDaemon> {
    const d = new TestDaemon(opts);
    await d.start();
    return d;
  }

  async start(timeoutMs = 20_000): Promise<void> {
    const argv = [process.execPath, ...DAEMON_NODE_FLAGS, CLI, 'daemon', '--config', this.configFile];
    // `ip netns exec` execs the daemon in place, so signals sent to proc reach the daemon itself.
    if (this.netns) argv.unshift('ip', 'netns', 'exec', this.netns);
    // A restart looks for its own 'ironbay started' (with its own port), not the last start's.
    const from = this.logs.length;
    this.proc = spawn(argv[0]!, argv.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...DAEMON_ENV },
    });
    this.exit = new Promise((resolve) => this.proc.once('exit', (code) => resolve(code)));
    let buf = '';
    this.proc.stdout!.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          this.logs.push(JSON.parse(line) as LogLine);
        } catch {
          this.logs.push({ level: 0, msg: line });
        }
        for (const w of this.waiters.splice(0)) w();
      }
    });
    this.proc.stderr!.on('data', (chunk: Buffer) => this.logs.push({ level: 0, msg: chunk.toString() }));
    const started = await this.waitForLog((l) => l.msg === 'ironbay started', timeoutMs, from);
    this.url = String(started.url);
    this.token = readFileSync(join(this.dir, 'data', 'admin.token'), 'utf8').trim();
  }

  /** Resolves with the first log line (already seen or future) matching `pred`. */
  async waitForLog(pred: (l: LogLine) => boolean, timeoutMs = 10_000, from = 0): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.logs.slice(from).find(pred);
      if (hit) return hit;
      const left = deadline - Date.now();
      if (left <= 0 || this.proc.exitCode !== null) {
        throw new Error(`daemon log line not seen within ${timeoutMs} ms; log:\n${this.logs.map((l) => JSON.stringify(l)).join('\n')}`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async api<T = unknown>(method: string, path: string, body?: unknown, token: string | null = this.token): Promise<{ status: number; body: T }> {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.netns) {
      // The API listens on the namespace's loopback, which only a process inside reaches.
      const args = ['netns', 'exec', this.netns, 'curl', '-sS', '-X', method, '-w', '\n%{http_code}', ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`])];
      if (body !== undefined) args.push('--data-binary', JSON.stringify(body));
      const r = await run('ip', [...args, this.url + path]);
      const nl = r.stdout.lastIndexOf('\n');
      const text = r.stdout.slice(0, nl);
      return { status: Number(r.stdout.slice(nl + 1)), body: (text ? JSON.parse(text) : undefined) as T };
    }
    const res = await fetch(this.url + path, { method, headers, ...(body !== undefined && { body: JSON.stringify(body) }) });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  }

  /** Sends `signal` and resolves with the exit code (null when killed by a signal). */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return this.proc.exitCode;
    this.proc.kill(signal);
    return this.exit;
  }

  exited(): Promise<number | null> {
    return this.exit;
  }

  cleanup(): void {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export type CliResult = RunResult;

/** Runs the `ironbay` CLI on the pinned runtime, without the caller's IRONBAY_* settings. */
export function runCli(args: string[], env: Record<string, string | undefined> = {}, input?: string): Promise<CliResult> {
  return run(process.execPath, [CLI, ...args], {
    env: { IRONBAY_URL: undefined, IRONBAY_TOKEN: undefined, IRONBAY_CONFIG: undefined, ...env },
    ...(input !== undefined && { input }),
  });
}

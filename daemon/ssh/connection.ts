// One SSH connection to one host (ssh2), with the host key checked against its pin before any
// credential is sent, optionally tunnelled through a jump host's connection (direct-tcpip,
// what `ssh -J` does), and commands run on it with a deadline and a way to stop them.
import { randomBytes } from 'node:crypto';
import { Client, type ClientChannel } from 'ssh2';
import { IronbayError } from '../errors.ts';
import type { Store } from '../store/db.ts';
import { CappedOutput } from './capped.ts';
import { checkHostKey, type HostKind } from './hostkeys.ts';

export interface SshTarget {
  /** The machine's (or jump host's) name: pinning and every error use it. */
  name: string;
  kind: HostKind;
  host: string;
  port: number;
  user: string;
}

export interface ConnectOptions {
  store: Store;
  privateKey: Buffer;
  /** Recorded as the actor of a pin made by this connection. */
  actor: string;
  connectTimeoutMs: number;
  /** An open connection to tunnel through. */
  via?: SshConnection;
}

function where(t: SshTarget): string {
  return `${t.kind === 'jump' ? 'jump host ' : ''}${t.name} (${t.user}@${t.host}:${t.port})`;
}

export async function connect(target: SshTarget, opts: ConnectOptions): Promise<SshConnection> {
  const address = `${target.host}:${target.port}`;
  const sock = opts.via ? await opts.via.forward(target) : undefined;
  const client = new Client();
  let refusal: IronbayError | undefined;
  return new Promise<SshConnection>((resolve, reject) => {
    const fail = (err: Error & { level?: string; code?: string }): void => {
      client.removeAllListeners('ready');
      client.end();
      reject(refusal ?? classify(target, err, opts.connectTimeoutMs, opts.via));
    };
    client.once('error', fail);
    client.once('ready', () => {
      client.off('error', fail);
      resolve(new SshConnection(target, client));
    });
    // ssh2 closes without an error when the server hangs up before the handshake ends.
    client.once('close', () => fail(Object.assign(new Error('the server closed the connection during the handshake'), { level: 'client-socket' })));
    client.connect({
      host: target.host,
      port: target.port,
      sock,
      username: target.user,
      privateKey: opts.privateKey,
      readyTimeout: opts.connectTimeoutMs,
      // A host that vanishes mid-run (power lost, cable pulled) is noticed within ~45 s
      // instead of when TCP gives up.
      keepaliveInterval: 15_000,
      keepaliveCountMax: 3,
      hostVerifier: (key: Buffer) => {
        const v = checkHostKey(opts.store, target.kind, target.name, address, key, opts.actor);
        if (v.ok) return true;
        refusal = new IronbayError(
          'IB_ERR_SSH_HOSTKEY_CHANGED',
          `${where(target)} presented host key ${v.offered.fingerprint} (${v.offered.keyType}), but ${v.pinned.fingerprint} (${v.pinned.keyType}) is pinned since ` +
            `${new Date(v.pinned.pinnedAt).toISOString()}; refusing to connect. If the host was reinstalled or its key rotated, ` +
            `compare the new fingerprint out of band, then: ironbay hosts accept ${target.kind === 'jump' ? '--jump ' : ''}${target.name}`,
          { details: { machine: target.name, hostKind: target.kind, address, pinned: v.pinned.fingerprint, offered: v.offered.fingerprint } },
        );
        return false;
      },
    });
    // sshd leaves Nagle on for non-interactive sessions; with it on here too, each exec's
    // request waited out a 40 ms delayed ACK (measured: 43 ms → 2 ms per channel open).
    client.setNoDelay(true);
  });
}

function classify(t: SshTarget, err: Error & { level?: string; code?: string }, timeoutMs: number, via: SshConnection | undefined): IronbayError {
  const details = { machine: t.name, address: `${t.host}:${t.port}`, ...(via && { via: via.target.name }) };
  const w = where(t);
  if (err instanceof IronbayError) return err;
  if (err.level === 'client-timeout') return new IronbayError('IB_ERR_SSH_TIMEOUT', `${w}: no SSH handshake within ${timeoutMs} ms`, { cause: err, details });
  if (err.level === 'client-authentication')
    return new IronbayError('IB_ERR_SSH_AUTH', `${w} refused the appliance's key for user ${t.user}: is the key in ${t.user}'s authorized_keys?`, { cause: err, details });
  if (err.level === 'client-socket' && err.code && ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN'].includes(err.code))
    return new IronbayError('IB_ERR_SSH_UNREACHABLE', `${w}: ${err.code}${err.code === 'ECONNREFUSED' ? ' (nothing listens there)' : ''}`, { cause: err, details });
  if (err.level === 'client-socket' && err.code === 'ETIMEDOUT') return new IronbayError('IB_ERR_SSH_TIMEOUT', `${w}: TCP connect timed out`, { cause: err, details });
  if (via && /forward|channel/i.test(err.message))
    return new IronbayError('IB_ERR_SSH_UNREACHABLE', `${w}: jump host ${via.target.name} cannot reach it: ${err.message}`, { cause: err, details });
  return new IronbayError('IB_ERR_SSH_PROTOCOL', `${w}: ${err.message}`, { cause: err, details });
}

export interface ExecOptions {
  command: string;
  /** Sent on the command's standard input, then closed (a script for `sh -s`). */
  stdin?: string;
  timeoutMs: number;
  /** Aborting stops the command as a timeout does (a cancel). */
  signal?: AbortSignal;
  outputCap: number;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  /** Wraps the kill command, e.g. in sudo when the command runs as another user. */
  privileged?: (command: string) => string;
}

export interface ExecResult {
  exitCode: number | null;
  exitSignal: string | null;
  /** Why the command did not run to its own end, when it did not. */
  stopped: 'timeout' | 'cancelled' | null;
  /** The connection failed under the command: its outcome is unknown. */
  lost: IronbayError | null;
  stdout: CappedOutput;
  stderr: CappedOutput;
  durationMs: number;
}

/**
 * The remote shell reports its PID first, on stderr. sshd (and Dropbear) start each exec
 * request's shell in a new session (setsid), so that PID is also the process group of
 * everything the command starts: stopping the command is killing that group, over a second
 * channel — the SSH "signal" request would reach the shell only, not its children, and a
 * `sleep` left behind would hold the channel open.
 */
const STOP_GRACE_MS = 2_000;
/** How far into stderr the PID line is looked for. */
const PID_SCAN_BYTES = 64 * 1024;

/**
 * Takes the PID line out of the head of stderr. It is not always the first line: a login
 * script (bash sources ~/.bashrc for sshd's commands) may print first — pyenv's "cannot
 * rehash" under load did, and the command could then not be stopped. The mark carries a
 * nonce so that nothing the host prints is mistaken for it.
 */
export class PidLine {
  readonly prefix: string;
  private readonly mark: string;
  private buf: Buffer | undefined = Buffer.alloc(0);

  constructor(nonce = randomBytes(6).toString('hex')) {
    this.mark = `ironbay-pid-${nonce} `;
    this.prefix = `printf '${this.mark}%s\\n' "$$" >&2; `;
  }

  /** The stderr bytes to pass on now, and the PID once it is found. */
  push(d: Buffer): { pass: Buffer; pid?: number } {
    if (!this.buf) return { pass: d };
    const buf = Buffer.concat([this.buf, d]);
    // latin1: one character per byte, so string offsets are byte offsets.
    const text = buf.toString('latin1');
    const at = text.indexOf(this.mark);
    const nl = at < 0 ? -1 : text.indexOf('\n', at);
    if (nl >= 0) {
      this.buf = undefined;
      const pid = Number(text.slice(at + this.mark.length, nl));
      return { pass: Buffer.concat([buf.subarray(0, at), buf.subarray(nl + 1)]), ...(Number.isInteger(pid) && pid > 1 && { pid }) };
    }
    if (buf.length >= PID_SCAN_BYTES) {
      this.buf = undefined;
      return { pass: buf };
    }
    // Lines that ended before the mark are the host's own output: pass them on.
    const cut = at >= 0 ? at : buf.lastIndexOf(10) + 1;
    this.buf = buf.subarray(cut);
    return { pass: buf.subarray(0, cut) };
  }

  /** What is still held back, at the end of the stream. */
  flush(): Buffer {
    const rest = this.buf ?? Buffer.alloc(0);
    this.buf = undefined;
    return rest;
  }
}

export class SshConnection {
  readonly target: SshTarget;
  private readonly client: Client;
  private closedWith: IronbayError | undefined;
  private readonly closeListeners = new Set<(e: IronbayError) => void>();

  constructor(target: SshTarget, client: Client) {
    this.target = target;
    this.client = client;
    const lost = (err?: Error): void => {
      if (this.closedWith) return;
      this.closedWith = new IronbayError('IB_ERR_SSH_CLOSED', `${where(target)}: the connection was lost${err ? `: ${err.message}` : ''}`, {
        ...(err && { cause: err }),
        details: { machine: target.name },
      });
      for (const l of this.closeListeners) l(this.closedWith);
    };
    client.on('error', lost);
    client.on('close', () => lost());
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  close(): void {
    if (!this.closedWith) this.closedWith = new IronbayError('IB_ERR_SSH_CLOSED', `${where(this.target)}: closed by ironbay`);
    this.client.end();
  }

  /** A TCP stream to `to` opened from this host (for a jump). */
  forward(to: SshTarget): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      if (this.closedWith) return reject(this.closedWith);
      this.client.forwardOut('127.0.0.1', 0, to.host, to.port, (err, stream) => {
        if (err)
          reject(
            new IronbayError('IB_ERR_SSH_UNREACHABLE', `${where(to)}: jump host ${this.target.name} cannot reach ${to.host}:${to.port}: ${err.message}`, {
              cause: err,
              details: { machine: to.name, via: this.target.name },
            }),
          );
        else resolve(stream);
      });
    });
  }

  private channel(command: string): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      if (this.closedWith) return reject(this.closedWith);
      this.client.exec(command, (err, stream) => {
        if (err) reject(new IronbayError('IB_ERR_SSH_PROTOCOL', `${where(this.target)}: cannot start a command: ${err.message}`, { cause: err, details: { machine: this.target.name } }));
        else resolve(stream);
      });
    });
  }

  /** Runs a command to its end, its deadline, an abort or the loss of the connection. Never throws for those. */
  async exec(o: ExecOptions): Promise<ExecResult> {
    const started = performance.now();
    const stdout = new CappedOutput(o.outputCap);
    const stderr = new CappedOutput(o.outputCap);
    const result = (r: Partial<ExecResult>): ExecResult => ({
      exitCode: null,
      exitSignal: null,
      stopped: null,
      lost: null,
      ...r,
      stdout,
      stderr,
      durationMs: Math.round(performance.now() - started),
    });
    if (o.signal?.aborted) return result({ stopped: 'cancelled' });
    const pidLine = new PidLine();
    let ch: ClientChannel;
    try {
      ch = await this.channel(pidLine.prefix + o.command);
    } catch (err) {
      return result({ lost: err as IronbayError });
    }
    return new Promise<ExecResult>((resolve) => {
      let pid: number | undefined;
      let exitCode: number | null = null;
      let exitSignal: string | null = null;
      let stopped: ExecResult['stopped'] = null;
      let lost: IronbayError | null = null;
      let done = false;
      const timers: NodeJS.Timeout[] = [];

      const finish = (): void => {
        if (done) return;
        done = true;
        for (const t of timers) clearTimeout(t);
        o.signal?.removeEventListener('abort', onAbort);
        this.closeListeners.delete(onLost);
        resolve(result({ exitCode, exitSignal, stopped, lost }));
      };
      const onLost = (e: IronbayError): void => {
        if (!stopped) lost = e;
        finish();
      };
      const stop = (why: 'timeout' | 'cancelled'): void => {
        if (stopped || done) return;
        stopped = why;
        void this.killGroup(pid, 'TERM', o.privileged);
        timers.push(
          setTimeout(() => {
            void this.killGroup(pid, 'KILL', o.privileged);
            // Whatever still holds the channel (a daemonised child that left the group)
            // must not hold the run: give up on the channel.
            timers.push(setTimeout(() => (ch.close(), finish()), STOP_GRACE_MS));
          }, STOP_GRACE_MS),
        );
      };
      const onAbort = (): void => stop('cancelled');

      this.closeListeners.add(onLost);
      o.signal?.addEventListener('abort', onAbort, { once: true });
      timers.push(setTimeout(() => stop('timeout'), o.timeoutMs));

      ch.on('data', (d: Buffer) => {
        stdout.push(d);
        o.onStdout?.(d);
      });
      ch.stderr.on('data', (d: Buffer) => {
        const r = pidLine.push(d);
        if (r.pid) {
          pid = r.pid;
          // Stopped before the PID was known (a cancel right at the step's start): now it is.
          if (stopped) void this.killGroup(pid, 'TERM', o.privileged);
        }
        if (!r.pass.length) return;
        stderr.push(r.pass);
        o.onStderr?.(r.pass);
      });
      // The exit status comes with 'close' (ssh2 repeats it there), not from 'exit': ssh2 emits
      // 'exit' as soon as it reads the status, which may be in the same TCP read as the exec's
      // acknowledgement — before this listener exists (the benchmark lost ~90% of statuses
      // under load). 'close' waits for the output's end, which waits for our 'data' listener.
      ch.on('close', (code?: number | null, signal?: string) => {
        if (typeof code === 'number') exitCode = code;
        if (signal) exitSignal = signal;
        const held = pidLine.flush();
        if (held.length) {
          stderr.push(held);
          o.onStderr?.(held);
        }
        finish();
      });
      if (o.stdin !== undefined) ch.end(o.stdin);
      else ch.end();
    });
  }

  /** Signals the command's process group over a second channel; best effort. */
  private async killGroup(pid: number | undefined, sig: 'TERM' | 'KILL', privileged?: (c: string) => string): Promise<void> {
    if (!pid || this.closedWith) return;
    // /proc/PID/stat's fields after "(comm) " are: state, ppid, pgrp. Kill the group only
    // when the shell leads one, or we could hit the server's own group.
    const script = `p=${pid}; g=$(sed 's/.*) //' /proc/$p/stat 2>/dev/null | cut -d' ' -f3); if [ "$g" = "$p" ]; then kill -s ${sig} -- -$p; else kill -s ${sig} $p; fi 2>/dev/null; true`;
    try {
      const ch = await this.channel(privileged ? privileged(script) : script);
      ch.resume();
      ch.stderr.resume();
      ch.end();
    } catch {
      // The connection is going: nothing to signal over.
    }
  }
}

// Network namespaces for tests and benchmarks: every name carries a prefix unique to the run
// (tests run in parallel, and a crashed run must not collide with the next), and dispose()
// removes everything the lab created. Traffic stays inside these namespaces.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { run, type RunResult } from './run.ts';

async function ip(args: string[]): Promise<RunResult> {
  const r = await run('ip', args);
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim() || `exit ${String(r.code)}`}`);
  return r;
}

export class Netns {
  /** Short, unique: interface names are limited to 15 characters. */
  readonly prefix: string;
  private readonly namespaces: string[] = [];
  private readonly children = new Set<ChildProcess>();

  constructor(tag: string) {
    if (!/^[a-z]{1,4}$/.test(tag)) throw new Error('netns tag: 1-4 lower-case letters');
    this.prefix = `${tag}${randomBytes(3).toString('hex')}`;
  }

  /** Creates namespace `<prefix>-<name>` with loopback up; returns its full name. */
  async add(name: string): Promise<string> {
    const full = `${this.prefix}-${name}`;
    await ip(['netns', 'add', full]);
    this.namespaces.push(full);
    await this.exec(full, 'ip', ['link', 'set', 'lo', 'up']);
    return full;
  }

  /**
   * A veth pair between two namespaces; each end named `<prefix><suffix>` (≤ 15 chars), given
   * the address (CIDR) if any, and brought up. Returns the two interface names.
   */
  async veth(a: { ns: string; suffix: string; cidr?: string }, b: { ns: string; suffix: string; cidr?: string }): Promise<[string, string]> {
    const an = `${this.prefix}${a.suffix}`;
    const bn = `${this.prefix}${b.suffix}`;
    if (an.length > 15 || bn.length > 15) throw new Error(`interface name too long: ${an} / ${bn}`);
    await ip(['link', 'add', an, 'netns', a.ns, 'type', 'veth', 'peer', 'name', bn, 'netns', b.ns]);
    for (const [ns, dev, cidr] of [
      [a.ns, an, a.cidr],
      [b.ns, bn, b.cidr],
    ] as const) {
      if (cidr) await this.exec(ns, 'ip', ['addr', 'add', cidr, 'dev', dev]);
      await this.exec(ns, 'ip', ['link', 'set', dev, 'up']);
    }
    // Carrier follows a moment after both ends are up; until then the kernel drops what is
    // sent and programs (Node's networkInterfaces) do not see the interface at all.
    for (let i = 0; i < 60; i++) {
      const up = await Promise.all([
        run('ip', ['netns', 'exec', a.ns, 'cat', `/sys/class/net/${an}/carrier`]),
        run('ip', ['netns', 'exec', b.ns, 'cat', `/sys/class/net/${bn}/carrier`]),
      ]);
      if (up.every((r) => r.stdout.trim() === '1')) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return [an, bn];
  }

  /** A bridge `<prefix><suffix>` in `ns`, up, with an address if given. */
  async bridge(ns: string, suffix: string, cidr?: string): Promise<string> {
    const name = `${this.prefix}${suffix}`;
    await this.exec(ns, 'ip', ['link', 'add', name, 'type', 'bridge']);
    if (cidr) await this.exec(ns, 'ip', ['addr', 'add', cidr, 'dev', name]);
    await this.exec(ns, 'ip', ['link', 'set', name, 'up']);
    return name;
  }

  /**
   * A tap device `<prefix><suffix>` in `ns` (for a qemu `-netdev tap,ifname=…` started in that
   * namespace), enslaved to `bridge` if given, and up. Returns its name.
   */
  async tap(ns: string, suffix: string, bridge?: string): Promise<string> {
    const name = `${this.prefix}${suffix}`;
    if (name.length > 15) throw new Error(`interface name too long: ${name}`);
    await this.exec(ns, 'ip', ['tuntap', 'add', 'dev', name, 'mode', 'tap']);
    if (bridge) await this.exec(ns, 'ip', ['link', 'set', name, 'master', bridge]);
    await this.exec(ns, 'ip', ['link', 'set', name, 'up']);
    return name;
  }

  /** Runs a command inside `ns` to completion; throws on a non-zero exit. */
  async exec(ns: string, cmd: string, args: string[]): Promise<RunResult> {
    const r = await run('ip', ['netns', 'exec', ns, cmd, ...args]);
    if (r.code !== 0) throw new Error(`[${ns}] ${cmd} ${args.join(' ')}: ${r.stderr.trim() || `exit ${String(r.code)}`}`);
    return r;
  }

  /** Runs a command inside `ns` and returns its result whatever the exit code. */
  try(ns: string, cmd: string, args: string[], input?: string): Promise<RunResult> {
    return run('ip', ['netns', 'exec', ns, cmd, ...args], input === undefined ? {} : { input });
  }

  /** Starts a long-running process inside `ns`; dispose() kills it if still running. */
  spawn(ns: string, cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  async dispose(): Promise<void> {
    await Promise.all(
      [...this.children].map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const t = setTimeout(() => c.kill('SIGKILL'), 2_000);
            c.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
            c.kill('SIGTERM');
          }),
      ),
    );
    // Deleting a namespace deletes the veth ends and bridges inside it.
    for (const ns of this.namespaces.reverse()) await run('ip', ['netns', 'del', ns]);
    this.namespaces.length = 0;
  }
}

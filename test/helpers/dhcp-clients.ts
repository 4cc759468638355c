// DHCP clients for the boot-plane tests, each in a namespace of its own with one veth on a
// bridge: busybox udhcpc (a real client) and test/fixtures/dhcp/raw-client.ts (scripted
// packets for the paths real clients take only by accident).
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './daemon.ts';
import type { Netns } from './netns.ts';

const RAW_CLIENT = join(REPO, 'test/fixtures/dhcp/raw-client.ts');

export interface Client {
  ns: string;
  dev: string;
}

/** A reply as raw-client.ts prints it. */
export interface RawReply {
  type?: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  file: string;
  serverId?: string;
  message?: string;
  vendorClass?: string;
  ipxeNoPxeDhcp?: boolean;
  from: { address: string; port: number };
  options: Record<string, string>;
}

export class DhcpClients {
  private readonly lab: Netns;
  private readonly script: string;
  private readonly clients = new Map<string, Client>();

  /** `dir`: where udhcpc's event script is written. */
  constructor(lab: Netns, dir: string) {
    this.lab = lab;
    this.script = join(dir, 'udhcpc.sh');
    writeFileSync(this.script, '#!/bin/sh\n# Prints what udhcpc hands a lease script.\necho "EVENT $1 ip=$ip mask=$mask router=$router serverid=$serverid siaddr=$siaddr boot_file=$boot_file lease=$lease"\n');
    chmodSync(this.script, 0o755);
  }

  /** The client with `mac` on the bridge `bridge` in namespace `bridgeNs`, created on first use. */
  async on(mac: string, bridgeNs: string, bridge: string): Promise<Client> {
    const key = `${bridge}/${mac}`;
    const have = this.clients.get(key);
    if (have) return have;
    const n = this.clients.size;
    const ns = await this.lab.add(`c${String(n)}`);
    const [dev, peer] = await this.lab.veth({ ns, suffix: `c${String(n)}` }, { ns: bridgeNs, suffix: `C${String(n)}` });
    await this.lab.exec(ns, 'ip', ['link', 'set', dev, 'down']);
    await this.lab.exec(ns, 'ip', ['link', 'set', dev, 'address', mac]);
    await this.lab.exec(ns, 'ip', ['link', 'set', dev, 'up']);
    await this.lab.exec(bridgeNs, 'ip', ['link', 'set', peer, 'master', bridge]);
    const c = { ns, dev };
    this.clients.set(key, c);
    return c;
  }

  /** udhcpc once: the lease's variables as its script saw them, or undefined when no lease came. */
  async udhcpc(c: Client, extra: string[] = []): Promise<Record<string, string> | undefined> {
    const r = await this.lab.try(c.ns, 'busybox', ['udhcpc', '-f', '-q', '-n', '-t', '3', '-T', '1', '-i', c.dev, '-s', this.script, ...extra]);
    const bound = r.stdout.split('\n').find((l) => l.startsWith('EVENT bound'));
    if (!bound) return undefined;
    return Object.fromEntries(bound.split(' ').slice(2).map((kv) => kv.split('=', 2) as [string, string]));
  }

  /** Runs raw-client.ts in `ns` with `script`; the replies it got, in order. */
  async raw(ns: string, script: object): Promise<RawReply[]> {
    const r = await this.lab.try(ns, process.execPath, [RAW_CLIENT, JSON.stringify(script)]);
    if (r.code !== 0) throw new Error(`raw client failed: ${r.stderr}`);
    return r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as RawReply);
  }
}

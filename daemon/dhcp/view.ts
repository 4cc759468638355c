// What the DHCP server needs of the inventory, indexed for a lookup per packet: the boot
// networks with their subnets as numbers, and machines by MAC. Rebuilt only when the store
// says machines or the applied inventory changed (two integer reads per batch of packets).
import type { Statement } from 'better-sqlite3';
import type { BootNetwork } from '../../inventory/schema.ts';
import { appliedSections } from '../inventory/apply.ts';
import { fromIp4, ip4 } from '../lib/net.ts';
import type { Store } from '../store/db.ts';

export interface BootNet {
  readonly spec: BootNetwork;
  readonly network: number;
  readonly mask: number;
  readonly prefix: number;
  readonly leaseSeconds: number;
  /** Addresses the pool must not hand out: machines' static addresses, the gateway. */
  readonly reserved: ReadonlySet<string>;
}

export interface KnownMachine {
  readonly id: number;
  readonly name: string;
  readonly state: string;
  readonly bootAddress?: string;
  readonly profile?: string;
}

export const DEFAULT_LEASE_SECONDS = 3600;

export class BootView {
  private readonly store: Store;
  private readonly versionQuery: Statement;
  private readonly machinesQuery: Statement;
  private stamp = '';
  private nets: BootNet[] = [];
  private byMac = new Map<string, KnownMachine>();

  constructor(store: Store) {
    this.store = store;
    this.versionQuery = store.db
      .prepare("SELECT (SELECT version FROM data_versions WHERE name = 'machines') || '/' || coalesce((SELECT applied_at FROM inventory_state WHERE id = 1), '')")
      .pluck();
    this.machinesQuery = store.db.prepare(
      "SELECT mm.mac, m.id, m.name, m.state, json_extract(m.spec, '$.bootAddress') AS bootAddress, m.profile FROM machine_macs mm JOIN machines m ON m.id = mm.machine_id",
    );
  }

  /** Brings the view up to date with the store; cheap when nothing changed. */
  refresh(): void {
    const stamp = this.versionQuery.get() as string;
    if (stamp === this.stamp) return;
    const byMac = new Map<string, KnownMachine>();
    const statics = new Set<string>();
    for (const r of this.machinesQuery.all() as { mac: string; id: number; name: string; state: string; bootAddress: string | null; profile: string | null }[]) {
      byMac.set(r.mac, {
        id: r.id,
        name: r.name,
        state: r.state,
        ...(r.bootAddress ? { bootAddress: r.bootAddress } : {}),
        ...(r.profile ? { profile: r.profile } : {}),
      });
      if (r.bootAddress) statics.add(r.bootAddress);
    }
    this.nets = appliedSections(this.store).networks.boot.map((spec) => {
      const [addr, len] = spec.subnet.split('/') as [string, string];
      const prefix = Number(len);
      const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
      const reserved = new Set(statics);
      if (spec.gateway) reserved.add(spec.gateway);
      return { spec, prefix, mask, network: (ip4(addr) & mask) >>> 0, leaseSeconds: spec.leaseSeconds ?? DEFAULT_LEASE_SECONDS, reserved };
    });
    this.byMac = byMac;
    this.stamp = stamp;
  }

  /** Forget what was read: the next refresh rebuilds (after a rolled-back batch whose additions are void). */
  invalidate(): void {
    this.stamp = '';
  }

  /** A machine the DHCP server itself just registered (discovery), so the view needs no rebuild for it. */
  add(mac: string, m: KnownMachine): void {
    this.byMac.set(mac, m);
  }

  /**
   * After a transaction whose only writes were the server's own (and already added here):
   * take the store's new version as seen. Sound because the daemon is the store's only
   * writer and the batch ran synchronously, so nothing else wrote in between.
   */
  acceptOwnWrites(): void {
    this.stamp = this.versionQuery.get() as string;
  }

  machine(mac: string): KnownMachine | undefined {
    return this.byMac.get(mac);
  }

  /** The boot network containing `address`, if any. */
  networkOf(address: string): BootNet | undefined {
    const v = ip4(address);
    return this.nets.find((n) => ((v & n.mask) >>> 0) === n.network);
  }

  networks(): readonly BootNet[] {
    return this.nets;
  }
}

export function maskText(prefix: number): string {
  return fromIp4(prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);
}

// The reconciler's side effects, behind small interfaces (STYLE.md §6): the real ones drive
// BMCs, read the boot plane's records and dial the production network; the scale benchmark
// and unit tests put fakes in their place.
import type { MachineRecord } from '../store/machines.ts';

export interface Power {
  /** One-time PXE boot, verified, then a power cycle (an off machine is powered on). */
  pxeCycle(m: MachineRecord): Promise<void>;
  /** Boot from disk from now on, verified, then a power cycle. */
  diskCycle(m: MachineRecord): Promise<void>;
  off(m: MachineRecord): Promise<void>;
}

/** What the boot plane saw of a machine since a moment (unix ms). */
export interface BootSeen {
  /** A DHCP exchange (or ProxyDHCP) from one of its MACs. */
  dhcp: boolean;
  /** Its firmware fetched a boot file or script: a network boot, not an OS renewing a lease. */
  pxe: boolean;
  /** Its installer runs: the kernel/initrd fetched, or a progress report. */
  installer: boolean;
  /** A boot of it ended with an installed report. */
  installed: boolean;
  /** The installer reported failure, with its message. */
  failed?: string | undefined;
}

export interface BootSignals {
  since(machineId: number, t: number): BootSeen;
}

/**
 * What happens between "answers on SSH" and `ready`: the configured post-install runbook, started
 * once per install and followed through the store, so a restart neither loses nor repeats it.
 */
export interface PostInstall {
  /** `since`: when the installed system was booted (a run or host-key pin older than it belongs to the previous system). */
  step(m: MachineRecord, since: number): Promise<{ state: 'done' | 'running' | 'failed'; detail: string }>;
}

export interface Reach {
  /** Is the machine up on its production address (an SSH banner on the configured port)? */
  reachable(m: MachineRecord): Promise<{ ok: boolean; detail: string }>;
}

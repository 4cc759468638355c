// What a machine boots when its iPXE asks for a script. Pure: the machine row, its profile
// and whether a discovery image is installed in, the plan out. The state diagram is in
// DESIGN.md ("Machine lifecycle"); this only reads the state, the reconciler owns it.
//
//   unknown MAC, or a machine without a profile (or `discovered`)
//       → discovery image if assets/discovery/{vmlinuz,initrd.img} exist, else hold
//   profile with install.method live → its kernel, whatever the state (a live system has
//       nothing on disk to boot)
//   installed, rebooting, ready, maintenance → local disk (`exit`): an installed machine must
//       never reinstall because it happened to PXE boot; maintenance is an operator hold,
//       so nothing is started on it either
//   registered, power-cycling, pxe-booting, installing → the profile's installer
//       (method image, or no install section: a kernel with its own installer)
//   failed, wiping, retired → hold: a failed machine waits for an operator; wiping has no
//       wipe image yet; a retired one is never booted (its MACs are released anyway)
//
// "hold" prints why on the console, waits, and exits to the firmware's next boot device:
// waiting keeps a machine that loops on PXE from hammering DHCP, and exiting (not rebooting)
// lets a machine that has an OS boot it.
import type { Profile } from '../../inventory/schema.ts';
import type { MachineState } from '../store/machines.ts';
import type { BootAction } from './sessions.ts';

export interface BootMachineView {
  name: string;
  state: MachineState;
  stateReason: string | null;
  profile: string | null;
}

export type BootPlan =
  | { action: 'install' | 'live'; profile: Profile }
  | { action: 'discovery'; reason: string }
  | { action: 'local-disk'; reason: string }
  | { action: 'hold'; reason: string };

export const DISCOVERY_KERNEL = 'discovery/vmlinuz';
export const DISCOVERY_INITRD = 'discovery/initrd.img';

const INSTALLED: ReadonlySet<MachineState> = new Set(['installed', 'rebooting', 'ready', 'maintenance']);
const INSTALLING: ReadonlySet<MachineState> = new Set(['registered', 'power-cycling', 'pxe-booting', 'installing']);

export function planBoot(machine: BootMachineView | undefined, profile: Profile | undefined, discoveryAvailable: boolean): BootPlan {
  const discoverOrHold = (why: string): BootPlan =>
    discoveryAvailable ? { action: 'discovery', reason: why } : { action: 'hold', reason: `${why}; no discovery image (${DISCOVERY_KERNEL}, ${DISCOVERY_INITRD}) in the boot assets` };
  if (!machine) return discoverOrHold('this machine is not in the inventory');
  if (machine.state === 'retired') return { action: 'hold', reason: `${machine.name} is retired` };
  if (machine.state === 'discovered') return discoverOrHold(`${machine.name} is discovered, not yet in the inventory`);
  if (!machine.profile) return discoverOrHold(`${machine.name} has no profile in the inventory`);
  if (!profile) return { action: 'hold', reason: `${machine.name}'s profile ${machine.profile} is not in the applied inventory` };
  if (profile.install?.method === 'live') return { action: 'live', profile };
  if (INSTALLED.has(machine.state)) return { action: 'local-disk', reason: `${machine.name} is ${machine.state}` };
  if (INSTALLING.has(machine.state)) return { action: 'install', profile };
  return { action: 'hold', reason: `${machine.name} is ${machine.state}${machine.stateReason ? ` (${machine.stateReason})` : ''}` };
}

/** Whether a plan boots a kernel that phones home (and so gets a token). */
export const bootsKernel = (a: BootAction): boolean => a === 'install' || a === 'live' || a === 'discovery';

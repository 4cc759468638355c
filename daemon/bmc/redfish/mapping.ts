// Redfish values ⇄ the power-driver vocabulary (driver.ts). Pure: the driver decides with these
// and the client carries out the decision. Enumerations are from DSP0268: ComputerSystem
// PowerState, Resource.ResetType, Boot.BootSource/BootSourceOverrideEnabled/BootSourceOverrideMode.
import type { BootOptions, BootSetting, PowerState, SettableBootDevice } from '../driver.ts';
import type { BootResource } from './resources.ts';

/**
 * PowerState → on/off. A transition counts as where it is going (PoweringOn is on, PoweringOff
 * off) so that repeating on() during power-up changes nothing. Paused (a later addition to
 * Resource.PowerState) is still powered.
 * Undefined: a value outside the schema, which the driver reports as a protocol error.
 */
export function powerFromRedfish(state: string): PowerState | undefined {
  switch (state) {
    case 'On':
    case 'PoweringOn':
    case 'Paused':
      return 'on';
    case 'Off':
    case 'PoweringOff':
      return 'off';
    default:
      return undefined;
  }
}

/** Status.Health (DSP0268 Resource.Health: OK, Warning, Critical) → fault list. */
export function faultsFrom(health: string | undefined): string[] {
  return health === undefined || health === 'OK' ? [] : [`Status.Health ${health}`];
}

const TARGETS: Record<SettableBootDevice, string> = { pxe: 'Pxe', disk: 'Hdd', bios: 'BiosSetup' };

export function targetFor(device: SettableBootDevice): string {
  return TARGETS[device];
}

/** What the BMC reports → BootSetting. None/Disabled mean no override; unknown targets are 'other'. */
export function bootSettingFrom(b: BootResource): BootSetting {
  const raw = [`Target=${b.target ?? '-'}`, `Enabled=${b.enabled ?? '-'}`, ...(b.modeExposed ? [`Mode=${b.mode ?? '-'}`] : [])].join(' ');
  const efi = b.mode === 'UEFI';
  const persistent = b.enabled === 'Continuous';
  if (b.target === undefined || b.target === 'None' || b.enabled === 'Disabled') return { device: 'none', persistent, efi, raw };
  const known = (Object.keys(TARGETS) as SettableBootDevice[]).find((d) => TARGETS[d] === b.target);
  return { device: known ?? 'other', persistent, efi, raw };
}

/** The Boot object of the PATCH; only the properties ironbay sets. */
export interface BootPatch {
  BootSourceOverrideTarget: string;
  BootSourceOverrideEnabled: 'Once' | 'Continuous';
  BootSourceOverrideMode?: 'UEFI' | 'Legacy';
}

/**
 * The PATCH for a boot device, or why the system cannot take it (its AllowableValues lack the
 * target or mode). Mode is sent only when the system has the property: BMCs without it answer
 * PropertyUnknown (DSP0266 "Modification success/error responses").
 */
export function bootPatchFor(device: SettableBootDevice, opts: BootOptions, b: BootResource): BootPatch | { unsupported: string } {
  const target = targetFor(device);
  if (b.targets !== undefined && !b.targets.includes(target)) {
    return { unsupported: `boot target ${target} is not offered (BootSourceOverrideTarget@Redfish.AllowableValues: ${b.targets.join(', ')})` };
  }
  const patch: BootPatch = { BootSourceOverrideTarget: target, BootSourceOverrideEnabled: opts.persistent === true ? 'Continuous' : 'Once' };
  if (b.modeExposed) {
    const mode = opts.efi === true ? 'UEFI' : 'Legacy';
    if (b.modes !== undefined && !b.modes.includes(mode)) {
      return { unsupported: `boot mode ${mode} is not offered (BootSourceOverrideMode@Redfish.AllowableValues: ${b.modes.join(', ')})` };
    }
    patch.BootSourceOverrideMode = mode;
  }
  return patch;
}

/** The properties of `patch` the BMC reports differently after the PATCH, as "Prop: wanted X, reads Y". */
export function bootMismatches(patch: BootPatch, got: BootResource): string[] {
  const read: Record<keyof BootPatch, string | undefined> = {
    BootSourceOverrideTarget: got.target,
    BootSourceOverrideEnabled: got.enabled,
    BootSourceOverrideMode: got.mode,
  };
  return (Object.keys(patch) as (keyof BootPatch)[])
    .filter((k) => patch[k] !== read[k])
    .map((k) => `${k}: wanted ${patch[k]}, reads ${read[k] ?? 'nothing'}`);
}

/** Boot modes the system can be set to, for probe(). */
export function bootModesFrom(b: BootResource): ('legacy' | 'efi')[] {
  if (!b.modeExposed) return [];
  const modes = b.modes ?? ['Legacy', 'UEFI'];
  return [...(modes.includes('Legacy') ? ['legacy' as const] : []), ...(modes.includes('UEFI') ? ['efi' as const] : [])];
}

export type ResetOp = 'on' | 'off' | 'softOff' | 'cycle' | 'reset';

/**
 * Reset types to try, best first, for each operation on a machine that is on (an off machine is
 * only ever sent the 'on' plan). A plan is one ResetType or ForceOff-then-On, which the driver
 * runs with a bounded wait for PowerState Off between.
 * - on: On, else ForceOn (older BMCs offer only ForceOn).
 * - softOff: GracefulShutdown, else PushPowerButton — a short press is the ACPI power-button
 *   event, and the machine is known to be on, so it cannot toggle the wrong way.
 * - cycle: PowerCycle, else ForceOff then On.
 * - reset: ForceRestart only — anything else would not be a warm reset.
 */
const PLANS: Record<ResetOp, string[][]> = {
  on: [['On'], ['ForceOn']],
  off: [['ForceOff']],
  softOff: [['GracefulShutdown'], ['PushPowerButton']],
  cycle: [['PowerCycle'], ['ForceOff', 'On']],
  reset: [['ForceRestart']],
};

/**
 * Types the schema has had since ComputerSystem v1.0 and that BMCs which omit
 * ResetType@Redfish.AllowableValues implement in practice. Without a list, a plan is chosen
 * among these only (a cycle is then ForceOff + On, never a guessed PowerCycle).
 */
const ASSUMED = ['On', 'ForceOff', 'GracefulShutdown', 'ForceRestart'];

/** The first plan whose reset types are all offered, or undefined (→ IB_ERR_BMC_UNSUPPORTED). */
export function resetPlan(op: ResetOp, allowed: readonly string[] | undefined): string[] | undefined {
  const offered = allowed ?? ASSUMED;
  return PLANS[op].find((plan) => plan.every((t) => offered.includes(t)));
}

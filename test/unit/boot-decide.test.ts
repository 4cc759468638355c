import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { planBoot, type BootMachineView } from '../../daemon/boot/decide.ts';
import type { Profile } from '../../inventory/schema.ts';
import { MACHINE_STATES, type MachineState } from '../../daemon/store/machines.ts';

const image: Profile = { name: 'debian12', kernel: 'debian12/vmlinuz', initrd: ['debian12/initrd.gz'], install: { method: 'image', image: 'debian12.img' } };
const bare: Profile = { name: 'netinst', kernel: 'netinst/linux', initrd: [] };
const live: Profile = { name: 'rescue', kernel: 'rescue/vmlinuz', initrd: [], install: { method: 'live' } };
const m = (state: MachineState, profile: string | null = 'debian12'): BootMachineView => ({ name: 'w-000', state, stateReason: state === 'failed' ? 'no DHCP after 3 power cycles' : null, profile });

describe('what a machine boots', () => {
  const expected: Record<MachineState, string> = {
    discovered: 'discovery',
    registered: 'install',
    'power-cycling': 'install',
    'pxe-booting': 'install',
    installing: 'install',
    installed: 'local-disk',
    rebooting: 'local-disk',
    ready: 'local-disk',
    maintenance: 'local-disk',
    wiping: 'hold',
    failed: 'hold',
    retired: 'hold',
  };
  for (const state of MACHINE_STATES) {
    test(`image profile, ${state} → ${expected[state]}`, () => assert.equal(planBoot(m(state), image, true).action, expected[state]));
  }

  test('a profile without an install section behaves like an installer', () => {
    assert.equal(planBoot(m('installing', 'netinst'), bare, false).action, 'install');
    assert.equal(planBoot(m('ready', 'netinst'), bare, false).action, 'local-disk');
  });

  test('live profiles always get their kernel, also once "installed"', () => {
    for (const state of ['registered', 'installed', 'ready', 'maintenance', 'failed'] as const) assert.equal(planBoot(m(state, 'rescue'), live, false).action, 'live');
  });

  test('unknown machines and machines without a profile: discovery when its image exists, else hold with the reason', () => {
    assert.deepEqual(planBoot(undefined, undefined, true), { action: 'discovery', reason: 'this machine is not in the inventory' });
    const held = planBoot(undefined, undefined, false);
    assert.equal(held.action, 'hold');
    assert.match((held as { reason: string }).reason, /not in the inventory; no discovery image \(discovery\/vmlinuz, discovery\/initrd.img\)/);
    assert.equal(planBoot(m('registered', null), undefined, true).action, 'discovery');
    assert.match((planBoot(m('registered', null), undefined, false) as { reason: string }).reason, /w-000 has no profile/);
  });

  test('a failed machine is held with its reason; a profile missing from the applied inventory is held too', () => {
    assert.deepEqual(planBoot(m('failed'), image, true), { action: 'hold', reason: 'w-000 is failed (no DHCP after 3 power cycles)' });
    assert.deepEqual(planBoot(m('installing'), undefined, true), { action: 'hold', reason: "w-000's profile debian12 is not in the applied inventory" });
  });
});

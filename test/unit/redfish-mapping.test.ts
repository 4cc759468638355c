// Redfish values ⇄ driver vocabulary: power states, faults, boot override in both directions,
// and the choice of reset types from what a BMC offers.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  bootMismatches,
  bootModesFrom,
  bootPatchFor,
  bootSettingFrom,
  faultsFrom,
  powerFromRedfish,
  resetPlan,
  targetFor,
} from '../../daemon/bmc/redfish/mapping.ts';
import type { BootResource } from '../../daemon/bmc/redfish/resources.ts';

describe('power state', () => {
  test('transitions count as where they are going', () => {
    assert.equal(powerFromRedfish('On'), 'on');
    assert.equal(powerFromRedfish('PoweringOn'), 'on');
    assert.equal(powerFromRedfish('Paused'), 'on');
    assert.equal(powerFromRedfish('Off'), 'off');
    assert.equal(powerFromRedfish('PoweringOff'), 'off');
  });

  test('values outside the schema are not guessed', () => {
    assert.equal(powerFromRedfish('on'), undefined);
    assert.equal(powerFromRedfish(''), undefined);
    assert.equal(powerFromRedfish('Standby'), undefined);
  });

  test('faults come from Status.Health other than OK', () => {
    assert.deepEqual(faultsFrom('OK'), []);
    assert.deepEqual(faultsFrom(undefined), []);
    assert.deepEqual(faultsFrom('Critical'), ['Status.Health Critical']);
    assert.deepEqual(faultsFrom('Warning'), ['Status.Health Warning']);
  });
});

describe('boot override', () => {
  const full: BootResource = { modeExposed: true, targets: ['None', 'Pxe', 'Hdd', 'BiosSetup', 'Cd'], modes: ['Legacy', 'UEFI'] };

  test('driver devices map to BootSource values', () => {
    assert.equal(targetFor('pxe'), 'Pxe');
    assert.equal(targetFor('disk'), 'Hdd');
    assert.equal(targetFor('bios'), 'BiosSetup');
  });

  test('what the BMC reports becomes a BootSetting, raw included', () => {
    assert.deepEqual(bootSettingFrom({ modeExposed: true, target: 'Pxe', enabled: 'Once', mode: 'UEFI' }), {
      device: 'pxe',
      persistent: false,
      efi: true,
      raw: 'Target=Pxe Enabled=Once Mode=UEFI',
    });
    assert.deepEqual(bootSettingFrom({ modeExposed: false, target: 'Hdd', enabled: 'Continuous' }), {
      device: 'disk',
      persistent: true,
      efi: false,
      raw: 'Target=Hdd Enabled=Continuous',
    });
    assert.equal(bootSettingFrom({ modeExposed: false, target: 'BiosSetup', enabled: 'Once' }).device, 'bios');
  });

  test('None, Disabled or nothing is no override; unknown targets are other', () => {
    assert.equal(bootSettingFrom({ modeExposed: false, target: 'None', enabled: 'Once' }).device, 'none');
    assert.equal(bootSettingFrom({ modeExposed: false, target: 'Pxe', enabled: 'Disabled' }).device, 'none');
    assert.equal(bootSettingFrom({ modeExposed: false }).device, 'none');
    assert.equal(bootSettingFrom({ modeExposed: false }).raw, 'Target=- Enabled=-');
    const cd = bootSettingFrom({ modeExposed: false, target: 'Cd', enabled: 'Once' });
    assert.equal(cd.device, 'other');
    assert.match(cd.raw!, /Target=Cd/);
  });

  test('the PATCH: Once unless persistent, Legacy unless efi, Mode only when exposed', () => {
    assert.deepEqual(bootPatchFor('pxe', {}, full), { BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once', BootSourceOverrideMode: 'Legacy' });
    assert.deepEqual(bootPatchFor('disk', { persistent: true, efi: true }, full), {
      BootSourceOverrideTarget: 'Hdd',
      BootSourceOverrideEnabled: 'Continuous',
      BootSourceOverrideMode: 'UEFI',
    });
    assert.deepEqual(bootPatchFor('bios', { efi: true }, { modeExposed: false }), { BootSourceOverrideTarget: 'BiosSetup', BootSourceOverrideEnabled: 'Once' });
  });

  test('AllowableValues are respected; without them anything is tried', () => {
    const noBios = bootPatchFor('bios', {}, { ...full, targets: ['None', 'Pxe', 'Hdd'] });
    assert.ok('unsupported' in noBios);
    assert.match(noBios.unsupported, /BiosSetup is not offered.*None, Pxe, Hdd/);
    const uefiOnly = bootPatchFor('pxe', { efi: false }, { ...full, modes: ['UEFI'] });
    assert.ok('unsupported' in uefiOnly);
    assert.match(uefiOnly.unsupported, /Legacy is not offered/);
    assert.ok(!('unsupported' in bootPatchFor('pxe', { efi: true }, { ...full, modes: ['UEFI'] })));
    assert.ok(!('unsupported' in bootPatchFor('bios', {}, { modeExposed: true })));
  });

  test('mismatches name each property that did not take', () => {
    const patch = { BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once' as const, BootSourceOverrideMode: 'UEFI' as const };
    assert.deepEqual(bootMismatches(patch, { modeExposed: true, target: 'Pxe', enabled: 'Once', mode: 'UEFI' }), []);
    assert.deepEqual(bootMismatches(patch, { modeExposed: true, target: 'None', enabled: 'Disabled', mode: 'UEFI' }), [
      'BootSourceOverrideTarget: wanted Pxe, reads None',
      'BootSourceOverrideEnabled: wanted Once, reads Disabled',
    ]);
    assert.deepEqual(bootMismatches(patch, { modeExposed: false, target: 'Pxe', enabled: 'Once' }), ['BootSourceOverrideMode: wanted UEFI, reads nothing']);
  });

  test('boot modes for probe()', () => {
    assert.deepEqual(bootModesFrom(full), ['legacy', 'efi']);
    assert.deepEqual(bootModesFrom({ modeExposed: true, modes: ['UEFI'] }), ['efi']);
    assert.deepEqual(bootModesFrom({ modeExposed: true }), ['legacy', 'efi']);
    assert.deepEqual(bootModesFrom({ modeExposed: false }), []);
  });
});

describe('reset plans', () => {
  const all = ['On', 'ForceOff', 'GracefulShutdown', 'GracefulRestart', 'ForceRestart', 'Nmi', 'ForceOn', 'PushPowerButton', 'PowerCycle'];

  test('the preferred type when offered', () => {
    assert.deepEqual(resetPlan('on', all), ['On']);
    assert.deepEqual(resetPlan('off', all), ['ForceOff']);
    assert.deepEqual(resetPlan('softOff', all), ['GracefulShutdown']);
    assert.deepEqual(resetPlan('cycle', all), ['PowerCycle']);
    assert.deepEqual(resetPlan('reset', all), ['ForceRestart']);
  });

  test('fallbacks: ForceOn, PushPowerButton, ForceOff then On', () => {
    assert.deepEqual(resetPlan('on', ['ForceOn', 'ForceOff']), ['ForceOn']);
    assert.deepEqual(resetPlan('softOff', ['On', 'ForceOff', 'PushPowerButton']), ['PushPowerButton']);
    assert.deepEqual(resetPlan('cycle', ['On', 'ForceOff', 'ForceRestart']), ['ForceOff', 'On']);
  });

  test('no plan when nothing fits', () => {
    assert.equal(resetPlan('reset', ['On', 'ForceOff', 'PowerCycle']), undefined);
    assert.equal(resetPlan('cycle', ['On', 'GracefulShutdown']), undefined);
    assert.equal(resetPlan('off', []), undefined);
  });

  test('without AllowableValues only the long-standing types are assumed', () => {
    assert.deepEqual(resetPlan('cycle', undefined), ['ForceOff', 'On']);
    assert.deepEqual(resetPlan('reset', undefined), ['ForceRestart']);
    assert.deepEqual(resetPlan('softOff', undefined), ['GracefulShutdown']);
  });
});

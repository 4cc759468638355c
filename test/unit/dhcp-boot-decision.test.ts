import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decode, readKnownOptions, type KnownOptions } from '../../daemon/dhcp/codec/index.ts';
import { decideBoot, type BootContext } from '../../daemon/dhcp/boot-decision.ts';
import { fixture } from '../fixtures/dhcp/fixtures.ts';

const ALL = new Set(['undionly.kpxe', 'snponly.efi', 'ipxe.efi', 'snponly-arm64.efi']);
const ctx = (assets: Set<string> = ALL): BootContext => ({
  hasAsset: (f) => assets.has(f),
  httpBase: 'http://198.51.100.1:8470',
  scriptUrl: 'http://198.51.100.1:8470/boot/ipxe?mac=52:54:00:12:34:56',
});

function known(name: string): KnownOptions {
  const d = decode(fixture(name));
  assert.ok(d.ok, name);
  return readKnownOptions(d.message).known;
}

describe('boot decision on real requests', () => {
  test('iPXE (SeaBIOS NIC ROM) is given the per-machine script, not iPXE again', () => {
    assert.deepEqual(decideBoot(known('ipxe-bios-discover'), ctx()), { kind: 'ipxe-script', url: ctx().scriptUrl });
    assert.equal(decideBoot(known('ipxe-bios-request'), ctx()).kind, 'ipxe-script');
  });

  test("OVMF's own PXE client (x64 UEFI) gets snponly.efi over TFTP", () => {
    assert.deepEqual(decideBoot(known('ovmf-pxe-discover'), ctx()), { kind: 'tftp', file: 'snponly.efi', arch: 7 });
  });

  test('UEFI HTTP boot gets the iPXE binary as a URL', () => {
    assert.deepEqual(decideBoot(known('ovmf-http-discover'), ctx()), { kind: 'http', url: 'http://198.51.100.1:8470/boot/assets/ipxe.efi', arch: 16 });
  });

  test('ordinary DHCP clients are not network-booting', () => {
    for (const name of ['udhcpc-discover', 'dhclient-discover']) {
      const d = decideBoot(known(name), ctx());
      assert.equal(d.kind, 'none', name);
    }
  });
});

describe('boot decision rules', () => {
  const pxe = (arch: number[] | undefined, vendorArch?: number): KnownOptions => ({
    vendorClass: { text: 'PXEClient', boot: 'PXEClient', ...(vendorArch !== undefined && { arch: vendorArch }) },
    ...(arch && { clientArch: arch }),
  });

  test('x86 BIOS firmware PXE chainloads undionly.kpxe', () => {
    assert.deepEqual(decideBoot(pxe([0]), ctx()), { kind: 'tftp', file: 'undionly.kpxe', arch: 0 });
  });

  test('without option 93 the vendor class ":Arch:" decides, and without either BIOS is assumed', () => {
    assert.deepEqual(decideBoot(pxe(undefined, 7), ctx()), { kind: 'tftp', file: 'snponly.efi', arch: 7 });
    assert.deepEqual(decideBoot(pxe(undefined), ctx()), { kind: 'tftp', file: 'undionly.kpxe', arch: 0 });
  });

  test('the first architecture with a build in pxe-assets wins; a fallback build is used when the preferred one is missing', () => {
    assert.deepEqual(decideBoot(pxe([10, 7]), ctx()), { kind: 'tftp', file: 'snponly.efi', arch: 7 });
    assert.deepEqual(decideBoot(pxe([7]), ctx(new Set(['ipxe.efi']))), { kind: 'tftp', file: 'ipxe.efi', arch: 7 });
  });

  test('arm64 boots when its build is present, and says what is missing when not', () => {
    assert.deepEqual(decideBoot(pxe([11]), ctx()), { kind: 'tftp', file: 'snponly-arm64.efi', arch: 11 });
    const none = decideBoot(pxe([11]), ctx(new Set(['snponly.efi'])));
    assert.deepEqual(none, { kind: 'none', reason: 'client architecture 11 needs snponly-arm64.efi or ipxe-arm64.efi, which pxe-assets does not hold' });
  });

  test('an architecture iPXE has no build for is refused with the reason', () => {
    assert.deepEqual(decideBoot(pxe([2]), ctx()), { kind: 'none', reason: 'no iPXE build for client architecture 2 (PXEClient)' });
  });

  test('option 175 alone identifies iPXE (builds without the user class)', () => {
    assert.equal(decideBoot({ ...pxe([0]), ipxe: { features: {}, other: [] } }, ctx()).kind, 'ipxe-script');
  });
});

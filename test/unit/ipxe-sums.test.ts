import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { BootPlaneError, verifiedIpxeBinaries } from '../../daemon/boot-plane.ts';

const dir = mkdtempSync(join(tmpdir(), 'ironbay-sums-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const sha = (b: string): string => createHash('sha256').update(b).digest('hex');

test('iPXE binaries are served only as install.sh recorded them; a changed one stops the start', () => {
  writeFileSync(join(dir, 'undionly.kpxe'), 'bios build');
  writeFileSync(join(dir, 'snponly.efi'), 'uefi build');
  writeFileSync(join(dir, 'SHA256SUMS'), `# Debian ipxe test\n${sha('bios build')}  undionly.kpxe\n${sha('uefi build')}  snponly.efi\n`);
  assert.deepEqual([...verifiedIpxeBinaries(dir)].sort(), ['snponly.efi', 'undionly.kpxe']);
  writeFileSync(join(dir, 'snponly.efi'), 'uefi bui'); // truncated
  assert.throws(() => verifiedIpxeBinaries(dir), (e: unknown) => e instanceof BootPlaneError && /snponly\.efi \(sha256 .*recorded/.test(e.message));
  rmSync(join(dir, 'snponly.efi'));
  assert.throws(() => verifiedIpxeBinaries(dir), /snponly\.efi \(missing\)/);
  rmSync(join(dir, 'SHA256SUMS'));
  assert.equal(verifiedIpxeBinaries(dir).size, 0, 'no record, nothing offered');
});

// The end-to-end harness proven against the baseline peer, dnsmasq: real firmware in qemu PXE-boots
// a Debian kernel and the test's busybox initrd, which phones home.
//   BIOS: SeaBIOS → qemu's iPXE NIC ROM → DHCP (user class iPXE) → HTTP script → kernel + initrd
//   UEFI: OVMF's own PXE (NIC ROM removed) → DHCP (arch 7) → TFTP snponly.efi → iPXE → as above
// Assertions are on what each machine printed on its serial console and on what the servers saw;
// times are logged, never asserted (TCG on 2 cores).
//
// The second test measures what iPXE (Debian's 2019 builds, in the ROM and in snponly.efi) waits
// for when the boot network gives it nothing more: ProxyDHCP offers (skipped when the offer carries
// option 175.176 = 1) and an IPv6 router advertisement (skipped when one comes).
import assert from 'node:assert/strict';
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { bootWithDnsmasq, ipxeWaits, testMac, waitedAfterOffer, type BootResult, type BootWithDnsmasqResult } from '../helpers/pxe-lab.ts';

const logRoot = resolve(import.meta.dirname, '../../build/e2e/logs');

function s(ms: number | undefined): string {
  return ms === undefined ? '-' : `${(ms / 1000).toFixed(1)} s`;
}

function summary(label: string, run: BootWithDnsmasqResult): string {
  const rows = run.results.map((r) => {
    const w = ipxeWaits(r);
    const m = r.milestones;
    return (
      `  ${r.name} (${r.firmware}): power-on → phone-home ${s(r.phoneHomeMs)}; ` +
      `iPXE DHCP offer → request ${s(w.proxyDhcpWaitMs)}, ACK → script ${s(w.afterAckMs)}, "Configuring … ok" ${s(w.configuringMs)}` +
      `${w.gotRouterAdvertisement ? ' (got an RA)' : ''}; script at ${s(m['ipxe-script'])}, initrd up at ${s(m['initrd-up'])}`
    );
  });
  return `${label} (all at once: ${s(run.wallMs)})\n${rows.join('\n')}`;
}

function assertBooted(r: BootResult): void {
  const text = r.serialLines.map((l) => l.text).join('\n');
  if (r.firmware === 'bios') {
    assert.match(text, /SeaBIOS \(version/);
    // qemu's NIC option ROM is iPXE: no TFTP on this path.
    assert.match(text, /iPXE \(http:\/\/ipxe\.org\) 00:0\d\.0/);
    assert.match(text, /net0: [0-9a-f:]+ using virtio-net/);
  } else {
    assert.match(text, />>Start PXE over IPv4/);
    assert.match(text, /NBP filename is snponly\.efi/);
    assert.match(text, /NBP file downloaded successfully/);
    assert.match(text, /net0: [0-9a-f:]+ using SNP/);
    assert.ok(
      r.dhcp.some((l) => /tftp.*sent .*snponly\.efi to 198\.51\.100\.\d+/.test(l.text)),
      `dnsmasq served snponly.efi over TFTP:\n${r.timeline}`,
    );
  }
  assert.match(text, /iPXE 1\.0\.0\+git-20190125/);
  assert.match(text, /Filename: http:\/\/198\.51\.100\.1:8080\/boot\.ipxe/);
  assert.match(text, /boot\.ipxe : \d+ bytes \[script\]/);
  assert.match(text, /IRONBAY-INITRD-UP/);
  assert.match(text, /IRONBAY-DHCP-BOUND ip=198\.51\.100\.\d+ iface=eth0/);
  assert.match(text, /IRONBAY-PHONED-HOME 200/);
  assert.match(text, /IRONBAY-POWEROFF/);
  assert.deepEqual(r.report, {
    token: 'e2e-token',
    machine: r.mac.replaceAll(':', '-'),
    status: 'installed',
    message: (r.report as { message: string }).message,
  });
  assert.match((r.report as { message: string }).message, new RegExp(`^mac=${r.mac} ip=198\\.51\\.100\\.\\d+ iface=eth0$`));
  // poweroff -f under -no-reboot: qemu exits by itself.
  assert.equal(r.exit.code, 0, r.timeline);
  const order = ['ipxe-script', 'ipxe-kernel', 'initrd-up', 'dhcp-bound', 'phoned-home'].map((k) => r.milestones[k]);
  assert.ok(
    order.every((t, i) => t !== undefined && (i === 0 || t >= order[i - 1]!)),
    `milestones in order: ${JSON.stringify(r.milestones)}`,
  );
}

async function logDir(name: string): Promise<string> {
  const dir = join(logRoot, name);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  return dir;
}

test('dnsmasq baseline: SeaBIOS+iPXE ROM and OVMF PXE → TFTP snponly.efi each boot the kernel and phone home', async (t) => {
  const dir = await logDir('dnsmasq-baseline');
  // dnsmasq as commonly configured: no option 175.176, no router advertisements.
  const run = await bootWithDnsmasq({
    vms: [
      { name: 'bios-1', firmware: 'bios', mac: testMac(1, 0x10) },
      { name: 'uefi-1', firmware: 'uefi', mac: testMac(2, 0x10) },
    ],
    logDir: dir,
  });
  t.diagnostic(summary('dnsmasq, stock PXE options, no RA', run));
  for (const r of run.results) t.diagnostic(`${r.name} timeline (s since power-on):\n${r.timeline}`);
  for (const r of run.results) assertBooted(r);
  for (const r of run.results) {
    const w = ipxeWaits(r);
    // Without 175.176 iPXE re-sends DISCOVER while it waits for ProxyDHCP offers; without an RA
    // it configures no global IPv6 address.
    assert.ok(waitedAfterOffer(w.transaction), `${r.name}: iPXE waited for ProxyDHCP (DISCOVER again after an OFFER): ${JSON.stringify(w.transaction)}`);
    assert.equal(w.gotRouterAdvertisement, false);
  }
});

test('dnsmasq with option 175.176 = 1 and router advertisements: iPXE does not wait', async (t) => {
  const dir = await logDir('dnsmasq-nowait');
  const run = await bootWithDnsmasq({
    vms: [
      { name: 'bios-2', firmware: 'bios', mac: testMac(3, 0x10) },
      { name: 'uefi-2', firmware: 'uefi', mac: testMac(4, 0x10) },
    ],
    logDir: dir,
    noPxedhcp: true,
    ra: true,
  });
  t.diagnostic(summary('dnsmasq, 175.176 = 1 to iPXE, --enable-ra', run));
  for (const r of run.results) t.diagnostic(`${r.name} timeline (s since power-on):\n${r.timeline}`);
  for (const r of run.results) {
    assertBooted(r);
    const w = ipxeWaits(r);
    // OFFER, then straight to REQUEST: no ProxyDHCP wait.
    assert.equal(waitedAfterOffer(w.transaction), false, `${r.name}: ${JSON.stringify(w.transaction)}`);
    assert.ok(w.gotRouterAdvertisement, `${r.name}: iPXE configured an address from the RA`);
  }
});

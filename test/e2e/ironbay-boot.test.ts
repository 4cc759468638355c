// End to end through ironbay alone: real firmware PXE-boots through the daemon's DHCP, TFTP
// and boot HTTP, runs a Debian kernel with a busybox initrd and phones home with the token
// from its command line. Two machines at once on one boot bridge in a namespace:
//   bios  SeaBIOS with qemu's iPXE NIC ROM: DHCP (iPXE) → script → kernel + initrd → report
//   uefi  OVMF's own PXE client (NIC ROM off): DHCP → TFTP snponly.efi → iPXE DHCP → script → …
// Asserts on each VM's serial console and on the boot timeline the daemon recorded.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI, REPO, TestDaemon } from '../helpers/daemon.ts';
import { buildInitrd, E2E_ASSETS, ensureBootAssets } from '../helpers/initrd.ts';
import { bootVm, createBootNetwork, testMac, type BootNetwork, type BootResult } from '../helpers/pxe-lab.ts';
import { run } from '../helpers/run.ts';

const BIOS = testMac(1, 0x1b);
const UEFI = testMac(2, 0x1b);

const inventory = `
networks:
  boot:
    - name: boot
      subnet: 198.51.100.0/24
      pool: { start: 198.51.100.100, end: 198.51.100.199 }
profiles:
  - name: e2e
    kernel: e2e/vmlinuz
    initrd: [e2e/initrd.gz]
    cmdline: console=ttyS0 quiet
    install: { method: live }
machines:
  - { name: bios-vm, macs: ["${BIOS}"], role: worker, profile: e2e }
  - { name: uefi-vm, macs: ["${UEFI}"], role: worker, profile: e2e }
`;

interface Timeline {
  entries: { stage: string; detail: string; offsetMs: number }[];
}

describe('ironbay boots real firmware end to end', { timeout: 420_000 }, () => {
  let net: BootNetwork;
  let daemon: TestDaemon;
  const work = mkdtempSync(join(tmpdir(), 'ironbay-e2e-'));
  const logDir = join(REPO, 'build/e2e/logs/ironbay-boot');
  const results = new Map<string, BootResult>();

  before(async () => {
    const { vmlinuz } = await ensureBootAssets();
    const initrd = join(E2E_ASSETS, 'initrd.gz');
    await buildInitrd(initrd);
    // Copies, not links: the boot server refuses symlinks that leave its asset root.
    const assets = join(work, 'assets');
    mkdirSync(join(assets, 'e2e'), { recursive: true });
    copyFileSync(vmlinuz, join(assets, 'e2e/vmlinuz'));
    copyFileSync(initrd, join(assets, 'e2e/initrd.gz'));
    mkdirSync(logDir, { recursive: true });
    // IPv6 on the bridge gives it a link-local address, from which ironbay answers iPXE's
    // router solicitations (without that answer iPXE waits ~16 s for IPv6).
    net = await createBootNetwork({ tag: 'ibe', ipv6: true });
    daemon = await TestDaemon.start({
      inventory,
      netns: net.ns,
      logLevel: 'info',
      configExtra: `boot: { interfaces: [${net.bridge}], mode: reservation, assets: ${assets} }\n`,
    });
  });

  after(async () => {
    daemon?.cleanup();
    await net?.dispose();
    rmSync(work, { recursive: true, force: true });
  });

  test('a BIOS and a UEFI machine boot at once and phone home', async () => {
    const boots = await Promise.all([
      bootVm({ net, name: 'bios-vm', firmware: 'bios', mac: BIOS, logDir, timeoutMs: 300_000 }),
      bootVm({ net, name: 'uefi-vm', firmware: 'uefi', mac: UEFI, logDir, timeoutMs: 300_000 }),
    ]);
    for (const b of boots) {
      results.set(b.name, b);
      console.log(`${b.name}: power-on → phone-home ${(b.phoneHomeMs / 1000).toFixed(1)} s; milestones ${JSON.stringify(b.milestones)}`);
    }
    const [bios, uefi] = boots;
    // SeaBIOS runs qemu's iPXE ROM, which is given the script straight away.
    assert.match(bios.serial, /iPXE/);
    assert.match(bios.serial, /ironbay: live bios-vm with profile e2e/);
    // OVMF's own PXE client fetched iPXE over TFTP, and that iPXE fetched the script.
    assert.match(uefi.serial, /Start PXE over IPv4/);
    assert.match(uefi.serial, /ironbay: live uefi-vm with profile e2e/);
    for (const b of boots) {
      assert.match(b.serial, /IRONBAY-INITRD-UP/);
      assert.match(b.serial, /IRONBAY-PHONED-HOME 200/, `${b.name} did not phone home successfully:\n${b.serial.slice(-2000)}`);
      assert.equal(b.exit.code, 0);
    }
  });

  test('the daemon recorded every stage of each boot, and the report ended the boot session', async () => {
    assert.equal(results.size, 2, 'the boot test did not complete');
    const stages = async (name: string): Promise<string[]> => {
      const t = await daemon.api<Timeline>('GET', `/api/v1/machines/${name}/boot`);
      assert.equal(t.status, 200);
      return t.body.entries.map((e) => e.stage);
    };
    const bios = await stages('bios-vm');
    const uefi = await stages('uefi-vm');
    for (const s of ['dhcp-discover', 'dhcp-offer', 'dhcp-ack', 'script', 'kernel', 'initrd', 'report']) {
      assert.ok(bios.includes(s), `bios-vm timeline lacks ${s}: ${bios.join(' ')}`);
      assert.ok(uefi.includes(s), `uefi-vm timeline lacks ${s}: ${uefi.join(' ')}`);
    }
    assert.ok(uefi.includes('tftp'), `uefi-vm fetched no iPXE over TFTP: ${uefi.join(' ')}`);
    assert.ok(uefi.indexOf('tftp') < uefi.indexOf('script'));
    assert.ok(bios.indexOf('script') < bios.indexOf('kernel') && bios.indexOf('kernel') < bios.lastIndexOf('report'));
    // The operator's view of it: `ironbay machines show` prints the timeline.
    const show = await run('ip', ['netns', 'exec', net.ns, process.execPath, CLI, 'machines', 'show', 'uefi-vm'], {
      env: { IRONBAY_URL: daemon.url, IRONBAY_TOKEN: daemon.token },
    });
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /tftp/);
    assert.match(show.stdout, /report/);
  });
});

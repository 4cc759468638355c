// The lab end to end (test/lab, what `npm run lab` runs): two machines — lab-1 SeaBIOS with
// qemu's iPXE ROM, lab-2 OVMF with its own PXE — each a qemu VM that only its ipmi_sim BMC
// powers, on a boot VLAN, a BMC network and a production network in namespaces of their own.
// `ironbay provision --all` must take both to `ready` by itself: a PXE power cycle through the
// BMC, the installer writing disk.img, the boot device set to disk and a power cycle, the
// installed system up on its production address. Asserted on what the VMs print on their
// serial consoles, on what the BMCs report and were asked (ipmitool, the chassis log), and on
// the production address answering from the appliance.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { REPO } from '../helpers/daemon.ts';
import { startLab, stopLab, type Lab, type WatchResult } from '../lab/lab.ts';
import { chassisEvents, consoleLog, labIpmitool, type MachinePlan } from '../lab/machines.ts';
import { duration, Progress } from '../lab/progress.ts';

const DIR = join(REPO, 'build/e2e/logs/lab');
const READY_TIMEOUT_MS = 12 * 60_000;

// eslint-disable-next-line no-control-regex
const ESCAPES = /\x1b\[[0-9;?=]*[A-Za-z]|\x1bc|\x1b[()][A-Z0-9]|\x1b[=>]/g;

/** The console split at each power-on the chassis wrote ("=== ironbay-lab: power on … boot=X …"). */
function powerOns(m: MachinePlan): { boot: string; text: string }[] {
  const text = consoleLog(m).replace(ESCAPES, '').replaceAll('\r', '\n');
  return text
    .split(/^=== ironbay-lab: power on /m)
    .slice(1)
    .map((seg) => ({ boot: /boot=(\S+)/.exec(seg)?.[1] ?? '?', text: seg }));
}

/** Asserts that `re`s match `text` in this order. */
function inOrder(text: string, res: RegExp[], what: string): void {
  let at = 0;
  for (const re of res) {
    const i = text.slice(at).search(re);
    assert.ok(i >= 0, `${what}: no ${String(re)} after offset ${at}\n--- last 3000 characters ---\n${text.slice(-3000)}`);
    at += i + 1;
  }
}

describe('the lab: ironbay provisions a BIOS and a UEFI machine end to end', { timeout: READY_TIMEOUT_MS + 5 * 60_000 }, () => {
  let lab: Lab;
  let result: WatchResult | undefined;

  // The first run builds the assets (Debian packages, disk image): minutes.
  before(async () => {
    // A run that was killed leaves its lab behind: this folder is the test's own.
    await stopLab(DIR);
    lab = await startLab({ machines: 2, dir: DIR, hostPort: 0, log: (l) => console.log(`lab: ${l}`) });
  }, { timeout: 5 * 60_000 });

  after(async () => {
    for (const l of await stopLab(DIR)) console.log(`lab: ${l}`);
  });

  // Its own timeout: the runner's default (test/run.ts) is shorter than the wait.
  test('ironbay provision --all takes both machines to ready', { timeout: READY_TIMEOUT_MS + 60_000 }, async () => {
    const out = await lab.provision();
    assert.match(out, /lab-1\s+queued/);
    assert.match(out, /lab-2\s+queued/);
    const progress = new Progress();
    result = await lab.watch({ timeoutMs: READY_TIMEOUT_MS, onUpdate: (rows) => progress.update(rows) });
    for (const m of result.machines) {
      console.log(`${m.name} (${m.firmware}): ${m.outcome}, power-on → ${m.outcome} ${m.poweredOnAt && m.doneAt ? duration(m.doneAt - m.poweredOnAt) : '-'}; ${m.reason ?? ''}`);
    }
    const detail = (): string =>
      lab.machines.map((m) => `--- ${m.name} chassis ---\n${chassisEvents(m).map((e) => e.text).join('\n')}\n--- ${m.name} console (end) ---\n${consoleLog(m).replace(ESCAPES, '').slice(-2500)}`).join('\n');
    assert.ok(result.ok, `not every machine is ready (timed out: ${result.timedOut}): ${JSON.stringify(result.machines)}\n${detail()}`);
    assert.deepEqual(
      result.machines.map((m) => [m.name, m.outcome]),
      [
        ['lab-1', 'ready'],
        ['lab-2', 'ready'],
      ],
    );
  });

  test('the consoles: firmware PXE into the installer, which writes the image; then the installed system boots from disk', () => {
    assert.ok(result?.ok, 'the machines did not get to ready');
    for (const m of lab.machines) {
      const boots = powerOns(m);
      assert.ok(boots.length >= 2, `${m.name}: ${boots.length} power-ons on the console`);
      const install = boots[0]!;
      const production = boots.at(-1)!;
      assert.equal(install.boot, 'pxe', `${m.name}: the first power-on was not a PXE boot`);
      assert.equal(production.boot, 'default', `${m.name}: the last power-on was not from the disk`);
      if (m.firmware === 'bios') {
        // SeaBIOS runs qemu's iPXE ROM, which asks ironbay's DHCP for its script.
        inOrder(install.text, [/SeaBIOS/, /iPXE initialising devices/, /ironbay: install lab-1 with profile lab/], `${m.name} install boot`);
        // The disk boots first; the NIC ROM is never run.
        assert.match(production.text, /Booting from Hard Disk/);
        assert.doesNotMatch(production.text, /Booting from ROM|iPXE initialising devices/);
      } else {
        // OVMF's own PXE fetches snponly.efi over TFTP; that iPXE fetches the script.
        inOrder(install.text, [/Start PXE over IPv4/, /NBP filename is snponly\.efi/, /iPXE initialising devices/, /ironbay: install lab-2 with profile lab/], `${m.name} install boot`);
        assert.doesNotMatch(production.text, /Start PXE over IPv4/);
      }
      inOrder(
        install.text,
        [new RegExp(`IRONBAY-INSTALLER-UP ip=${m.bootAddress.replaceAll('.', '\\.')} `), /IRONBAY-IMAGE-WRITTEN bytes=\d+/, /IRONBAY-INSTALLED/],
        `${m.name} installer`,
      );
      assert.match(production.text, new RegExp(`IRONBAY-PRODUCTION-UP host=${m.name} ip=${m.prodAddress.replaceAll('.', '\\.')}\\b`));
      assert.doesNotMatch(production.text, /IRONBAY-INSTALLER-UP/, `${m.name}: the installer ran again after the install`);
    }
  });

  test('the BMCs: power is on, and they were asked for PXE, a power-on, then disk and a power cycle', async () => {
    assert.ok(result?.ok, 'the machines did not get to ready');
    for (const m of lab.machines) {
      const status = await labIpmitool(lab.net.appNs, m, lab.files.passwordFile, ['chassis', 'power', 'status']);
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, /Chassis Power is on/);

      const ev = chassisEvents(m).map((e) => e.text);
      const log = `${m.name} chassis log:\n${ev.join('\n')}`;
      const firstOn = ev.indexOf('set power 1');
      const pxe = ev.indexOf('set boot pxe');
      assert.ok(pxe >= 0 && firstOn > pxe, `boot pxe before the first power on; ${log}`);
      const starts = ev.filter((e) => e.startsWith('vm start'));
      assert.match(starts[0] ?? '', /^vm start boot=pxe /, log);
      assert.ok(ev.includes('boot pxe consumed: default'), log);
      // After the install: boot device disk ("default" to ipmi_sim), then a cycle (off, on)
      // whose power-on starts the VM from its disk.
      const installedStart = ev.indexOf(starts[0]!);
      const disk = ev.indexOf('set boot default', installedStart);
      assert.ok(disk > installedStart, `boot default after the install; ${log}`);
      const off = ev.indexOf('set power 0', disk);
      const on = ev.indexOf('set power 1', off);
      assert.ok(off > disk && on > off, `power 0 then 1 after boot default; ${log}`);
      assert.match(ev.slice(on).find((e) => e.startsWith('vm start')) ?? '', /^vm start boot=default firmware=/, log);
      assert.equal(starts.at(-1), ev.slice(on).find((e) => e.startsWith('vm start')), `no power-on after the disk boot; ${log}`);
    }
  });

  test('the production addresses answer from the appliance with the installed system\'s SSH server (Dropbear)', async () => {
    assert.ok(result?.ok, 'the machines did not get to ready');
    for (const m of lab.machines) {
      const r = await lab.inAppliance('timeout', ['10', 'bash', '-c', `exec 3<>/dev/tcp/${m.prodAddress}/22 && IFS= read -r -t 5 line <&3 && printf '%s\\n' "$line"`]);
      assert.equal(r.code, 0, `${m.name}: ${r.stderr}`);
      assert.match(r.stdout, /^SSH-2\.0-dropbear_/);
    }
    // And ironbay says so: ready, with the installer's report in the audit log, once the
    // post-install runbook (diagnostics, over SSH with the appliance's key) succeeded on it.
    for (const m of lab.machines) {
      const kinds = (await lab.events(`?machine=${m.name}&limit=1000`)).map((e) => e.kind);
      assert.ok(kinds.includes('boot.installed'), `${m.name} events: ${kinds.join(' ')}`);
      assert.ok(kinds.includes('ssh.hostkey.pinned') && kinds.includes('runbook.machine.ended'), `${m.name} events: ${kinds.join(' ')}`);
      const machine = (await lab.apiMachines()).find((x) => x.name === m.name)!;
      assert.match(machine.stateReason ?? '', /post-install runbook diagnostics \(run \d+\) succeeded/);
    }
  });

  test('the built-in runbooks run on the lab machines: diagnostics on both, reboot on one (back on SSH with a new boot id)', { timeout: 10 * 60_000 }, async () => {
    assert.ok(result?.ok, 'the machines did not get to ready');
    const diag = await lab.cli(['runbook', 'run', 'diagnostics', '--param', 'lines=5']);
    assert.equal(diag.code, 0, diag.stdout + diag.stderr);
    for (const m of lab.machines) {
      assert.match(diag.stdout, new RegExp(`^${m.name} +\\| Linux ${m.name} `, 'm'), 'uname -a, prefixed by the machine');
      assert.match(diag.stdout, new RegExp(`^${m.name} +succeeded +7/7 `, 'm'));
    }
    const plan = await lab.cli(['runbook', 'run', 'kvm-host-prepare', '--target', 'lab-1', '--dry-run']);
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(plan.stdout, /^ {2}3\. packages {2}\[if !packages\.ok \(decided at run time\)/m);

    const reboot = await lab.cli(['runbook', 'run', 'reboot', '--target', 'lab-1']);
    assert.equal(reboot.code, 0, reboot.stdout + reboot.stderr);
    assert.match(reboot.stdout, /^lab-1 +succeeded +4\/4 /m);
    const booted = powerOns(lab.machines[0]!).at(-1)!.text;
    assert.equal(booted.split('IRONBAY-PRODUCTION-UP').length - 1, 2, 'the installed system came up twice in its last power-on: the reboot was in the guest');
    assert.equal((await lab.apiMachines()).find((x) => x.name === 'lab-1')?.state, 'ready', 'a reboot from its disk is no boot loop');
  });
});

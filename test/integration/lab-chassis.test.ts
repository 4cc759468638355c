// test/lab/vm-chassis.sh, the lab BMCs' chassis, called the way ipmi_sim calls it
// (`SCRIPT DIR get|set …`), with a stand-in for qemu on PATH: a process that does what
// `qemu -daemonize -pidfile` does (detaches, writes its pid) and records its arguments. What
// the real qemu boots is the end-to-end lab test's part; here: power follows the process, the
// boot order each stored device gives SeaBIOS and OVMF, the one-time PXE, reset, soft-off
// without QMP, refusals, and the chassis log.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { run } from '../helpers/run.ts';
import { CHASSIS, chassisEvents, planMachines, prepareMachine, vmPid, type MachinePlan } from '../lab/machines.ts';

const work = mkdtempSync(join(tmpdir(), 'ironbay-lab-chassis-'));
const bin = join(work, 'bin');
const FAKE_QEMU = `#!/bin/bash
# Records its arguments, then detaches a process whose command line carries them (so the
# chassis recognises it by its -pidfile) and writes that process's pid, as -daemonize does.
pidfile=
args=("$@")
for ((i = 0; i < \${#args[@]}; i++)); do [[ \${args[i]} == -pidfile ]] && pidfile=\${args[i+1]}; done
dir=\${pidfile%/qemu.pid}
printf '%s\\n' "$*" >>"$dir/qemu.args"
[[ -e $dir/qemu.fail ]] && { echo "fake qemu: told to fail" >&2; exit 1; }
setsid bash -c 'trap "exit 0" TERM; while :; do sleep 0.2; done' fake-qemu "$@" </dev/null >/dev/null 2>&1 &
echo $! >"$pidfile"
`;
mkdirSync(bin);
writeFileSync(join(bin, 'qemu-system-x86_64'), FAKE_QEMU);
chmodSync(join(bin, 'qemu-system-x86_64'), 0o755);

const machines = planMachines(2, work);
for (const m of machines) prepareMachine(m, { boot: `tapb${m.index}`, prod: `tapp${m.index}` }, { memoryMiB: 256, accel: ['tcg'] });
const [bios, uefi] = machines as [MachinePlan, MachinePlan];

async function chassis(m: MachinePlan, ...args: string[]): Promise<{ code: number | null; stdout: string }> {
  const r = await run(CHASSIS, [m.dir, ...args], { env: { PATH: `${bin}:${process.env.PATH ?? ''}` } });
  return { code: r.code, stdout: r.stdout };
}
const lastArgs = (m: MachinePlan): string => readFileSync(join(m.dir, 'qemu.args'), 'utf8').trim().split('\n').at(-1) ?? '';
const events = (m: MachinePlan): string[] => chassisEvents(m).map((e) => e.text);

describe('the lab chassis (vm-chassis.sh)', () => {
  after(async () => {
    for (const m of machines) {
      const pid = vmPid(m);
      if (pid) process.kill(pid, 'SIGKILL');
    }
    rmSync(work, { recursive: true, force: true });
  });

  test('a new machine is off, with no boot device', async () => {
    assert.deepEqual(await chassis(bios, 'get', 'power', 'boot'), { code: 0, stdout: 'power:0\nboot:none\n' });
  });

  test('SeaBIOS: a stored pxe boots the network once, then is consumed to default', async () => {
    assert.equal((await chassis(bios, 'set', 'boot', 'pxe')).code, 0);
    assert.equal((await chassis(bios, 'get', 'boot')).stdout, 'boot:pxe\n');
    assert.equal((await chassis(bios, 'set', 'power', '1')).code, 0);
    assert.equal((await chassis(bios, 'get', 'power', 'boot')).stdout, 'power:1\nboot:default\n');
    const args = lastArgs(bios);
    assert.match(args, /-boot once=n,order=c/);
    assert.doesNotMatch(args, /bootindex/, 'SeaBIOS would follow bootindex and ignore "once"');
    assert.match(args, /-device virtio-net-pci,netdev=n0,mac=52:54:00:18:00:01 /, 'the boot NIC keeps its iPXE ROM');
    assert.match(args, /-device virtio-net-pci,netdev=n1,mac=52:54:00:18:01:01,romfile=/, 'the production NIC has no ROM');
    assert.match(args, new RegExp(`path=${bios.dir}/console.log,append=on`));
    assert.match(readFileSync(join(bios.dir, 'console.log'), 'utf8'), /=== ironbay-lab: power on lab-1 boot=pxe firmware=bios at /);
    // Power on when on changes nothing.
    assert.equal((await chassis(bios, 'set', 'power', '1')).code, 0);
    assert.equal(readFileSync(join(bios.dir, 'qemu.args'), 'utf8').trim().split('\n').length, 1);
  });

  test('power off ends the process; the next power-on boots the disk first', async () => {
    const pid = vmPid(bios);
    assert.ok(pid);
    assert.equal((await chassis(bios, 'set', 'power', '0')).code, 0);
    assert.equal(vmPid(bios), undefined);
    assert.equal((await chassis(bios, 'get', 'power')).stdout, 'power:0\n');
    assert.equal((await chassis(bios, 'set', 'power', '1')).code, 0);
    assert.match(lastArgs(bios), /-boot order=c(?!\S)/);
    assert.doesNotMatch(lastArgs(bios), /once=/);
  });

  test('reset restarts the machine with the stored device; when off it does nothing', async () => {
    const before = vmPid(bios);
    await chassis(bios, 'set', 'boot', 'pxe');
    assert.equal((await chassis(bios, 'set', 'reset', '1')).code, 0);
    const afterReset = vmPid(bios);
    assert.ok(afterReset && afterReset !== before);
    assert.match(lastArgs(bios), /-boot once=n,order=c/);
    assert.equal((await chassis(bios, 'get', 'boot')).stdout, 'boot:default\n');
    await chassis(bios, 'set', 'power', '0');
    assert.equal((await chassis(bios, 'set', 'reset', '1')).code, 0);
    assert.equal(vmPid(bios), undefined);
    assert.ok(events(bios).includes('vm off: reset does nothing'));
  });

  test('a machine that powers itself off reads as off', async () => {
    await chassis(bios, 'set', 'power', '1');
    const pid = vmPid(bios)!;
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 50 && vmPid(bios); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal((await chassis(bios, 'get', 'power')).stdout, 'power:0\n');
  });

  test('OVMF: bootindex puts the NIC first for pxe and the disk first otherwise; its NIC ROM is off', async () => {
    await chassis(uefi, 'set', 'boot', 'pxe');
    await chassis(uefi, 'set', 'power', '1');
    let args = lastArgs(uefi);
    assert.match(args, /-device virtio-net-pci,netdev=n0,mac=52:54:00:18:00:02,romfile=,bootindex=1/);
    assert.match(args, /-device virtio-blk-pci,drive=d0,bootindex=2/);
    assert.match(args, new RegExp(`if=pflash,format=raw,unit=1,file=${uefi.dir}/OVMF_VARS.fd`));
    assert.doesNotMatch(args, /-boot /);
    await chassis(uefi, 'set', 'power', '0');
    await chassis(uefi, 'set', 'power', '1');
    args = lastArgs(uefi);
    assert.match(args, /-device virtio-net-pci,netdev=n0,mac=52:54:00:18:00:02,romfile=,bootindex=2/);
    assert.match(args, /-device virtio-blk-pci,drive=d0,bootindex=1/);
  });

  test('soft off without an answer on QMP turns the machine off hard', async () => {
    assert.ok(vmPid(uefi));
    assert.equal((await chassis(uefi, 'set', 'shutdown', '1')).code, 0);
    assert.equal(vmPid(uefi), undefined);
    assert.ok(events(uefi).includes('vm qmp did not answer: hard off'));
  });

  test('a qemu that fails to start fails the request (ipmi_sim answers 0xFF) and says so', async () => {
    writeFileSync(join(uefi.dir, 'qemu.fail'), '');
    const r = await chassis(uefi, 'set', 'power', '1');
    rmSync(join(uefi.dir, 'qemu.fail'));
    assert.equal(r.code, 1);
    assert.equal((await chassis(uefi, 'get', 'power')).stdout, 'power:0\n');
    assert.match(events(uefi).at(-1) ?? '', /^vm start failed boot=default/);
  });

  test('bad requests are refused without a change', async () => {
    for (const args of [
      ['set', 'power', '2'],
      ['set', 'boot', 'floppy'],
      ['set', 'power'],
      ['get', 'temperature'],
      ['frob'],
    ]) {
      const r = await chassis(bios, ...args);
      assert.equal(r.code, 1, args.join(' '));
      assert.match(r.stdout, /^vm-chassis: /, args.join(' '));
    }
    const r = await run(CHASSIS, [join(work, 'nowhere'), 'get', 'power']);
    assert.equal(r.code, 1);
    assert.equal((await chassis(bios, 'get', 'boot')).stdout, 'boot:default\n');
  });

  test('the chassis log has every request and what was done, in order, with times', () => {
    const ev = chassisEvents(bios);
    const text = ev.map((e) => e.text);
    assert.deepEqual(text.slice(0, 6), ['set boot pxe', 'set power 1', text[2], 'boot pxe consumed: default', 'set power 1', text[5]]);
    assert.match(text[2]!, /^vm start boot=pxe firmware=bios pid=\d+$/);
    assert.match(text[5]!, /^vm already on pid=\d+$/);
    for (const e of ev) assert.ok(Number.isFinite(e.t) && Math.abs(Date.now() - e.t) < 60_000, JSON.stringify(e));
    for (let i = 1; i < ev.length; i++) assert.ok(ev[i]!.t >= ev[i - 1]!.t);
  });
});

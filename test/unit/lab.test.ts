// The lab's plan (test/lab): machine names, MACs, addresses and firmware; the generated config
// and inventory, which ironbay's own validators must accept; the progress table.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { runCli } from '../helpers/daemon.ts';
import { labConfig, labFiles, labInventory, validateInventory } from '../lab/inventory.ts';
import { MAX_MACHINES, planMachines } from '../lab/machines.ts';
import { duration, renderTable, type MachineRow } from '../lab/progress.ts';

const work = mkdtempSync(join(tmpdir(), 'ironbay-lab-unit-'));

describe('the lab plan', () => {
  after(() => rmSync(work, { recursive: true, force: true }));

  test('machines alternate SeaBIOS and UEFI, with deterministic MACs and one address per network', () => {
    const ms = planMachines(3, '/lab');
    assert.deepEqual(
      ms.map((m) => [m.name, m.firmware, m.macs, m.bootAddress, m.bmcAddress, m.prodAddress, m.dir]),
      [
        ['lab-1', 'bios', ['52:54:00:18:00:01', '52:54:00:18:01:01'], '198.18.0.11', '198.18.1.11', '198.18.2.11', '/lab/machines/lab-1'],
        ['lab-2', 'uefi', ['52:54:00:18:00:02', '52:54:00:18:01:02'], '198.18.0.12', '198.18.1.12', '198.18.2.12', '/lab/machines/lab-2'],
        ['lab-3', 'bios', ['52:54:00:18:00:03', '52:54:00:18:01:03'], '198.18.0.13', '198.18.1.13', '198.18.2.13', '/lab/machines/lab-3'],
      ],
    );
    assert.equal(planMachines(MAX_MACHINES, '/lab').at(-1)!.macs[0], `52:54:00:18:00:${MAX_MACHINES.toString(16).padStart(2, '0')}`);
    for (const n of [0, MAX_MACHINES + 1, 1.5]) assert.throws(() => planMachines(n, '/lab'), /machines: 1–/);
  });

  test('ironbay accepts the generated inventory, for the largest lab too', async () => {
    const f = labFiles(work);
    for (const n of [1, MAX_MACHINES]) {
      const file = join(work, `inventory-${n}.yaml`);
      writeFileSync(file, labInventory(planMachines(n, work), f.passwordFile));
      await validateInventory(file);
    }
    const text = labInventory(planMachines(2, work), f.passwordFile);
    assert.match(text, /- name: lab\n {4}kernel: lab\/vmlinuz\n {4}initrd: \[lab\/installer\.img\]\n {4}cmdline: console=ttyS0\n {4}install: \{ method: image, image: lab\/disk\.img \}/);
    assert.match(text, /bmc: \{ driver: ipmi, address: 198\.18\.1\.12, username: admin, passwordFile: \S+bmc-password \}/);
    assert.match(text, /production: \{ address: 198\.18\.2\.12\/24 \}/);
  });

  test('ironbay accepts the generated config', async () => {
    const f = labFiles(work);
    writeFileSync(f.configFile, labConfig(f, 'iblabcdefab'));
    const r = await runCli(['config', 'validate', f.configFile]);
    assert.equal(r.code, 0, r.stderr);
  });

  test('the progress table: times in state, clipped columns, no line wider than the terminal', () => {
    const now = Date.parse('2026-01-01T00:10:00Z');
    const rows: MachineRow[] = [
      { name: 'lab-1', firmware: 'bios', state: 'installing', stateSince: '2026-01-01T00:08:55Z', stateReason: 'installer running', power: 'on', bmc: 'boot=default · vm start boot=pxe firmware=bios pid=1' },
      { name: 'lab-2', firmware: 'uefi', state: 'ready', stateSince: '2026-01-01T00:09:58Z', stateReason: 'x'.repeat(200), power: 'on', bmc: 'boot=default' },
    ];
    const lines = renderTable(rows, now, 80);
    assert.equal(lines.length, 3);
    assert.match(lines[0]!, /^MACHINE\s+FW\s+STATE\s+IN STATE\s+POWER\s+REASON\s+BMC$/);
    assert.match(lines[1]!, /^lab-1\s+bios\s+installing\s+1m05s\s+on\s+installer running/);
    assert.match(lines[2]!, /^lab-2\s+uefi\s+ready\s+2s\s+on\s+x+…/);
    for (const l of lines) assert.ok(l.length < 80, l);
    assert.deepEqual([duration(999), duration(61_000), duration(3_600_000 + 120_000), duration(-1)], ['0s', '1m01s', '1h02m', '-']);
  });
});

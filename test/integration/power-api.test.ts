// Power through the daemon: `ironbay power` and `ironbay bootdev` on inventory machines whose
// BMCs are real peers — OpenIPMI's ipmi_sim (checked with ipmitool and the chassis-control
// state) and the HTTPS Redfish test BMC — with one failing BMC in the same request, events
// for every action, and the passwords nowhere in output, events or logs.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli, TestDaemon } from '../helpers/daemon.ts';
import { ipmitool, startIpmiSims, type SimBmc } from '../helpers/ipmi-sim.ts';
import { startRedfishBmc, type RedfishBmc } from '../helpers/redfish-bmc.ts';

const IPMI_PW = 'ipmi-pw-7f3a9c';
const RF_PW = 'redfish-pw-51be0d';
const WRONG_PW = 'wrong-pw-c0ffee';

interface Result {
  machine: string;
  ok: boolean;
  changed?: boolean;
  power?: string;
  boot?: { device: string; persistent: boolean; efi: boolean };
  code?: string;
  error?: string;
}

describe('power and boot device through the daemon', () => {
  let sims: SimBmc[] = [];
  let rf: RedfishBmc;
  let d: TestDaemon;
  let env: Record<string, string>;

  before(async () => {
    sims = await startIpmiSims(3, { username: 'admin', password: IPMI_PW });
    rf = await startRedfishBmc({ users: { root: { password: RF_PW, role: 'Administrator' } }, power: 'Off' });
    let n = 0;
    const m = (name: string, role: string, bmc: string): string => `  - name: ${name}\n    macs: ["52:54:00:00:20:${(0x10 + n++).toString(16)}"]\n    role: ${role}\n    bmc: ${bmc}\n`;
    const inventory =
      'machines:\n' +
      m('ipmi-a', 'worker', `{ driver: ipmi, address: 127.0.0.1, port: ${sims[0]!.port}, username: admin, passwordFile: secrets/ipmi }`) +
      m('ipmi-bb', 'worker', `{ driver: ipmi, address: 127.0.0.1, port: ${sims[1]!.port}, username: admin, passwordFile: secrets/ipmi }`) +
      m('rf-ccc', 'kvm-host', `{ driver: redfish, address: 127.0.0.1, port: ${rf.port}, username: root, passwordEnv: TEST_RF_PW, tlsFingerprint: "${rf.fingerprint256}" }`) +
      m('bad-pw-dddd', 'worker', `{ driver: ipmi, address: 127.0.0.1, port: ${sims[2]!.port}, username: admin, passwordFile: secrets/wrong }`) +
      `  - name: no-bmc\n    macs: ["52:54:00:00:20:99"]\n    role: worker\n`;
    d = new TestDaemon({ inventory, configExtra: 'bmc: { powerOnRate: 50, timeoutMs: 300, retries: 2 }\n' });
    mkdirSync(join(d.dir, 'secrets'));
    writeFileSync(join(d.dir, 'secrets/ipmi'), IPMI_PW + '\n');
    writeFileSync(join(d.dir, 'secrets/wrong'), WRONG_PW + '\n');
    process.env.TEST_RF_PW = RF_PW; // the daemon inherits the test's environment
    await d.start();
    env = { IRONBAY_URL: d.url, IRONBAY_TOKEN: d.token };
  });
  after(async () => {
    await d.stop();
    d.cleanup();
    await Promise.all(sims.map((s) => s.stop()));
    await rf.close();
  });

  test('status of the whole fleet: one row per BMC, the wrong password named, exit 1', async () => {
    await sims[0]!.setPower(false);
    await sims[1]!.setPower(true);
    const r = await runCli(['power', 'status', '--all', '--json'], env);
    assert.equal(r.code, 1, r.stderr);
    const rows = JSON.parse(r.stdout) as Result[];
    assert.deepEqual(rows.map((x) => x.machine), ['bad-pw-dddd', 'ipmi-a', 'ipmi-bb', 'rf-ccc']);
    const by = Object.fromEntries(rows.map((x) => [x.machine, x]));
    assert.equal(by['ipmi-a']!.power, 'off');
    assert.equal(by['ipmi-bb']!.power, 'on');
    assert.equal(by['rf-ccc']!.power, 'off');
    assert.equal(by['bad-pw-dddd']!.ok, false);
    assert.equal(by['bad-pw-dddd']!.code, 'IB_ERR_BMC_AUTH_PASSWORD');
    const table = await runCli(['power', 'status', 'ipmi-a', 'ipmi-bb'], env);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^ipmi-a\s+ok\s+off/m);
    assert.match(table.stdout, /2 of 2 succeeded/);
  });

  test('power on is an ensure: changed once, then unchanged; the BMCs really are on', async () => {
    const first = await runCli(['power', 'on', 'ipmi-a', 'rf-ccc', '--json'], env);
    assert.equal(first.code, 0, first.stderr + first.stdout);
    assert.deepEqual((JSON.parse(first.stdout) as Result[]).map((x) => [x.machine, x.changed]), [['ipmi-a', true], ['rf-ccc', true]]);
    assert.equal(await sims[0]!.power(), true);
    assert.match((await ipmitool(sims[0]!, ['chassis', 'power', 'status'])).stdout, /Chassis Power is on/);
    assert.equal(rf.state.power, 'On');
    const again = await runCli(['power', 'on', 'ipmi-a', 'rf-ccc', '--json'], env);
    assert.deepEqual((JSON.parse(again.stdout) as Result[]).map((x) => x.changed), [false, false]);
    const m = await d.api<{ observed: { power?: { state: string; at: string } } }>('GET', '/api/v1/machines/ipmi-a');
    assert.equal(m.body.observed.power?.state, 'on', 'the last power state the BMC gave is on the machine');
  });

  test('bootdev pxe is one-time and read back; ipmitool and the Redfish BMC agree', async () => {
    const r = await runCli(['bootdev', 'pxe', 'ipmi-a', 'rf-ccc', '--json'], env);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    for (const x of JSON.parse(r.stdout) as Result[]) assert.equal(x.boot?.device, 'pxe', x.machine);
    assert.match((await ipmitool(sims[0]!, ['chassis', 'bootparam', 'get', '5'])).stdout, /Boot Device Selector : Force PXE/);
    assert.equal(await sims[0]!.bootDevice(), 'pxe');
    assert.deepEqual([rf.state.boot.target, rf.state.boot.enabled], ['Pxe', 'Once']);
  });

  test('power cycle --pxe sets a one-time PXE boot first, then starts the machine', async () => {
    await sims[1]!.setPower(false);
    await ipmitool(sims[1]!, ['chassis', 'bootdev', 'disk']);
    const r = await runCli(['power', 'cycle', '--pxe', 'ipmi-bb', '--json'], env);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const [x] = JSON.parse(r.stdout) as Result[];
    assert.deepEqual([x!.boot?.device, x!.boot?.persistent, x!.changed], ['pxe', false, true]);
    assert.equal(await sims[1]!.bootDevice(), 'pxe');
    assert.equal(await sims[1]!.power(), true);
  });

  test('ironbay bmc --driver redfish: pinned certificate accepted, unpinned one refused with its fingerprint', async () => {
    writeFileSync(join(d.dir, 'rf-pw'), RF_PW + '\n');
    const base = ['bmc', 'status', '--driver', 'redfish', '--host', `127.0.0.1:${rf.port}`, '--user', 'root', '--password-file', join(d.dir, 'rf-pw')];
    const pinned = await runCli([...base, '--tls-fingerprint', rf.fingerprint256]);
    assert.equal(pinned.code, 0, pinned.stderr);
    assert.match(pinned.stdout, /^power (on|off)/);
    const untrusted = await runCli(base);
    assert.equal(untrusted.code, 1);
    assert.match(untrusted.stderr, /\[IB_ERR_BMC_TLS\]/);
    assert.ok(untrusted.stderr.includes(rf.fingerprint256) || untrusted.stderr.toLowerCase().includes(rf.fingerprint256.replaceAll(':', '').toLowerCase()), untrusted.stderr);
  });

  test('selections: a role, an unknown machine, a machine without a BMC', async () => {
    const role = await runCli(['power', 'status', '--role', 'kvm-host', '--json'], env);
    assert.deepEqual((JSON.parse(role.stdout) as Result[]).map((x) => x.machine), ['rf-ccc']);
    const unknown = await runCli(['power', 'on', 'nope'], env);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no machine named "nope" \[IB_ERR_NOT_FOUND\]/);
    const none = await runCli(['power', 'status', 'no-bmc', '--json'], env);
    assert.equal((JSON.parse(none.stdout) as Result[])[0]!.code, 'IB_ERR_BAD_REQUEST');
  });

  test('probe records what the BMC supports on the machine', async () => {
    const r = await d.api<{ ok: boolean; probe: { cipherSuite: number; cipherSuites: number[]; redfish: boolean } }>('POST', '/api/v1/machines/ipmi-bb/bmc/probe', {});
    assert.equal(r.status, 200);
    assert.equal(r.body.probe.cipherSuite, 3); // ipmi_sim offers no 17
    assert.equal(r.body.probe.redfish, false);
    const m = await d.api<{ observed: { bmc?: { cipherSuite: number; probedAt: string } } }>('GET', '/api/v1/machines/ipmi-bb');
    assert.equal(m.body.observed.bmc?.cipherSuite, 3);
  });

  test('every action is an event with who, what and result; no password anywhere', async () => {
    const ev = await d.api<{ events: { actor: string; machine: string; kind: string; details: { changed?: boolean; ok: boolean; code?: string } }[] }>('GET', '/api/v1/events?kind=power.&limit=100');
    const on = ev.body.events.filter((e) => e.kind === 'power.on');
    // Machines of one request run at once: order within a request is not fixed.
    const seq = (m: string): (boolean | undefined)[] => on.filter((e) => e.machine === m).map((e) => e.details.changed);
    assert.deepEqual([seq('ipmi-a'), seq('rf-ccc')], [[true, false], [true, false]]);
    assert.ok(on.every((e) => e.actor.startsWith('token:')));
    assert.ok(!ev.body.events.some((e) => e.kind === 'power.status'), 'status reads are not actions');
    const boot = await d.api<{ events: unknown[] }>('GET', '/api/v1/events?kind=bootdev.set');
    assert.equal(boot.body.events.length, 2);
    const all = JSON.stringify((await d.api('GET', '/api/v1/events?limit=1000')).body) + JSON.stringify(d.logs);
    for (const pw of [IPMI_PW, RF_PW, WRONG_PW]) assert.ok(!all.includes(pw), `a password leaked into events or logs`);
    const cycle = (await d.api<{ events: { details: { bootDevice?: string } }[] }>('GET', '/api/v1/events?kind=power.cycle')).body.events;
    assert.equal(cycle[0]?.details.bootDevice, 'pxe');
    const metrics = await (await fetch(`${d.url}/metrics`)).text();
    assert.match(metrics, /ironbay_bmc_operations_total\{driver="ipmi",kind="power.on",result="ok"\} 2/);
    assert.match(metrics, /ironbay_bmc_operations_total\{driver="ipmi",kind="power.status",result="IB_ERR_BMC_AUTH_PASSWORD"\} 1/);
    assert.match(metrics, /ironbay_ipmi_sessions_opened_total \d+/);
  });
});

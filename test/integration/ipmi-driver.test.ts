// ironbay's IPMI v2.0 client against OpenIPMI's ipmi_sim, cross-checked with ipmitool in the
// same test: they must agree on power and boot device. Then the failures operators meet: a
// wrong password, an unknown user, a user without operator rights, a BMC that stops answering
// mid-session or restarts, packet loss, cipher suite 0; and `ironbay bmc` on the command line.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isBmcError } from '../../daemon/bmc/driver.ts';
import { IpmiClient } from '../../daemon/bmc/ipmi/client.ts';
import { IpmiDriver } from '../../daemon/bmc/ipmi/driver.ts';
import { runCli } from '../helpers/daemon.ts';
import { ipmitool, startIpmiSim, type SimBmc } from '../helpers/ipmi-sim.ts';
import { startLossyProxy } from '../helpers/udp-lossy-proxy.ts';

const PW = 'sim-admin-pw';

describe('IPMI driver against ipmi_sim', () => {
  let sim: SimBmc;
  let client: IpmiClient;
  const driver = (over: Partial<{ port: number; username: string; password: string; cipherSuite: number; allowCipherSuiteZero: boolean }> = {}): IpmiDriver =>
    new IpmiDriver({ driver: 'ipmi', host: '127.0.0.1', port: sim.port, username: 'admin', password: PW, ...over }, client);

  before(async () => {
    sim = await startIpmiSim({ username: 'admin', password: PW });
    client = new IpmiClient({ timeoutMs: 250, retries: 2 });
  });
  after(async () => {
    await client.close();
    await sim.stop();
  });

  test('status, on, off agree with ipmitool and the chassis', async () => {
    const d = driver();
    await sim.setPower(false);
    assert.deepEqual(await d.status(), { power: 'off', faults: [] });
    assert.deepEqual(await d.on(), { changed: true, power: 'on' });
    assert.equal(await sim.power(), true);
    assert.match((await ipmitool(sim, ['chassis', 'power', 'status'])).stdout, /Chassis Power is on/);
    assert.deepEqual(await d.on(), { changed: false, power: 'on' });
    await ipmitool(sim, ['chassis', 'power', 'off']);
    assert.equal((await d.status()).power, 'off');
    assert.deepEqual(await d.off(), { changed: false, power: 'off' });
  });

  test('cycle and reset of a machine that is off power it on', async () => {
    const d = driver();
    await sim.setPower(false);
    assert.deepEqual(await d.cycle(), { changed: true, power: 'on' });
    assert.equal(await sim.power(), true);
    assert.deepEqual(await d.reset(), { changed: true, power: 'on' });
    assert.equal(await sim.power(), true);
  });

  test('boot device: ours read by ipmitool, ipmitool\'s read by ours', async () => {
    const d = driver();
    const set = await d.setBootDevice('pxe');
    assert.equal(set.device, 'pxe');
    assert.equal(await sim.bootDevice(), 'pxe');
    assert.match((await ipmitool(sim, ['chassis', 'bootparam', 'get', '5'])).stdout, /Boot Device Selector : Force PXE/);
    await ipmitool(sim, ['chassis', 'bootdev', 'disk']);
    assert.equal((await d.getBootDevice()).device, 'disk');
    assert.equal((await d.setBootDevice('bios')).device, 'bios');
    assert.match((await ipmitool(sim, ['chassis', 'bootparam', 'get', '5'])).stdout, /Force Boot into BIOS Setup/);
  });

  test('one session serves many calls; suite 3 is chosen from what the BMC offers', async () => {
    const c = new IpmiClient({ timeoutMs: 250, retries: 2 });
    try {
      const d = new IpmiDriver({ driver: 'ipmi', host: '127.0.0.1', port: sim.port, username: 'admin', password: PW }, c);
      const probe = await d.probe();
      for (let i = 0; i < 20; i++) await d.status();
      assert.equal(c.sessionsOpened, 1);
      assert.equal(probe.cipherSuite, 3);
      assert.equal(probe.asfPresence, true);
      assert.ok(probe.cipherSuites?.includes(3) && !probe.cipherSuites.includes(17));
      assert.match(probe.firmware ?? '', /IPMI 2\.0/);
    } finally {
      await c.close();
    }
  });

  // ipmi_sim grants whatever privilege RAKP 1 asks for, whatever the user's limit (see
  // test/helpers/ipmi-sim.ts), so "insufficient privilege" is tested against the in-repo test
  // BMC (ipmi-test-bmc.test.ts), which enforces it.
  test('wrong password and unknown user: each its own code', async () => {
    await assert.rejects(driver({ password: 'not-it' }).status(), (e) => isBmcError(e, 'IB_ERR_BMC_AUTH_PASSWORD') && !e.message.includes('not-it'));
    await assert.rejects(driver({ username: 'nobody' }).status(), (e) => isBmcError(e, 'IB_ERR_BMC_AUTH_USER') && e.message.includes('"nobody"'));
  });

  test('cipher suite 0 is refused unless allowed for the machine', async () => {
    await assert.rejects(driver({ cipherSuite: 0 }).status(), (e) => isBmcError(e, 'IB_ERR_BMC_CIPHER') && /allowCipherSuiteZero/.test(e.message));
    // ipmi_sim lets suite 0 in with any password: exactly why it is refused by default.
    await sim.setPower(true);
    assert.equal((await driver({ cipherSuite: 0, allowCipherSuiteZero: true, password: 'anything' }).status()).power, 'on');
  });

  test('a BMC that stops answering mid-session times out; once back, the next call works', async () => {
    const d = driver();
    await d.status();
    sim.pause();
    try {
      await assert.rejects(d.status(), (e) => isBmcError(e, 'IB_ERR_BMC_TIMEOUT'));
    } finally {
      sim.resume();
    }
    assert.ok(['on', 'off'].includes((await d.status()).power));
  });

  test('nothing listening: unreachable, not a timeout', async () => {
    await assert.rejects(driver({ port: 9 }).status(), (e) => isBmcError(e, 'IB_ERR_BMC_UNREACHABLE'));
  });

  test('30% packet loss each way: every call still succeeds by retransmission', async () => {
    const proxy = await startLossyProxy({ host: '127.0.0.1', port: sim.port }, 0.3, 7);
    const c = new IpmiClient({ timeoutMs: 150, retries: 8 });
    try {
      const d = new IpmiDriver({ driver: 'ipmi', host: '127.0.0.1', port: proxy.port, username: 'admin', password: PW }, c);
      await sim.setPower(true);
      for (let i = 0; i < 15; i++) assert.equal((await d.status()).power, 'on');
      assert.ok(proxy.stats.droppedUp + proxy.stats.droppedDown > 5, 'the proxy did drop datagrams');
    } finally {
      await c.close();
      await proxy.close();
    }
  });

  test('ironbay bmc: exit 0 with the state, exit 1 with a one-line reason; password from a file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ironbay-bmc-cli-'));
    try {
      writeFileSync(join(dir, 'pw'), PW + '\n');
      writeFileSync(join(dir, 'bad'), 'bad-pw\n');
      await sim.setPower(true);
      const ok = await runCli(['bmc', 'status', '--host', `127.0.0.1:${sim.port}`, '--user', 'admin', '--password-file', join(dir, 'pw')]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.stdout.trim(), 'power on');
      const boot = await runCli(['bmc', 'bootdev', 'pxe', '--host', `127.0.0.1:${sim.port}`, '--user', 'admin', '--password-file', join(dir, 'pw')]);
      assert.equal(boot.code, 0, boot.stderr);
      assert.match(boot.stdout, /^boot device pxe/);
      const bad = await runCli(['bmc', 'on', '--host', `127.0.0.1:${sim.port}`, '--user', 'admin', '--password-file', join(dir, 'bad'), '--timeout', '200']);
      assert.equal(bad.code, 1);
      assert.equal(bad.stderr.trim().split('\n').length, 1);
      assert.match(bad.stderr, /wrong password.*\[IB_ERR_BMC_AUTH_PASSWORD\]/);
      assert.ok(!bad.stderr.includes('bad-pw'));
      const noPw = await runCli(['bmc', 'status', '--host', `127.0.0.1:${sim.port}`, '--user', 'admin']);
      assert.equal(noPw.code, 1);
      assert.match(noPw.stderr, /--password-file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

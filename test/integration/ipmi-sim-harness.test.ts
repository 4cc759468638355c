// The IPMI test peer itself: OpenIPMI's ipmi_sim as test/helpers/ipmi-sim.ts starts it, driven
// by ipmitool (and FreeIPMI) the way ironbay's IPMI tests and bench will drive it. If ipmi_sim
// or the tools change behaviour (a quirk fixed, a cipher suite added), this file says so before
// the client's tests start failing for reasons that are not the client's. Loopback only.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { ipmitool, simRssKiB, startIpmiSim, startIpmiSims, type SimBmc } from '../helpers/ipmi-sim.ts';
import { run } from '../helpers/run.ts';

/** Polls `check` every 100 ms until it holds or `ms` pass (a wait, not a timing assertion). */
async function eventually(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const until = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > until) assert.fail(`still not so after ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('ipmi_sim as started by the harness', () => {
  let bmc: SimBmc;
  before(async () => {
    bmc = await startIpmiSim({
      username: 'ironbay',
      password: 'Secret-4-tests',
      extraUsers: [
        { id: 3, name: 'oper', password: 'oper-pass', priv: 'operator' },
        { id: 4, name: 'viewer', password: 'viewer-pass', priv: 'user' },
      ],
    });
  });
  after(() => bmc.stop());

  test('chassis power status, on and off through ipmitool -C 3 move the chassis file', async () => {
    let r = await ipmitool(bmc, ['chassis', 'power', 'status']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'Chassis Power is off');
    r = await ipmitool(bmc, ['chassis', 'power', 'on']);
    assert.equal(r.stdout.trim(), 'Chassis Power Control: Up/On');
    assert.equal(await bmc.power(), true);
    assert.equal((await ipmitool(bmc, ['chassis', 'power', 'status'])).stdout.trim(), 'Chassis Power is on');
    r = await ipmitool(bmc, ['chassis', 'power', 'off']);
    assert.equal(r.stdout.trim(), 'Chassis Power Control: Down/Off');
    assert.equal(await bmc.power(), false);
    assert.deepEqual((await bmc.events()).slice(-2), ['power 1', 'power 0']);
  });

  test('a front-panel press (setPower) is what the BMC then reports', async () => {
    await bmc.setPower(true);
    assert.equal((await ipmitool(bmc, ['chassis', 'power', 'status'])).stdout.trim(), 'Chassis Power is on');
    assert.match((await ipmitool(bmc, ['chassis', 'status'])).stdout, /^System Power\s+: on$/m);
    await bmc.setPower(false);
    assert.equal((await ipmitool(bmc, ['chassis', 'power', 'status'])).stdout.trim(), 'Chassis Power is off');
  });

  test('power cycle: ipmi_sim turns the chassis off, then on by its own timer about a second later', async () => {
    await bmc.setPower(true);
    const before = (await bmc.events()).length;
    const r = await ipmitool(bmc, ['chassis', 'power', 'cycle']);
    assert.equal(r.stdout.trim(), 'Chassis Power Control: Cycle');
    await eventually('power back on after the cycle', () => bmc.power());
    assert.deepEqual((await bmc.events()).slice(before), ['power 0', 'power 1']);
  });

  test('hard reset reaches the chassis as "reset 1" and leaves power as it was; soft off powers off', async () => {
    await bmc.setPower(true);
    assert.equal((await ipmitool(bmc, ['chassis', 'power', 'reset'])).stdout.trim(), 'Chassis Power Control: Reset');
    assert.equal((await bmc.events()).at(-1), 'reset 1');
    assert.equal(await bmc.power(), true);
    assert.equal((await ipmitool(bmc, ['chassis', 'power', 'soft'])).stdout.trim(), 'Chassis Power Control: Soft');
    assert.equal((await bmc.events()).at(-1), 'shutdown 1');
    assert.equal(await bmc.power(), false);
    // Reset while off: ipmi_sim passes it on; this chassis stays off (the driver must power on).
    await ipmitool(bmc, ['chassis', 'power', 'reset']);
    assert.equal(await bmc.power(), false);
  });

  test('chassis bootdev pxe, then bootparam get 5 reads Force PXE back', async () => {
    let r = await ipmitool(bmc, ['chassis', 'bootdev', 'pxe']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'Set Boot Device to pxe');
    assert.equal(await bmc.bootDevice(), 'pxe');
    r = await ipmitool(bmc, ['chassis', 'bootparam', 'get', '5']);
    assert.match(r.stdout, /Boot parameter data: 0004000000/);
    assert.match(r.stdout, /Boot Device Selector : Force PXE/);
    r = await ipmitool(bmc, ['chassis', 'bootdev', 'disk']);
    assert.equal(r.stdout.trim(), 'Set Boot Device to disk');
    // ipmi_sim's name for selector 0010b, "force boot from default hard drive".
    assert.equal(await bmc.bootDevice(), 'default');
    assert.match((await ipmitool(bmc, ['chassis', 'bootparam', 'get', '5'])).stdout, /Force Boot from default Hard-Drive/);
  });

  test('quirks of boot options: ipmitool exits 0 on a refused device; EFI, persistence and the valid bit are not kept', async () => {
    await ipmitool(bmc, ['chassis', 'bootdev', 'pxe']);
    // Floppy is a selector ipmi_sim cannot pass to chassis_control: CC FFh, and ipmitool says so
    // on stderr only.
    let r = await ipmitool(bmc, ['chassis', 'bootdev', 'floppy']);
    assert.equal(r.code, 0);
    assert.match(r.stderr, /Set Chassis Boot Parameter 5 failed: Unspecified error/);
    assert.equal(await bmc.bootDevice(), 'pxe');
    // Only the device selector reaches the chassis; Get answers byte 1 = 0 (not valid, one-time,
    // legacy) whatever was set.
    r = await ipmitool(bmc, ['chassis', 'bootdev', 'pxe', 'options=efiboot,persistent']);
    assert.equal(r.stdout.trim(), 'Set Boot Device to pxe');
    r = await ipmitool(bmc, ['chassis', 'bootparam', 'get', '5']);
    assert.match(r.stdout, /Boot parameter data: 0004000000/);
    assert.match(r.stdout, /Boot Flag Invalid/);
    assert.match(r.stdout, /BIOS PC Compatible \(legacy\) boot/);
  });

  test('a wrong password or an unknown user gets no session; suite 0 lets a known user in with any password', async () => {
    let r = await ipmitool(bmc, ['chassis', 'power', 'status'], { password: 'not-the-password' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Unable to establish IPMI v2 \/ RMCP\+ session/);
    // ipmi_sim answers RAKP 2 with status 0 and a code made with the real password.
    r = await ipmitool(bmc, ['-v', 'chassis', 'power', 'status'], { password: 'not-the-password' });
    assert.match(r.stderr, /RAKP 2 HMAC is invalid/);
    r = await ipmitool(bmc, ['-v', 'chassis', 'power', 'status'], { user: 'nobody' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /RAKP 2 message indicates an error : unauthorized name/);
    r = await ipmitool(bmc, ['chassis', 'power', 'status'], { cipherSuite: 0, password: 'not-the-password' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Chassis Power is (on|off)/);
  });

  test('cipher suites 0, 1, 2, 3 and 6 work; 17 is refused at Open Session', async () => {
    for (const suite of [0, 1, 2, 3, 6]) {
      const r = await ipmitool(bmc, ['chassis', 'power', 'status'], { cipherSuite: suite });
      assert.equal(r.code, 0, `suite ${suite}: ${r.stderr}`);
      assert.match(r.stdout, /^Chassis Power is (on|off)$/m, `suite ${suite}`);
    }
    const r = await ipmitool(bmc, ['chassis', 'power', 'status'], { cipherSuite: 17 });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Error in open session response message : invalid authentication algorithm/);
  });

  test('privileges: operator may power; user-level sessions may read but not power; the user limit is not enforced', async () => {
    let r = await ipmitool(bmc, ['chassis', 'power', 'on'], { user: 'oper', password: 'oper-pass', privilege: 'OPERATOR' });
    assert.equal(r.stdout.trim(), 'Chassis Power Control: Up/On');
    r = await ipmitool(bmc, ['chassis', 'power', 'off'], { user: 'viewer', password: 'viewer-pass', privilege: 'USER' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Set Chassis Power Control to Down\/Off failed: Insufficient privilege level/);
    assert.equal(await bmc.power(), true);
    r = await ipmitool(bmc, ['chassis', 'power', 'status'], { user: 'viewer', password: 'viewer-pass', privilege: 'USER' });
    assert.equal(r.stdout.trim(), 'Chassis Power is on');
    // ipmi_sim 2.0.33 grants what RAKP 1 asks for: a user-level account asking for ADMINISTRATOR
    // (ipmitool's default) gets it. A test of insufficient privilege must ask for USER.
    r = await ipmitool(bmc, ['chassis', 'power', 'off'], { user: 'viewer', password: 'viewer-pass' });
    assert.equal(r.stdout.trim(), 'Chassis Power Control: Down/Off');
    assert.equal(await bmc.power(), false);
  });

  test('mc info (Get Device ID) reports the emulated BMC', async () => {
    const r = await ipmitool(bmc, ['mc', 'info']);
    assert.match(r.stdout, /IPMI Version\s+: 2\.0/);
    assert.match(r.stdout, /Manufacturer ID\s+: 4753/);
    assert.match(r.stdout, /Product ID\s+: 3842 \(0x0f02\)/);
  });

  test('a paused BMC does not answer; resumed, it does again', async () => {
    bmc.pause();
    try {
      const r = await ipmitool(bmc, ['chassis', 'power', 'status'], { timeoutSec: 1, retries: 1 });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /Unable to establish IPMI v2 \/ RMCP\+ session/);
    } finally {
      bmc.resume();
    }
    const r = await ipmitool(bmc, ['chassis', 'power', 'status']);
    assert.equal(r.code, 0, r.stderr);
  });

  test('RMCP presence ping (OpenIPMI rmcp_ping) gets a pong', async () => {
    const r = await run('rmcp_ping', ['-p', String(bmc.port), '-t', '1', bmc.host]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /IPMI/);
  });

  test('FreeIPMI needs -W opensesspriv: ipmi_sim echoes the requested privilege 0 in the Open Session Response', async () => {
    const base = ['-D', 'LAN_2_0', '-h', `${bmc.host}:${bmc.port}`, '-u', bmc.username, '-p', bmc.password, '-I', '3', '--stat'];
    let r = await run('ipmi-power', base);
    assert.match(r.stdout, /privilege level cannot be obtained for this user/);
    await bmc.setPower(true);
    r = await run('ipmi-power', [...base, '-W', 'opensesspriv']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.stdout.trim(), `${bmc.host}: on`);
  });
});

describe('several ipmi_sim BMCs at once', () => {
  test('each has its own port, users and chassis; stop() removes process and directory', async () => {
    const sims = await startIpmiSims(6, { password: 'many-at-once' });
    try {
      assert.equal(new Set(sims.map((s) => s.port)).size, sims.length);
      assert.equal(new Set(sims.map((s) => s.dir)).size, sims.length);
      for (const s of sims) assert.ok((simRssKiB(s) ?? 0) > 0);
      await Promise.all(sims.map((s, i) => s.setPower(i % 2 === 0)));
      const answers = await Promise.all(sims.map((s) => ipmitool(s, ['chassis', 'power', 'status'])));
      assert.deepEqual(
        answers.map((a) => a.stdout.trim()),
        sims.map((_, i) => `Chassis Power is ${i % 2 === 0 ? 'on' : 'off'}`),
      );
      await ipmitool(sims[1]!, ['chassis', 'bootdev', 'pxe']);
      assert.deepEqual(await Promise.all(sims.map((s) => s.bootDevice())), sims.map((_, i) => (i === 1 ? 'pxe' : 'none')));
    } finally {
      await Promise.all(sims.map((s) => s.stop()));
    }
    for (const s of sims) {
      assert.equal(existsSync(s.dir), false);
      assert.equal(isAlive(s.pid), false);
    }
  });

  test('a fixed address and port: a second BMC asking for the same one is refused, not silently doubled', async () => {
    const first = await startIpmiSim({ host: '127.0.0.1' });
    try {
      await assert.rejects(startIpmiSim({ host: '127.0.0.1', port: first.port }), /also held by pid|Unable to bind/);
      assert.equal((await ipmitool(first, ['chassis', 'power', 'status'])).code, 0);
    } finally {
      await first.stop();
    }
  });
});

// The in-repo IPMI test BMC (test/helpers/ipmi-test-bmc.ts) against a real peer — ipmitool
// -I lanplus with suites 17 and 3 — which shows the BMC, and so the codec it shares with the
// client, speaks RMCP+ as ipmitool does; then ironbay's IpmiDriver and IpmiClient against it:
// ensure semantics, boot flags, each error code the client promises, and the BMC's quirks.
// Loopback only; no timing is asserted, only outcomes and counts.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { describe, test, type TestContext } from 'node:test';
import { isBmcError, type BmcErrorCode, type BmcTarget } from '../../daemon/bmc/driver.ts';
import { IpmiClient, type IpmiClientOptions } from '../../daemon/bmc/ipmi/client.ts';
import { IpmiDriver } from '../../daemon/bmc/ipmi/driver.ts';
import {
  AUTH, BOOT_SELECTOR, CONFIDENTIALITY, decodeAsf, decodeRmcp, encodeAsfPing, encodeOpenSessionRequest, encodeV2, INTEGRITY, PAYLOAD, PRIVILEGE, RMCP_CLASS,
} from '../../daemon/bmc/ipmi/codec/index.ts';
import { SequenceWindow } from '../helpers/ipmi-test-bmc/sessions.ts';
import { startTestBmc, startTestBmcs, type TestBmc, type TestBmcOptions, type TestBmcUser } from '../helpers/ipmi-test-bmc.ts';
import { mulberry32 } from '../helpers/prng.ts';
import { run, type RunResult } from '../helpers/run.ts';

const ADMIN: TestBmcUser = { name: 'u', password: 'p', privilege: PRIVILEGE.administrator };
const OPERATOR: TestBmcUser = { name: 'op', password: 'op-secret', privilege: PRIVILEGE.operator };
const READER: TestBmcUser = { name: 'ro', password: 'ro-secret', privilege: PRIVILEGE.user };
const USERS = [ADMIN, OPERATOR, READER];

/** Tight per-try timeouts where a test waits for a failure; loopback answers in well under 1 ms. */
const FAST: IpmiClientOptions = { timeoutMs: 100, retries: 2 };

interface Lab {
  bmc: TestBmc;
  client: IpmiClient;
  driver: (over?: Partial<BmcTarget>) => IpmiDriver;
}

/**
 * A BMC and a client for one test. At the end the client closes its sessions first (so it is
 * not left waiting on a stopped BMC), then the BMC stops and must not have thrown.
 */
async function lab(t: TestContext, opts: TestBmcOptions = {}, clientOpts: IpmiClientOptions = {}): Promise<Lab> {
  const bmc = await startTestBmc({ users: USERS, ...opts });
  const client = new IpmiClient(clientOpts);
  t.after(async () => {
    await client.close();
    await bmc.stop();
    assert.deepEqual(bmc.errors.map(String), [], 'the test BMC threw while handling a datagram');
  });
  return { bmc, client, driver: (over = {}) => driverFor(bmc, client, over) };
}

function driverFor(bmc: { host: string; port: number }, client: IpmiClient, over: Partial<BmcTarget> = {}): IpmiDriver {
  return new IpmiDriver({ driver: 'ipmi', host: bmc.host, port: bmc.port, username: ADMIN.name, password: ADMIN.password, ...over }, client);
}

async function rejectsWith(p: Promise<unknown>, code: BmcErrorCode): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isBmcError(e), `not a BmcError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

/** Polls until cond holds; fails after `ms` (an outcome deadline, not a timing assertion). */
async function waitFor(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  for (let waited = 0; !cond(); waited += 10) {
    if (waited >= ms) assert.fail(`still waiting for ${what} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const selector = (name: keyof typeof BOOT_SELECTOR): number => BOOT_SELECTOR[name];

// ---- ipmitool, the reference peer ------------------------------------------------------------

interface Login {
  suite?: number;
  user?: TestBmcUser;
  /** ipmitool -L: the privilege level to ask for (ipmitool's default is ADMINISTRATOR). */
  level?: 'USER' | 'OPERATOR' | 'ADMINISTRATOR';
  verbose?: boolean;
}

/** ipmitool -I lanplus against the BMC; the password goes through IPMI_PASSWORD (-E), never argv. */
function ipmitool(bmc: TestBmc, args: string[], login: Login = {}): Promise<RunResult> {
  const user = login.user ?? ADMIN;
  const a = ['-I', 'lanplus', '-H', bmc.host, '-p', String(bmc.port), '-U', user.name, '-E', '-N', '1', '-R', '3'];
  if (login.suite !== undefined) a.push('-C', String(login.suite));
  if (login.level) a.push('-L', login.level);
  if (login.verbose) a.push('-v');
  return run('ipmitool', [...a, ...args], { env: { IPMI_PASSWORD: user.password } });
}

/** ipmitool's output, both streams: it reports some failures on stdout and exits 0 (a failed set). */
const said = (r: RunResult): string => `${r.stdout}${r.stderr}`;

describe('ipmitool -I lanplus against the test BMC', () => {
  for (const suite of [17, 3]) {
    test(`-C ${suite}: power status/on/off, bootdev pxe efiboot, bootparam get 5, mc info, channel getciphers`, async (t) => {
      const { bmc } = await lab(t);
      const tool = (...args: string[]): Promise<RunResult> => ipmitool(bmc, args, { suite });

      assert.match(said(await tool('chassis', 'power', 'status')), /Chassis Power is off/);
      assert.match(said(await tool('chassis', 'power', 'on')), /Chassis Power Control: Up\/On/);
      assert.equal(bmc.power, 'on');
      assert.match(said(await tool('chassis', 'power', 'status')), /Chassis Power is on/);
      assert.match(said(await tool('chassis', 'power', 'off')), /Chassis Power Control: Down\/Off/);
      assert.equal(bmc.power, 'off');

      const set = said(await tool('chassis', 'bootdev', 'pxe', 'options=efiboot'));
      assert.match(set, /Set Boot Device to pxe/);
      assert.doesNotMatch(set, /failed/);
      assert.deepEqual(bmc.bootFlags, { valid: true, persistent: false, efi: true, selector: selector('pxe'), data: [0xa0, 0x04, 0, 0, 0] });
      const get = said(await tool('chassis', 'bootparam', 'get', '5'));
      assert.match(get, /Boot parameter data: a004000000/);
      assert.match(get, /- Boot Flag Valid/);
      assert.match(get, /- Options apply to only next boot/);
      assert.match(get, /- BIOS EFI boot/);
      assert.match(get, /Boot Device Selector : Force PXE/);

      // The next boot consumes the one-time override; ipmitool then reads it as gone.
      assert.match(said(await tool('chassis', 'power', 'on')), /Up\/On/);
      assert.equal(bmc.boots.at(-1)?.flags.selector, selector('pxe'));
      const after = said(await tool('chassis', 'bootparam', 'get', '5'));
      assert.match(after, /- Boot Flag Invalid/);
      assert.match(after, /Boot Device Selector : No override/);

      const mc = said(await tool('mc', 'info'));
      assert.match(mc, /Firmware Revision\s+: 1\.23/);
      assert.match(mc, /IPMI Version\s+: 2\.0/);
      assert.match(mc, /Manufacturer ID\s+: 343/);

      const ciphers = said(await tool('channel', 'getciphers', 'ipmi'));
      assert.match(ciphers, /^3\s+N\/A\s+hmac_sha1\s+hmac_sha1_96\s+aes_cbc_128/m);
      assert.match(ciphers, /^17\s+N\/A\s+hmac_sha256\s+sha256_128\s+aes_cbc_128/m);

      // Every ipmitool run logged in with this suite and closed its session on the way out.
      assert.ok(bmc.opens.length >= 10);
      assert.ok(bmc.opens.every((o) => o.suite === suite && o.status === 0));
      assert.equal(bmc.counters.sessionsClosed, bmc.counters.sessionsOpened);
      assert.deepEqual(bmc.sessions, []);
      assert.deepEqual(bmc.counters.rejected, {});
    });
  }

  test('without -C ipmitool reads the cipher suite records and picks 17, or 3 where only 3 is offered', async (t) => {
    const { bmc } = await lab(t);
    const r = await ipmitool(bmc, ['chassis', 'power', 'status'], { verbose: true });
    assert.match(said(r), /Using best available cipher suite 17/);
    const only3 = (await lab(t, { suites: [3] })).bmc;
    const r3 = await ipmitool(only3, ['chassis', 'power', 'status'], { verbose: true });
    assert.match(said(r3), /Using best available cipher suite 3\b/);
    assert.match(said(r3), /Chassis Power is off/);
  });

  test('wrong password, unknown user, a role above the user: no session; a user-level session gets D4 on chassis control and boot options', async (t) => {
    const { bmc } = await lab(t);
    for (const user of [{ ...ADMIN, password: 'wrong' }, { ...ADMIN, name: 'nobody' }, READER]) {
      const r = await ipmitool(bmc, ['chassis', 'power', 'status'], { suite: 17, user });
      assert.notEqual(r.code, 0);
      assert.match(said(r), /Unable to establish IPMI v2 \/ RMCP\+ session/);
    }
    assert.equal(bmc.counters.sessionsOpened, 0);

    assert.match(said(await ipmitool(bmc, ['chassis', 'power', 'status'], { suite: 17, user: READER, level: 'USER' })), /Chassis Power is off/);
    assert.match(said(await ipmitool(bmc, ['chassis', 'power', 'on'], { suite: 17, user: READER, level: 'USER' })), /Insufficient privilege level/);
    assert.match(said(await ipmitool(bmc, ['chassis', 'bootdev', 'pxe'], { suite: 17, user: READER, level: 'USER' })), /Boot Parameter 5 failed: Insufficient privilege level/);
    assert.equal(bmc.power, 'off');
    assert.equal(bmc.bootFlags.valid, false);
    assert.ok(bmc.log.some((c) => c.netFn === 0x00 && c.cmd === 0x02 && c.cc === 0xd4 && c.user === READER.name));
  });

  test('-C 17 against a BMC offering only suite 3: Open Session status 11h', async (t) => {
    const { bmc } = await lab(t, { suites: [3] });
    const r = await ipmitool(bmc, ['chassis', 'power', 'status'], { suite: 17 });
    assert.notEqual(r.code, 0);
    assert.match(said(r), /no matching cipher suite/);
    assert.deepEqual(bmc.opens[0], { auth: AUTH.hmacSha256, integrity: INTEGRITY.hmacSha256_128, confidentiality: CONFIDENTIALITY.aesCbc128, suite: undefined, status: 0x11 });
  });
});

// ---- ironbay's IpmiDriver ------------------------------------------------------------------

describe('IpmiDriver and IpmiClient against the test BMC', () => {
  test('suite 17 is chosen when offered; power operations are ensures', async (t) => {
    const { bmc, client, driver } = await lab(t);
    const d = driver();
    assert.deepEqual(await d.status(), { power: 'off', faults: [] });
    assert.equal(client.suiteOf({ host: bmc.host, port: bmc.port, username: 'u', password: 'p' }), 17);
    assert.ok(bmc.log.every((c) => c.suite === 17));

    assert.deepEqual(await d.on(), { changed: true, power: 'on' });
    assert.deepEqual(await d.on(), { changed: false, power: 'on' });
    assert.deepEqual(await d.off(), { changed: true, power: 'off' });
    assert.deepEqual(await d.off(), { changed: false, power: 'off' });
    assert.equal(bmc.power, 'off');
    // Cycle and reset of a machine that is off power it up (the BMC would answer D5h to them).
    assert.deepEqual(await d.cycle(), { changed: true, power: 'on' });
    assert.deepEqual(await d.cycle(), { changed: true, power: 'on' });
    assert.deepEqual(await d.reset(), { changed: true, power: 'on' });
    await d.off();
    assert.deepEqual(await d.reset(), { changed: true, power: 'on' });
    assert.deepEqual(await d.softOff(), { changed: true, power: 'on' });
    assert.equal(bmc.power, 'off');
    assert.deepEqual(await d.softOff(), { changed: false, power: 'off' });
    assert.deepEqual(bmc.boots.map((b) => b.how), ['power up', 'power up', 'power cycle', 'hard reset', 'power up']);
    assert.ok(!bmc.log.some((c) => c.cc !== 0 && c.netFn === 0x00), 'no chassis command was refused');
    assert.equal(bmc.counters.sessionsOpened, 1, 'one session served every call');
  });

  test('soft off: still on right after, off once the OS is done (injected clock)', async (t) => {
    let clock = 1_000;
    const { bmc, driver } = await lab(t, { power: 'on', softOffDelayMs: 30_000, now: () => clock });
    const d = driver();
    assert.deepEqual(await d.softOff(), { changed: true, power: 'on' });
    assert.equal((await d.status()).power, 'on');
    assert.deepEqual(await d.softOff(), { changed: true, power: 'on' }, 'the OS is still shutting down: asked again, harmlessly');
    clock += 30_000;
    assert.equal((await d.status()).power, 'off');
    assert.equal(bmc.power, 'off');
  });

  test('boot device: one-time PXE with EFI read back, consumed by the next power on; persistent disk survives cycle and reset', async (t) => {
    const { bmc, driver } = await lab(t);
    const d = driver();
    const set = await d.setBootDevice('pxe', { efi: true });
    assert.equal(set.device, 'pxe');
    assert.equal(set.persistent, false);
    assert.equal(set.efi, true);
    assert.equal(set.warnings, undefined);
    assert.deepEqual(bmc.bootFlags, { valid: true, persistent: false, efi: true, selector: selector('pxe'), data: [0xa0, 0x04, 0, 0, 0] });
    assert.deepEqual(await d.getBootDevice(), set);
    // The order ipmitool uses: set in progress, boot info acknowledge, flags, set complete.
    const sets = bmc.log.filter((c) => c.netFn === 0x00 && c.cmd === 0x08).map((c) => c.data);
    assert.deepEqual(sets, [[0, 1], [4, 1, 1], [5, 0xa0, 0x04, 0, 0, 0], [0, 0]]);

    await d.on();
    assert.equal(bmc.boots.at(-1)?.flags.selector, selector('pxe'));
    assert.equal(bmc.boots.at(-1)?.flags.efi, true);
    assert.equal(bmc.bootFlags.valid, false);
    assert.equal((await d.getBootDevice()).device, 'none', 'the one-time override was consumed by the boot');

    await d.setBootDevice('disk', { persistent: true });
    await d.cycle();
    await d.reset();
    assert.deepEqual(bmc.boots.slice(-2).map((b) => [b.how, b.flags.selector]), [['power cycle', selector('disk')], ['hard reset', selector('disk')]]);
    assert.deepEqual(await d.getBootDevice(), { device: 'disk', persistent: true, efi: false, raw: 'disk, persistent' });
  });

  test('probe: offered suites, the chosen one, Get Device ID', async (t) => {
    const { driver } = await lab(t, { suites: [1, 2, 3, 15, 16, 17], manufacturerId: 10876, productId: 0x1234, firmware: '3.07' });
    const p = await driver().probe();
    assert.deepEqual(p.cipherSuites, [1, 2, 3, 15, 16, 17]);
    assert.equal(p.cipherSuite, 17);
    assert.equal(p.manufacturer, 'Supermicro');
    assert.equal(p.product, 'product 0x1234');
    assert.equal(p.firmware, '3.07 (IPMI 2.0)');
    assert.deepEqual(p.bootDevices, ['pxe', 'disk', 'bios']);
  });

  test('suites 1, 2, 15 and 16 (and 17, 3) work when named', async (t) => {
    const { bmc, client } = await lab(t, { suites: [1, 2, 3, 15, 16, 17] });
    for (const cipherSuite of [1, 2, 15, 16, 17, 3]) {
      const d = driverFor(bmc, client, { cipherSuite });
      await d.on();
      await d.off();
      assert.equal(bmc.log.at(-1)?.suite, cipherSuite);
    }
    assert.equal(bmc.counters.sessionsOpened, 6);
    assert.deepEqual(bmc.counters.rejected, {});
  });

  test('wrong password → IB_ERR_BMC_AUTH_PASSWORD; the client tells the BMC, whose slot frees at once', async (t) => {
    const { bmc, driver } = await lab(t);
    await rejectsWith(driver({ password: 'not-p' }).status(), 'IB_ERR_BMC_AUTH_PASSWORD');
    await waitFor('the handshake slot to be freed by RAKP 3 status 0Fh', () => bmc.sessions.length === 0);
    assert.equal(bmc.counters.sessionsOpened, 0);
  });

  test('unknown user → IB_ERR_BMC_AUTH_USER', async (t) => {
    const { bmc, driver } = await lab(t);
    await rejectsWith(driver({ username: 'nobody' }).status(), 'IB_ERR_BMC_AUTH_USER');
    assert.deepEqual(bmc.sessions, []);
  });

  test('a user-level account → IB_ERR_BMC_PRIVILEGE (RAKP 2 status 0Ah); an operator account is enough', async (t) => {
    const { bmc, driver } = await lab(t);
    await rejectsWith(driver({ username: READER.name, password: READER.password }).on(), 'IB_ERR_BMC_PRIVILEGE');
    assert.deepEqual(bmc.sessions, []);
    assert.deepEqual(await driver({ username: OPERATOR.name, password: OPERATOR.password }).on(), { changed: true, power: 'on' });
  });

  test('a BMC that grants a session capped at the user level → IB_ERR_BMC_PRIVILEGE from Set Session Privilege Level (81h)', async (t) => {
    const { bmc, driver } = await lab(t, { roleCheck: 'session' }, FAST);
    await rejectsWith(driver({ username: READER.name, password: READER.password }).on(), 'IB_ERR_BMC_PRIVILEGE');
    assert.deepEqual([bmc.log[0]?.cmd, bmc.log[0]?.cc], [0x3b, 0x81]);
    assert.ok(!bmc.log.some((c) => c.netFn === 0x00), 'no chassis command was sent');
    assert.equal(bmc.power, 'off');
  });

  test('a refused Set Session Privilege Level closes the session on the BMC: retries keep getting IB_ERR_BMC_PRIVILEGE, not BUSY', async (t) => {
    // A console that gives up on a session should Close Session (§22.19); otherwise the slot
    // stays taken until the BMC's idle timeout, and a caller's retries fill the session table.
    const { bmc, driver } = await lab(t, { roleCheck: 'session', maxSessions: 2 }, FAST);
    const d = driver({ username: READER.name, password: READER.password });
    for (let i = 0; i < 3; i++) await rejectsWith(d.on(), 'IB_ERR_BMC_PRIVILEGE');
    await waitFor('the refused sessions to be closed on the BMC', () => bmc.sessions.length === 0, 1000);
  });

  test('boot flags accepted but not applied → IB_ERR_BMC_BOOTDEV_NOT_APPLIED', async (t) => {
    const { bmc, driver } = await lab(t, { ignoreBootFlags: true });
    await rejectsWith(driver().setBootDevice('pxe'), 'IB_ERR_BMC_BOOTDEV_NOT_APPLIED');
    assert.ok(bmc.log.some((c) => c.cmd === 0x08 && c.data[0] === 5 && c.cc === 0), 'the BMC said 00h to the boot flags');
    assert.equal(bmc.bootFlags.valid, false);
  });

  test('a BMC that drops the EFI bit: the device is applied, with a warning', async (t) => {
    const { bmc, driver } = await lab(t, { dropEfiBit: true });
    const set = await driver().setBootDevice('pxe', { efi: true });
    assert.equal(set.device, 'pxe');
    assert.equal(set.efi, false);
    assert.deepEqual(set.warnings, ['asked EFI boot, the BMC keeps legacy']);
    assert.equal(bmc.bootFlags.efi, false);
  });

  test('a busy BMC → IB_ERR_BMC_BUSY; fine again once it is not', async (t) => {
    const { bmc, driver } = await lab(t, { busy: true });
    const d = driver();
    await rejectsWith(d.on(), 'IB_ERR_BMC_BUSY');
    assert.equal(bmc.power, 'off');
    bmc.config.busy = false;
    assert.deepEqual(await d.on(), { changed: true, power: 'on' });
  });

  test('out of sessions (Open Session status 01h) → IB_ERR_BMC_BUSY', async (t) => {
    const { bmc, driver } = await lab(t, { maxSessions: 1 });
    await driver().status(); // holds the only slot: the client keeps sessions while in use
    const other = new IpmiClient(FAST);
    t.after(() => other.close());
    await rejectsWith(driverFor(bmc, other).status(), 'IB_ERR_BMC_BUSY');
    assert.equal(bmc.opens.at(-1)?.status, 0x01);
  });

  test('silent mid-session → IB_ERR_BMC_TIMEOUT; after resume() the client gets back in', async (t) => {
    const { bmc, driver } = await lab(t, {}, FAST);
    const d = driver();
    await d.status();
    bmc.silent();
    await rejectsWith(d.status(), 'IB_ERR_BMC_TIMEOUT');
    assert.ok(bmc.counters.ignored > 0);
    bmc.resume();
    assert.equal((await d.status()).power, 'off');
  });

  test('nothing listening → IB_ERR_BMC_UNREACHABLE', async (t) => {
    const gone = await startTestBmc();
    const port = gone.port;
    await gone.stop();
    const client = new IpmiClient(FAST);
    t.after(() => client.close());
    await rejectsWith(driverFor({ host: '127.0.0.1', port }, client).status(), 'IB_ERR_BMC_UNREACHABLE');
  });

  test('a BMC that forgets the session: the client re-opens once, transparently', async (t) => {
    // Set Session Privilege Level and one Get Chassis Status fit; the next is ignored.
    const { bmc, driver } = await lab(t, { forgetSessionsAfter: 2 }, FAST);
    const d = driver();
    await d.status();
    assert.equal((await d.status()).power, 'off');
    assert.equal(bmc.counters.sessionsOpened, 2);
    assert.equal(bmc.counters.sessionsForgotten, 1);
    assert.ok((bmc.counters.rejected['forgotten-session'] ?? 0) > 0);
  });

  test('idle sessions time out on the BMC (injected clock): the slot frees, the client re-opens', async (t) => {
    let clock = 0;
    const { bmc, driver } = await lab(t, { maxSessions: 1, sessionTimeoutMs: 60_000, now: () => clock }, FAST);
    const d = driver();
    await d.status();
    clock += 60_001;
    const other = new IpmiClient(FAST);
    await driverFor(bmc, other).status();
    assert.equal(bmc.counters.sessionsTimedOut, 1);
    await other.close();
    assert.equal((await d.status()).power, 'off');
    assert.equal(bmc.counters.sessionsOpened, 3);
    assert.ok((bmc.counters.rejected['unknown-session'] ?? 0) > 0, 'the first client used its timed-out session once');
  });

  test('20% of datagrams lost: 50 status calls all succeed by retransmission', async (t) => {
    const { bmc, driver } = await lab(t, { lossRate: 0.2, seed: 42 }, { timeoutMs: 100, retries: 6 });
    const d = driver();
    for (let i = 0; i < 50; i++) assert.equal((await d.status()).power, 'off');
    await d.on();
    assert.ok(bmc.counters.lost > 5, `only ${bmc.counters.lost} lost`);
    assert.equal(bmc.boots.length, 1);
  });

  test('duplicated datagrams: replays are dropped, handshake repeats get the same answer, nothing runs twice', async (t) => {
    const { bmc, client } = await lab(t);
    const port = await relay(t, bmc, (m) => [m, m]);
    const d = driverFor({ host: '127.0.0.1', port }, client);
    await d.on();
    await d.setBootDevice('pxe');
    await d.cycle();
    assert.deepEqual(bmc.boots.map((b) => b.how), ['power up', 'power cycle']);
    assert.equal(bmc.counters.sessionsOpened, 1);
    assert.ok((bmc.counters.rejected['session-replay'] ?? 0) >= 8);
  });

  test('a corrupted session packet fails integrity and is dropped; the genuine one is served', async (t) => {
    const { bmc, client } = await lab(t);
    const port = await relay(t, bmc, (m) => {
      if (m.length < 10 || m[4] !== 0x06 || m.readUInt32LE(6) === 0) return [m];
      const bad = Buffer.from(m);
      bad[bad.length - 1] = bad[bad.length - 1]! ^ 0x01;
      return [bad, m];
    });
    const d = driverFor({ host: '127.0.0.1', port }, client);
    assert.deepEqual(await d.on(), { changed: true, power: 'on' });
    assert.ok((bmc.counters.rejected['v2-authcode'] ?? 0) >= 2);
  });

  test('cipher suite 0 is refused unless allowCipherSuiteZero', async (t) => {
    const { bmc, driver } = await lab(t, { suites: [0, 3, 17] });
    await rejectsWith(driver({ cipherSuite: 0 }).status(), 'IB_ERR_BMC_CIPHER');
    assert.deepEqual(bmc.opens, [], 'refused before any Open Session');
    assert.equal((await driver({ cipherSuite: 0, allowCipherSuiteZero: true }).status()).power, 'off');
    assert.deepEqual(bmc.sessions.map((s) => s.suite), [0]);
  });

  test('falls back to suite 3 when the BMC offers only 3', async (t) => {
    const { bmc, client, driver } = await lab(t, { suites: [3] });
    await driver().on();
    assert.equal(client.suiteOf({ host: bmc.host, port: bmc.port, username: 'u', password: 'p' }), 3);
    assert.deepEqual(bmc.opens.map((o) => o.suite), [3]);
  });

  test('without Get Channel Cipher Suites (C1h) the client tries 17, then 3', async (t) => {
    const { bmc, driver } = await lab(t, { suites: [3], cipherSuitesCommandUnsupported: true });
    assert.equal((await driver().status()).power, 'off');
    assert.deepEqual(bmc.opens.map((o) => [o.auth, o.status]), [[AUTH.hmacSha256, 0x11], [AUTH.hmacSha1, 0]]);
  });

  test('a named suite the BMC lacks → IB_ERR_BMC_CIPHER', async (t) => {
    const { driver } = await lab(t, { suites: [3] });
    await rejectsWith(driver({ cipherSuite: 17 }).status(), 'IB_ERR_BMC_CIPHER');
  });

  test('an idle session is closed on the BMC by the client (idleCloseMs), and re-opened on the next call', async (t) => {
    const { bmc, driver } = await lab(t, {}, { idleCloseMs: 50 });
    const d = driver();
    await d.status();
    await waitFor('the idle session to be closed', () => bmc.counters.sessionsClosed === 1);
    assert.deepEqual(bmc.sessions, []);
    assert.equal((await d.status()).power, 'off');
    assert.equal(bmc.counters.sessionsOpened, 2);
  });

  test('client.close() ends the session on the BMC (Close Session)', async (t) => {
    const { bmc } = await lab(t);
    const client = new IpmiClient();
    await driverFor(bmc, client).status();
    assert.equal(bmc.sessions.length, 1);
    await client.close();
    assert.deepEqual(bmc.sessions, []);
    assert.equal(bmc.counters.sessionsClosed, 1);
  });
});

/** A UDP relay in front of the BMC that hands each console datagram through `shape` (duplicate, corrupt…). */
async function relay(t: TestContext, bmc: TestBmc, shape: (m: Buffer) => Buffer[]): Promise<number> {
  const front = dgram.createSocket('udp4');
  const back = dgram.createSocket('udp4');
  let peer: dgram.RemoteInfo | undefined;
  front.on('message', (m, r) => {
    peer = r;
    for (const out of shape(m)) back.send(out, bmc.port, bmc.host);
  });
  back.on('message', (m) => {
    if (peer) front.send(m, peer.port, peer.address);
  });
  await Promise.all([new Promise<void>((r) => front.bind(0, '127.0.0.1', r)), new Promise<void>((r) => back.bind(0, '127.0.0.1', r))]);
  t.after(() => {
    front.close();
    back.close();
  });
  return front.address().port;
}

// ---- the test BMC itself -----------------------------------------------------------------------

describe('the test BMC', () => {
  test('answers an ASF presence ping with a pong that says IPMI', async (t) => {
    const { bmc } = await lab(t);
    const s = dgram.createSocket('udp4');
    t.after(() => s.close());
    s.send(encodeAsfPing(0x5a), bmc.port, bmc.host);
    const [msg] = (await once(s, 'message')) as [Buffer];
    const r = decodeRmcp(msg);
    assert.ok(r.ok && r.value.cls === RMCP_CLASS.asf);
    const pong = decodeAsf(r.value.body);
    assert.deepEqual(pong, { ok: true, value: { tag: 0x5a, iana: 4542, ipmi: true } });
  });

  test('hostile datagrams are dropped and counted; truncated handshakes too; it keeps serving', async (t) => {
    const { bmc, driver } = await lab(t);
    const s = dgram.createSocket('udp4');
    t.after(() => s.close());
    const next = mulberry32(7);
    const heads = [[], [0x06, 0x00, 0xff, 0x07], [0x06, 0x00, 0xff, 0x07, 0x06], [0x06, 0x00, 0xff, 0x07, 0x00], [0x06, 0x00, 0xff, 0x06]];
    const hostile: Buffer[] = [];
    for (let i = 0; i < 500; i++) {
      const head = heads[i % heads.length]!;
      // At least one byte: an empty datagram never reaches a Node socket's 'message'.
      const tail = Array.from({ length: 1 + Math.floor(next() * 64) }, () => Math.floor(next() * 256));
      hostile.push(Buffer.from([...head, ...tail]));
    }
    // An Open Session Request cut at every length: only the whole one would be answered.
    const open = encodeV2({
      payloadType: PAYLOAD.openSessionRequest, sessionId: 0, sequence: 0,
      payload: encodeOpenSessionRequest({ tag: 1, maxPrivilege: PRIVILEGE.operator, consoleSessionId: 0x1234, auth: AUTH.hmacSha256, integrity: INTEGRITY.hmacSha256_128, confidentiality: CONFIDENTIALITY.aesCbc128 }),
    });
    for (let n = 1; n < open.length; n++) hostile.push(open.subarray(0, n));
    // In batches, each read before the next is sent: a burst could overflow the socket buffer.
    for (let i = 0; i < hostile.length; i += 50) {
      for (const d of hostile.slice(i, i + 50)) s.send(d, bmc.port, bmc.host);
      const sent = Math.min(i + 50, hostile.length);
      await waitFor(`datagram ${sent} to be read`, () => bmc.counters.datagrams >= sent);
    }
    const sent = hostile.length;
    const rejected = Object.values(bmc.counters.rejected).reduce((a, b) => a + b, 0);
    assert.equal(rejected + bmc.counters.replies, sent, JSON.stringify(bmc.counters));
    assert.equal(bmc.counters.sessionsOpened, 0);
    assert.deepEqual(bmc.sessions, []);
    assert.equal((await driver().status()).power, 'off');
  });

  test('the sequence window: each number once, not too far behind or ahead, never 0', () => {
    const w = new SequenceWindow();
    assert.equal(w.accept(0), false);
    assert.equal(w.accept(1), true);
    assert.equal(w.accept(1), false);
    assert.equal(w.accept(5), true);
    assert.equal(w.accept(3), true, 'late but unseen');
    assert.equal(w.accept(3), false);
    assert.equal(w.accept(5 + 33), false, 'too far ahead');
    assert.equal(w.accept(5 + 32), true);
    assert.equal(w.accept(5), false, '32 behind: out of the window');
    assert.equal(w.accept(0xffffffff), false, 'a wrap backwards is far behind');
  });

  test('many BMCs in one process, each its own socket; one client drives them all at once', async (t) => {
    const bmcs = await startTestBmcs(16, { users: USERS, power: 'on' });
    const client = new IpmiClient();
    t.after(async () => {
      await client.close();
      await Promise.all(bmcs.map((b) => b.stop()));
    });
    assert.equal(new Set(bmcs.map((b) => b.port)).size, 16);
    const results = await Promise.all(bmcs.map((b) => driverFor(b, client).off()));
    assert.ok(results.every((r) => r.changed && r.power === 'off'));
    assert.ok(bmcs.every((b) => b.power === 'off' && b.counters.sessionsOpened === 1 && b.errors.length === 0));
  });

  test('ipmi-test-bmc-main: N BMCs in a child process, ports as JSON on stdout, counters at SIGTERM', async (t) => {
    const main = new URL('../helpers/ipmi-test-bmc-main.ts', import.meta.url).pathname;
    const child = spawn(process.execPath, [main, '--count', '20', '--options', JSON.stringify({ users: USERS })], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.after(() => child.kill('SIGKILL'));
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const first = JSON.parse(String((await lines.next()).value)) as { host: string; ports: number[] };
    assert.equal(first.host, '127.0.0.1');
    assert.equal(new Set(first.ports).size, 20);

    const client = new IpmiClient();
    const d = driverFor({ host: first.host, port: first.ports.at(-1)! }, client);
    assert.deepEqual(await d.on(), { changed: true, power: 'on' });
    await client.close();

    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const last = JSON.parse(String((await lines.next()).value)) as { stopped: boolean; counters: { sessionsOpened: number; sessionsClosed: number; commands: number }; errors: number };
    assert.deepEqual(await exited, [0, null]);
    assert.equal(last.stopped, true);
    assert.equal(last.errors, 0);
    assert.equal(last.counters.sessionsOpened, 1);
    assert.equal(last.counters.sessionsClosed, 1);
    assert.ok(last.counters.commands >= 3);
  });
});

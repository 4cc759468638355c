// The Redfish driver against the HTTPS test BMC (test/helpers/redfish-bmc.ts) on 127.0.0.1:
// power "ensure" semantics, boot override set + verify, sessions, failures and certificate
// policy. Every error any test provokes is kept and checked, last, for the passwords.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, describe, test } from 'node:test';
import { inspect } from 'node:util';
import { isBmcError, type BmcErrorCode, type BmcTarget } from '../../daemon/bmc/driver.ts';
import { createRedfishDriver, type RedfishDriver, type RedfishDriverOptions } from '../../daemon/bmc/redfish/driver.ts';
import { startRedfishBmc, type StartOptions } from '../helpers/redfish-bmc.ts';

const PASSWORD = 'admin-secret-pw';
const WRONG = 'wr0ng-guess-4711';
const RO_PASSWORD = 'viewer-secret-pw';
const errors: unknown[] = [];
const open: { close(): Promise<void> }[] = [];
after(async () => {
  for (const o of open.reverse()) await o.close();
});

function fakeClock(): NonNullable<RedfishDriverOptions['clock']> & { sleeps: number[] } {
  let now = 0;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => now,
    sleep: async (ms) => {
      sleeps.push(ms);
      now += ms;
    },
  };
}

async function lab(opts: StartOptions = {}) {
  const bmc = await startRedfishBmc({ users: { admin: { password: PASSWORD, role: 'Administrator' }, viewer: { password: RO_PASSWORD, role: 'ReadOnly' } }, ...opts });
  open.push(bmc);
  const clock = fakeClock();
  const driver = (target: Partial<BmcTarget> = {}, o: RedfishDriverOptions = {}): RedfishDriver => {
    const d = createRedfishDriver(
      { driver: 'redfish', host: '127.0.0.1', port: bmc.port, username: 'admin', password: PASSWORD, tlsFingerprint: bmc.fingerprint256, timeoutMs: 3000, retries: 2, ...target },
      { clock, pollMs: 500, offWaitMs: 5000, ...o },
    );
    open.push(d);
    return d;
  };
  /** "METHOD path [ResetType]" of each request the BMC received since the last look (consumed). */
  const since = (): string[] =>
    bmc.requests.splice(0).map((r) => {
      const type = (r.body as { ResetType?: unknown } | undefined)?.ResetType;
      return `${r.method} ${r.path.replace('/redfish/v1', '')}${typeof type === 'string' ? ` ${type}` : ''}`;
    });
  return { bmc, driver, since, clock };
}

async function fails(p: Promise<unknown>, code: BmcErrorCode): Promise<Error> {
  const e = await p.then(
    () => assert.fail(`expected ${code}`),
    (err: unknown) => err,
  );
  errors.push(e);
  assert.ok(isBmcError(e, code), inspect(e));
  return e;
}

const resets = (reqs: string[]): string[] => reqs.filter((r) => r.includes('ComputerSystem.Reset')).map((r) => r.split(' ').at(-1)!);

describe('power', () => {
  test('status: power and Status.Health faults', async () => {
    const { bmc, driver } = await lab();
    const d = driver();
    assert.deepEqual(await d.status(), { power: 'on', faults: [] });
    bmc.config.health = 'Critical';
    bmc.state.power = 'Off';
    assert.deepEqual(await d.status(), { power: 'off', faults: ['Status.Health Critical'] });
    bmc.state.power = 'Hibernating' as 'Off';
    const e = await fails(d.status(), 'IB_ERR_BMC_PROTOCOL');
    assert.match(e.message, /PowerState "Hibernating" is not one of the schema's/);
  });

  test('on/off/softOff are ensures: no Reset when already so', async () => {
    const { bmc, driver, since } = await lab();
    const d = driver();
    assert.deepEqual(await d.on(), { changed: false, power: 'on' });
    assert.deepEqual(await d.off(), { changed: true, power: 'off' });
    assert.equal(bmc.state.power, 'Off');
    assert.deepEqual(await d.off(), { changed: false, power: 'off' });
    assert.deepEqual(await d.softOff(), { changed: false, power: 'off' });
    assert.deepEqual(await d.on(), { changed: true, power: 'on' });
    assert.deepEqual(await d.on(), { changed: false, power: 'on' });
    assert.deepEqual(await d.softOff(), { changed: true, power: 'on' });
    assert.equal(bmc.state.power, 'Off');
    assert.deepEqual(resets(since()), ['ForceOff', 'On', 'GracefulShutdown']);
  });

  test('cycle and reset: PowerCycle / ForceRestart when on, On when off', async () => {
    const { bmc, driver, since } = await lab();
    const d = driver();
    assert.deepEqual(await d.cycle(), { changed: true, power: 'on' });
    assert.deepEqual(await d.reset(), { changed: true, power: 'on' });
    bmc.state.power = 'Off';
    assert.deepEqual(await d.cycle(), { changed: true, power: 'on' });
    bmc.state.power = 'Off';
    assert.deepEqual(await d.reset(), { changed: true, power: 'on' });
    assert.deepEqual(resets(since()), ['PowerCycle', 'ForceRestart', 'On', 'On']);
    assert.equal(bmc.state.boots.length, 4);
  });

  test('no PowerCycle offered: ForceOff, wait out PoweringOff, then On', async () => {
    const { bmc, driver, since, clock } = await lab({ resetTypes: ['On', 'ForceOff', 'ForceRestart'], offLag: 3 });
    const d = driver();
    assert.deepEqual(await d.cycle(), { changed: true, power: 'on' });
    assert.deepEqual(resets(since()), ['ForceOff', 'On']);
    assert.deepEqual(clock.sleeps, [500, 500]);
    assert.equal(bmc.state.power, 'On');
  });

  test('a BMC that never reports Off stops the fallback within the bound', async () => {
    const { driver, since } = await lab({ resetTypes: ['On', 'ForceOff'], offLag: 1000 });
    const e = await fails(driver().cycle(), 'IB_ERR_BMC_FAILED');
    assert.match(e.message, /accepted ForceOff but still reports PowerState PoweringOff after 5000 ms/);
    assert.deepEqual(resets(since()), ['ForceOff']);
  });

  test('a needed reset type not offered and no fallback: IB_ERR_BMC_UNSUPPORTED, nothing sent', async () => {
    const { driver, since } = await lab({ resetTypes: ['On', 'ForceOff', 'PowerCycle'] });
    const e = await fails(driver().reset(), 'IB_ERR_BMC_UNSUPPORTED');
    assert.match(e.message, /no reset type for reset \(ResetType@Redfish.AllowableValues: On, ForceOff, PowerCycle\)/);
    assert.deepEqual(resets(since()), []);
  });

  test('reset types from ActionInfo are learned once per driver', async () => {
    const { driver, since } = await lab({ resetInfo: 'actionInfo', resetTypes: ['On', 'ForceOff', 'ForceRestart'] });
    const d = driver();
    await d.cycle();
    await d.reset();
    await d.status();
    const reqs = since();
    assert.equal(reqs.filter((r) => r.endsWith('ResetActionInfo')).length, 1);
    assert.deepEqual(resets(reqs), ['ForceOff', 'On', 'ForceRestart']);
  });

  test('no AllowableValues at all: only long-standing types are used', async () => {
    const { driver, since } = await lab({ resetInfo: 'none' });
    await driver().cycle();
    assert.deepEqual(resets(since()), ['ForceOff', 'On']);
  });
});

describe('boot device', () => {
  test('one-time PXE: PATCH then read back; taken by the next power-on, then cleared', async () => {
    const { bmc, driver, since } = await lab({ power: 'Off' });
    const d = driver();
    assert.deepEqual(await d.setBootDevice('pxe'), { device: 'pxe', persistent: false, efi: false, raw: 'Target=Pxe Enabled=Once Mode=Legacy' });
    assert.deepEqual(await d.getBootDevice(), { device: 'pxe', persistent: false, efi: false, raw: 'Target=Pxe Enabled=Once Mode=Legacy' });
    await d.on();
    const reqs = since();
    const patch = reqs.indexOf('PATCH /Systems/1');
    assert.ok(patch >= 0 && patch < reqs.indexOf('POST /Systems/1/Actions/ComputerSystem.Reset On'), reqs.join('\n'));
    assert.deepEqual(bmc.state.boots, [{ target: 'Pxe', mode: 'Legacy' }]);
    assert.equal((await d.getBootDevice()).device, 'none');
  });

  test('persistent, efi; disk and bios', async () => {
    const { bmc, driver } = await lab();
    const d = driver();
    assert.deepEqual(await d.setBootDevice('disk', { persistent: true, efi: true }), { device: 'disk', persistent: true, efi: true, raw: 'Target=Hdd Enabled=Continuous Mode=UEFI' });
    await d.reset();
    await d.reset();
    assert.deepEqual(bmc.state.boots, [{ target: 'Hdd', mode: 'UEFI' }, { target: 'Hdd', mode: 'UEFI' }]);
    assert.equal((await d.setBootDevice('bios', { efi: true })).device, 'bios');
  });

  test('Mode is sent only when the system has it', async () => {
    const { bmc, driver } = await lab({ bootMode: false });
    const setting = await driver().setBootDevice('pxe', { efi: true });
    assert.deepEqual(setting, { device: 'pxe', persistent: false, efi: false, raw: 'Target=Pxe Enabled=Once' });
    const patch = bmc.requests.find((r) => r.method === 'PATCH');
    assert.deepEqual(patch?.body, { Boot: { BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once' } });
  });

  test('targets and modes outside AllowableValues: IB_ERR_BMC_UNSUPPORTED before any PATCH', async () => {
    const { bmc, driver } = await lab({ bootTargets: ['None', 'Pxe', 'Hdd'], bootModes: ['UEFI'] });
    const d = driver();
    await fails(d.setBootDevice('bios', { efi: true }), 'IB_ERR_BMC_UNSUPPORTED');
    const e = await fails(d.setBootDevice('pxe', { efi: false }), 'IB_ERR_BMC_UNSUPPORTED');
    assert.match(e.message, /boot mode Legacy is not offered/);
    assert.equal(bmc.requests.filter((r) => r.method === 'PATCH').length, 0);
  });

  test('accepted but not applied: IB_ERR_BMC_BOOTDEV_NOT_APPLIED naming what differs', async () => {
    const { driver } = await lab({ applyBoot: false });
    const e = await fails(driver().setBootDevice('pxe', { efi: true }), 'IB_ERR_BMC_BOOTDEV_NOT_APPLIED');
    assert.match(e.message, /BootSourceOverrideTarget: wanted Pxe, reads None/);
    assert.match(e.message, /BootSourceOverrideEnabled: wanted Once, reads Disabled/);
  });

  test('If-Match is sent from the ETag; a stale ETag (412) is read again once', async () => {
    const { bmc, driver, since } = await lab({ requireIfMatch: true, staleEtags: 1 });
    assert.equal((await driver().setBootDevice('pxe')).device, 'pxe');
    assert.equal(since().filter((r) => r.startsWith('PATCH')).length, 2);
    bmc.config.staleEtags = 5;
    const e = await fails(driver().setBootDevice('disk'), 'IB_ERR_BMC_FAILED');
    assert.match(e.message, /HTTP 412/);
  });

  test('targets ironbay does not set read as other, with the raw value', async () => {
    const { bmc, driver } = await lab();
    bmc.state.boot = { target: 'Cd', enabled: 'Continuous', mode: 'UEFI' };
    assert.deepEqual(await driver().getBootDevice(), { device: 'other', persistent: true, efi: true, raw: 'Target=Cd Enabled=Continuous Mode=UEFI' });
  });
});

test('probe: Manager model and firmware, system manufacturer, what is offered', async () => {
  const { driver } = await lab({ bootModes: null });
  assert.deepEqual(await driver().probe(), {
    driver: 'redfish',
    redfish: true,
    manufacturer: 'Ironbay Test Works',
    product: 'Ironbay Mock BMC',
    firmware: '1.2.3-test',
    bootDevices: ['None', 'Pxe', 'Cd', 'Usb', 'Hdd', 'BiosSetup', 'UefiTarget'],
    bootModes: ['legacy', 'efi'],
    resetTypes: ['On', 'ForceOff', 'GracefulShutdown', 'GracefulRestart', 'ForceRestart', 'PowerCycle', 'Nmi'],
  });
});

describe('authentication', () => {
  test('one session for many calls; close() deletes it; twice is fine', async () => {
    const { bmc, driver } = await lab({ basic: false });
    const d = driver();
    await d.status();
    await d.off();
    await d.setBootDevice('pxe');
    await d.on();
    await d.probe();
    assert.equal(bmc.logins, 1);
    assert.equal(bmc.connections, 1, 'one keep-alive connection for all calls');
    const authed = bmc.requests.filter((r) => r.path !== '/redfish/v1/' && !(r.method === 'POST' && r.path.endsWith('/Sessions')));
    assert.deepEqual(new Set(authed.map((r) => r.auth)), new Set(['session']));
    assert.equal(bmc.sessions.size, 1);
    await d.close();
    await d.close();
    assert.equal(bmc.sessions.size, 0);
  });

  test('a session the BMC dropped is renewed once, transparently', async () => {
    const { bmc, driver } = await lab({ basic: false });
    const d = driver();
    await d.status();
    bmc.dropSessions();
    assert.equal((await d.status()).power, 'on');
    assert.equal(bmc.logins, 2);
  });

  test('HTTP Basic without a SessionService, or when login is refused with 405', async () => {
    for (const opts of [{ sessions: false }, { sessionCreateStatus: 405 }]) {
      const { bmc, driver } = await lab(opts);
      await driver().off();
      assert.equal(bmc.logins, 0);
      assert.equal(bmc.requests.at(-1)!.auth, 'basic');
      assert.equal(bmc.state.power, 'Off');
    }
  });

  test('a root that demands credentials still works', async () => {
    const { bmc, driver } = await lab({ rootNeedsAuth: true });
    assert.equal((await driver().status()).power, 'on');
    assert.equal(bmc.logins, 1);
  });

  test('wrong password: IB_ERR_BMC_AUTH, session or Basic, echo scrubbed', async () => {
    for (const opts of [{ leakyErrors: true }, { sessions: false }]) {
      const { driver } = await lab(opts);
      const e = await fails(driver({ password: WRONG }).status(), 'IB_ERR_BMC_AUTH');
      assert.match(e.message, /credentials of user "admin"/);
    }
  });

  test('read-only user: reads work, power actions are IB_ERR_BMC_PRIVILEGE', async () => {
    const { driver } = await lab({ power: 'Off' });
    const d = driver({ username: 'viewer', password: RO_PASSWORD });
    assert.equal((await d.status()).power, 'off');
    await fails(d.on(), 'IB_ERR_BMC_PRIVILEGE');
    await fails(d.setBootDevice('pxe'), 'IB_ERR_BMC_PRIVILEGE');
  });
});

describe('failures', () => {
  test('busy: waits per Retry-After, then succeeds; beyond the tries IB_ERR_BMC_BUSY', async () => {
    const { bmc, driver, clock } = await lab({ busy: 2, retryAfter: '2' });
    assert.equal((await driver().status()).power, 'on');
    assert.deepEqual(clock.sleeps, [2000, 2000]);
    bmc.config.busy = 100;
    const e = await fails(driver().status(), 'IB_ERR_BMC_BUSY');
    assert.match(e.message, /HTTP 503.*temporarily unavailable/);
  });

  test('a BMC that stops answering: IB_ERR_BMC_TIMEOUT after the tries', async () => {
    const { bmc, driver } = await lab({ hang: true });
    const e = await fails(driver({ timeoutMs: 150, retries: 1 }).status(), 'IB_ERR_BMC_TIMEOUT');
    assert.match(e.message, /GET \/redfish\/v1\/: no answer within 150 ms \(2 tries\)/);
    assert.equal(bmc.requests.length, 2);
  });

  test('nothing listening: IB_ERR_BMC_UNREACHABLE', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const { driver } = await lab();
    const e = await fails(driver({ port }).status(), 'IB_ERR_BMC_UNREACHABLE');
    assert.match(e.message, /ECONNREFUSED/);
  });
});

describe('certificates', () => {
  test('self-signed is refused by default, before any request; the message shows the way out', async () => {
    const { bmc, driver } = await lab();
    const e = await fails(driver({ tlsFingerprint: undefined }).status(), 'IB_ERR_BMC_TLS');
    assert.ok(e.message.includes(bmc.fingerprint256), e.message);
    assert.match(e.message, /DEPTH_ZERO_SELF_SIGNED_CERT.*tlsFingerprint.*insecureTls: true/);
    assert.equal(bmc.requests.length, 0);
  });

  test('insecureTls accepts it; a pin accepts it without insecureTls, in any spelling', async () => {
    const { bmc, driver } = await lab();
    assert.equal((await driver({ tlsFingerprint: undefined, insecureTls: true }).status()).power, 'on');
    const plain = bmc.fingerprint256.replaceAll(':', '').toLowerCase();
    assert.equal((await driver({ tlsFingerprint: plain }).status()).power, 'on');
  });

  test('a wrong pin is refused even with insecureTls, naming both fingerprints', async () => {
    const { bmc, driver } = await lab();
    const wrong = 'AA:'.repeat(31) + 'AA';
    for (const insecureTls of [false, true]) {
      const e = await fails(driver({ tlsFingerprint: wrong, insecureTls }).status(), 'IB_ERR_BMC_TLS');
      assert.ok(e.message.includes(bmc.fingerprint256) && e.message.includes(wrong), e.message);
    }
    assert.equal(bmc.requests.length, 0);
    const bad = (() => {
      try {
        driver({ tlsFingerprint: 'not-a-fingerprint' });
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    errors.push(bad);
    assert.ok(isBmcError(bad, 'IB_ERR_BMC_TLS'));
  });

  test('CA verification: trusted with the right name, refused for another name', async () => {
    const good = await lab();
    assert.equal((await good.driver({ tlsFingerprint: undefined }, { ca: good.bmc.certPem }).status()).power, 'on');
    const other = await lab({ san: 'DNS:bmc.invalid' });
    const e = await fails(other.driver({ tlsFingerprint: undefined }, { ca: other.bmc.certPem }).status(), 'IB_ERR_BMC_TLS');
    assert.match(e.message, /ERR_TLS_CERT_ALTNAME_INVALID/);
  });
});

test('no error message, detail or cause carries a password', () => {
  assert.ok(errors.length >= 15, `only ${errors.length} errors collected`);
  for (const e of errors) {
    const text = inspect(e, { depth: 10 }) + JSON.stringify((e as { details?: unknown }).details ?? {});
    for (const secret of [PASSWORD, WRONG, RO_PASSWORD]) assert.ok(!text.includes(secret), `${secret} in ${text}`);
  }
});

// Small parts of BMC control: pacing of power-ons, the overall cap, password references,
// host:port parsing and how IPMI boot flags read as a boot device.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { isBmcError } from '../../daemon/bmc/driver.ts';
import { readPassword, targetOf } from '../../daemon/bmc/index.ts';
import { bootSettingOf } from '../../daemon/bmc/ipmi/driver.ts';
import { Pacer } from '../../daemon/bmc/pacer.ts';
import { splitHostPort } from '../../daemon/cli/bmc.ts';
import { Limiter } from '../../daemon/lib/limiter.ts';

describe('Pacer', () => {
  test('spaces starts by 1/rate in arrival order, and a quiet spell resets it', () => {
    let now = 1000;
    const p = new Pacer(4, () => now);
    assert.deepEqual([p.reserve(), p.reserve(), p.reserve()], [0, 250, 500]);
    now += 100;
    assert.equal(p.reserve(), 650);
    now += 10_000;
    assert.equal(p.reserve(), 0);
  });
  test('refuses a rate of zero', () => assert.throws(() => new Pacer(0), RangeError));
});

describe('Limiter', () => {
  test('never runs more than its size, and runs everything', async () => {
    const l = new Limiter(3);
    let running = 0;
    let peak = 0;
    const done = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        l.run(async () => {
          running++;
          peak = Math.max(peak, running);
          await new Promise((r) => setImmediate(r));
          running--;
          return i;
        }),
      ),
    );
    assert.equal(peak, 3);
    assert.deepEqual(done, Array.from({ length: 20 }, (_, i) => i));
  });
  test('a failing task frees its slot', async () => {
    const l = new Limiter(1);
    await assert.rejects(l.run(() => Promise.reject(new Error('x'))));
    assert.equal(await l.run(() => Promise.resolve(7)), 7);
  });
});

describe('BMC passwords', () => {
  test('passwordFile relative to the inventory folder, one trailing newline dropped; passwordEnv', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ironbay-pw-'));
    try {
      writeFileSync(join(dir, 'pw'), 's3cret \n');
      assert.equal(readPassword({ passwordFile: 'pw' }, 'bmc', dir), 's3cret ');
      assert.equal(readPassword({ passwordEnv: 'BMC_PW' }, 'bmc', dir, { BMC_PW: 'x\ny' }), 'x\ny');
      const t = targetOf({ driver: 'redfish', address: '192.0.2.4', username: 'root', passwordFile: join(dir, 'pw'), tlsFingerprint: 'ab'.repeat(32) }, '/');
      assert.deepEqual([t.port, t.password, t.tlsFingerprint], [443, 's3cret ', 'ab'.repeat(32)]);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
  test('a missing file or variable is a BMC error naming it, never a value', () => {
    assert.throws(() => readPassword({ passwordFile: '/nonexistent/pw' }, '192.0.2.1:623', '/'), (e) => isBmcError(e, 'IB_ERR_BMC_AUTH') && e.message.includes('/nonexistent/pw') && e.message.includes('ENOENT'));
    assert.throws(() => readPassword({ passwordEnv: 'NOPE_PW' }, '192.0.2.1:623', '/', {}), (e) => isBmcError(e, 'IB_ERR_BMC_AUTH') && e.message.includes('NOPE_PW'));
  });
});

describe('splitHostPort', () => {
  test('host, host:port, [v6]:port and a bare v6 address', () => {
    assert.deepEqual(splitHostPort('192.0.2.1', 623), { host: '192.0.2.1', port: 623 });
    assert.deepEqual(splitHostPort('bmc-1:6230', 623), { host: 'bmc-1', port: 6230 });
    assert.deepEqual(splitHostPort('[2001:db8::1]:443', 623), { host: '2001:db8::1', port: 443 });
    assert.deepEqual(splitHostPort('2001:db8::1', 623), { host: '2001:db8::1', port: 623 });
  });
});

describe('IPMI boot flags as a boot device', () => {
  test('selector read as ipmitool shows it; flags kept; raw text says what the BMC said', () => {
    assert.deepEqual(bootSettingOf({ valid: true, persistent: false, efi: true, selector: 1 }), { device: 'pxe', persistent: false, efi: true, raw: 'pxe, efi' });
    assert.equal(bootSettingOf({ valid: false, persistent: false, efi: false, selector: 1 }).raw, 'pxe (flags not valid)');
    assert.equal(bootSettingOf({ valid: true, persistent: true, efi: false, selector: 3 }).device, 'disk');
    assert.equal(bootSettingOf({ valid: true, persistent: false, efi: false, selector: 5 }).device, 'other');
    assert.equal(bootSettingOf({ valid: true, persistent: false, efi: false, selector: 0 }).device, 'none');
  });
});

// Suite 17 (RAKP-HMAC-SHA256, HMAC-SHA256-128, AES-CBC-128) checked against ipmitool's own
// arithmetic, live. ipmi_sim has no SHA-256, so ipmitool talks to the in-repo test BMC through
// a recording relay; the recorded session then goes through the same known-answer check as the
// captured ipmi_sim fixtures: ipmitool's RAKP 3 code and every AuthCode ipmitool computed must
// be what ironbay's codec computes from the same exchange. The session is also written as a
// fixture, so the unit tests carry a suite-17 known answer too (test/fixtures/ipmi).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { verifySession, type CapturedSession } from '../helpers/ipmi-kat.ts';
import { startTestBmc, type TestBmc } from '../helpers/ipmi-test-bmc.ts';
import { run } from '../helpers/run.ts';
import { startLossyProxy, type LossyProxy } from '../helpers/udp-lossy-proxy.ts';

const USER = 'ironbay';
const PASSWORD = 'Fixture-pass-17';

describe('suite 17 against ipmitool', () => {
  let bmc: TestBmc;
  let relay: LossyProxy;
  before(async () => {
    bmc = await startTestBmc({ users: [{ name: USER, password: PASSWORD, privilege: 4 }], suites: [17], power: 'on' });
    relay = await startLossyProxy({ host: bmc.host, port: bmc.port }, 0);
  });
  after(async () => {
    await relay.close();
    await bmc.stop();
  });

  test('ipmitool -C 17 chassis power status: every code ipmitool made is the one ironbay computes', async () => {
    const r = await run('ipmitool', ['-I', 'lanplus', '-C', '17', '-H', '127.0.0.1', '-p', String(relay.port), '-U', USER, '-E', 'chassis', 'power', 'status'], { env: { IPMI_PASSWORD: PASSWORD } });
    assert.match(r.stdout, /Chassis Power is on/, r.stderr);
    const session: CapturedSession = { tool: 'ipmitool 1.8.19 -I lanplus -C 17', cipherSuite: 17, username: USER, password: PASSWORD, packets: relay.recorded };
    assert.ok(verifySession(session) >= 4);
  });

  test('the committed suite-17 fixture passes the same check', () => {
    const f = JSON.parse(readFileSync(new URL('../fixtures/ipmi/ipmitool-c17-test-bmc-power-status.json', import.meta.url), 'utf8')) as CapturedSession;
    assert.equal(f.cipherSuite, 17);
    assert.ok(verifySession(f) >= 4);
  });
});

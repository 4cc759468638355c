// The boot network's HTTP app through app.inject(): scripts per machine state, phone-home
// tokens, asset refusals, and the timeline as the operator API serves it.
import assert from 'node:assert/strict';
import { seedKey } from '../../daemon/boot/seed.ts';
import { tokenHash } from '../../daemon/boot/sessions.ts';
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { bootAssets, IPXE_ROOT } from '../../daemon/boot/assets.ts';
import { buildBootApp, type BootApp } from '../../daemon/boot/http-app.ts';
import { REJECT_EVENTS_PER_MINUTE } from '../../daemon/boot/routes/report.ts';
import { parseConfig } from '../../daemon/config/load.ts';
import { listEvents } from '../../daemon/store/events.ts';
import { auth, testApp, type TestApp } from '../helpers/app.ts';

export const BOOT_INVENTORY = `networks:
  boot:
    - { name: boot, subnet: 198.51.100.0/24, pool: { start: 198.51.100.200, end: 198.51.100.250 } }
profiles:
  - { name: debian12, kernel: debian12/vmlinuz, initrd: [debian12/initrd.gz, debian12/firmware.cpio], cmdline: "auto=true priority=critical", install: { method: image, image: debian12.img } }
  - { name: rescue, kernel: rescue/vmlinuz, initrd: [], install: { method: live } }
  - { name: unsafe, kernel: debian12/vmlinuz, initrd: [], cmdline: "quiet || shell" }
  - { name: missing, kernel: nowhere/vmlinuz, initrd: [] }
machines:
  - { name: w-000, macs: ["52:54:00:00:10:00"], role: worker, profile: debian12 }
  - { name: w-001, macs: ["52:54:00:00:10:01"], role: worker, profile: rescue }
  - { name: w-002, macs: ["52:54:00:00:10:02"], role: worker, profile: unsafe }
  - { name: w-003, macs: ["52:54:00:00:10:03"], role: worker, profile: missing }
  - { name: w-004, macs: ["52:54:00:00:10:04"], role: worker, profile: debian12, labels: { uuid: 4C4C4544-0042-3510-8051-B7C04F4E3732 } }
  - { name: w-005, macs: ["52:54:00:00:10:05"], role: worker }
`;

describe('boot HTTP app', () => {
  let t: TestApp;
  let boot: BootApp;
  let assetsDir: string;

  const setState = (name: string, state: string): void => void t.store.db.prepare('UPDATE machines SET state = ? WHERE name = ?').run(state, name);
  const script = async (query: string): Promise<{ status: number; body: string }> => {
    const r = await boot.inject({ url: `/boot/ipxe?${query}` });
    return { status: r.statusCode, body: r.body };
  };
  const tokenOf = (body: string): string => /ironbay\.token=(\S+)/.exec(body)![1]!;
  const report = (payload: object | string, headers: Record<string, string> = {}) => boot.inject({ method: 'POST', url: '/api/v1/boot/report', payload, headers });
  const events = (kind: string, machine?: string) => listEvents(t.store, { kind, ...(machine && { machine }), limit: 1000 });

  before(async () => {
    t = await testApp(BOOT_INVENTORY);
    assetsDir = join(dirname(t.store.path), 'assets');
    for (const [f, n] of [['debian12/vmlinuz', 4096], ['debian12/initrd.gz', 8192], ['debian12/firmware.cpio', 512], ['rescue/vmlinuz', 100]] as const) {
      mkdirSync(dirname(join(assetsDir, f)), { recursive: true });
      writeFileSync(join(assetsDir, f), Buffer.alloc(n, 7));
    }
    writeFileSync(join(dirname(t.store.path), 'secret'), 'outside the assets');
    symlinkSync(join(dirname(t.store.path), 'secret'), join(assetsDir, 'escape'));
    const cfg = parseConfig('/test/ironbay.yaml', `dataDir: ${dirname(t.store.path)}\n`);
    if (!cfg.ok) throw new Error('config');
    boot = await buildBootApp({ config: cfg.config, store: t.store, log: pino({ level: 'silent' }), assets: bootAssets([IPXE_ROOT, assetsDir]), advertise: 'http://198.51.100.1:8080/' });
  });
  after(async () => {
    await boot.close();
    await t.close();
  });

  describe('scripts', () => {
    test('a registered machine gets its installer: kernel, initrds by name, profile cmdline, then the phone-home arguments', async () => {
      const r = await script('mac=52:54:00:00:10:00');
      assert.equal(r.status, 200);
      const bootId = events('boot.script', 'w-000').at(-1)!.details.bootId as number;
      const token = tokenOf(r.body);
      assert.match(token, /^ibb_[A-Za-z0-9_-]{43}$/);
      assert.ok(r.body.startsWith('#!ipxe\n'));
      const lines = r.body.split('\n');
      assert.ok(
        lines.includes(
          `kernel http://198.51.100.1:8080/boot/assets/debian12/vmlinuz?boot=${bootId}&stage=kernel initrd=initrd0 initrd=initrd1 auto=true priority=critical ` +
            `ironbay.url=http://198.51.100.1:8080/api/v1/boot/report ironbay.token=${token} ironbay.boot=${bootId} ironbay.machine=w-000 ` +
            `ironbay.image=http://198.51.100.1:8080/boot/assets/debian12.img?boot=${bootId}&stage=image ironbay.config=http://198.51.100.1:8080/boot/config/${bootId}/${seedKey(tokenHash(token))} || goto failed`,
        ),
        r.body,
      );
      assert.ok(lines.includes(`initrd --name initrd0 http://198.51.100.1:8080/boot/assets/debian12/initrd.gz?boot=${bootId}&stage=initrd || goto failed`));
      assert.ok(lines.includes(`initrd --name initrd1 http://198.51.100.1:8080/boot/assets/debian12/firmware.cpio?boot=${bootId}&stage=initrd || goto failed`));
      assert.ok(lines.includes('boot || goto failed'));
      assert.equal(t.store.db.prepare('SELECT token_hash IS NOT NULL FROM boot_sessions WHERE id = ?').pluck().get(bootId), 1);
      assert.ok(!JSON.stringify(t.store.db.prepare('SELECT * FROM boot_sessions').all()).includes(token), 'the token itself is never stored');
    });

    test('the config URL on the command line serves this machine\'s seed; a guessed key gets 404', async () => {
      const r = await script('mac=52:54:00:00:10:00');
      const url = /ironbay\.config=http:\/\/198\.51\.100\.1:8080(\S+)/.exec(r.body)![1]!;
      const env = await boot.inject({ method: 'GET', url: `${url}/ironbay.env` });
      assert.equal(env.statusCode, 200);
      assert.match(env.body, /^IRONBAY_HOSTNAME='w-000'$/m);
      const meta = await boot.inject({ method: 'GET', url: `${url}/meta-data` });
      assert.match(meta.body, /local-hostname: "w-000"/);
      const guessed = url.replace(/\/[0-9a-f]{32}$/, `/${'0'.repeat(32)}`);
      assert.equal((await boot.inject({ method: 'GET', url: `${guessed}/ironbay.env` })).statusCode, 404);
      assert.equal((await boot.inject({ method: 'GET', url: `${url}/passwd` })).statusCode, 400);
    });

    test('MAC spellings iPXE can send (${net0/mac:hexhyp}) find the same machine', async () => {
      assert.match((await script('mac=52-54-00-00-10-00')).body, /ironbay\.machine=w-000/);
    });

    test('an installed, rebooting, ready or maintenance machine with an image profile boots its disk: exit, no token', async () => {
      for (const state of ['installed', 'rebooting', 'ready', 'maintenance']) {
        setState('w-000', state);
        const r = await script('mac=52:54:00:00:10:00');
        assert.match(r.body, new RegExp(`^echo ironbay: w-000 boots from its local disk \\(w-000 is ${state}, boot \\d+\\)\\nexit\\n`, 'm'));
        assert.doesNotMatch(r.body, /ironbay\.token|kernel /);
      }
      setState('w-000', 'registered');
    });

    test('a live profile gets its kernel even when the machine is ready', async () => {
      setState('w-001', 'ready');
      const r = await script('mac=52:54:00:00:10:01');
      assert.match(r.body, /^kernel http:\/\/198\.51\.100\.1:8080\/boot\/assets\/rescue\/vmlinuz\?boot=\d+&stage=kernel {2}ironbay\.url=/m);
      assert.match(r.body, /^echo ironbay: live w-001 with profile rescue/m);
    });

    test('found by SMBIOS UUID (label or observed) when the MAC is unknown or unset', async () => {
      const r = await script('mac=&uuid=4c4c4544-0042-3510-8051-b7c04f4e3732');
      assert.match(r.body, /ironbay\.machine=w-004/);
      t.store.db.prepare(`UPDATE machines SET observed = json_object('serial', 'CZJ1234ABC') WHERE name = 'w-005'`).run();
      assert.match((await script('serial=czj1234abc')).body, /w-005 is not booted over the network: w-005 has no profile/);
    });

    test('an unknown machine without a discovery image is held: the reason, a pause, exit 1; no session', async () => {
      const before = t.store.db.prepare('SELECT count(*) FROM boot_sessions').pluck().get();
      const r = await script('mac=02:00:00:00:00:01');
      assert.equal(r.status, 200);
      assert.equal(
        r.body.split('\n').filter((l) => !l.startsWith('#')).join('\n'),
        'echo ironbay: 02:00:00:00:00:01 is not booted over the network: this machine is not in the inventory; no discovery image (discovery/vmlinuz, discovery/initrd.img) in the boot assets\n' +
          'echo ironbay: leaving network boot in 30 seconds\nsleep 30\nexit 1\n',
      );
      assert.equal(t.store.db.prepare('SELECT count(*) FROM boot_sessions').pluck().get(), before);
    });

    test('with a discovery image, unknown machines and machines without a profile boot it', async () => {
      mkdirSync(join(assetsDir, 'discovery'), { recursive: true });
      writeFileSync(join(assetsDir, 'discovery/vmlinuz'), 'k');
      writeFileSync(join(assetsDir, 'discovery/initrd.img'), 'i');
      try {
        const unknown = await script('mac=02:00:00:00:00:02');
        assert.match(unknown.body, /^kernel http:\/\/198\.51\.100\.1:8080\/boot\/assets\/discovery\/vmlinuz initrd=initrd0 ironbay\.url=\S+ ironbay\.machine=02:00:00:00:00:02 ironbay\.mode=discovery \|\| goto failed$/m);
        const known = await script('mac=52:54:00:00:10:05');
        assert.match(known.body, /ironbay\.token=ibb_\S+ ironbay\.boot=\d+ ironbay\.machine=w-005 ironbay\.mode=discovery/);
      } finally {
        rmSync(join(assetsDir, 'discovery'), { recursive: true }); // later tests expect no discovery image
      }
    });

    test('a profile whose kernel is not in the assets is held with the missing file named', async () => {
      const r = await script('mac=52:54:00:00:10:03');
      assert.match(r.body, /w-003 is not booted over the network: nowhere\/vmlinuz is not in the boot assets/);
    });

    test('a cmdline iPXE would read as an operator is a 500 with the reason and an event, never a script', async () => {
      const r = await script('mac=52:54:00:00:10:02');
      assert.equal(r.status, 500);
      assert.match(r.body, /cannot render the iPXE script for w-002: profile unsafe cmdline: argument "\|\|" cannot be put in an iPXE script: it is the iPXE operator "\|\|"/);
      assert.equal(events('boot.script-failed', 'w-002').length, 1);
    });
  });

  describe('phone-home', () => {
    test('progress, then installed: accepted, recorded as stages and one event; the token is then spent (409)', async () => {
      const token = tokenOf((await script('mac=52:54:00:00:10:00')).body);
      const p = await report({ token, status: 'progress', message: 'partitioning' });
      assert.equal(p.statusCode, 200, p.body);
      assert.equal(p.json<{ machine: string }>().machine, 'w-000');
      const done = await report(`token=${encodeURIComponent(token)}&status=installed&machine=w-000`, { 'content-type': 'application/x-www-form-urlencoded' });
      assert.equal(done.statusCode, 200, done.body);
      assert.equal(events('boot.installed', 'w-000').length, 1);
      const again = await report({ token, status: 'installed' });
      assert.equal(again.statusCode, 409);
      assert.equal(again.json<{ code: string }>().code, 'IB_ERR_CONFLICT');
      const rejected = events('boot.report-rejected', 'w-000').at(-1)!;
      assert.equal(rejected.details.reason, 'replayed');
    });

    test('a newer boot supersedes the token (409); the new one works, also as a Bearer header', async () => {
      const old = tokenOf((await script('mac=52:54:00:00:10:00')).body);
      const fresh = tokenOf((await script('mac=52:54:00:00:10:00')).body);
      const r = await report({ token: old, status: 'progress' });
      assert.equal(r.statusCode, 409);
      assert.match(r.json<{ message: string }>().message, /a newer boot of the machine replaced this token/);
      assert.equal(events('boot.report-rejected', 'w-000').at(-1)!.details.reason, 'superseded');
      assert.equal((await report({ status: 'progress' }, { authorization: `Bearer ${fresh}` })).statusCode, 200);
    });

    test('a wrong token, another machine\'s token, or none: 401, recorded with the client address', async () => {
      const token = tokenOf((await script('mac=52:54:00:00:10:00')).body);
      const wrong = await report({ token: 'ibb_' + 'A'.repeat(43), status: 'installed' });
      assert.equal(wrong.statusCode, 401);
      assert.equal(wrong.json<{ code: string }>().code, 'IB_ERR_AUTH_INVALID');
      const mismatch = await report({ token, machine: 'w-001', status: 'installed' });
      assert.equal(mismatch.statusCode, 401);
      assert.equal((await report({ status: 'installed' })).statusCode, 401);
      const rej = events('boot.report-rejected').slice(-3).map((e) => [e.details.reason, e.machine, e.actor]);
      assert.deepEqual(rej, [
        ['unknown-token', null, 'boot-client:127.0.0.1'],
        ['machine-mismatch', 'w-000', 'boot-client:127.0.0.1'],
        ['missing-token', null, 'boot-client:127.0.0.1'],
      ]);
      assert.equal((await report({ token, status: 'progress' })).statusCode, 200, 'refusals do not spend the token');
    });

    test('a client looping on a bad token cannot fill the event log', async () => {
      const before = events('boot.report-rejected').length;
      for (let i = 0; i < REJECT_EVENTS_PER_MINUTE + 20; i++) assert.equal((await report({ token: 'bad', status: 'progress' })).statusCode, 401);
      assert.ok(events('boot.report-rejected').length - before <= REJECT_EVENTS_PER_MINUTE);
    });

    test('the body the test initrd sends (test/helpers/initrd.ts: stage, mac, ip) is understood', async () => {
      setState('w-004', 'installing');
      const token = tokenOf((await script('mac=52:54:00:00:10:04')).body);
      const r = await report({ token, machine: 'w-004', stage: 'installed', mac: '52:54:00:00:10:04', ip: '198.51.100.201' });
      assert.equal(r.statusCode, 200, r.body);
      assert.equal(events('boot.installed', 'w-004').at(-1)!.details.message, '(mac 52:54:00:00:10:04, ip 198.51.100.201)');
      assert.equal((await report({ token: 'x' })).statusCode, 400, 'no status at all');
    });

    test('an unknown status or field is a 400', async () => {
      assert.equal((await report({ token: 'x', status: 'done' })).statusCode, 400);
      assert.equal((await report({ token: 'x', status: 'progress', extra: 1 })).statusCode, 400);
    });
  });

  describe('assets', () => {
    test('paths that could never be a file under a root are 400; symlinks out of a root and missing files 404', async () => {
      for (const url of ['/boot/assets/..%2F..%2Fetc%2Fpasswd', '/boot/assets/debian12/..%2F..%2Fsecret', '/boot/assets/a%00b']) {
        assert.equal((await boot.inject({ url })).statusCode, 400, url);
      }
      assert.equal((await boot.inject({ url: '/boot/assets/escape' })).statusCode, 404);
      assert.equal((await boot.inject({ url: '/boot/assets/debian12/none' })).statusCode, 404);
      assert.equal((await boot.inject({ url: '/boot/assets/debian12' })).statusCode, 404, 'a directory is not a file');
    });

    test('iPXE binaries come from pxe-assets/ipxe, before the operator assets', async () => {
      const r = await boot.inject({ url: '/boot/assets/undionly.kpxe' });
      assert.equal(r.statusCode, 200);
      assert.equal(r.headers['content-length'], String(r.rawPayload.length));
    });

    test('HEAD: the length without the body', async () => {
      const r = await boot.inject({ method: 'HEAD', url: '/boot/assets/debian12/initrd.gz' });
      assert.equal(r.statusCode, 200);
      assert.equal(r.headers['content-length'], '8192');
      assert.equal(r.headers['accept-ranges'], 'bytes');
      assert.equal(r.rawPayload.length, 0);
    });

    test('the operator API is not on the boot network', async () => {
      assert.equal((await boot.inject({ url: '/api/v1/machines' })).statusCode, 404);
    });
  });

  describe('timeline in the operator API', () => {
    test('GET /api/v1/machines/:name/boot: the last boot with its session and stages relative to the first', async () => {
      setState('w-004', 'installing');
      const token = tokenOf((await script('mac=52:54:00:00:10:04')).body);
      const bootId = events('boot.script', 'w-004').at(-1)!.details.bootId as number;
      assert.equal((await boot.inject({ url: `/boot/assets/debian12/vmlinuz?boot=${bootId}&stage=kernel` })).statusCode, 200);
      assert.equal((await boot.inject({ url: `/boot/assets/debian12/initrd.gz?boot=${bootId}&stage=initrd` })).statusCode, 200);
      assert.equal((await report({ token, status: 'installed', message: 'debian 12 on /dev/sda' })).statusCode, 200);
      const r = await t.app.inject({ url: '/api/v1/machines/w-004/boot', headers: auth(t.tokens.viewer) });
      assert.equal(r.statusCode, 200, r.body);
      const tl = r.json<{ bootId: number; session: { action: string; endReason: string }; entries: { stage: string; detail: string; offsetMs: number }[] }>();
      assert.equal(tl.bootId, bootId);
      assert.equal(tl.session.action, 'install');
      assert.equal(tl.session.endReason, 'installed');
      assert.deepEqual(
        tl.entries.map((e) => [e.stage, e.detail]),
        [
          ['script', 'install: profile debian12'],
          ['kernel', 'debian12/vmlinuz 4096 B'],
          ['initrd', 'debian12/initrd.gz 8192 B'],
          ['report', 'installed: debian 12 on /dev/sda'],
        ],
      );
      assert.equal(tl.entries[0]!.offsetMs, 0);
      assert.equal((await t.app.inject({ url: '/api/v1/machines/nope/boot', headers: auth(t.tokens.viewer) })).statusCode, 404);
      assert.equal((await t.app.inject({ url: '/api/v1/machines/w-004/boot' })).statusCode, 401);
    });
  });
});

// The lifecycle's post-install runbook against sshd: a machine that answers on SSH after its
// install is ready only once the configured runbook succeeded on it; a failing runbook fails the
// machine with the run named; the host key pinned for the previous system is forgotten (ironbay
// installed the new one). BMC and boot signals are fakes; SSH, the runner and the store are real.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { LifecycleActions } from '../../daemon/lifecycle/actions.ts';
import { runbookPostInstall } from '../../daemon/lifecycle/post-install.ts';
import type { BootSeen } from '../../daemon/lifecycle/ports.ts';
import { Reconciler } from '../../daemon/lifecycle/reconciler.ts';
import { listEvents } from '../../daemon/store/events.ts';
import { getMachine, type MachineState } from '../../daemon/store/machines.ts';
import { getHostKey } from '../../daemon/ssh/hostkeys.ts';
import { testApp, type TestApp } from '../helpers/app.ts';
import { loopbackInventory, startSshdFleet, type Sshd } from '../helpers/sshd.ts';

let t: TestApp;
let fleet: { servers: Sshd[]; stop(): Promise<void> };
let rec: Reconciler;

before(async () => {
  t = await testApp('machines: []\n', 'ssh:\n  runbooks: rb\n');
  mkdirSync(join(t.dir, 'rb'));
  writeFileSync(
    join(t.dir, 'rb', 'post.yaml'),
    `name: post
description: marks the machine
parameters:
  mark: { type: string, required: true }
steps:
  - name: refuse on request
    run: test ! -e ${join(t.dir, 'refuse-')}$(set -- $SSH_CONNECTION; echo $3)
  - name: mark
    run: echo \${mark}
`,
  );
  fleet = await startSshdFleet(2, { authorizedKeys: [t.runbooks.publicKey().publicKey], host: (i) => `127.0.4.${i + 1}` });
  t.writeInventory(
    loopbackInventory(fleet.servers, (i) => ({ name: `p${i}`, fields: 'role: kvm-host, profile: p' }), 'profiles: [{ name: p, kernel: k, initrd: [i], install: { method: image, image: d.img } }]\n'),
  );
  await t.inventory.reload('test');
  const ids = new Map((t.store.db.prepare('SELECT id, name FROM machines').all() as { id: number; name: string }[]).map((r) => [r.id, r.name]));
  rec = new Reconciler({
    store: t.store,
    log: pino({ level: 'silent' }),
    installMethod: () => 'image',
    power: { pxeCycle: async () => undefined, diskCycle: async () => undefined, off: async () => undefined },
    // Every boot goes straight through (DHCP, PXE, installer, installed); once the machine runs
    // its installed system, no network boot is seen (that would be a boot loop).
    signals: {
      since: (id): BootSeen => {
        const booted = ['rebooting', 'ready'].includes(getMachine(t.store, ids.get(id)!)!.state);
        return { dhcp: !booted, pxe: !booted, installer: !booted, installed: !booted };
      },
    },
    reach: { reachable: async () => ({ ok: true, detail: 'SSH-2.0-OpenSSH' }) },
    postInstall: runbookPostInstall(t.store, t.runbooks, { name: 'post', params: { mark: 'from-lifecycle' } }),
    timing: { dhcpTimeoutMs: 60_000, pxeTimeoutMs: 60_000, installTimeoutMs: 60_000, productionTimeoutMs: 60_000, attempts: 2, pollMs: 50, bmcBackoffMs: 1000, readyCheckMs: 60_000 },
    maxPowerCycling: 10,
    maxInstalling: 10,
    tickMs: 20,
  });
  rec.start();
});

after(async () => {
  await rec?.stop();
  await fleet?.stop();
  await t?.close();
});

async function until(name: string, states: MachineState[]): Promise<MachineState> {
  for (let i = 0; i < 400; i++) {
    const s = getMachine(t.store, name)!.state;
    if (states.includes(s)) return s;
    rec.nudge();
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${name} stuck in ${getMachine(t.store, name)!.state}`);
}

test('ready only after the post-install runbook succeeded on the machine; a stale host-key pin is forgotten', async () => {
  // A pin from "the previous system": an old key that the reinstalled host no longer has.
  t.store.db
    .prepare("INSERT INTO ssh_host_keys (kind, name, key_type, key, fingerprint, address, pinned_at, pinned_by, last_seen_at) VALUES ('machine', 'p0', 'ssh-ed25519', 'AAAA', 'SHA256:old', 'x', 1, 'test', 1)")
    .run();
  new LifecycleActions(t.store).provision(['p0'], 'token:op');
  assert.equal(await until('p0', ['ready', 'failed']), 'ready', getMachine(t.store, 'p0')!.stateReason ?? '');
  const m = getMachine(t.store, 'p0')!;
  assert.match(m.stateReason!, /^reachable: SSH-2\.0-OpenSSH; post-install runbook post \(run (\d+)\) succeeded$/);
  const runId = Number(/run (\d+)/.exec(m.stateReason!)![1]);
  const run = t.runbooks.runs.get(runId)!;
  assert.equal(run.actor, 'lifecycle');
  assert.equal(run.machineRuns[0]!.steps[1]!.stdout, 'from-lifecycle\n');
  assert.equal(getHostKey(t.store, 'machine', 'p0')?.fingerprint, fleet.servers[0]!.hostKeyFingerprint(), 'the new key is pinned in place of the stale one');
  const kinds = listEvents(t.store, { machine: 'p0' }).map((e) => e.kind);
  assert.ok(kinds.includes('ssh.hostkey.forgotten') && kinds.indexOf('ssh.hostkey.forgotten') < kinds.indexOf('ssh.hostkey.pinned'));
  assert.ok(!kinds.includes('ssh.hostkey.mismatch'));
});

test('a failing post-install runbook fails the machine, naming the run', async () => {
  writeFileSync(join(t.dir, `refuse-${fleet.servers[1]!.host}`), '');
  new LifecycleActions(t.store).provision(['p1'], 'token:op');
  assert.equal(await until('p1', ['ready', 'failed']), 'failed');
  assert.match(getMachine(t.store, 'p1')!.stateReason!, /^post-install runbook post failed \(run \d+\): 1 of 1 machines failed; see: ironbay runbook show \d+$/);
});

// Runbooks through a jump host (ssh2 forwardOut, what `ssh -J` does), against OpenSSH's sshd in
// a network namespace:
//
//   root namespace (the test, ironbay)               namespace <prefix>-hid
//   <prefix>r 198.18.X.1/24  ── veth ──  <prefix>n 198.18.X.2/24   jump sshd "bastion" :22
//                                        lo 198.19.X.10/32  target A :2201
//                                           198.19.X.11/32  target B :2202
//                                           198.19.X.12/32  nothing listens
//                                           198.19.X.13/32  target A again :2201
//
// The root namespace has a default route (the sandbox's uplink), so "no route" to 198.19.X.0/24
// is made explicit: an unreachable route per hidden address for the test's duration, so that a
// direct attempt fails at once (EHOSTUNREACH) and no packet leaves for the uplink.
//
// Machines: m-a (no jump of its own: the configuration's default ssh.jump), m-b (jump: bastion),
// m-direct (jump: none, the same sshd as m-a on another address: unreachable from here) and
// m-wrong (jump: bastion, a port where nothing listens).
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { connect } from '../../daemon/ssh/connection.ts';
import { isIronbayError } from '../../daemon/errors.ts';
import { getMachine } from '../../daemon/store/machines.ts';
import { auth, testApp, type TestApp } from '../helpers/app.ts';
import { Netns } from '../helpers/netns.ts';
import { run } from '../helpers/run.ts';
import { startSshd, type Sshd } from '../helpers/sshd.ts';

const lab = new Netns('jmp');
let ns = '';
let t: TestApp | undefined;
let jump: Sshd | undefined;
let targetA: Sshd | undefined;
let targetB: Sshd | undefined;
/** Unreachable routes added to the root namespace (removed in cleanup). */
const routes: string[] = [];

let X = 0;
const rootAddr = (): string => `198.18.${X}.1`;
const jumpAddr = (): string => `198.18.${X}.2`;
const hidden = (last: number): string => `198.19.${X}.${last}`;
const PORT_A = 2201;
const PORT_B = 2202;
const PORT_NONE = 19999;

async function ip(args: string[]): Promise<void> {
  const r = await run('ip', args);
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim() || `exit ${String(r.code)}`}`);
}

/** A third octet whose 198.18.X.0/24 and 198.19.X.0/24 the root namespace routes nowhere yet. */
async function freeOctet(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const x = 64 + Math.floor(Math.random() * 190);
    const [a, b] = await Promise.all([run('ip', ['-4', 'route', 'show', 'root', `198.18.${x}.0/24`]), run('ip', ['-4', 'route', 'show', 'root', `198.19.${x}.0/24`])]);
    if (a.code === 0 && b.code === 0 && !a.stdout.trim() && !b.stdout.trim()) return x;
  }
  throw new Error('no free 198.18.X.0/24 and 198.19.X.0/24 pair in the root namespace');
}

async function carrier(nsName: string | undefined, dev: string): Promise<void> {
  for (let i = 0; i < 60; i++) {
    const r = nsName ? await run('ip', ['netns', 'exec', nsName, 'cat', `/sys/class/net/${dev}/carrier`]) : await run('cat', [`/sys/class/net/${dev}/carrier`]);
    if (r.stdout.trim() === '1') return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${dev}: no carrier`);
}

function inventory(): string {
  const m = (name: string, i: number, last: number, ssh: string): string => `  - name: ${name}
    macs: ["52:54:00:00:77:0${i}"]
    role: worker
    production: { address: ${hidden(last)}/24 }
    ssh: ${ssh}
`;
  return `networks:
  production:
    - { name: hidden, subnet: 198.19.${X}.0/24 }
machines:
${m('m-a', 1, 10, `{ port: ${PORT_A} }`)}${m('m-b', 2, 11, `{ port: ${PORT_B}, jump: bastion }`)}${m('m-wrong', 3, 12, `{ port: ${PORT_NONE}, jump: bastion }`)}${m('m-direct', 4, 13, `{ port: ${PORT_A}, jump: none }`)}`;
}

async function cleanup(): Promise<void> {
  try {
    await t?.close();
  } finally {
    t = undefined;
    await Promise.all([jump?.stop(), targetA?.stop(), targetB?.stop()]);
    for (const r of routes.splice(0)) await run('ip', ['route', 'del', 'unreachable', r]);
    // The namespace takes the veth pair (root end included) with it.
    await lab.dispose();
  }
}

before(async () => {
  try {
    X = await freeOctet();
    ns = await lab.add('hid');
    const rootIf = `${lab.prefix}r`;
    const nsIf = `${lab.prefix}n`;
    await ip(['link', 'add', rootIf, 'type', 'veth', 'peer', 'name', nsIf, 'netns', ns]);
    await ip(['addr', 'add', `${rootAddr()}/24`, 'dev', rootIf]);
    await ip(['link', 'set', rootIf, 'up']);
    await lab.exec(ns, 'ip', ['addr', 'add', `${jumpAddr()}/24`, 'dev', nsIf]);
    await lab.exec(ns, 'ip', ['link', 'set', nsIf, 'up']);
    // Loopback (up since Netns.add): this kernel has no dummy device type.
    for (const last of [10, 11, 12, 13]) await lab.exec(ns, 'ip', ['addr', 'add', `${hidden(last)}/32`, 'dev', 'lo']);
    await Promise.all([carrier(undefined, rootIf), carrier(ns, nsIf)]);
    for (const last of [10, 11, 12, 13]) {
      await ip(['route', 'add', 'unreachable', `${hidden(last)}/32`]);
      routes.push(`${hidden(last)}/32`);
    }

    // The servers first (no key yet), then the app (whose key is made at open), then the key.
    // Each kept as soon as it runs, so that cleanup stops it whichever other fails to start.
    await Promise.all([
      startSshd({ authorizedKeys: [], netns: ns, host: jumpAddr(), port: 22 }).then((s) => (jump = s)),
      startSshd({ authorizedKeys: [], netns: ns, host: hidden(10), port: PORT_A, extraConfig: [`ListenAddress ${hidden(13)}:${PORT_A}`] }).then((s) => (targetA = s)),
      startSshd({ authorizedKeys: [], netns: ns, host: hidden(11), port: PORT_B }).then((s) => (targetB = s)),
    ]);
    t = await testApp(
      'machines: []\n',
      `ssh:
  runbooks: RBDIR
  connectTimeoutMs: 2000
  jump: bastion
  jumpHosts:
    - { name: bastion, host: ${jumpAddr()}, port: 22 }
`,
    );
    for (const s of [jump!, targetA!, targetB!]) writeFileSync(join(s.dir, 'authorized_keys'), `${t.runbooks.publicKey().publicKey}\n`, { mode: 0o600 });
    mkdirSync(join(t.dir, 'RBDIR'));
    writeFileSync(
      join(t.dir, 'RBDIR', 'where.yaml'),
      `name: where
description: where the session is, and where it comes from
steps:
  - name: connection
    run: echo "$SSH_CONNECTION"
  - name: addresses
    run: ip -o -4 addr show dev lo
`,
    );
    t.writeInventory(inventory());
    await t.inventory.reload('test');
    t.store.db.prepare("UPDATE machines SET state = 'ready'").run();
  } catch (e) {
    await cleanup();
    throw e;
  }
});

after(cleanup);

function app(): TestApp {
  assert.ok(t, 'the app is set up');
  return t;
}

async function get(url: string): Promise<Record<string, unknown>> {
  const r = await app().app.inject({ method: 'GET', url, headers: auth(app().tokens.viewer) });
  assert.equal(r.statusCode, 200, r.body);
  return r.json();
}

async function post(url: string, body: Record<string, unknown>): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await app().app.inject({ method: 'POST', url, headers: auth(app().tokens.operator), payload: body });
  return { status: r.statusCode, json: r.json() };
}

interface RunDetail {
  id: number;
  state: string;
  error: string | null;
  machineRuns: { machine: string; state: string; error: string | null; steps: { idx: number; name: string; state: string; exitCode: number | null; stdout: string; stderr: string }[] }[];
}

async function runToEnd(names: string[]): Promise<RunDetail> {
  const r = await post('/api/v1/runbooks/where/runs', { target: { names }, parallel: names.length });
  assert.equal(r.status, 202, JSON.stringify(r.json));
  const id = r.json.id as number;
  await app().runbooks.settled(id);
  return (await get(`/api/v1/runs/${id}`)) as unknown as RunDetail;
}

const machineRun = (r: RunDetail, name: string): RunDetail['machineRuns'][number] => {
  const m = r.machineRuns.find((x) => x.machine === name);
  assert.ok(m, `${name} is in run ${r.id}`);
  return m;
};

const connections = (s: Sshd | undefined): number => (s?.log().match(/Connection from /g) ?? []).length;
const accepted = (s: Sshd | undefined): number => (s?.log().match(/Accepted publickey for root from /g) ?? []).length;

/** Connects as the runner does (jump first, if any) and returns what it threw. */
async function connectError(name: string, through: 'machine' | 'jump'): Promise<unknown> {
  const a = app();
  const target = a.runbooks.targetOf(getMachine(a.store, name)!);
  const dest = through === 'jump' ? target.jump! : target;
  const opts = { store: a.store, privateKey: a.runbooks.publicKey().privateKey, actor: 'test', connectTimeoutMs: 2000 };
  try {
    (await connect(dest, opts)).close();
  } catch (e) {
    return e;
  }
  assert.fail(`connecting to ${name} (${through}) succeeded`);
}

test('the targets are not reachable from the root namespace directly, only from inside theirs', async () => {
  // The sshd m-direct names is there: from inside the namespace it answers.
  const banner = await lab.try(ns, 'timeout', ['2', 'bash', '-c', `exec 3<>/dev/tcp/${hidden(13)}/${PORT_A} && IFS= read -r l <&3 && printf %s "$l"`]);
  assert.match(banner.stdout, /^SSH-2\.0-OpenSSH/, banner.stderr);

  const seen = connections(targetA);
  const r = await runToEnd(['m-direct']);
  assert.equal(r.state, 'failed');
  const m = machineRun(r, 'm-direct');
  assert.equal(m.state, 'failed');
  assert.equal(m.error, `step 1 (connection): m-direct (root@${hidden(13)}:${PORT_A}): EHOSTUNREACH`);
  assert.equal(connections(targetA), seen, 'nothing reached target A');

  const e = await connectError('m-direct', 'machine');
  assert.ok(isIronbayError(e, 'IB_ERR_SSH_UNREACHABLE'), String(e));
  assert.deepEqual(e.details, { machine: 'm-direct', address: `${hidden(13)}:${PORT_A}` });
});

test('through the jump host: both machines run, over one jump connection; the jump host and both targets are pinned', async () => {
  // The plan says which machine goes through which jump host: the default, its own, or none.
  const dry = await post('/api/v1/runbooks/where/runs', { dryRun: true, target: { names: ['m-a', 'm-b', 'm-direct'] } });
  assert.equal(dry.status, 200, JSON.stringify(dry.json));
  const via = (dry.json.plan as { machines: { machine: string; via: string | null }[] }).machines.map((m) => [m.machine, m.via]);
  const bastion = `bastion (root@${jumpAddr()}:22)`;
  assert.deepEqual(via, [
    ['m-a', bastion],
    ['m-b', bastion],
    ['m-direct', null],
  ]);

  const base = { jump: accepted(jump), a: accepted(targetA), b: accepted(targetB) };
  const r = await runToEnd(['m-a', 'm-b']);
  assert.equal(r.state, 'succeeded', JSON.stringify(r.machineRuns.map((m) => m.error)));
  for (const [name, last, port] of [
    ['m-a', 10, PORT_A],
    ['m-b', 11, PORT_B],
  ] as const) {
    const m = machineRun(r, name);
    assert.equal(m.state, 'succeeded');
    const [connection, addresses] = m.steps;
    // SSH_CONNECTION: client address, client port, server address, server port.
    const [client, , server, serverPort] = connection!.stdout.trim().split(' ');
    assert.equal(server, hidden(last));
    assert.equal(serverPort, String(port));
    assert.notEqual(client, rootAddr(), 'the connection does not come from the root namespace');
    assert.ok(client!.startsWith(`198.19.${X}.`), `the connection comes from inside the namespace (the jump host's forward): ${client}`);
    assert.match(addresses!.stdout, new RegExp(`inet ${hidden(last).replace(/\./g, '\\.')}/32`));
  }
  assert.equal(accepted(jump) - base.jump, 1, `one jump connection for the run:\n${jump!.log()}`);
  assert.equal(accepted(targetA) - base.a, 1);
  assert.equal(accepted(targetB) - base.b, 1);

  const hosts = (await get('/api/v1/ssh/hosts')).hosts as { kind: string; name: string; fingerprint: string; address: string }[];
  const pin = (kind: string, name: string): { fingerprint: string; address: string } | undefined => hosts.find((h) => h.kind === kind && h.name === name);
  assert.deepEqual(pin('jump', 'bastion'), { ...pin('jump', 'bastion'), fingerprint: jump!.hostKeyFingerprint(), address: `${jumpAddr()}:22` });
  assert.equal(pin('machine', 'm-a')?.fingerprint, targetA!.hostKeyFingerprint());
  assert.equal(pin('machine', 'm-a')?.address, `${hidden(10)}:${PORT_A}`);
  assert.equal(pin('machine', 'm-b')?.fingerprint, targetB!.hostKeyFingerprint());
  assert.equal(hosts.length, 3, JSON.stringify(hosts));
});

test('a jump host that cannot reach a target: that machine fails naming the jump host and the address; the others carry on', async () => {
  const r = await runToEnd(['m-a', 'm-wrong']);
  assert.equal(r.state, 'failed');
  assert.match(r.error!, /1 of 2 machines failed/);
  assert.equal(machineRun(r, 'm-a').state, 'succeeded');
  const m = machineRun(r, 'm-wrong');
  assert.equal(m.state, 'failed');
  const where = `${hidden(12)}:${PORT_NONE}`;
  assert.ok(m.error!.startsWith(`step 1 (connection): m-wrong (root@${where}): jump host bastion cannot reach ${where}: `), m.error!);
  assert.match(m.error!, /refused/i, 'the jump host says why');
});

test("a jump host whose key changed is refused for every machine behind it, naming both fingerprints, until accepted", async () => {
  const old = jump!.hostKeyFingerprint();
  await jump!.rotateHostKey();
  const fresh = jump!.hostKeyFingerprint();
  assert.notEqual(old, fresh);

  const base = { a: accepted(targetA), b: accepted(targetB) };
  const r = await runToEnd(['m-a', 'm-b']);
  assert.equal(r.state, 'failed');
  for (const name of ['m-a', 'm-b']) {
    const m = machineRun(r, name);
    assert.equal(m.state, 'failed');
    assert.ok(m.error!.startsWith(`step 1 (connection): jump host bastion (root@${jumpAddr()}:22) presented host key ${fresh} (ssh-ed25519), but ${old} (ssh-ed25519) is pinned`), m.error!);
    assert.ok(m.error!.endsWith('ironbay hosts accept --jump bastion'), m.error!);
  }
  assert.deepEqual([accepted(targetA), accepted(targetB)], [base.a, base.b], 'no target was reached');

  const e = await connectError('m-a', 'jump');
  assert.ok(isIronbayError(e, 'IB_ERR_SSH_HOSTKEY_CHANGED'), String(e));
  assert.deepEqual(e.details, { machine: 'bastion', hostKind: 'jump', address: `${jumpAddr()}:22`, pinned: old, offered: fresh });

  const hosts = (await get('/api/v1/ssh/hosts')).hosts as { kind: string; name: string; fingerprint: string; pending: { fingerprint: string } | null }[];
  const pin = hosts.find((h) => h.kind === 'jump' && h.name === 'bastion');
  assert.equal(pin?.fingerprint, old);
  assert.equal(pin?.pending?.fingerprint, fresh);
  const ev = (await get('/api/v1/events?kind=ssh.hostkey.mismatch')).events as { details: Record<string, unknown> }[];
  assert.deepEqual(
    ev.map((x) => x.details),
    [{ host: 'bastion', hostKind: 'jump', address: `${jumpAddr()}:22`, pinned: old, offered: fresh, offeredType: 'ssh-ed25519' }],
    'one event for the key, however many machines met it',
  );

  const asMachine = await post('/api/v1/ssh/hosts/bastion/accept', { fingerprint: fresh });
  assert.equal(asMachine.status, 404, 'bastion is a jump host, not a machine');
  const ok = await post('/api/v1/ssh/hosts/bastion/accept?jump=true', { fingerprint: fresh });
  assert.equal(ok.status, 200, JSON.stringify(ok.json));
  assert.deepEqual(ok.json, { host: 'bastion', kind: 'jump', outcome: 'accepted', previous: old, fingerprint: fresh });

  const again = await runToEnd(['m-a', 'm-b']);
  assert.equal(again.state, 'succeeded', JSON.stringify(again.machineRuns.map((m) => m.error)));
});

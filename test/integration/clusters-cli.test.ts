// `ironbay clusters` and `ironbay cluster …` through the real daemon and CLI (issue #7): the
// dry run prints the placement and changes nothing, a create shows up in the list and in
// `show` with its endpoints, a shortfall is a clear error and exit 1, a host that cannot be
// reached is reported by the daemon's own reconciler, kubeconfig needs an admin and points
// at the API endpoint, and a delete releases the cluster. The kvm-hosts here are loopback
// addresses where nothing listens: the daemon's passes fail fast and say so.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { load as loadYaml } from 'js-yaml';
import { runCli, TestDaemon } from '../helpers/daemon.ts';

const host = (n: number, zone: string): string =>
  `  - name: kvm-${n}\n    macs: ["52:54:00:00:81:0${n}"]\n    role: kvm-host\n    zone: ${zone}\n    production: { address: 127.0.0.${10 + n}/8 }\n    ssh: { port: 1 }\n    capacity: { vcpu: 8, memoryMiB: 8192, diskGiB: 100 }\n`;

describe('clusters through the CLI and the daemon', () => {
  let d: TestDaemon;
  let env: Record<string, string>;
  const cli = (args: string[]) => runCli(args, env);

  before(async () => {
    d = new TestDaemon({
      inventory: `machines:\n${host(1, 'a')}${host(2, 'b')}${host(3, 'c')}`,
      configExtra: 'clusters: { reconcileIntervalMs: 500, endpoints: { listen: 127.0.0.1, ports: { min: 28000, max: 28099 } }, vniRange: { min: 900, max: 999 }, overlayPool: 198.19.0.0/16 }\nssh: { connectTimeoutMs: 1000 }\n',
    });
    await d.start();
    env = { IRONBAY_URL: d.url, IRONBAY_TOKEN: d.token };
    // The machines are taken as installed: nothing provisions them here.
    const db = new Database(join(d.dir, 'data', 'ironbay.db'));
    assert.equal(db.prepare("UPDATE machines SET state = 'ready'").run().changes, 3, 'the inventory was applied');
    db.close();
  });
  after(async () => {
    await d.stop();
    d.cleanup();
  });

  test('create --dry-run prints the placement and changes nothing', async () => {
    const r = await cli(['cluster', 'create', 'demo', '--control-planes', '3', '--workers', '2', '--image', 'base.qcow2', '--memory', '2048', '--dry-run']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /cluster demo: VNI 900, node subnet 198\.19\.0\.0\/24 \(gateway 198\.19\.0\.1\), endpoint ports 28000-28002/);
    const expected: [string, string][] = [
      ['demo-cp0', '198.19.0.10/24'],
      ['demo-cp1', '198.19.0.11/24'],
      ['demo-cp2', '198.19.0.12/24'],
      ['demo-w0', '198.19.0.13/24'],
      ['demo-w1', '198.19.0.14/24'],
    ];
    for (const [vm, addr] of expected)
      assert.match(r.stdout, new RegExp(`^${vm} +(control-plane|worker) +kvm-\\d +${addr.replace(/\./g, '\\.')} +02:[0-9a-f:]{14} +would add$`, 'm'));
    const cps = [...r.stdout.matchAll(/^demo-cp\d +control-plane +(kvm-\d)/gm)].map((m) => m[1]);
    assert.equal(new Set(cps).size, 3, 'three control planes in three zones');
    assert.match(r.stdout, /dry run: nothing was changed/);
    const list = await cli(['clusters', '--json']);
    assert.deepEqual(JSON.parse(list.stdout), []);
  });

  test('a cluster that does not fit: exit 1 with the shortfall', async () => {
    const r = await cli(['cluster', 'create', 'big', '--workers', '1', '--image', 'base.qcow2', '--memory', '10000']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /IB_ERR_CLUSTER_NO_FIT/);
    assert.match(r.stderr, /big does not fit: control-plane VM big-cp0 \(2 vCPUs, 10000 MiB, 20 GiB\)/);
  });

  test('create, list, show: the hosts cannot be reached, and the daemon says so', async () => {
    const r = await cli(['cluster', 'create', 'demo', '--control-planes', '3', '--workers', '2', '--image', 'base.qcow2', '--memory', '2048']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /demo-w1 .* added$/m);
    let show = '';
    for (let i = 0; i < 100; i++) {
      show = (await cli(['cluster', 'show', 'demo'])).stdout;
      if (/host-down/.test(show)) break;
      await sleep(100);
    }
    assert.match(show, /^cluster demo {2}(creating|degraded)/m);
    assert.match(show, /API endpoint: +https:\/\/127\.0\.0\.1:28000/);
    assert.match(show, /^demo-cp0 +control-plane +kvm-\d \(unreachable\) +198\.19\.0\.10\/24 +host-down/m);
    const list = await cli(['clusters']);
    assert.match(list.stdout, /^demo +(creating|degraded).* +0\/5 +900 +198\.19\.0\.0\/24 +https:\/\/127\.0\.0\.1:28000 +api$/m);
    const ev = await cli(['events', '--kind', 'cluster.host.down', '--json']);
    assert.equal(ev.code, 0, ev.stderr);
    assert.match(ev.stdout, /kvm-1/);
  });

  test('kubeconfig: an admin one for the API endpoint, signed by the cluster CA', async () => {
    const r = await cli(['cluster', 'kubeconfig', 'demo']);
    assert.equal(r.code, 0, r.stderr);
    const k = loadYaml(r.stdout) as { clusters: { cluster: { server: string; 'certificate-authority-data': string } }[]; users: { user: { 'client-certificate-data': string } }[] };
    assert.equal(k.clusters[0]!.cluster.server, 'https://127.0.0.1:28000');
    assert.match(Buffer.from(k.users[0]!.user['client-certificate-data'], 'base64').toString(), /BEGIN CERTIFICATE/);
  });

  test("the inventory's clusters: created by the daemon, refused through the CLI, deleted when removed from the file", async () => {
    const machines = `machines:\n${host(1, 'a')}${host(2, 'b')}${host(3, 'c')}`;
    const inv = `clusters:\n  - { name: inv, controlPlanes: 1, workers: 1, node: { vcpu: 1, memoryMiB: 1024, diskGiB: 5 }, image: base.qcow2, kubernetesVersion: 1.31.2, podCidr: 100.64.0.0/16, serviceCidr: 100.65.0.0/16 }\n`;
    writeFileSync(d.inventoryFile, machines + inv);
    let list: { name: string; source: string; state: string }[] = [];
    for (let i = 0; i < 100 && !list.some((c) => c.name === 'inv'); i++) {
      await sleep(100);
      list = JSON.parse((await cli(['clusters', '--json'])).stdout) as typeof list;
    }
    assert.equal(list.find((c) => c.name === 'inv')?.source, 'inventory');
    const del = await cli(['cluster', 'delete', 'inv']);
    assert.equal(del.code, 1);
    assert.match(del.stderr, /cluster inv is declared in the inventory file: remove it there/);
    const scale = await cli(['cluster', 'scale', 'inv', '--workers', '2']);
    assert.equal(scale.code, 1);
    assert.match(scale.stderr, /declared in the inventory file/);
    writeFileSync(d.inventoryFile, machines);
    for (let i = 0; i < 100 && list.find((c) => c.name === 'inv')?.state !== 'deleting'; i++) {
      await sleep(100);
      list = JSON.parse((await cli(['clusters', '--json'])).stdout) as typeof list;
    }
    assert.equal(list.find((c) => c.name === 'inv')?.state, 'deleting');
  });

  test('delete: marked at once; released when its hosts are gone from the inventory', async () => {
    const r = await cli(['cluster', 'delete', 'demo']);
    assert.equal(r.code, 0, r.stderr);
    const list = JSON.parse((await cli(['clusters', '--json'])).stdout) as { name: string; state: string }[];
    assert.deepEqual(
      list.map((c) => [c.name, c.state]),
      [
        ['demo', 'deleting'],
        ['inv', 'deleting'],
      ],
      'its VMs are on hosts that never answered: they stay marked for removal',
    );
    // The hosts are retired: what ran there is gone with them, and the cluster is released.
    writeFileSync(d.inventoryFile, 'machines: []\n');
    let left: unknown[] = list;
    for (let i = 0; i < 100 && left.length; i++) {
      await sleep(100);
      left = JSON.parse((await cli(['clusters', '--json'])).stdout) as unknown[];
    }
    assert.deepEqual(left, []);
    const ev = await cli(['events', '--kind', 'cluster.deleted', '--json']);
    assert.match(ev.stdout, /"vni":900/);
  });
});

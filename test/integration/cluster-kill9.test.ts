// Never two clusters with one VNI, and never half a cluster, whatever is killed when (issue #7):
// two processes create, scale and delete clusters against one database with a small VNI range
// (so they fight over the lowest free one), each killed with SIGKILL at random moments and
// started again; then the database is checked whole.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { Store } from '../../daemon/store/db.ts';
import { mulberry32 } from '../helpers/prng.ts';

const CHILD = resolve(import.meta.dirname, '../helpers/cluster-churn.ts');
const KILLS = 16;

test('kill -9 during cluster allocation: every VNI once, every cluster whole', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ironbay-cluster-kill9-'));
  const db = join(dir, 'ironbay.db');
  const children = new Set<ChildProcess>();
  try {
    const s = Store.open(db);
    const now = s.timestamp();
    const ins = s.db.prepare(
      "INSERT INTO machines (name, role, zone, spec, state, state_since, created_at, updated_at) VALUES (?, 'kvm-host', ?, ?, 'ready', ?, ?, ?)",
    );
    for (let i = 1; i <= 3; i++)
      ins.run(`kvm-${i}`, `z${i}`, JSON.stringify({ name: `kvm-${i}`, macs: [`52:54:00:00:41:0${i}`], role: 'kvm-host', production: { address: `198.18.64.${10 + i}/24` }, capacity: { vcpu: 8, memoryMiB: 8192, diskGiB: 100 } }), now, now, now);
    s.close();

    const rand = mulberry32(7);
    let seed = 1;
    const ready = new WeakMap<ChildProcess, Promise<void>>();
    const start = (): ChildProcess => {
      const c = spawn(process.execPath, [CHILD, db, String(seed++)], { stdio: ['ignore', 'pipe', 'pipe'] });
      ready.set(c, new Promise((r) => c.stdout.once('data', () => r())));
      let err = '';
      c.stderr.on('data', (d: Buffer) => (err += d.toString()));
      c.on('exit', (code, signal) => {
        children.delete(c);
        // Only our SIGKILL may end a child: anything else is a failure of the store code.
        if (signal !== 'SIGKILL') assert.fail(`churn child exited ${code ?? signal}: ${err}`);
      });
      children.add(c);
      return c;
    };
    const live = [start(), start()];
    for (let k = 0; k < KILLS; k++) {
      const i = k % 2;
      // Killed at a random moment of its work, never while it loads.
      await ready.get(live[i]!);
      await sleep(50 + Math.floor(rand() * 350));
      live[i]!.kill('SIGKILL');
      await new Promise((r) => live[i]!.once('exit', r));
      live[i] = start();
    }
    await sleep(300);
    for (const c of live) {
      c.kill('SIGKILL');
      await new Promise((r) => c.once('exit', r));
    }

    const check = new Database(db, { readonly: true });
    assert.equal(check.pragma('integrity_check', { simple: true }), 'ok');
    const clusters = check.prepare('SELECT name, vni, spec, state FROM clusters').all() as { name: string; vni: number; spec: string; state: string }[];
    const created = (check.prepare("SELECT count(*) AS n FROM events WHERE kind = 'cluster.created'").get() as { n: number }).n;
    assert.ok(created >= 10, `the children made progress (${created} clusters created)`);
    assert.equal(new Set(clusters.map((c) => c.vni)).size, clusters.length, 'no VNI twice');
    assert.ok(clusters.every((c) => c.vni >= 1 && c.vni <= 12));
    for (const c of clusters) {
      const spec = JSON.parse(c.spec) as { controlPlanes: number; workers: number };
      const vms = check.prepare("SELECT role, desired FROM cluster_vms WHERE cluster = ?").all(c.name) as { role: string; desired: string }[];
      if (c.state === 'deleting') continue;
      assert.equal(vms.filter((v) => v.role === 'control-plane').length, spec.controlPlanes, `${c.name}: its control planes whole`);
      assert.equal(vms.filter((v) => v.role === 'worker' && v.desired === 'running').length, spec.workers, `${c.name}: its workers as the spec says`);
      const ev = check.prepare("SELECT count(*) AS n FROM events WHERE kind = 'cluster.created' AND json_extract(details, '$.cluster') = ?").get(c.name) as { n: number };
      assert.equal(ev.n, 1, `${c.name}: its creation recorded exactly once`);
    }
    const vms = check.prepare('SELECT mac, forward_port FROM cluster_vms').all() as { mac: string; forward_port: number }[];
    assert.equal(new Set(vms.map((v) => v.mac)).size, vms.length);
    check.close();
  } finally {
    for (const c of children) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

// The lifecycle reconciler with fake side effects (STYLE.md §5/§6): a fake BMC, boot signals
// and production reachability, the real store and a clock the test moves. Every path of the
// state diagram: the happy path, admission caps, each deadline and its retries, BMC errors, a
// boot loop, an unreachable machine, maintenance, operator conflicts, and a restart resuming.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { pino } from 'pino';
import { loadInventory } from '../../inventory/validate.ts';
import { applyInventory } from '../../daemon/inventory/apply.ts';
import { IronbayError } from '../../daemon/errors.ts';
import { LifecycleActions } from '../../daemon/lifecycle/actions.ts';
import type { LifecycleTiming } from '../../daemon/lifecycle/handlers.ts';
import type { BootSeen, Power } from '../../daemon/lifecycle/ports.ts';
import { Reconciler } from '../../daemon/lifecycle/reconciler.ts';
import { diagram, mermaid, TRANSITIONS } from '../../daemon/lifecycle/states.ts';
import { Store } from '../../daemon/store/db.ts';
import { listEvents } from '../../daemon/store/events.ts';
import { getMachine, type MachineRecord, type MachineState } from '../../daemon/store/machines.ts';

const TIMING: LifecycleTiming = {
  dhcpTimeoutMs: 60_000,
  pxeTimeoutMs: 60_000,
  installTimeoutMs: 600_000,
  productionTimeoutMs: 120_000,
  attempts: 3,
  pollMs: 1000,
  bmcBackoffMs: 10_000,
  readyCheckMs: 60_000,
};

function inventory(n: number): string {
  const ms = Array.from({ length: n }, (_, i) => `  - name: m${i + 1}\n    macs: ["52:54:00:00:30:${(i + 1).toString(16).padStart(2, '0')}"]\n    role: worker\n    profile: p\n    production: { address: 198.18.2.${i + 10}/24 }\n`).join('');
  return `profiles:\n  - { name: p, kernel: k, initrd: [i], install: { method: image, image: d.img } }\nmachines:\n${ms}`;
}

class Fakes {
  calls: string[] = [];
  failNext: IronbayError[] = [];
  seen = new Map<string, { at: number; kind: keyof BootSeen; message?: string }[]>();
  reachable = new Set<string>();

  power: Power = {
    pxeCycle: async (m) => this.call('pxe', m),
    diskCycle: async (m) => this.call('disk', m),
    off: async (m) => this.call('off', m),
  };

  private call(what: string, m: MachineRecord): void {
    this.calls.push(`${what} ${m.name}`);
    const e = this.failNext.shift();
    if (e) throw e;
  }

  signal(name: string, kind: keyof BootSeen, at: number, message?: string): void {
    const l = this.seen.get(name) ?? [];
    l.push({ at, kind, ...(message && { message }) });
    this.seen.set(name, l);
  }
}

describe('lifecycle reconciler', () => {
  let dir: string;
  let store: Store;
  let clock: number;
  let fakes: Fakes;
  let rec: Reconciler;
  let actions: LifecycleActions;
  const names = new Map<number, string>();

  const make = (caps = { pc: 10, inst: 20 }, method: 'image' | 'live' = 'image'): Reconciler =>
    new Reconciler({
      installMethod: () => method,
      store,
      log: pino({ level: 'silent' }),
      power: fakes.power,
      signals: {
        since: (id, t) => {
          const s: BootSeen = { dhcp: false, pxe: false, installer: false, installed: false };
          for (const e of fakes.seen.get(names.get(id)!) ?? []) {
            if (e.at < t) continue;
            if (e.kind === 'failed') s.failed = e.message ?? 'failed';
            else s[e.kind] = true;
          }
          return s;
        },
      },
      reach: { reachable: async (m) => ({ ok: fakes.reachable.has(m.name), detail: fakes.reachable.has(m.name) ? 'SSH-2.0-test' : 'ECONNREFUSED' }) },
      timing: TIMING,
      maxPowerCycling: caps.pc,
      maxInstalling: caps.inst,
      tickMs: 2,
    });

  /** Lets the loop run until nothing changes for a few ticks. */
  async function settle(): Promise<void> {
    let last = '';
    for (let quiet = 0; quiet < 5; ) {
      await new Promise((r) => setTimeout(r, 5));
      const now = `${JSON.stringify(store.db.prepare('SELECT m.state, l.* FROM machines m LEFT JOIN lifecycle l ON l.machine_id = m.id ORDER BY m.id').all())}${fakes.calls.length}`;
      quiet = now === last ? quiet + 1 : 0;
      last = now;
    }
  }
  const state = (name: string): MachineState => getMachine(store, name)!.state;
  /** Provisions one machine through its install: it is rebooting into its disk. */
  const handedOff = async (name: string): Promise<void> => {
    await provision([name]);
    fakes.signal(name, 'installed', clock);
    await advance(1000);
    assert.equal(state(name), 'rebooting');
  };
  /** Queues machines and lets the loop take them. */
  const provision = async (names: string[]): Promise<void> => {
    actions.provision(names, 'op');
    rec.nudge();
    await settle();
  };
  const advance = async (ms: number): Promise<void> => {
    clock += ms;
    rec.nudge();
    await settle();
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ironbay-lc-'));
    clock = Date.parse('2026-11-22T10:00:00Z');
    store = Store.open(join(dir, 'db'), { now: () => new Date(clock) });
    const inv = loadInventory('inv.yaml', inventory(5));
    assert.ok(inv.ok);
    applyInventory(store, inv.inventory, { file: 'inv.yaml', hash: 'h', actor: 'test' });
    for (const r of store.db.prepare('SELECT id, name FROM machines').all() as { id: number; name: string }[]) names.set(r.id, r.name);
    fakes = new Fakes();
    actions = new LifecycleActions(store);
    rec = make();
    rec.start();
  });
  afterEach(async () => {
    await rec.stop();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the diagram files are generated from TRANSITIONS (npm run diagram)', () => {
    assert.equal(readFileSync(new URL('../../daemon/lifecycle/states.dot', import.meta.url), 'utf8'), diagram());
    assert.ok(readFileSync(new URL('../../README.md', import.meta.url), 'utf8').includes(mermaid()));
  });

  test('provision end to end: PXE cycle, DHCP, installer, installed, disk cycle, reachable → ready; every move an event', async () => {
    assert.deepEqual(actions.provision(['m1'], 'token:op').map((r) => r.result), ['queued']);
    rec.nudge();
    await settle();
    assert.equal(state('m1'), 'power-cycling');
    assert.deepEqual(fakes.calls, ['pxe m1']);
    fakes.signal('m1', 'dhcp', clock);
    await advance(1000);
    assert.equal(state('m1'), 'pxe-booting');
    fakes.signal('m1', 'installer', clock);
    await advance(1000);
    assert.equal(state('m1'), 'installing');
    fakes.signal('m1', 'installed', clock);
    await advance(1000);
    assert.equal(state('m1'), 'rebooting');
    assert.deepEqual(fakes.calls, ['pxe m1', 'disk m1']);
    await advance(1000);
    assert.equal(state('m1'), 'rebooting', 'not reachable yet');
    fakes.reachable.add('m1');
    await advance(1000);
    assert.equal(state('m1'), 'ready');
    const moves = listEvents(store, { machine: 'm1', kind: 'machine.state' }).map((e) => `${String(e.details.from)}→${String(e.details.to)}`);
    assert.deepEqual(moves, ['registered→power-cycling', 'power-cycling→pxe-booting', 'pxe-booting→installing', 'installing→installed', 'installed→rebooting', 'rebooting→ready']);
    for (const m of moves) {
      const [from, to] = m.split('→') as [MachineState, MachineState];
      assert.ok(TRANSITIONS[from].some((t) => t.to === to), `${m} is in the diagram`);
    }
    assert.ok(listEvents(store, { machine: 'm1', kind: 'machine.state' }).every((e) => e.actor === 'lifecycle'));
  });

  test('admission: at most maxPowerCycling at once, the rest start in the order asked', async () => {
    await rec.stop();
    rec = make({ pc: 2, inst: 3 });
    rec.start();
    await provision(['m4', 'm2', 'm5', 'm1', 'm3']);
    // The first two asked for start together (in either order): they are m4 and m2, not m1.
    assert.deepEqual([...fakes.calls].sort(), ['pxe m2', 'pxe m4']);
    fakes.signal('m4', 'dhcp', clock);
    await advance(1000);
    // m4 left power-cycling but still boots: the boot cap (3) now lets one more in.
    assert.deepEqual(fakes.calls.slice(2), ['pxe m5']);
    assert.equal(state('m1'), 'registered');
    fakes.signal('m4', 'installed', clock);
    await advance(1000);
    // m4 is handed off, but m2 and m5 still hold both power-cycling slots: m1 waits.
    assert.deepEqual(fakes.calls.slice(3), ['disk m4']);
    fakes.signal('m2', 'dhcp', clock);
    await advance(1000);
    assert.deepEqual(fakes.calls.slice(4), ['pxe m1']);
    assert.equal(state('m3'), 'registered');
  });

  test('a slow handler does not hold up admission: a machine waits for its SSH banner while the next one starts', async () => {
    await rec.stop();
    rec = make({ pc: 1, inst: 10 });
    rec.start();
    let release = (): void => undefined;
    const slow = new Promise<void>((r) => (release = r));
    const reach = fakes.reachable;
    await handedOff('m1');
    // m1's reachability check now hangs (a host that accepts and never speaks).
    (rec as unknown as { deps: { reach: { reachable: () => Promise<unknown> } } }).deps.reach.reachable = async () => {
      await slow;
      return { ok: reach.has('m1'), detail: 'slow' };
    };
    try {
      await advance(1000);
      actions.provision(['m2'], 'op');
      rec.nudge();
      await settle();
      assert.ok(fakes.calls.includes('pxe m2'), `m2 was admitted while m1's check hung: ${fakes.calls.join(', ')}`);
    } finally {
      release();
    }
  });

  test('no DHCP: cycled again at each deadline, then failed with the reason', async () => {
    await provision(['m1']);
    await advance(TIMING.dhcpTimeoutMs);
    assert.equal(state('m1'), 'power-cycling');
    assert.deepEqual(fakes.calls, ['pxe m1', 'pxe m1']);
    await advance(TIMING.dhcpTimeoutMs);
    assert.deepEqual(fakes.calls, ['pxe m1', 'pxe m1', 'pxe m1']);
    await advance(TIMING.dhcpTimeoutMs);
    assert.equal(state('m1'), 'failed');
    assert.match(getMachine(store, 'm1')!.stateReason ?? '', /no DHCP from 52:54:00:00:30:01 within 60 s.*gave up after 3 power cycles/);
    const retries = listEvents(store, { machine: 'm1', kind: 'machine.retry' }).map((e) => e.details.reason as string);
    assert.equal(retries.length, 2);
    assert.match(retries[0]!, /power cycle 2 of 3/);
  });

  test('an installer that reports failure fails the machine with its message; retry queues it again', async () => {
    await provision(['m1']);
    fakes.signal('m1', 'dhcp', clock);
    await advance(1000);
    fakes.signal('m1', 'failed', clock, 'no disk /dev/vda');
    await advance(1000);
    assert.equal(state('m1'), 'failed');
    assert.match(getMachine(store, 'm1')!.stateReason ?? '', /no disk \/dev\/vda/);
    assert.equal(actions.retry(['m1'], 'op')[0]!.result, 'queued');
    rec.nudge();
    await settle();
    assert.equal(state('m1'), 'power-cycling');
  });

  test('BMC errors: retried after a pause with an event each, then failed; a boot device that does not stick fails at once', async () => {
    fakes.failNext.push(new IronbayError('IB_ERR_BMC_TIMEOUT', 'BMC x: stopped answering'));
    await provision(['m1', 'm2']);
    assert.equal(state('m1'), 'power-cycling');
    const retries = listEvents(store, { kind: 'machine.retry' });
    assert.equal(retries.length, 1);
    assert.match(String(retries[0]!.details.reason), /IB_ERR_BMC_TIMEOUT/);
    await advance(TIMING.bmcBackoffMs);
    assert.equal(fakes.calls.filter((c) => c === 'pxe m1').length, 2);
    fakes.failNext.push(new IronbayError('IB_ERR_BMC_BOOTDEV_NOT_APPLIED', 'BMC y: boot device set to disk but the BMC reports pxe'));
    fakes.signal('m2', 'installed', clock);
    await advance(1000);
    assert.equal(state('m2'), 'failed');
    assert.match(getMachine(store, 'm2')!.stateReason ?? '', /IB_ERR_BMC_BOOTDEV_NOT_APPLIED/);
  });

  test('a live profile: no disk handoff, network boots are its normal life, ready once it answers', async () => {
    await rec.stop();
    rec = make(undefined, 'live');
    rec.start();
    await handedOff('m1');
    fakes.signal('m1', 'pxe', clock);
    await advance(1000);
    assert.equal(state('m1'), 'rebooting', 'a live machine network-booting is no boot loop');
    fakes.reachable.add('m1');
    await advance(1000);
    assert.equal(state('m1'), 'ready');
    assert.deepEqual(fakes.calls, ['pxe m1'], 'the boot device was never switched to disk');
  });

  test('tries are counted per wait: two DHCP retries do not use up the handoff\'s BMC tries', async () => {
    await provision(['m1']);
    await advance(TIMING.dhcpTimeoutMs);
    await advance(TIMING.dhcpTimeoutMs);
    assert.equal(fakes.calls.length, 3);
    fakes.failNext.push(new IronbayError('IB_ERR_BMC_TIMEOUT', 'BMC x: stopped answering'));
    fakes.signal('m1', 'installed', clock);
    await advance(1000);
    assert.equal(state('m1'), 'installed', 'one BMC error at the handoff is retried');
    await advance(TIMING.bmcBackoffMs);
    assert.equal(state('m1'), 'rebooting');
  });

  test('boot loop after the handoff: failed, never re-installed', async () => {
    await handedOff('m1');
    fakes.signal('m1', 'pxe', clock);
    await advance(1000);
    assert.equal(state('m1'), 'failed');
    assert.match(getMachine(store, 'm1')!.stateReason ?? '', /boot loop/);
    assert.deepEqual(fakes.calls, ['pxe m1', 'disk m1']);
  });

  test('unreachable after the handoff: power cycled through the BMC, then failed with what was seen', async () => {
    await provision(['m1']);
    fakes.signal('m1', 'installed', clock);
    await advance(1000);
    await advance(TIMING.productionTimeoutMs);
    assert.deepEqual(fakes.calls, ['pxe m1', 'disk m1', 'disk m1']);
    assert.equal(listEvents(store, { kind: 'machine.retry' }).length, 1);
    await advance(TIMING.productionTimeoutMs);
    await advance(TIMING.productionTimeoutMs);
    assert.equal(state('m1'), 'failed');
    assert.match(getMachine(store, 'm1')!.stateReason ?? '', /not reachable on the production network after 3 power cycles from disk \(ECONNREFUSED\)/);
  });

  test('maintenance holds a machine mid-install; released, its provisioning restarts from the power cycle', async () => {
    await provision(['m1']);
    fakes.signal('m1', 'dhcp', clock);
    await advance(1000);
    assert.equal(state('m1'), 'pxe-booting');
    assert.equal(actions.maintenance(['m1'], true, 'op', 'cabling')[0]!.state, 'maintenance');
    await advance(TIMING.pxeTimeoutMs * 5);
    assert.equal(state('m1'), 'maintenance');
    assert.deepEqual(fakes.calls, ['pxe m1']);
    assert.equal(actions.maintenance(['m1'], false, 'op')[0]!.result, 'released; provisioning restarts');
    rec.nudge();
    await settle();
    assert.equal(state('m1'), 'power-cycling');
    assert.deepEqual(fakes.calls, ['pxe m1', 'pxe m1']);
  });

  test('operator conflicts are per machine; deprovision powers a ready machine off and registers it', async () => {
    await provision(['m1']);
    fakes.signal('m1', 'installed', clock);
    fakes.reachable.add('m1');
    await advance(1000);
    await advance(1000);
    assert.equal(state('m1'), 'ready');
    const r = actions.provision(['m1', 'm2', 'nope'], 'op');
    assert.deepEqual(r.map((x) => [x.ok, x.code]), [[false, 'IB_ERR_CONFLICT'], [true, undefined], [false, 'IB_ERR_NOT_FOUND']]);
    assert.match(r[0]!.error ?? '', /deprovision it first/);
    assert.equal(actions.retry(['m3'], 'op')[0]!.code, 'IB_ERR_CONFLICT');
    assert.equal(actions.deprovision(['m1'], 'op')[0]!.result, 'deprovisioning');
    rec.nudge();
    await settle();
    assert.equal(state('m1'), 'registered');
    assert.ok(fakes.calls.includes('off m1'));
  });

  test('a restart resumes where the store says: a new reconciler finishes what the old one began', async () => {
    await provision(['m1', 'm2']);
    fakes.signal('m1', 'installer', clock);
    await advance(1000);
    assert.equal(state('m1'), 'installing');
    await rec.stop();
    rec = make();
    fakes.signal('m1', 'installed', clock);
    fakes.signal('m2', 'dhcp', clock);
    clock += 1000;
    rec.start();
    await settle();
    assert.equal(state('m1'), 'rebooting');
    assert.equal(state('m2'), 'pxe-booting');
    // No power cycle was repeated for m2: its acted_at was on disk.
    assert.deepEqual(fakes.calls.filter((c) => c.endsWith('m2')), ['pxe m2']);
  });
});

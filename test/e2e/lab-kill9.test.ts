// kill -9 of the daemon in the middle of a provision, twice: once while the machine installs
// and once while it reboots into its installed system. Each time a new daemon starts on the
// same database and must carry on from there — the machine reaches ready, nothing is done
// twice (one PXE power cycle, one switch to disk), and the event log has each move once.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { REPO } from '../helpers/daemon.ts';
import { startDaemon } from '../lab/appliance.ts';
import { startLab, stopLab, type Lab } from '../lab/lab.ts';
import { chassisEvents } from '../lab/machines.ts';
import { readState, writeState } from '../lab/state.ts';

const DIR = join(REPO, 'build/e2e/logs/lab-kill9');
const WAIT_MS = 10 * 60_000;

describe('kill -9 of the daemon mid-install and mid-reboot', { timeout: WAIT_MS + 6 * 60_000 }, () => {
  let lab: Lab;

  before(async () => {
    await stopLab(DIR);
    lab = await startLab({ machines: 1, firmware: ['bios'], dir: DIR, hostPort: 0, log: (l) => console.log(`lab: ${l}`) });
  }, { timeout: 5 * 60_000 });

  after(async () => {
    for (const l of await stopLab(DIR)) console.log(`lab: ${l}`);
  });

  const stateOf = async (): Promise<string> => (await lab.apiMachines()).find((m) => m.name === 'lab-1')?.state ?? 'missing';

  async function waitFor(state: string): Promise<void> {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      // Unreachable while a daemon starts.
      const s = await stateOf().catch(() => 'unreachable');
      if (s === state) return;
      if (s === 'failed') assert.fail(`lab-1 failed while waiting for ${state}: ${JSON.stringify(await lab.apiMachines())}`);
      assert.ok(Date.now() < deadline, `lab-1 not ${state} within ${WAIT_MS} ms (now ${s})`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** SIGKILL, no warning; then a new daemon on the same config and database. */
  async function killAndRestart(): Promise<void> {
    const st = readState(DIR)!;
    const entry = st.pids.filter((p) => p.role === 'ironbay daemon').at(-1)!;
    process.kill(entry.pid, 'SIGKILL');
    for (let i = 0; i < 100; i++) {
      try {
        process.kill(entry.pid, 0);
      } catch {
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const d = await startDaemon(lab.files, lab.net.appNs);
    st.pids.push({ role: 'ironbay daemon', pid: d.pid });
    writeState(st);
  }

  test('provision survives two kills and reaches ready; no step is repeated', { timeout: WAIT_MS + 60_000 }, async () => {
    await lab.provision();
    await waitFor('installing');
    await killAndRestart();
    await waitFor('rebooting');
    await killAndRestart();
    await waitFor('ready');

    const ev = chassisEvents(lab.machines[0]!).map((e) => e.text);
    const count = (line: string): number => ev.filter((e) => e === line).length;
    assert.equal(count('set boot pxe'), 1, `one PXE boot was asked for:\n${ev.join('\n')}`);
    assert.equal(count('set boot default'), 1, `one switch to the disk:\n${ev.join('\n')}`);
    // Each move once, in the diagram's order (a fast firmware may skip pxe-booting: the
    // installer can be running by the time the reconciler looks).
    const moves = (await lab.events('?machine=lab-1&kind=machine.state')).map((e) => [String(e.details.from), String(e.details.to)] as const);
    const order = ['registered', 'power-cycling', 'pxe-booting', 'installing', 'installed', 'rebooting', 'ready'];
    assert.deepEqual(moves[0], ['registered', 'power-cycling']);
    assert.deepEqual(moves.at(-1), ['rebooting', 'ready']);
    for (const [from, to] of moves) assert.ok(order.indexOf(to) > order.indexOf(from), `${from}→${to} goes back: ${JSON.stringify(moves)}`);
    for (let i = 1; i < moves.length; i++) assert.equal(moves[i]![0], moves[i - 1]![1], `the moves chain: ${JSON.stringify(moves)}`);
    assert.equal((await lab.events('?machine=lab-1&kind=boot.installed')).length, 1);
  });
});

// Runbooks through the real daemon and the `ironbay` CLI against sshd: the appliance key made at
// the first start, a built-in runbook streamed with machine prefixes and a result table, the
// records (runs, show, logs), a dry run, a cancel, and a kill -9 mid-run that leaves the run
// 'interrupted' after the restart — never silently lost.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runCli, TestDaemon } from '../helpers/daemon.ts';
import { loopbackInventory, startSshdFleet, type Sshd } from '../helpers/sshd.ts';
import { run } from '../helpers/run.ts';

let d: TestDaemon;
let fleet: { servers: Sshd[]; stop(): Promise<void> };
const env = (): Record<string, string> => ({ IRONBAY_URL: d.url, IRONBAY_TOKEN: d.token });

const inventory = (servers: Sshd[]): string => loopbackInventory(servers, (i) => ({ name: `h${i}`, fields: 'role: kvm-host' }));

before(async () => {
  // Addresses first (the inventory needs the ports), keys after: the daemon makes its key at start.
  fleet = await startSshdFleet(3, { authorizedKeys: [], host: (i) => `127.0.2.${i + 1}` });
  d = await TestDaemon.start({ inventory: inventory(fleet.servers), logLevel: 'info' });
  const pub = readFileSync(join(d.dir, 'data', 'ssh', 'id_ed25519.pub'), 'utf8');
  const cli = await runCli(['hosts', 'key'], env());
  assert.equal(cli.code, 0, cli.stderr);
  assert.equal(cli.stdout.trim().split(' ').slice(0, 2).join(' '), pub.trim().split(' ').slice(0, 2).join(' '));
  for (const s of fleet.servers) {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(s.dir, 'authorized_keys'), pub);
  }
});

after(async () => {
  d?.cleanup();
  await fleet?.stop();
});

test('ironbay runbook run diagnostics: output prefixed by machine, a result table, exit 0; runs, show and logs read the record', async () => {
  const r = await runCli(['runbook', 'run', 'diagnostics', '--target', 'name=h0,h1', '--param', 'lines=3'], env());
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^run (\d+): diagnostics on 2 machines, 10 at once/m);
  assert.match(r.stdout, /^h0 +\| Linux /m, 'uname -a, prefixed by its machine');
  assert.match(r.stdout, /^h1 +» 1\. kernel$/m);
  assert.match(r.stdout, /^h0 +» succeeded$/m);
  assert.match(r.stdout, /MACHINE +RESULT +STEPS OK +TIME/);
  assert.match(r.stdout, /^h0 +succeeded +7\/7 /m);
  assert.match(r.stdout, /run \d+ succeeded: 2 succeeded/);
  const id = /^run (\d+):/m.exec(r.stdout)![1]!;

  const runs = await runCli(['runbook', 'runs'], env());
  assert.match(runs.stdout, new RegExp(`^${id} +diagnostics +succeeded +2 succeeded .* token:bootstrap-admin`, 'm'));
  const show = await runCli(['runbook', 'show', id], env());
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /parameters lines="3"/);
  assert.match(show.stdout, /^h1 +6\. dmesg tail +succeeded +0 /m);
  const logs = await runCli(['runbook', 'logs', id, '--machine', 'h1'], env());
  assert.match(logs.stdout, /^=== h1 \(127\.0\.2\.2:\d+\): succeeded$/m);
  assert.match(logs.stdout, /^\$ dmesg 2>\/dev\/null \| tail -n '3'$/m);
  assert.doesNotMatch(logs.stdout, /=== h0/);
});

test('a run that ends before the CLI follows it still streams its output', async () => {
  const started = await d.api<{ id: number }>('POST', '/api/v1/runbooks/diagnostics/runs', { target: { names: ['h2'] } });
  assert.equal(started.status, 202);
  for (let i = 0; i < 200; i++) {
    const r = await d.api<{ state: string }>('GET', `/api/v1/runs/${started.body.id}`);
    if (r.body.state !== 'running') break;
    await new Promise((res) => setTimeout(res, 50));
  }
  const logs = await runCli(['runbook', 'logs', String(started.body.id), '--follow'], env());
  assert.equal(logs.code, 0, logs.stderr);
  assert.match(logs.stdout, /^=== h2 .*: succeeded$/m, 'an ended run: the stored record');
  const res = await fetch(`${d.url}/api/v1/runs/${started.body.id}/follow`, { headers: { authorization: `Bearer ${d.token}` } });
  const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l) as { type: string; data?: string });
  assert.ok(lines.some((e) => e.type === 'output' && e.data?.startsWith('Linux')), 'the events of a run that just ended are replayed');
  assert.equal(lines.at(-1)!.type, 'run-end');
});

test('--dry-run prints each machine and its exact commands, and runs nothing', async () => {
  const r = await runCli(['runbook', 'run', 'reboot', '--target', 'h2', '--param', 'drain=echo "draining; now"', '--dry-run'], env());
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^h2 +root@127\.0\.2\.3:\d+$/m);
  assert.match(r.stdout, /^ {5}\$ sh -c 'echo "draining; now"'$/m);
  assert.match(r.stdout, /^ {5}\$ test "\$\(cat \/proc\/sys\/kernel\/random\/boot_id\)" != '<captured boot_before>'$/m);
  assert.match(r.stdout, /up to 61 tries/);
  assert.match(r.stdout, /dry run: nothing was run/);
  const bad = await runCli(['runbook', 'run', 'reboot', '--target', 'nope', '--dry-run'], env());
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /no machine named "nope" \[IB_ERR_NOT_FOUND\]/);
});

async function waitForStep(id: string, machine: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const r = await d.api<{ machineRuns: { machine: string; steps: { state: string }[] }[] }>('GET', `/api/v1/runs/${id}`);
    if (r.body.machineRuns.find((m) => m.machine === machine)?.steps[0]?.state === 'running') return;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`run ${id}: ${machine}'s first step never started`);
}

test('ironbay runbook cancel: the run ends cancelled and the remote command is gone', async () => {
  const started = await d.api<{ id: number }>('POST', '/api/v1/runbooks/diagnostics/runs', { target: { names: ['h0'] }, params: { lines: '1; sleep 7733' } });
  // A parameter is one literal word: `tail -n '1; sleep 7733'` fails at once rather than sleeping.
  assert.equal(started.status, 400, 'lines is an integer parameter');
  const dir = join(d.dir, 'data', 'runbooks');
  const { mkdirSync, writeFileSync } = await import('node:fs');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'hold.yaml'), 'name: hold\ndescription: holds\nsteps:\n  - name: hold\n    run: sleep 7733\n');
  // The folder is configured at start; the daemon below is restarted with it.
  await d.stop();
  writeFileSync(d.configFile, readFileSync(d.configFile, 'utf8') + `ssh: { runbooks: ${dir} }\n`);
  await d.start();
  const det = await runCli(['runbook', 'run', 'hold', '--target', 'h0', '--detach'], env());
  assert.equal(det.code, 0, det.stderr);
  const id = det.stdout.trim();
  await waitForStep(id, 'h0');
  const c = await runCli(['runbook', 'cancel', id], env());
  assert.equal(c.code, 0, c.stderr);
  assert.equal(c.stdout.trim(), `run ${id}: cancelled`);
  const left = await run('pgrep', ['-f', 'sleep 7733']);
  assert.equal(left.stdout.trim(), '', 'the remote sleep was killed');
});

test('kill -9 of the daemon mid-run: after the restart the run, its machine and its step are interrupted', async () => {
  const det = await runCli(['runbook', 'run', 'hold', '--target', 'h1', '--detach'], env());
  assert.equal(det.code, 0, det.stderr);
  const id = det.stdout.trim();
  await waitForStep(id, 'h1');
  d.proc.kill('SIGKILL');
  await d.exited();
  await d.start();
  const show = await runCli(['runbook', 'show', id, '--json'], env());
  const r = JSON.parse(show.stdout) as { state: string; error: string; machineRuns: { state: string; steps: { state: string }[] }[] };
  assert.equal(r.state, 'interrupted');
  assert.match(r.error, /the daemon stopped while the run was going/);
  assert.equal(r.machineRuns[0]!.state, 'interrupted');
  assert.equal(r.machineRuns[0]!.steps[0]!.state, 'interrupted');
  const ev = await d.api<{ events: { kind: string; details: { run: number } }[] }>('GET', '/api/v1/events?kind=runbook.run.interrupted');
  assert.ok(ev.body.events.some((e) => e.details.run === Number(id)));
  await run('pkill', ['-f', 'sleep 7733']);
});

test('a clean stop mid-run also ends the run interrupted, at once', async () => {
  const det = await runCli(['runbook', 'run', 'hold', '--target', 'h2', '--detach'], env());
  const id = det.stdout.trim();
  await waitForStep(id, 'h2');
  assert.equal(await d.stop(), 0);
  await d.start();
  const r = await d.api<{ state: string; machineRuns: { steps: { state: string }[] }[] }>('GET', `/api/v1/runs/${id}`);
  assert.equal(r.body.state, 'interrupted');
  assert.equal(r.body.machineRuns[0]!.steps[0]!.state, 'interrupted');
  assert.equal((await run('pgrep', ['-f', 'sleep 7733'])).stdout.trim(), '', 'a clean stop signals the remote command');
});

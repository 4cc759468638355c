// Runbooks against OpenSSH's sshd: 20 "machines" (sshd on 127.0.1.1-20, each its own host key
// and port) run through the API and the runbook service — parameters quoted, captures, when,
// retries, timeouts that kill the remote command, cancels, rolling and parallel runs, and a
// changed host key refused until accepted.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { auth, testApp, type TestApp } from '../helpers/app.ts';
import { loopbackInventory, startSshdFleet, type Sshd } from '../helpers/sshd.ts';
import { run } from '../helpers/run.ts';
import type { RunEvent } from '../../daemon/ssh/runbook/runner.ts';

const N = 20;
let t: TestApp;
let fleet: { servers: Sshd[]; stop(): Promise<void> };
let rbDir: string;
const name = (i: number): string => `m-${String(i).padStart(2, '0')}`;

const inventory = (servers: Sshd[]): string =>
  loopbackInventory(servers, (i) => ({ name: name(i), fields: `role: ${i < 10 ? 'worker' : 'kvm-host'}, zone: zone-${i % 2 === 0 ? 'a' : 'b'}, labels: { rack: r${i % 4} }` }));

function runbook(file: string, text: string): void {
  writeFileSync(join(rbDir, `${file}.yaml`), text);
}

async function post(url: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await t.app.inject({ method: 'POST', url, headers: auth(t.tokens.operator), payload: body as Record<string, unknown> });
  return { status: r.statusCode, json: r.json() };
}

async function get(url: string): Promise<Record<string, unknown>> {
  const r = await t.app.inject({ method: 'GET', url, headers: auth(t.tokens.viewer) });
  assert.equal(r.statusCode, 200, r.body);
  return r.json();
}

/** Starts a run through the API and waits for its end; the run's record. */
async function runToEnd(rb: string, body: Record<string, unknown> = {}): Promise<RunDetail> {
  const r = await post(`/api/v1/runbooks/${rb}/runs`, body);
  assert.equal(r.status, 202, JSON.stringify(r.json));
  const id = r.json.id as number;
  await t.runbooks.settled(id);
  return (await get(`/api/v1/runs/${id}`)) as unknown as RunDetail;
}

interface RunDetail {
  id: number;
  state: string;
  error: string | null;
  machineRuns: { machine: string; state: string; error: string | null; steps: { idx: number; name: string; state: string; exitCode: number | null; attempts: number; stdout: string; stderr: string; command: string; error: string | null }[] }[];
}

before(async () => {
  // The appliance key is made by the service at open; the servers are started to accept it.
  t = await testApp('machines: []\n', 'ssh:\n  runbooks: RBDIR\n  connectTimeoutMs: 5000\n');
  rbDir = join(t.dir, 'RBDIR');
  mkdirSync(rbDir);
  fleet = await startSshdFleet(N, { authorizedKeys: [t.runbooks.publicKey().publicKey], host: (i) => `127.0.1.${i + 1}` });
  t.writeInventory(inventory(fleet.servers));
  await t.inventory.reload('test');
  t.store.db.prepare("UPDATE machines SET state = 'ready'").run();
});

after(async () => {
  await fleet?.stop();
  await t?.close();
});

test('a run on every ready machine: parameters, captures, conditions, sudo as root; every step recorded', async () => {
  runbook(
    'hello',
    `name: hello
description: greets
parameters:
  greeting: { type: string, default: hello }
  loud: { type: boolean, default: false }
steps:
  - name: who
    run: hostname -I 2>/dev/null | cut -d' ' -f1 || echo unknown
  - name: kernel
    run: uname -s
    capture: kernel
  - name: greet
    run: echo \${greeting} from \${kernel}
    sudo: true
  - name: shout
    when: loud
    run: echo LOUD
  - name: script
    script: |
      set -e
      a=2
      echo "script sees $((a * 21)) and" \${greeting}
`,
  );
  const r = await runToEnd('hello', { params: { greeting: 'good morning' }, parallel: 8 });
  assert.equal(r.state, 'succeeded', JSON.stringify(r.machineRuns.find((m) => m.state !== 'succeeded')));
  assert.equal(r.machineRuns.length, N);
  for (const m of r.machineRuns) {
    assert.equal(m.state, 'succeeded');
    const [who, kernel, greet, shout, script] = m.steps;
    assert.equal(who!.state, 'succeeded');
    assert.equal(kernel!.stdout, 'Linux\n');
    assert.equal(greet!.stdout, 'good morning from Linux\n');
    assert.equal(greet!.command, "echo 'good morning' from 'Linux'", 'as root, sudo is not added');
    assert.equal(shout!.state, 'skipped');
    assert.equal(script!.stdout, 'script sees 42 and good morning\n');
    assert.equal(script!.exitCode, 0);
  }
  const ev = (await get(`/api/v1/events?kind=runbook.&limit=1000`)).events as { kind: string; details: Record<string, unknown> }[];
  assert.equal(ev.filter((e) => e.kind === 'runbook.step' && e.details.run === r.id).length, N * 5);
  assert.ok(ev.some((e) => e.kind === 'runbook.run.ended' && e.details.run === r.id && e.details.state === 'succeeded'));
  const pins = (await get('/api/v1/ssh/hosts')).hosts as { name: string; fingerprint: string }[];
  assert.equal(pins.length, N, 'every host key is pinned on first contact');
  for (const [i, s] of fleet.servers.entries()) assert.equal(pins.find((p) => p.name === name(i))?.fingerprint, s.hostKeyFingerprint());
});

test('a parameter holding shell syntax stays one literal word', async () => {
  runbook(
    'quoting',
    `name: quoting
description: quoting
parameters:
  text: { type: string, required: true }
steps:
  - name: echo
    run: printf '%s' \${text}
  - name: count words
    run: set -- \${text}; echo $#
`,
  );
  const canary = join(t.dir, 'canary');
  writeFileSync(canary, 'still here');
  for (const text of ['"; rm -rf / #', `'; rm -f ${canary}; echo '`, `$(rm -f ${canary})`, '`rm -f ' + canary + '`', 'a\nb; rm -f ' + canary]) {
    const r = await runToEnd('quoting', { params: { text }, target: { names: [name(0)] } });
    assert.equal(r.state, 'succeeded');
    assert.equal(r.machineRuns[0]!.steps[0]!.stdout, text);
    assert.equal(r.machineRuns[0]!.steps[1]!.stdout, '1\n');
    assert.ok(existsSync(canary), `the canary survives ${JSON.stringify(text)}`);
  }
});

test('a non-zero exit fails the machine and stops its steps, unless the step continues on error; expected codes count as success', async () => {
  runbook(
    'exits',
    `name: exits
description: exits
steps:
  - name: tolerated
    run: echo partial; exit 3
    capture: tolerated
    continueOnError: true
  - name: on its failure
    run: echo "recovering from" \${tolerated}
    when: '!tolerated.ok'
  - name: on its success
    run: echo never
    when: tolerated.ok
  - name: on its code
    run: echo "code was 3"
    when: "tolerated.exit == '3'"
  - name: expected
    run: exit 7
    expect: [0, 7]
  - name: fails
    run: echo about to fail; echo reason >&2; exit 5
  - name: never
    run: echo never
`,
  );
  const r = await runToEnd('exits', { target: { names: [name(1), name(2)] } });
  assert.equal(r.state, 'failed');
  assert.match(r.error!, /2 of 2 machines failed/);
  for (const m of r.machineRuns) {
    assert.equal(m.state, 'failed');
    assert.match(m.error!, /step 6 \(fails\): exit 5, expected 0/);
    assert.deepEqual(
      m.steps.map((s) => [s.state, s.exitCode]),
      [
        ['failed', 3],
        ['succeeded', 0],
        ['skipped', null],
        ['succeeded', 0],
        ['succeeded', 7],
        ['failed', 5],
      ],
    );
    assert.equal(m.steps[1]!.stdout, 'recovering from partial\n', "a failed step's capture is kept for later steps");
    assert.equal(m.steps[3]!.stdout, 'code was 3\n');
    assert.equal(m.steps[5]!.stdout, 'about to fail\n');
    assert.equal(m.steps[5]!.stderr, 'reason\n', 'the PID line ironbay uses is not part of stderr');
  }
});

test('retries: a step that fails twice then succeeds is tried three times', async () => {
  const counter = join(t.dir, 'tries');
  runbook(
    'flaky',
    `name: flaky
description: flaky
parameters:
  counter: { type: string, required: true }
steps:
  - name: third time lucky
    run: n=$(cat \${counter} 2>/dev/null || echo 0); n=$((n + 1)); echo $n > \${counter}; test $n -ge 3
    retries: 4
    retryDelay: 0
`,
  );
  const r = await runToEnd('flaky', { params: { counter }, target: { names: [name(3)] } });
  assert.equal(r.state, 'succeeded');
  assert.equal(r.machineRuns[0]!.steps[0]!.attempts, 3);
});

async function remoteProcesses(marker: string): Promise<string> {
  const r = await run('pgrep', ['-af', marker]);
  return r.stdout.split('\n').filter((l) => l && !l.includes('pgrep')).join('\n');
}

test('a step past its timeout is killed on the host, with its children', async () => {
  runbook(
    'sleepy',
    `name: sleepy
description: sleeps
steps:
  - name: forever
    run: echo started; sh -c 'sleep 8811; echo never' ; echo never
    timeout: 1
  - name: after
    run: echo not reached
`,
  );
  const r = await runToEnd('sleepy', { target: { names: [name(4)] } });
  assert.equal(r.state, 'failed');
  const s = r.machineRuns[0]!.steps[0]!;
  assert.equal(s.state, 'timeout');
  assert.equal(s.stdout, 'started\n');
  assert.match(s.error!, /no end within 1 s; the remote command was killed/);
  assert.equal(r.machineRuns[0]!.steps.length, 1);
  assert.equal(await remoteProcesses('sleep 8811'), '', 'no sleep left behind');
});

test('cancel mid-step: the remote command is signalled and the run ends cancelled', async () => {
  runbook(
    'long',
    `name: long
description: long
steps:
  - name: wait
    run: echo waiting; sleep 8822
`,
  );
  const started = await post('/api/v1/runbooks/long/runs', { target: { names: [name(5), name(6)] } });
  assert.equal(started.status, 202);
  const id = started.json.id as number;
  // Both machines are in their step once each has printed.
  await new Promise<void>((resolve) => {
    const seen = new Set<string>();
    t.runbooks.follow(id, (e: RunEvent) => {
      if (e.type === 'output' && e.data.includes('waiting')) seen.add(e.machine);
      if (seen.size === 2) resolve();
    });
  });
  assert.notEqual(await remoteProcesses('sleep 8822'), '');
  const c = await post(`/api/v1/runs/${id}/cancel`, {});
  assert.equal(c.status, 200, JSON.stringify(c.json));
  assert.equal(c.json.state, 'cancelled');
  const r = (await get(`/api/v1/runs/${id}`)) as unknown as RunDetail;
  assert.equal(r.state, 'cancelled');
  for (const m of r.machineRuns) {
    assert.equal(m.state, 'cancelled');
    assert.equal(m.steps[0]!.state, 'cancelled');
  }
  assert.equal(await remoteProcesses('sleep 8822'), '', 'the remote sleeps are gone');
  const again = await post(`/api/v1/runs/${id}/cancel`, {});
  assert.equal(again.status, 409);
});

test('rolling: machine by machine, stopping at the first failure; parallel: all 20 at once', async () => {
  const marker = join(t.dir, 'fail-on');
  writeFileSync(marker, '127.0.1.4');
  runbook(
    'roll',
    `name: roll
description: fails on one host
parameters:
  marker: { type: string, required: true }
steps:
  - name: check
    run: set -- $SSH_CONNECTION; test "$3" != "$(cat \${marker})"
`,
  );
  const rolling = await runToEnd('roll', { params: { marker }, target: { roles: ['worker'] }, rolling: true });
  assert.equal(rolling.state, 'failed');
  assert.deepEqual(
    rolling.machineRuns.map((m) => m.state),
    ['succeeded', 'succeeded', 'succeeded', 'failed', 'skipped', 'skipped', 'skipped', 'skipped', 'skipped', 'skipped'],
  );
  assert.match(rolling.error!, /6 not started \(rolling\)/);

  writeFileSync(marker, 'none');
  const t0 = Date.now();
  const all = await runToEnd('roll', { params: { marker }, parallel: 20 });
  assert.equal(all.state, 'succeeded');
  assert.equal(all.machineRuns.length, N);
  assert.ok(all.machineRuns.every((m) => m.state === 'succeeded'));
  // Not a timing assertion: a record of what 20 at once cost, for the reader of the log.
  console.log(`20 machines in parallel: ${Date.now() - t0} ms`);
});

test('dry run: the exact commands per machine, nothing run', async () => {
  const before = ((await get('/api/v1/runs')).runs as unknown[]).length;
  const r = await post('/api/v1/runbooks/hello/runs', { dryRun: true, params: { greeting: "it's" }, target: { labels: { rack: 'r1' } } });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const plan = r.json.plan as { machines: { machine: string; address: string; steps: { name: string; command: string; when: string; stdin?: string }[] }[]; target: string };
  assert.deepEqual(
    plan.machines.map((m) => m.machine),
    [name(1), name(5), name(9), name(13), name(17)],
  );
  assert.equal(plan.target, 'label rack=r1 states=ready,maintenance');
  const steps = plan.machines[0]!.steps;
  assert.equal(steps[2]!.command, `echo 'it'\\''s' from '<captured kernel>'`);
  assert.equal(steps[3]!.when, 'if loud: no, skipped');
  assert.match(steps[4]!.stdin!, /script sees \$\(\(a \* 21\)\) and" 'it'\\''s'/);
  assert.equal(((await get('/api/v1/runs')).runs as unknown[]).length, before, 'a dry run records no run');
  const bad = await post('/api/v1/runbooks/hello/runs', { dryRun: true, params: { loud: 'maybe', nope: 1 } });
  assert.equal(bad.status, 400);
  assert.match(bad.json.message as string, /nope: runbook hello has no such parameter.*loud: "maybe" is not true or false/);
});

test('a changed host key is refused naming the machine and both fingerprints, until accepted', async () => {
  runbook('ping', 'name: ping\ndescription: ping\nsteps:\n  - name: noop\n    run: "true"\n');
  const target = { names: [name(7), name(8)] };
  assert.equal((await runToEnd('ping', { target })).state, 'succeeded');
  const server = fleet.servers[7]!;
  const old = server.hostKeyFingerprint();
  await server.rotateHostKey();
  const fresh = server.hostKeyFingerprint();
  assert.notEqual(old, fresh);

  const refused = await runToEnd('ping', { target });
  assert.equal(refused.state, 'failed');
  const m7 = refused.machineRuns.find((m) => m.machine === name(7))!;
  assert.equal(m7.state, 'failed');
  assert.ok(m7.error!.includes(`${name(7)} (root@127.0.1.8:${server.port}) presented host key ${fresh}`), m7.error!);
  assert.ok(m7.error!.includes(`but ${old} (ssh-ed25519) is pinned`), m7.error!);
  assert.match(m7.error!, new RegExp(`ironbay hosts accept ${name(7)}`));
  assert.equal(refused.machineRuns.find((m) => m.machine === name(8))!.state, 'succeeded', 'the other machine is not affected');

  const hosts = (await get('/api/v1/ssh/hosts')).hosts as { name: string; fingerprint: string; pending: { fingerprint: string } | null }[];
  const h = hosts.find((x) => x.name === name(7))!;
  assert.equal(h.fingerprint, old);
  assert.equal(h.pending?.fingerprint, fresh);

  const metrics = await t.app.inject({ method: 'GET', url: '/metrics' });
  assert.match(metrics.body, /^ironbay_ssh_host_keys_refused 1$/m, 'a refused key is visible to monitoring');
  assert.match(metrics.body, /^ironbay_runbook_runs\{state="failed"\} [1-9]/m);
  const wrong = await post(`/api/v1/ssh/hosts/${name(7)}/accept`, { fingerprint: old });
  assert.equal(wrong.status, 409, 'accepting names the key that was seen');
  const ok = await post(`/api/v1/ssh/hosts/${name(7)}/accept`, { fingerprint: fresh });
  assert.equal(ok.status, 200, JSON.stringify(ok.json));
  assert.deepEqual(ok.json, { host: name(7), kind: 'machine', outcome: 'accepted', previous: old, fingerprint: fresh });
  assert.equal((await runToEnd('ping', { target })).state, 'succeeded');
  const ev = (await get(`/api/v1/events?machine=${name(7)}&kind=ssh.`)).events as { kind: string; details: Record<string, unknown> }[];
  assert.deepEqual(
    ev.map((e) => e.kind),
    ['ssh.hostkey.pinned', 'ssh.hostkey.mismatch', 'ssh.hostkey.accepted'],
  );
});

test('unreachable and refused-key machines fail with their own reasons', async () => {
  const s = fleet.servers[9]!;
  await s.stop();
  try {
    const r = await runToEnd('ping', { target: { names: [name(9)] } });
    assert.equal(r.state, 'failed');
    assert.match(r.machineRuns[0]!.error!, new RegExp(`step 1 \\(noop\\): ${name(9)} \\(root@127\\.0\\.1\\.10:${s.port}\\): ECONNREFUSED \\(nothing listens there\\)`));
  } finally {
    await s.start();
  }
  writeFileSync(join(s.dir, 'authorized_keys'), '');
  const r = await runToEnd('ping', { target: { names: [name(9)] } });
  assert.match(r.machineRuns[0]!.error!, /refused the appliance's key for user root/);
});

test('a run past its own deadline is stopped: the remote command is killed and the run fails saying why', async () => {
  const { executeRun } = await import('../../daemon/ssh/runbook/runner.ts');
  const { Limiter } = await import('../../daemon/lib/limiter.ts');
  const { pino } = await import('pino');
  const rb = { name: 'deadline', description: 'x', steps: [{ name: 'hold', run: 'sleep 8844' }, { name: 'after', run: 'echo no' }] };
  const s = fleet.servers[10]!;
  const id = t.runbooks.runs.create({ runbook: rb, source: 'test', digest: 'd', params: {}, options: { parallel: 1, rolling: false, stopOnFailure: false, target: { selector: 'names=' + name(10) } }, actor: 'test', machines: [{ name: name(10), address: `${s.host}:${s.port}` }] });
  const state = await executeRun(
    { store: t.store, runs: t.runbooks.runs, log: pino({ level: 'silent' }), privateKey: t.runbooks.publicKey().privateKey, connectTimeoutMs: 5000, defaultStepTimeoutMs: 60_000, outputCap: 1024, connections: new Limiter(4) },
    { id, runbook: rb, values: new Map(), targets: [{ name: name(10), kind: 'machine', host: s.host, port: s.port, user: 'root' }], parallel: 1, rolling: false, stopOnFailure: false, actor: 'test', runTimeoutMs: 1500, cancel: new AbortController().signal, emit: () => undefined },
  );
  assert.equal(state, 'failed');
  const r = t.runbooks.runs.get(id)!;
  assert.equal(r.error, 'the run took longer than its 1.5 s limit');
  assert.equal(r.machineRuns[0]!.steps.length, 1);
  assert.equal(r.machineRuns[0]!.steps[0]!.state, 'failed');
  assert.match(r.machineRuns[0]!.steps[0]!.error!, /the run took longer than its 1.5 s limit; the remote command was signalled/);
  assert.equal(await remoteProcesses('sleep 8844'), '');
});

test('a command stopped before its shell reported its PID is still killed once the PID arrives', async () => {
  const { connect } = await import('../../daemon/ssh/connection.ts');
  const s = fleet.servers[11]!;
  const c = await connect({ name: name(11), kind: 'machine', host: s.host, port: s.port, user: 'root' }, { store: t.store, privateKey: t.runbooks.publicKey().privateKey, actor: 'test', connectTimeoutMs: 5000 });
  try {
    // A 1 ms deadline fires before the remote shell has even started.
    const r = await c.exec({ command: 'sleep 8855', timeoutMs: 1, outputCap: 1024 });
    assert.equal(r.stopped, 'timeout');
    assert.equal(r.exitCode, null);
    // TERM as soon as the PID came, not the KILL that follows a grace period.
    assert.equal(r.exitSignal, 'SIGTERM');
    assert.equal(await remoteProcesses('sleep 8855'), '', 'no sleep left behind');
    const again = await c.exec({ command: 'echo still usable', timeoutMs: 5000, outputCap: 1024 });
    assert.equal(again.stdout.text(), 'still usable\n');
    assert.equal(again.exitCode, 0);
  } finally {
    c.close();
  }
});

test("a login script that prints before ironbay's PID line: the command is still stopped, and that output is kept", async () => {
  const { connect } = await import('../../daemon/ssh/connection.ts');
  const { startSshd } = await import('../helpers/sshd.ts');
  const noise = join(t.dir, 'noise.sh');
  // bash reads $BASH_ENV before a non-interactive command: the stand-in for a chatty ~/.bashrc.
  writeFileSync(noise, 'echo "login noise: pyenv cannot rehash" >&2\n');
  const s = await startSshd({ authorizedKeys: [t.runbooks.publicKey().publicKey], host: '127.0.1.99', extraConfig: [`SetEnv BASH_ENV=${noise}`] });
  const c = await connect({ name: 'noisy', kind: 'machine', host: s.host, port: s.port, user: 'root' }, { store: t.store, privateKey: t.runbooks.publicKey().privateKey, actor: 'test', connectTimeoutMs: 5000 });
  try {
    const r = await c.exec({ command: 'echo out; echo err >&2; exit 4', timeoutMs: 5000, outputCap: 1024 });
    assert.equal(r.exitCode, 4);
    // Once per bash that starts (a ~/.bashrc that runs bash scripts prints it again).
    assert.match(r.stderr.text(), /^(login noise: pyenv cannot rehash\n)+err\n$/);
    assert.equal(r.stdout.text(), 'out\n');
    const slow = await c.exec({ command: 'sleep 8866', timeoutMs: 500, outputCap: 1024 });
    assert.equal(slow.stopped, 'timeout');
    assert.equal(slow.exitSignal, 'SIGTERM', 'the PID was found behind the noise: TERM, not the KILL of last resort');
    assert.equal(await remoteProcesses('sleep 8866'), '');
  } finally {
    c.close();
    await s.stop();
  }
});

// The SSH test peer itself: OpenSSH's sshd as test/helpers/sshd.ts starts it, driven by the
// OpenSSH client the way an operator would, before ironbay's runbook runner (ssh2) is tested
// against it. If sshd or the harness changes behaviour (host keys, rotation, stop, namespaces),
// this file says so first. Loopback, and one namespace of the test's own over a veth pair
// (198.19.0.0/16, from RFC 2544's 198.18.0.0/15).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Netns } from '../helpers/netns.ts';
import { run, type RunResult } from '../helpers/run.ts';
import { generateKeyPair, startSshd, startSshdFleet, type Sshd, type SshKeyPair } from '../helpers/sshd.ts';

/** A known_hosts line as ssh looks it up: `[host]:port` except on port 22, where it is the bare host. */
const knownHostsLine = (s: Sshd): string => `${s.port === 22 ? s.host : `[${s.host}]:${s.port}`} ${s.hostPublicKey()}`;

function knownHosts(dir: string, name: string, servers: Sshd[]): string {
  const file = join(dir, name);
  writeFileSync(file, servers.map((s) => `${knownHostsLine(s)}\n`).join(''));
  return file;
}

/** The OpenSSH client, ignoring every user and system configuration and known_hosts file. */
function sshArgs(s: Sshd, key: SshKeyPair, knownHostsFile: string, command: string): string[] {
  return [
    '-F', '/dev/null', '-i', key.privateKeyPath, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes',
    '-o', `UserKnownHostsFile=${knownHostsFile}`, '-o', 'GlobalKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=5',
    '-p', String(s.port), `root@${s.host}`, command,
  ];
}

const ssh = (s: Sshd, key: SshKeyPair, knownHostsFile: string, command: string): Promise<RunResult> =>
  run('timeout', ['-s', 'KILL', '30', 'ssh', ...sshArgs(s, key, knownHostsFile, command)]);

/** What `ssh-keygen -lf` says of a public key file: "256 SHA256:… comment (ED25519)". */
async function keygenFingerprint(pubFile: string): Promise<string> {
  const r = await run('ssh-keygen', ['-lf', pubFile]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split(' ')[1]!;
}

/** Running, and not a zombie waiting for a reaper. */
const isRunning = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
};

describe('a fleet of three sshd on 127.0.0.1', { timeout: 120_000 }, () => {
  const tmp = mkdtempSync(join(tmpdir(), 'ironbay-sshd-test-'));
  let user: SshKeyPair;
  let stranger: SshKeyPair;
  let fleet: Awaited<ReturnType<typeof startSshdFleet>>;
  let servers: Sshd[];

  before(async () => {
    [user, stranger] = await Promise.all([generateKeyPair(tmp, 'user'), generateKeyPair(tmp, 'stranger')]);
    fleet = await startSshdFleet(3, { authorizedKeys: [user.publicKey] });
    servers = fleet.servers;
  });
  after(async () => {
    await fleet.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('three servers, three ports, three directories and three host keys', () => {
    assert.equal(servers.length, 3);
    assert.equal(new Set(servers.map((s) => s.port)).size, 3);
    assert.equal(new Set(servers.map((s) => s.dir)).size, 3);
    assert.equal(new Set(servers.map((s) => s.hostKeyFingerprint())).size, 3);
    for (const s of servers) {
      assert.equal(s.host, '127.0.0.1');
      assert.match(s.hostPublicKey(), /^ssh-ed25519 AAAA\S+ \S+$/);
      assert.match(s.log(), new RegExp(`Server listening on 127\\.0\\.0\\.1 port ${s.port}\\.`));
    }
  });

  test('each runs a command as root: its output and exit status come back', async () => {
    const kh = knownHosts(tmp, 'known_hosts', servers);
    const results = await Promise.all(servers.map((s) => ssh(s, user, kh, 'echo hi; exit 3')));
    for (const [i, r] of results.entries()) {
      assert.equal(r.stdout, 'hi\n', `server ${i}: ${r.stderr}`);
      assert.equal(r.code, 3, `server ${i}: ${r.stderr}\n${servers[i]!.log()}`);
    }
    const who = await ssh(servers[0]!, user, kh, 'id -un; echo "$SSH_CONNECTION"');
    assert.equal(who.code, 0, who.stderr);
    const [name, conn] = who.stdout.trim().split('\n');
    assert.equal(name, 'root');
    assert.match(conn!, new RegExp(` 127\\.0\\.0\\.1 ${servers[0]!.port}$`));
    assert.match(servers[0]!.log(), /Accepted publickey for root from 127\.0\.0\.1/);
  });

  test("hostKeyFingerprint() is what ssh-keygen -lf says of the host key file", async () => {
    for (const s of servers) {
      assert.match(s.hostKeyFingerprint(), /^SHA256:[A-Za-z0-9+/]{43}$/);
      assert.equal(await keygenFingerprint(join(s.dir, 'ssh_host_ed25519_key.pub')), s.hostKeyFingerprint());
    }
  });

  test('a key not in authorizedKeys is refused', async () => {
    const s = servers[1]!;
    const r = await ssh(s, stranger, knownHosts(tmp, 'known_hosts', servers), 'echo should-not-run');
    assert.equal(r.code, 255);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /Permission denied \(publickey\)/);
  });

  test('rotateHostKey: same pid and port, a new key; old known_hosts is refused, an open session carries on', async () => {
    const s = servers[2]!;
    const oldKh = knownHosts(tmp, 'known_hosts.old', [s]);
    const oldFingerprint = s.hostKeyFingerprint();
    const [port, pid] = [s.port, s.pid()];
    // A session open across the rotation (sshd's SIGHUP restart keeps established connections).
    const longRun = spawn('ssh', sshArgs(s, user, oldKh, 'echo started; sleep 1; echo survived'), { stdio: ['ignore', 'pipe', 'pipe'] });
    let longOut = '';
    longRun.stdout.on('data', (d: Buffer) => (longOut += d.toString()));
    const longExit = once(longRun, 'exit');
    await once(longRun.stdout, 'data');
    await s.rotateHostKey();
    assert.equal(s.port, port);
    assert.equal(s.pid(), pid);
    assert.notEqual(s.hostKeyFingerprint(), oldFingerprint);
    assert.equal(await keygenFingerprint(join(s.dir, 'ssh_host_ed25519_key.pub')), s.hostKeyFingerprint());

    const refused = await ssh(s, user, oldKh, 'echo hi; exit 3');
    assert.equal(refused.code, 255);
    assert.equal(refused.stdout, '');
    assert.match(refused.stderr, /REMOTE HOST IDENTIFICATION HAS CHANGED/);
    assert.ok(refused.stderr.includes(s.hostKeyFingerprint()), refused.stderr);

    const fresh = await ssh(s, user, knownHosts(tmp, 'known_hosts.new', [s]), 'echo hi; exit 3');
    assert.equal(fresh.stdout, 'hi\n', fresh.stderr);
    assert.equal(fresh.code, 3);

    const [code] = (await longExit) as [number | null];
    assert.equal(code, 0);
    assert.equal(longOut, 'started\nsurvived\n');
  });

  test('stop() ends the listener and the sessions it serves; start() brings it back with the same key', async () => {
    const s = servers[0]!;
    const kh = knownHosts(tmp, 'known_hosts.0', [s]);
    const fingerprint = s.hostKeyFingerprint();
    // A session whose command would outlive a plain SIGTERM to the listener.
    const client = spawn('ssh', sshArgs(s, user, kh, 'echo $$; exec sleep 300'), { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = once(client, 'exit');
    const [first] = (await once(client.stdout, 'data')) as [Buffer];
    const sleepPid = Number(first.toString().trim());
    assert.ok(isRunning(sleepPid), `the session's command runs (pid ${sleepPid})`);

    await s.stop();
    assert.equal(s.pid(), undefined);
    assert.equal(isRunning(sleepPid), false, 'the session command was ended with the server');
    const [code] = (await exited) as [number | null];
    assert.notEqual(code, 0);
    await s.stop(); // twice is fine

    const down = await ssh(s, user, kh, 'true');
    assert.equal(down.code, 255);
    assert.match(down.stderr, /Connection refused/);

    await s.start();
    assert.equal(s.hostKeyFingerprint(), fingerprint);
    const up = await ssh(s, user, kh, 'echo hi; exit 3');
    assert.equal(up.stdout, 'hi\n', up.stderr);
    assert.equal(up.code, 3);
  });
});

/** A port free on every one of `hosts` at once. */
async function portFreeOn(hosts: string[]): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const held: Server[] = [];
    try {
      const first = createServer().listen(0, hosts[0]);
      held.push(first);
      await once(first, 'listening');
      const port = (first.address() as { port: number }).port;
      for (const h of hosts.slice(1)) {
        const s = createServer().listen(port, h);
        held.push(s);
        await once(s, 'listening');
      }
      return port;
    } catch {
      // Taken on one of them; another.
    } finally {
      for (const s of held) s.close();
    }
  }
  throw new Error(`no port free on all of ${hosts.join(', ')}`);
}

describe('two sshd on distinct loopback addresses, one port', { timeout: 60_000 }, () => {
  test('127.0.1.1 and 127.0.1.2 on the same port: each answers with its own host key', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'ironbay-sshd-test-'));
    const fleetDir = join(tmp, 'fleet');
    const hostOf = (i: number): string => `127.0.1.${i + 1}`;
    let fleet: Awaited<ReturnType<typeof startSshdFleet>> | undefined;
    try {
      const user = await generateKeyPair(tmp, 'user', 'ecdsa');
      const port = await portFreeOn([hostOf(0), hostOf(1)]);
      fleet = await startSshdFleet(2, { authorizedKeys: [user.publicKey], host: hostOf, port, dir: fleetDir });
      const [a, b] = fleet.servers as [Sshd, Sshd];
      assert.deepEqual([a.host, a.port, b.host, b.port], ['127.0.1.1', port, '127.0.1.2', port]);
      assert.deepEqual([a.dir, b.dir], [join(fleetDir, '0'), join(fleetDir, '1')]);
      assert.notEqual(a.hostKeyFingerprint(), b.hostKeyFingerprint());

      const kh = knownHosts(tmp, 'known_hosts', [a, b]);
      for (const s of [a, b]) {
        const r = await ssh(s, user, kh, 'echo "$SSH_CONNECTION"; exit 3');
        assert.equal(r.code, 3, r.stderr);
        assert.match(r.stdout, new RegExp(` ${s.host.replaceAll('.', '\\.')} ${port}\\n$`));
      }
      // b's key listed under a's name: ssh sees a different key at a.
      writeFileSync(join(tmp, 'swapped'), `[${a.host}]:${port} ${b.hostPublicKey()}\n`);
      const swapped = await ssh(a, user, join(tmp, 'swapped'), 'true');
      assert.equal(swapped.code, 255);
      assert.match(swapped.stderr, /REMOTE HOST IDENTIFICATION HAS CHANGED/);
    } finally {
      await fleet?.stop();
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe('sshd inside a network namespace', { timeout: 60_000 }, () => {
  test('reached from the root namespace over a veth pair, on port 22', async () => {
    const lab = new Netns('ssh');
    const tmp = mkdtempSync(join(tmpdir(), 'ironbay-sshd-test-'));
    // A /30 somewhere in 198.19.0.0/16, so that runs side by side do not collide.
    const base = `198.19.${Math.floor(Math.random() * 256)}`;
    const last = 4 * Math.floor(Math.random() * 64);
    const [hostAddr, nsAddr] = [`${base}.${last + 1}`, `${base}.${last + 2}`];
    const hostIf = `${lab.prefix}h`;
    let server: Sshd | undefined;
    try {
      const ns = await lab.add('srv');
      const nsIf = `${lab.prefix}s`;
      const ip = async (args: string[]): Promise<void> => {
        const r = await run('ip', args);
        assert.equal(r.code, 0, `ip ${args.join(' ')}: ${r.stderr}`);
      };
      await ip(['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf, 'netns', ns]);
      await ip(['addr', 'add', `${hostAddr}/30`, 'dev', hostIf]);
      await ip(['link', 'set', hostIf, 'up']);
      await lab.exec(ns, 'ip', ['addr', 'add', `${nsAddr}/30`, 'dev', nsIf]);
      await lab.exec(ns, 'ip', ['link', 'set', nsIf, 'up']);

      const user = await generateKeyPair(tmp, 'user', 'rsa');
      server = await startSshd({ authorizedKeys: [user.publicKey], netns: ns, host: nsAddr, port: 22, dir: join(tmp, 'srv') });
      assert.equal(server.port, 22);

      const r = await ssh(server, user, knownHosts(tmp, 'known_hosts', [server]), 'echo hi; readlink /proc/self/ns/net; exit 3');
      assert.equal(r.code, 3, `${r.stderr}\n${server.log()}`);
      const [hi, netNs] = r.stdout.trim().split('\n');
      assert.equal(hi, 'hi');
      assert.equal(netNs, (await lab.exec(ns, 'readlink', ['/proc/self/ns/net'])).stdout.trim(), 'the session runs in the namespace');
      assert.notEqual(netNs, (await run('readlink', ['/proc/self/ns/net'])).stdout.trim());
      // The harness's pid is sshd's own, not a wrapper's.
      assert.equal((await run('cat', [`/proc/${server.pid()}/comm`])).stdout.trim(), 'sshd');
    } finally {
      await server?.stop();
      await run('ip', ['link', 'del', hostIf]); // gone with the namespace anyway
      await lab.dispose();
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

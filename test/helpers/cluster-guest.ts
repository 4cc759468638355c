// The guest OS of a cluster VM in tests (issue #7): Debian's kernel (test/e2e/kernel.sh's
// cache, build/e2e/; unpacked, see ClusterGuest.kernel) and a gzip'd newc initrd holding busybox-static, the guest's modules
// (modules/guest-order: virtio NIC and disks, iso9660 for the NoCloud seed, the ACPI power
// button) and /init = cluster-guest/init.sh, which reads the seed the way cloud-init would,
// configures the NIC network-config names by MAC and serves HTTP on 6443, 80 and 443. Booted
// by libvirt with a direct kernel boot (`<kernel>`, `<initrd>`, `<cmdline>` with this
// cmdline); its markers are on the serial console (see cluster-guest/init.sh):
//   IRONBAY-GUEST-SEED user-data=<bytes> kubeadm=<yes|no>   (or IRONBAY-GUEST-NO-SEED)
//   IRONBAY-GUEST-UP hostname=H ip=A mtu=M uptime=S         (or IRONBAY-GUEST-NET-FAILED <why>)
//   IRONBAY-GUEST-POWEROFF                                  (ACPI power button: virsh shutdown)
// The initrd is rebuilt only when one of its inputs changes (a sidecar .sha256 records them).
// /init refuses to run anywhere but as PID 1 of that initramfs: never run it on a host.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { E2E_ASSETS } from './initrd.ts';
import { run } from './run.ts';

const repo = resolve(import.meta.dirname, '../..');
const SRC = join(import.meta.dirname, 'cluster-guest');
/** Where the initrd is cached. */
export const CLUSTER_GUEST_DIR = join(repo, 'build/cluster-guest');
/** The kernel command line the guest expects: its console on the first serial port. */
export const CLUSTER_GUEST_CMDLINE = 'console=ttyS0 panic=-1 loglevel=4';

export interface ClusterGuest {
  /**
   * Debian's kernel, uncompressed: build/cluster-guest/vmlinux, an ELF image qemu boots through
   * its PVH entry point. The bzImage (build/e2e/vmlinuz) spends ~6 s under TCG unpacking itself
   * before the kernel's first line; this one starts at once. (The bzImage itself if it holds no
   * xz stream.)
   */
  kernel: string;
  /** build/cluster-guest/initrd.gz */
  initrd: string;
  /** CLUSTER_GUEST_CMDLINE */
  cmdline: string;
}

/** The kernel, busybox and the guest's modules, fetched by test/e2e/kernel.sh when absent. */
async function ensureAssets(assets: string): Promise<void> {
  if (['vmlinuz', 'busybox', 'modules/guest-order'].every((f) => existsSync(join(assets, f)))) return;
  const r = await run('bash', [join(repo, 'test/e2e/kernel.sh'), assets]);
  if (r.code !== 0) throw new Error(`test/e2e/kernel.sh: ${r.stderr.trim() || r.stdout.trim()}`);
}

function cpioGzip(root: string, out: string): Promise<void> {
  return new Promise((resolveP, reject) => {
    const p = spawn('sh', ['-c', 'find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 | gzip -6 -n > "$0"', out], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolveP() : reject(new Error(`cpio | gzip: exit ${String(code)} ${err}`))));
  });
}

/** The xz stream in a bzImage (Debian's are xz-compressed), unpacked: the ELF vmlinux. */
async function unpackKernel(vmlinuz: string, out: string): Promise<boolean> {
  const image = await readFile(vmlinuz);
  const stamp = `${out}.sha256`;
  const hash = createHash('sha256').update(image).digest('hex');
  if (existsSync(out) && existsSync(stamp) && (await readFile(stamp, 'utf8')).trim() === hash) return true;
  const at = image.indexOf(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]));
  if (at < 0) return false;
  const tmp = `${out}.${String(process.pid)}.tmp`;
  // --single-stream: the bzImage goes on after the stream; xz ignores what follows.
  const ok = await new Promise<boolean>((resolveP, reject) => {
    const p = spawn('sh', ['-c', 'xz -dc --single-stream > "$0"', tmp], { stdio: ['pipe', 'ignore', 'ignore'] });
    p.on('error', reject);
    p.stdin.on('error', () => undefined);
    p.on('close', (code) => resolveP(code === 0));
    p.stdin.end(image.subarray(at));
  });
  const elf = ok && (await readFile(tmp)).subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  if (!elf) {
    await rm(tmp, { force: true });
    return false;
  }
  await rename(tmp, out);
  await writeFile(stamp, `${hash}\n`);
  return true;
}

/** Builds (or finds up to date) the guest's kernel and initrd; returns what a domain boots. */
export async function ensureClusterGuest(opts: { dir?: string; assets?: string } = {}): Promise<ClusterGuest> {
  const dir = opts.dir ?? CLUSTER_GUEST_DIR;
  const assets = opts.assets ?? E2E_ASSETS;
  await ensureAssets(assets);
  const initrd = join(dir, 'initrd.gz');
  await mkdir(dir, { recursive: true });
  const vmlinux = join(dir, 'vmlinux');
  const kernel = (await unpackKernel(join(assets, 'vmlinuz'), vmlinux)) ? vmlinux : join(assets, 'vmlinuz');
  const result = { kernel, initrd, cmdline: CLUSTER_GUEST_CMDLINE };

  const init = await readFile(join(SRC, 'init.sh'));
  const awk = await readFile(join(SRC, 'netplan.awk'));
  const busybox = await readFile(join(assets, 'busybox'));
  const orderText = await readFile(join(assets, 'modules/guest-order'), 'utf8');
  const order = orderText.split('\n').filter(Boolean);
  const h = createHash('sha256');
  for (const part of [init, awk, busybox, orderText]) h.update(part).update('\0');
  const modules: [string, Buffer][] = [];
  for (const m of order) {
    const b = await readFile(join(assets, 'modules', m));
    modules.push([m, b]);
    h.update(m).update('\0').update(b).update('\0');
  }
  const hash = h.digest('hex');
  const stamp = `${initrd}.sha256`;
  if (existsSync(initrd) && existsSync(stamp) && (await readFile(stamp, 'utf8')).trim() === hash) return result;

  const root = await mkdtemp(join(dir, '.initrd-'));
  try {
    for (const d of ['bin', 'sbin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'lib/modules', 'usr/bin', 'usr/sbin']) await mkdir(join(root, d), { recursive: true });
    await writeFile(join(root, 'bin/busybox'), busybox, { mode: 0o755 });
    await symlink('busybox', join(root, 'bin/sh'));
    await writeFile(join(root, 'init'), init, { mode: 0o755 });
    await writeFile(join(root, 'etc/netplan.awk'), awk);
    for (const [m, b] of modules) await writeFile(join(root, 'lib/modules', m), b);
    await writeFile(join(root, 'lib/modules/guest-order'), orderText);
    // Two test files may build at once: each writes its own file, and the rename is atomic.
    const tmp = `${initrd}.${String(process.pid)}.${root.slice(-6)}.tmp`;
    await cpioGzip(root, tmp);
    await rename(tmp, initrd);
    await writeFile(stamp, `${hash}\n`);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  return result;
}

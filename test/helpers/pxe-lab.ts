// A boot network for end-to-end tests and benchmarks, and dnsmasq as its baseline boot server.
// Pieces, reusable one by one (the ironbay end-to-end test swaps dnsmasq for the daemon):
//   createBootNetwork()   a namespace with a bridge at 198.51.100.1/24 (VMs' taps join it)
//   prepareBootFiles()    TFTP root (undionly.kpxe, snponly.efi) and HTTP root (boot.ipxe,
//                         vmlinuz, initrd.gz built by buildInitrd) in a folder
//   startBootHttp()       test/e2e/boot-http.ts in the namespace: static files + phone-home
//   startDnsmasq()        dnsmasq-base in the namespace: DHCP + TFTP, chaining BIOS → undionly.kpxe,
//                         UEFI → snponly.efi, iPXE → the HTTP script; its log lines timed
//   bootVm()              one PXE boot to the phone-home marker, with its milestones
//   bootWithDnsmasq()     all of it for N machines at once; the bench's entry point
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { buildInitrd, ensureBootAssets, E2E_ASSETS } from './initrd.ts';
import { Netns } from './netns.ts';
import { startVm, type SerialLine, type Vm } from './qemu.ts';

const repo = resolve(import.meta.dirname, '../..');

export const SERVER_IP = '198.51.100.1';
export const HTTP_PORT = 8080;
export const REPORT_PATH = '/api/v1/boot/report';
/** IPv6 prefix on the boot bridge when router advertisements are wanted (documentation range). */
export const BOOT_IPV6 = '2001:db8:b007::1/64';

export interface BootNetwork {
  netns: Netns;
  ns: string;
  bridge: string;
  serverIp: string;
  dispose(): Promise<void>;
}

/** A namespace `<prefix>-boot` with bridge `<prefix>br` at 198.51.100.1/24 (and BOOT_IPV6 if `ipv6`). */
export async function createBootNetwork(opts: { tag?: string; ipv6?: boolean } = {}): Promise<BootNetwork> {
  const netns = new Netns(opts.tag ?? 'pxe');
  try {
    const ns = await netns.add('boot');
    const bridge = await netns.bridge(ns, 'br', `${SERVER_IP}/24`);
    if (opts.ipv6) {
      // nodad: the address is usable at once (dnsmasq's RA needs it).
      await netns.exec(ns, 'ip', ['-6', 'addr', 'add', BOOT_IPV6, 'dev', bridge, 'nodad']);
    } else {
      // No IPv6 on the server side at all: nothing can send a router advertisement.
      await netns.exec(ns, 'sysctl', ['-q', '-w', `net.ipv6.conf.${bridge}.disable_ipv6=1`]);
    }
    return { netns, ns, bridge, serverIp: SERVER_IP, dispose: () => netns.dispose() };
  } catch (e) {
    await netns.dispose();
    throw e;
  }
}

export interface BootFiles {
  dir: string;
  tftpRoot: string;
  httpRoot: string;
  scriptUrl: string;
  reportUrl: string;
}

function ipxeBinaries(): string {
  const assets = join(repo, 'pxe-assets/ipxe');
  return existsSync(join(assets, 'snponly.efi')) ? assets : '/usr/lib/ipxe';
}

/**
 * Fills `dir` with tftp/ (undionly.kpxe, snponly.efi, ipxe.efi from pxe-assets/ipxe or Debian's
 * /usr/lib/ipxe) and http/ (boot.ipxe, vmlinuz, initrd.gz). The iPXE script boots the kernel with
 * a serial console and the phone-home parameters; the machine's name is its MAC (iPXE's
 * ${mac:hexhyp}), the token is `token`.
 */
export async function prepareBootFiles(dir: string, opts: { serverIp?: string; port?: number; token?: string; kernelArgs?: string } = {}): Promise<BootFiles> {
  const serverIp = opts.serverIp ?? SERVER_IP;
  const port = opts.port ?? HTTP_PORT;
  const { vmlinuz } = await ensureBootAssets();
  const tftpRoot = join(dir, 'tftp');
  const httpRoot = join(dir, 'http');
  await mkdir(tftpRoot, { recursive: true });
  await mkdir(httpRoot, { recursive: true });
  const bin = ipxeBinaries();
  for (const f of ['undionly.kpxe', 'snponly.efi', 'ipxe.efi']) if (existsSync(join(bin, f))) await copyFile(join(bin, f), join(tftpRoot, f));
  const initrd = join(E2E_ASSETS, 'initrd.gz');
  await buildInitrd(initrd);
  await symlink(vmlinuz, join(httpRoot, 'vmlinuz'));
  await symlink(initrd, join(httpRoot, 'initrd.gz'));
  const base = `http://${serverIp}:${String(port)}`;
  const reportUrl = `${base}${REPORT_PATH}`;
  // initrd=initrd.gz: iPXE under UEFI hands the kernel's EFI stub the initrd by that name.
  const cmdline = [
    'console=ttyS0',
    'quiet',
    'initrd=initrd.gz',
    `ironbay.url=${reportUrl}`,
    `ironbay.token=${opts.token ?? 'e2e-token'}`,
    'ironbay.machine=${mac:hexhyp}',
    opts.kernelArgs ?? '',
  ]
    .filter(Boolean)
    .join(' ');
  await writeFile(join(httpRoot, 'boot.ipxe'), `#!ipxe\necho ironbay-e2e: booting \${mac} from ${base}\nkernel ${base}/vmlinuz ${cmdline}\ninitrd ${base}/initrd.gz\nboot\n`);
  return { dir, tftpRoot, httpRoot, scriptUrl: `${base}/boot.ipxe`, reportUrl };
}

/** A line a peer printed, with its arrival time (epoch ms). */
export interface TimedLine {
  t: number;
  text: string;
}

export interface HttpRecord {
  t: number;
  method: string;
  path: string;
  status: number;
  remote?: string;
  bytes?: number;
  body?: unknown;
}

export interface BootHttp {
  child: ChildProcess;
  records: HttpRecord[];
  /** Resolves with the first record (already seen or to come) matching `pred`. */
  waitFor(pred: (r: HttpRecord) => boolean, timeoutMs: number): Promise<HttpRecord>;
}

function lineReader(child: ChildProcess, onLine: (text: string, t: number) => void): void {
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on('line', (text) => onLine(text, Date.now()));
  }
}

/** Starts test/e2e/boot-http.ts in the namespace; resolves once it listens. */
export async function startBootHttp(net: BootNetwork, httpRoot: string, port = HTTP_PORT): Promise<BootHttp> {
  const child = net.netns.spawn(net.ns, process.execPath, [join(repo, 'test/e2e/boot-http.ts'), '--root', httpRoot, '--bind', net.serverIp, '--port', String(port), '--report', REPORT_PATH]);
  const records: HttpRecord[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  const listening = new Promise<void>((resolveP, reject) => {
    lineReader(child, (text) => {
      if (text.startsWith('listening ')) return resolveP();
      if (text.startsWith('{')) {
        try {
          records.push(JSON.parse(text) as HttpRecord);
        } catch {
          stderr += `${text}\n`;
        }
        for (const w of [...waiters]) w();
      } else stderr += `${text}\n`;
    });
    child.once('exit', (code) => reject(new Error(`boot-http exited (${String(code)}): ${stderr}`)));
  });
  await listening;
  return {
    child,
    records,
    waitFor(pred, timeoutMs) {
      return new Promise((resolveP, reject) => {
        const check = (): void => {
          const r = records.find(pred);
          if (r) {
            clearTimeout(timer);
            waiters.delete(check);
            resolveP(r);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`boot-http: no matching request within ${String(timeoutMs)} ms`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
  };
}

export interface DnsmasqOptions {
  files: BootFiles;
  /** Put iPXE's option 175.176 (no-pxedhcp) = 1 in offers to iPXE, so it does not wait for ProxyDHCP. */
  noPxedhcp?: boolean;
  /** Send IPv6 router advertisements on the bridge (needs createBootNetwork({ ipv6: true })). */
  ra?: boolean;
  /** dnsmasq pings an address before offering it (up to ~3 s per new lease) unless this is set. Default true. */
  noPing?: boolean;
  extraArgs?: string[];
}

export interface Dnsmasq {
  child: ChildProcess;
  /** Its log (--log-dhcp), each line timed. */
  log: TimedLine[];
  args: string[];
}

/** dnsmasq-base in the namespace, foreground, DHCP + TFTP only (no DNS). */
export async function startDnsmasq(net: BootNetwork, o: DnsmasqOptions): Promise<Dnsmasq> {
  const f = o.files;
  const args = [
    '--keep-in-foreground',
    '--log-facility=-',
    '--log-dhcp',
    '--conf-file=/dev/null',
    '--no-resolv',
    '--no-hosts',
    '--pid-file=',
    '--user=root',
    '--group=root',
    '--port=0',
    `--interface=${net.bridge}`,
    '--bind-interfaces',
    `--dhcp-leasefile=${join(f.dir, 'dnsmasq.leases')}`,
    '--dhcp-range=198.51.100.100,198.51.100.199,255.255.255.0,1h',
    '--dhcp-authoritative',
    '--enable-tftp',
    `--tftp-root=${f.tftpRoot}`,
    '--dhcp-match=set:efi,option:client-arch,7',
    '--dhcp-match=set:efi,option:client-arch,9',
    '--dhcp-userclass=set:ipxe,iPXE',
    `--dhcp-boot=tag:ipxe,${f.scriptUrl}`,
    '--dhcp-boot=tag:!ipxe,tag:efi,snponly.efi',
    '--dhcp-boot=tag:!ipxe,tag:!efi,undionly.kpxe',
  ];
  if (o.noPing ?? true) args.push('--no-ping');
  if (o.noPxedhcp) args.push('--dhcp-option=tag:ipxe,encap:175,176,1');
  if (o.ra) args.push('--enable-ra', `--dhcp-range=::,constructor:${net.bridge},ra-only,64,1h`);
  args.push(...(o.extraArgs ?? []));
  const child = net.netns.spawn(net.ns, '/usr/sbin/dnsmasq', args);
  const log: TimedLine[] = [];
  let ready!: () => void;
  const started = new Promise<void>((resolveP, reject) => {
    ready = resolveP;
    child.once('exit', (code) => reject(new Error(`dnsmasq exited (${String(code)}):\n${log.map((l) => l.text).join('\n')}`)));
  });
  lineReader(child, (text, t) => {
    log.push({ t, text });
    // Its last start-up line is the TFTP root ("TFTP root is …").
    if (/TFTP root is/.test(text)) ready();
  });
  await started;
  return { child, log, args };
}

export interface BootVmOptions {
  net: BootNetwork;
  /**
   * The test's HTTP/phone-home server: bootVm then also waits for the POST there. Without it (a
   * boot against the ironbay daemon) the console's IRONBAY-PHONED-HOME line is the phone-home.
   */
  http?: BootHttp;
  name: string;
  firmware: 'bios' | 'uefi';
  mac: string;
  /** Folder for the serial log (`<name>.serial.log`). */
  logDir: string;
  nic?: 'virtio' | 'e1000';
  memoryMiB?: number;
  /** Whole boot, power-on to phone-home; default 180 s. */
  timeoutMs?: number;
  /** dnsmasq's log, to put its lines for this MAC into the timeline. */
  dhcpLog?: TimedLine[];
}

export interface BootResult {
  name: string;
  firmware: 'bios' | 'uefi';
  mac: string;
  /** Power-on (qemu spawned) to the phone-home POST received by the server (without `http`: seen on the console). */
  phoneHomeMs: number;
  /** Power-on to the IRONBAY-PHONED-HOME line on the serial console. */
  serialPhonedHomeMs: number;
  /** The POST's JSON body as the server got it (undefined without `http`). */
  report: unknown;
  /** First-occurrence times (ms since power-on) of boot milestones found on the console. */
  milestones: Record<string, number>;
  /** The DHCP server's log lines for this MAC (and TFTP lines for its addresses), t in ms since power-on. */
  dhcp: TimedLine[];
  /** HTTP requests from this VM's addresses, t in ms since power-on. */
  http: HttpRecord[];
  /** Serial console, DHCP server log lines for this MAC and HTTP requests, merged, times since power-on. */
  timeline: string;
  serial: string;
  serialLines: SerialLine[];
  serialLog: string;
  exit: { code: number | null; signal: NodeJS.Signals | null };
}

/** Console milestones: label → the line that marks it (first occurrence). */
export const MILESTONES: [string, RegExp][] = [
  ['seabios', /SeaBIOS \(version/],
  ['ovmf-pxe', /Start PXE over IPv4/],
  ['nbp-downloaded', /NBP file downloaded successfully/],
  ['ipxe', /iPXE (initialising devices|\d|-- Open Source)/],
  ['ipxe-configuring', /Configuring \(net\d/],
  ['ipxe-script', /boot\.ipxe/],
  ['ipxe-kernel', /vmlinuz/],
  ['initrd-up', /IRONBAY-INITRD-UP/],
  ['dhcp-bound', /IRONBAY-DHCP-BOUND/],
  ['phoned-home', /IRONBAY-PHONED-HOME/],
  ['poweroff', /IRONBAY-POWEROFF/],
];

function fmt(ms: number): string {
  return `[${(ms / 1000).toFixed(3).padStart(8)}]`;
}

/**
 * Powers on one VM on the boot network and waits for its phone-home (the POST at the server and
 * the marker on the console) and for qemu to exit after `poweroff -f`. Throws with the console
 * timeline if it does not get there in time. The VM is always killed.
 */
export async function bootVm(o: BootVmOptions): Promise<BootResult> {
  const timeoutMs = o.timeoutMs ?? 180_000;
  const serialLog = join(o.logDir, `${o.name}.serial.log`);
  const vm: Vm = await startVm({ netns: o.net.netns, ns: o.net.ns, bridge: o.net.bridge, firmware: o.firmware, mac: o.mac, name: o.name, serialLog, nic: o.nic, memoryMiB: o.memoryMiB });
  // The VM's power-on on the epoch clock (peers' records carry epoch ms).
  const powerOn = Date.now() - (performance.now() - vm.startedAt);
  try {
    const machine = o.mac.toLowerCase().replaceAll(':', '-');
    const [serialHit, report] = await Promise.all([
      vm.waitForSerial(/IRONBAY-PHONED-HOME \d+/, timeoutMs),
      o.http?.waitFor((r) => r.method === 'POST' && typeof r.body === 'object' && r.body !== null && (r.body as { machine?: unknown }).machine === machine, timeoutMs),
    ]);
    let timer: NodeJS.Timeout | undefined;
    const exit = await Promise.race([vm.exited, new Promise<null>((r) => (timer = setTimeout(() => r(null), 30_000)))]);
    clearTimeout(timer);
    if (!exit) throw new Error(`${o.name}: phoned home but did not power off within 30 s\n${vm.timeline()}`);
    const lines = vm.lines();
    const milestones: Record<string, number> = {};
    for (const [label, re] of MILESTONES) {
      const l = lines.find((x) => re.test(x.text));
      if (l) milestones[label] = Math.round(l.t0);
    }
    const merged: { t: number; text: string }[] = lines.map((l) => ({ t: l.t0, text: `console ${l.text}${l.t - l.t0 >= 100 ? `  (line ended at ${(l.t / 1000).toFixed(3)})` : ''}` }));
    const macLower = o.mac.toLowerCase();
    const since = (l: { t: number }): boolean => l.t >= powerOn - 1000;
    // This VM's addresses: those the DHCP server acknowledged for its MAC, and the initrd's lease.
    const ips = new Set<string>();
    for (const l of (o.dhcpLog ?? []).filter(since)) {
      const m = /DHCPACK\(\S+\) ([\d.]+) (\S+)/.exec(l.text);
      if (m && m[2]!.toLowerCase() === macLower) ips.add(m[1]!);
    }
    const bound = lines.find((l) => /IRONBAY-DHCP-BOUND/.test(l.text))?.text.match(/ip=([\d.]+)/)?.[1];
    if (bound) ips.add(bound);
    const mine = (text: string): boolean => text.toLowerCase().includes(macLower) || [...ips].some((ip) => new RegExp(`\\b${ip.replaceAll('.', '\\.')}\\b`).test(text));
    // DHCP lines for its MAC; TFTP lines for its addresses.
    const dhcp = (o.dhcpLog ?? []).filter((l) => since(l) && mine(l.text) && (/DHCP|RTR-/.test(l.text) || /tftp/i.test(l.text))).map((l) => ({ t: l.t - powerOn, text: l.text }));
    for (const l of dhcp) merged.push({ t: l.t, text: `server  ${l.text}` });
    const http = (o.http?.records ?? []).filter((r) => since(r) && ips.has(r.remote?.replace(/^::ffff:/, '') ?? '')).map((r) => ({ ...r, t: r.t - powerOn }));
    for (const r of http) merged.push({ t: r.t, text: `http    ${r.method} ${r.path} ${String(r.status)} from ${r.remote ?? '?'}` });
    merged.sort((a, b) => a.t - b.t);
    return {
      name: o.name,
      firmware: o.firmware,
      mac: o.mac,
      phoneHomeMs: report ? report.t - powerOn : serialHit.ms,
      serialPhonedHomeMs: serialHit.ms,
      report: report?.body,
      milestones,
      timeline: merged.map((m) => `${fmt(m.t)} ${m.text}`).join('\n'),
      dhcp,
      http,
      serial: vm.serial(),
      serialLines: lines,
      serialLog,
      exit: { code: exit.code, signal: exit.signal },
    };
  } finally {
    await vm.kill();
  }
}

/** 52:54:00:e2:XX:YY for machine `i` of a run (locally administered, qemu's OUI). */
export function testMac(i: number, salt = 0): string {
  const b = [0x52, 0x54, 0x00, 0xe2, salt & 0xff, i & 0xff];
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

export interface BootWithDnsmasqOptions {
  /** The machines to boot at once. */
  vms: { name: string; firmware: 'bios' | 'uefi'; mac?: string; nic?: 'virtio' | 'e1000' }[];
  /** Where logs go (serial logs, dnsmasq.log, http.log); default a temporary folder, removed. */
  logDir?: string;
  noPxedhcp?: boolean;
  ra?: boolean;
  noPing?: boolean;
  memoryMiB?: number;
  timeoutMs?: number;
  tag?: string;
}

export interface BootWithDnsmasqResult {
  results: BootResult[];
  /** Power-on of the first VM to the last phone-home. */
  wallMs: number;
  dnsmasqLog: TimedLine[];
  httpRecords: HttpRecord[];
  dnsmasqArgs: string[];
}

/**
 * The dnsmasq baseline in one call: a boot network, dnsmasq (DHCP + TFTP), the HTTP/phone-home
 * server, and `vms` powered on together; everything is torn down before it returns.
 */
export async function bootWithDnsmasq(o: BootWithDnsmasqOptions): Promise<BootWithDnsmasqResult> {
  const work = await mkdtemp(join(tmpdir(), 'ironbay-e2e-'));
  let net: BootNetwork | undefined;
  try {
    const logDir = o.logDir ?? work;
    await mkdir(logDir, { recursive: true });
    const lab = (net = await createBootNetwork({ tag: o.tag, ipv6: o.ra }));
    const files = await prepareBootFiles(join(work, 'files'));
    const http = await startBootHttp(lab, files.httpRoot);
    const dnsmasq = await startDnsmasq(lab, { files, noPxedhcp: o.noPxedhcp, ra: o.ra, noPing: o.noPing });
    const t0 = Date.now();
    const settled = await Promise.allSettled(
      o.vms.map((v, i) =>
        bootVm({ net: lab, http, name: v.name, firmware: v.firmware, mac: v.mac ?? testMac(i), nic: v.nic, logDir, memoryMiB: o.memoryMiB, timeoutMs: o.timeoutMs, dhcpLog: dnsmasq.log }),
      ),
    );
    const wallMs = Date.now() - t0;
    await writeFile(join(logDir, 'dnsmasq.log'), dnsmasq.log.map((l) => `${new Date(l.t).toISOString()} ${l.text}`).join('\n') + '\n');
    await writeFile(join(logDir, 'http.log'), http.records.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const failed = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed.length) throw new Error(failed.map((f) => String(f.reason instanceof Error ? f.reason.message : f.reason)).join('\n\n'));
    return {
      results: settled.map((s) => (s as PromiseFulfilledResult<BootResult>).value),
      wallMs,
      dnsmasqLog: dnsmasq.log,
      httpRecords: http.records,
      dnsmasqArgs: dnsmasq.args,
    };
  } finally {
    await net?.dispose();
    await rm(work, { recursive: true, force: true });
  }
}

export interface DhcpTransaction {
  xid: string;
  /** ms since power-on of each DISCOVER / OFFER, and of the (first) REQUEST and ACK. */
  discovers: number[];
  offers: number[];
  request?: number;
  ack?: number;
  /** The message types in log order, e.g. DISCOVER OFFER DISCOVER OFFER REQUEST ACK. */
  sequence: string[];
}

/**
 * Whether the client sent DISCOVER again after it had an OFFER and before its REQUEST: what iPXE
 * does while it waits for ProxyDHCP offers (its DISCOVER timer fires at 1 s, the wait ends at ~3 s).
 */
export function waitedAfterOffer(tx: DhcpTransaction): boolean {
  const firstOffer = tx.sequence.indexOf('OFFER');
  const request = tx.sequence.indexOf('REQUEST');
  return firstOffer >= 0 && tx.sequence.slice(firstOffer, request < 0 ? undefined : request).includes('DISCOVER');
}

/** The DHCP transactions of one boot, from dnsmasq's log lines ("<xid> DHCPDISCOVER(br) …"), in order. */
export function dhcpTransactions(dhcp: TimedLine[]): DhcpTransaction[] {
  const byXid = new Map<string, DhcpTransaction>();
  for (const l of dhcp) {
    const m = /\b(\d+) DHCP(DISCOVER|OFFER|REQUEST|ACK)\(/.exec(l.text);
    if (!m) continue;
    const xid = m[1]!;
    let tx = byXid.get(xid);
    if (!tx) byXid.set(xid, (tx = { xid, discovers: [], offers: [], sequence: [] }));
    tx.sequence.push(m[2]!);
    if (m[2] === 'DISCOVER') tx.discovers.push(l.t);
    else if (m[2] === 'OFFER') tx.offers.push(l.t);
    else if (m[2] === 'REQUEST') tx.request ??= l.t;
    else tx.ack ??= l.t;
  }
  return [...byXid.values()];
}

export interface IpxeWaits {
  /** iPXE's own DHCP transaction (the one whose ACK last precedes its GET of the script). */
  transaction: DhcpTransaction;
  /** First OFFER → REQUEST: the wait for ProxyDHCP offers (absent with option 175.176 = 1). */
  proxyDhcpWaitMs: number;
  /** ACK → GET of the script: iPXE still configuring, i.e. waiting for IPv6 autoconfiguration. */
  afterAckMs: number;
  /** iPXE's "Configuring (net0 …)" line, from its start to its "ok". */
  configuringMs?: number;
  /**
   * Whether iPXE printed a global IPv6 address, i.e. got a router advertisement with a prefix (a
   * prefix-less RA also ends its wait, but leaves no such line: look at configuringMs then).
   */
  gotRouterAdvertisement: boolean;
}

/** Where iPXE spent its time between link-up and fetching its script, for one boot. */
export function ipxeWaits(r: BootResult, scriptPath = '/boot.ipxe'): IpxeWaits {
  const get = r.http.find((h) => h.method === 'GET' && h.path === scriptPath);
  if (!get) throw new Error(`${r.name}: no GET ${scriptPath}`);
  const before = dhcpTransactions(r.dhcp).filter((t) => t.ack !== undefined && t.ack <= get.t);
  const tx = before.at(-1);
  if (!tx || tx.request === undefined || tx.ack === undefined || !tx.offers.length) throw new Error(`${r.name}: no complete DHCP transaction before the script`);
  const conf = r.serialLines.find((l) => /Configuring \(net\d/.test(l.text));
  return {
    transaction: tx,
    proxyDhcpWaitMs: Math.round(tx.request - tx.offers[0]!),
    afterAckMs: Math.round(get.t - tx.ack),
    configuringMs: conf ? Math.round(conf.t - conf.t0) : undefined,
    gotRouterAdvertisement: r.serialLines.some((l) => /net\d: (?!fe80:)[0-9a-f]*:[0-9a-f:]*\/\d+/.test(l.text)),
  };
}

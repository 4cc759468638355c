// DHCP server modes and durability, in the real daemon inside a namespace: discovery (unknown
// MACs leased and registered as discovered machines, then adopted by the inventory), leases
// across kill -9, and ProxyDHCP (boot information only, port 4011).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TestDaemon } from '../helpers/daemon.ts';
import { DhcpClients, type Client } from '../helpers/dhcp-clients.ts';
import { Netns } from '../helpers/netns.ts';

const KNOWN = '02:00:00:00:b0:01';
const STRANGER = '02:00:00:00:b0:99';
const OTHER = '02:00:00:00:b0:98';

const inventory = (extra = ''): string => `
networks:
  boot:
    - name: boot-a
      subnet: 198.51.100.0/24
      pool: { start: 198.51.100.100, end: 198.51.100.199 }
machines:
  - { name: known, macs: ["${KNOWN}"], role: worker }
${extra}`;

interface Machine {
  name: string;
  state: string;
}

describe('DHCP modes: discovery, kill -9, proxy', { timeout: 180_000 }, () => {
  const lab = new Netns('dhm');
  const tmp = mkdtempSync(join(tmpdir(), 'ironbay-dhcp-modes-'));
  let srv: string, lan: string, bootIf: string;
  let daemon: TestDaemon | undefined;
  let dhcp: DhcpClients;
  const clientOn = (mac: string): Promise<Client> => dhcp.on(mac, lan, `${lab.prefix}br`);
  const udhcpc = async (mac: string, extra: string[] = []): Promise<Record<string, string> | undefined> => dhcp.udhcpc(await clientOn(mac), extra);

  const start = async (mode: string, inv: string, dir?: string): Promise<TestDaemon> =>
    TestDaemon.start({ inventory: inv, netns: srv, configExtra: `boot: { interfaces: [${bootIf}], mode: ${mode} }\n`, ...(dir ? { dir } : {}) });

  before(async () => {
    dhcp = new DhcpClients(lab, tmp);
    srv = await lab.add('srv');
    lan = await lab.add('lan');
    await lab.bridge(lan, 'br');
    const [b, peer] = await lab.veth({ ns: srv, suffix: 'bt', cidr: '198.51.100.1/24' }, { ns: lan, suffix: 'btp' });
    bootIf = b;
    await lab.exec(lan, 'ip', ['link', 'set', peer, 'master', `${lab.prefix}br`]);
  });

  after(async () => {
    daemon?.cleanup();
    await lab.dispose();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('discovery: an unknown MAC gets a lease and appears as a discovered machine; the inventory adopts it', async () => {
    daemon = await start('discovery', inventory());
    const lease = await udhcpc(STRANGER);
    assert.ok(lease, 'no lease in discovery mode');
    assert.match(lease.ip!, /^198\.51\.100\.1\d\d$/);
    const list = await daemon.api<{ machines: Machine[] }>('GET', '/api/v1/machines');
    const found = list.body.machines.find((m) => m.name === 'discovered-02000000b099');
    assert.equal(found?.state, 'discovered', JSON.stringify(list).slice(0, 600));
    // Naming it in the file turns the discovered row into the machine, history and all.
    writeFileSync(daemon.inventoryFile, inventory(`  - { name: stranger, macs: ["${STRANGER}"], role: worker }\n`));
    await daemon.waitForLog((l) => l.msg === 'inventory applied' || l.msg === 'inventory reloaded', 15_000, daemon.logs.length);
    const after = await daemon.api<{ machines: Machine[] }>('GET', '/api/v1/machines');
    assert.equal(after.body.machines.find((m) => m.name === 'stranger')?.state, 'registered');
    assert.ok(!after.body.machines.some((m) => m.name.startsWith('discovered-')));
    const events = await daemon.api<{ events: { kind: string; machine: string | null }[] }>('GET', '/api/v1/events?machine=stranger');
    assert.deepEqual(
      events.body.events.map((e) => e.kind),
      ['machine.discovered', 'machine.registered'],
    );
  });

  test('IPv6: a router solicitation on the boot network gets an advertisement that configures nothing (rdisc6)', async () => {
    const c = await clientOn(KNOWN);
    // The solicitation needs a link-local source address, usable once duplicate address detection is over.
    for (let i = 0; i < 50; i++) {
      const a = await lab.exec(c.ns, 'ip', ['-6', 'addr', 'show', 'dev', c.dev, 'scope', 'link']);
      if (/inet6 fe80/.test(a.stdout) && !/tentative/.test(a.stdout)) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // rdisc6 sends a solicitation and prints the advertisement it gets back.
    // One try, one second: only an answer to the solicitation counts, not the periodic one.
    const r = await lab.try(c.ns, 'rdisc6', ['-1', '-r', '1', '-w', '1000', c.dev]);
    assert.equal(r.code, 0, `no router advertisement: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /Router lifetime\s*:\s*0 \(0x00000000\) seconds/);
    assert.match(r.stdout, /Stateful address conf\.\s*:\s*No/);
    assert.match(r.stdout, /Stateful other conf\.\s*:\s*No/);
    assert.doesNotMatch(r.stdout, /Prefix/);
  });

  test('kill -9 loses no lease: after a restart each client keeps its address and no address is handed out twice', async () => {
    assert.ok(daemon);
    const a = await udhcpc(KNOWN);
    const b = await udhcpc(OTHER);
    assert.ok(a && b);
    assert.notEqual(a.ip, b.ip);
    const code = await daemon.stop('SIGKILL');
    assert.equal(code, null);
    daemon = await start('discovery', inventory(`  - { name: stranger, macs: ["${STRANGER}"], role: worker }\n`), daemon.dir);
    // A new client must not get either address; the old ones get theirs back.
    const c = await udhcpc('02:00:00:00:b0:97');
    assert.ok(c);
    assert.ok(![a.ip, b.ip].includes(c.ip), `${c.ip} was handed out twice`);
    assert.equal((await udhcpc(KNOWN))?.ip, a.ip);
    assert.equal((await udhcpc(OTHER))?.ip, b.ip);
  });

  test('proxy: boot information only — OFFER with no address on 67, ACK on 4011; ordinary clients get nothing', async () => {
    assert.ok(daemon);
    await daemon.stop();
    daemon = await start('proxy', inventory(), daemon.dir);
    const c = await clientOn(KNOWN);
    await lab.exec(c.ns, 'ip', ['addr', 'add', '198.51.100.50/24', 'dev', c.dev]);
    const replies = await dhcp.raw(c.ns, {
      device: c.dev,
      port: 68,
      steps: [
        { type: 'DISCOVER', mac: KNOWN, xid: 5, vendorClass: 'PXEClient:Arch:00007:UNDI:003016', clientArch: 7, to: { address: '255.255.255.255', port: 67 }, waitMs: 700 },
        // Then, with the address the site's own DHCP server gave, to the boot server port.
        {
          type: 'REQUEST',
          mac: KNOWN,
          xid: 6,
          ciaddr: '198.51.100.50',
          vendorClass: 'PXEClient:Arch:00007:UNDI:003016',
          clientArch: 7,
          to: { address: '198.51.100.1', port: 4011 },
          waitMs: 700,
        },
      ],
    });
    assert.deepEqual(
      replies.map((x) => [x.type, x.yiaddr, x.file, x.siaddr, x.vendorClass]),
      [
        ['OFFER', '0.0.0.0', 'snponly.efi', '198.51.100.1', 'PXEClient'],
        ['ACK', '0.0.0.0', 'snponly.efi', '198.51.100.1', 'PXEClient'],
      ],
    );
    // PXE discovery control 8: boot the file named here, no boot-server discovery.
    assert.equal(replies[0]!.options['43'], '060108ff');
    await lab.exec(c.ns, 'ip', ['addr', 'del', '198.51.100.50/24', 'dev', c.dev]);
    assert.equal(await udhcpc(KNOWN, ['-t', '2']), undefined, 'proxy mode handed out an address');
  });
});

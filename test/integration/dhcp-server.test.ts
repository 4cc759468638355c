// The DHCP server in the real daemon, against real clients (busybox udhcpc, ISC dhclient,
// ISC dhcrelay) in network namespaces:
//
//   ns srv (the appliance)  boot veth 198.51.100.1/24 ── ns lan (a bridge: the boot VLAN)
//                           prod veth 203.0.113.1/24 ── ns prod (a production client)
//   ns lan: bridge with the appliance, clients, an address squatter and the relay's leg
//   ns rly (a relay)        198.51.100.2/24 on the boot VLAN, 198.18.5.1/24 toward rack 2
//   ns rack2                a client behind the relay
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { TestDaemon } from '../helpers/daemon.ts';
import { DhcpClients, type Client, type RawReply } from '../helpers/dhcp-clients.ts';
import { Netns } from '../helpers/netns.ts';
import { run } from '../helpers/run.ts';

const ALPHA = '02:00:00:00:a0:01'; // reserved 198.51.100.10
const BRAVO = '02:00:00:00:a0:02'; // pool
const CHARLIE = '02:00:00:00:a0:03'; // behind the relay
const DELTA = '02:00:00:00:a0:04'; // pool; meets a squatter
const UNKNOWN = '02:00:00:00:ff:01';

const INVENTORY = `
networks:
  boot:
    - name: boot-a
      subnet: 198.51.100.0/24
      pool: { start: 198.51.100.100, end: 198.51.100.199 }
      leaseSeconds: 600
    - name: rack-2
      subnet: 198.18.5.0/24
      gateway: 198.18.5.1
      pool: { start: 198.18.5.100, end: 198.18.5.150 }
machines:
  - { name: alpha, macs: ["${ALPHA}"], role: worker, bootAddress: 198.51.100.10 }
  - { name: bravo, macs: ["${BRAVO}"], role: worker }
  - { name: charlie, macs: ["${CHARLIE}"], role: worker }
  - { name: delta, macs: ["${DELTA}"], role: worker }
`;


describe('DHCP server against udhcpc, dhclient and dhcrelay in namespaces', { timeout: 240_000 }, () => {
  const lab = new Netns('dhcp');
  const tmp = mkdtempSync(join(tmpdir(), 'ironbay-dhcp-'));
  let daemon: TestDaemon;
  let srv: string, lan: string, prod: string, rly: string, rack2: string;
  let bootIf: string, prodIf: string;
  let dhcp: DhcpClients;

  const clientOn = (mac: string, where: 'lan' | 'prod' = 'lan'): Promise<Client> =>
    where === 'lan' ? dhcp.on(mac, lan, `${lab.prefix}br`) : dhcp.on(mac, prod, `${lab.prefix}pb`);
  const udhcpc = (c: Client, extra: string[] = []): Promise<Record<string, string> | undefined> => dhcp.udhcpc(c, extra);
  const raw = (ns: string, script: object): Promise<RawReply[]> => dhcp.raw(ns, script);

  const leases = (): { address: string; mac: string; state: string }[] => {
    const db = new Database(join(daemon.dir, 'data', 'ironbay.db'), { readonly: true });
    try {
      return db.prepare('SELECT address, mac, state FROM leases ORDER BY address').all() as { address: string; mac: string; state: string }[];
    } finally {
      db.close();
    }
  };

  before(async () => {
    dhcp = new DhcpClients(lab, tmp);
    srv = await lab.add('srv');
    lan = await lab.add('lan');
    prod = await lab.add('prod');
    rly = await lab.add('rly');
    rack2 = await lab.add('rack2');
    await lab.bridge(lan, 'br');
    await lab.bridge(prod, 'pb');
    const [b, bPeer] = await lab.veth({ ns: srv, suffix: 'bt', cidr: '198.51.100.1/24' }, { ns: lan, suffix: 'btp' });
    const [p, pPeer] = await lab.veth({ ns: srv, suffix: 'pr', cidr: '203.0.113.1/24' }, { ns: prod, suffix: 'prp' });
    bootIf = b;
    prodIf = p;
    await lab.exec(lan, 'ip', ['link', 'set', bPeer, 'master', `${lab.prefix}br`]);
    await lab.exec(prod, 'ip', ['link', 'set', pPeer, 'master', `${lab.prefix}pb`]);
    // The relay: one leg on the boot VLAN, one toward rack 2; the appliance routes rack 2 through it.
    const [, rlyLan] = await lab.veth({ ns: lan, suffix: 'rl' }, { ns: rly, suffix: 'rL', cidr: '198.51.100.2/24' });
    await lab.exec(lan, 'ip', ['link', 'set', `${lab.prefix}rl`, 'master', `${lab.prefix}br`]);
    const [rlyRack] = await lab.veth({ ns: rly, suffix: 'rR', cidr: '198.18.5.1/24' }, { ns: rack2, suffix: 'k2' });
    await lab.exec(rack2, 'ip', ['link', 'set', `${lab.prefix}k2`, 'down']);
    await lab.exec(rack2, 'ip', ['link', 'set', `${lab.prefix}k2`, 'address', CHARLIE]);
    await lab.exec(rack2, 'ip', ['link', 'set', `${lab.prefix}k2`, 'up']);
    await lab.exec(rly, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
    await lab.exec(srv, 'ip', ['route', 'add', '198.18.5.0/24', 'via', '198.51.100.2']);
    // -a: add option 82 (circuit id = the rack-side interface) and require it in replies.
    lab.spawn(rly, 'dhcrelay', ['-d', '-4', '-a', '-id', rlyRack, '-iu', rlyLan, '198.51.100.1']);

    daemon = await TestDaemon.start({
      inventory: INVENTORY,
      netns: srv,
      // The production interface exists in the appliance's namespace and must stay silent.
      configExtra: `boot: { interfaces: [${bootIf}], mode: reservation }\n`,
    });
  });

  after(async () => {
    daemon?.cleanup();
    await lab.dispose();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('udhcpc gets the reserved address of a known machine, with lease, server id and mask', async () => {
    const lease = await udhcpc(await clientOn(ALPHA));
    assert.ok(lease, 'udhcpc got no lease');
    assert.equal(lease.ip, '198.51.100.10');
    assert.equal(lease.mask, '24');
    assert.equal(lease.serverid, '198.51.100.1');
    assert.equal(lease.lease, '600');
    assert.deepEqual(
      leases().find((l) => l.address === '198.51.100.10'),
      { address: '198.51.100.10', mac: ALPHA, state: 'bound' },
    );
    // Each exchange is in the machine's boot timeline.
    const t = await daemon.api<{ entries: { stage: string; detail: string }[] }>('GET', '/api/v1/machines/alpha/boot');
    assert.deepEqual(
      t.body.entries.map((x) => x.stage),
      ['dhcp-discover', 'dhcp-offer', 'dhcp-ack'],
    );
    assert.match(t.body.entries[2]!.detail, /^198\.51\.100\.10 for 600s/);
  });

  test('dhclient gets a pool address for a known machine without a reservation', async () => {
    const c = await clientOn(BRAVO);
    const conf = join(tmp, 'dhclient.conf');
    writeFileSync(conf, 'timeout 20;\nretry 1;\n');
    const leaseFile = join(tmp, 'dhclient.leases');
    const pid = join(tmp, 'dhclient.pid');
    const r = await lab.try(c.ns, 'dhclient', ['-4', '-1', '-v', '-cf', conf, '-lf', leaseFile, '-pf', pid, '-sf', '/bin/true', c.dev]);
    try {
      assert.equal(r.code, 0, r.stderr);
      const text = readFileSync(leaseFile, 'utf8');
      assert.match(text, /fixed-address 198\.51\.100\.100;/);
      assert.match(text, /option dhcp-server-identifier 198\.51\.100\.1;/);
      assert.match(r.stderr, /DHCPACK of 198\.51\.100\.100 from 198\.51\.100\.1/);
    } finally {
      await run('sh', ['-c', `kill $(cat ${pid}) 2>/dev/null; true`]);
    }
    assert.deepEqual(
      leases().find((l) => l.mac === BRAVO),
      { address: '198.51.100.100', mac: BRAVO, state: 'bound' },
    );
  });

  test('reservation mode: an unknown MAC gets no answer', async () => {
    const lease = await udhcpc(await clientOn(UNKNOWN), ['-t', '2']);
    assert.equal(lease, undefined);
    assert.equal(leases().filter((l) => l.mac === UNKNOWN).length, 0);
  });

  test('only the boot network: a known machine on the production side gets no answer', async () => {
    const before = leases().length;
    const lease = await udhcpc(await clientOn(ALPHA, 'prod'), ['-t', '2']);
    assert.equal(lease, undefined, 'the daemon answered DHCP on the production interface');
    assert.equal(leases().length, before);
    // The daemon did not even see it: its socket exists only on the boot interface.
    assert.ok(!daemon.logs.some((l) => l.device === prodIf), 'a packet from the production interface reached the DHCP server');
  });

  test('relayed through dhcrelay: the rack-2 subnet by giaddr, reply to the relay, option 82 echoed', async () => {
    const lease = await udhcpc({ ns: rack2, dev: `${lab.prefix}k2` });
    assert.ok(lease, 'no lease through the relay');
    assert.equal(lease.ip, '198.18.5.100');
    assert.equal(lease.router, '198.18.5.1');
    assert.equal(lease.serverid, '198.51.100.1');
  });

  test('a relayed request: reply goes to giaddr:67 with option 82 byte for byte', async () => {
    const c = await clientOn('02:00:00:00:a0:10');
    await lab.exec(c.ns, 'ip', ['addr', 'add', '198.51.100.3/24', 'dev', c.dev]);
    const agent = '0104' + Buffer.from('p1/7').toString('hex') + '0206' + '020000000001';
    const replies = await raw(c.ns, {
      device: c.dev,
      port: 67,
      address: '198.51.100.3',
      steps: [{ type: 'DISCOVER', mac: CHARLIE, xid: 77, giaddr: '198.51.100.3', hops: 1, extra: { 82: agent }, to: { address: '198.51.100.1', port: 67 }, waitMs: 1500 }],
    });
    const offer = replies.find((r) => r.type === 'OFFER');
    assert.ok(offer, `no OFFER to the relay: ${JSON.stringify(replies)}`);
    assert.equal(offer.from.address, '198.51.100.1');
    assert.equal(offer.giaddr, '198.51.100.3');
    assert.equal(offer.options['82'], agent);
    // giaddr 198.51.100.3 is on boot-a: the address comes from that pool.
    assert.match(offer.yiaddr, /^198\.51\.100\.1\d\d$/);
  });

  test('NAK: a REQUEST for an address that is not the machine’s; silence for another server’s client', async () => {
    const c = await clientOn(ALPHA);
    const replies = await raw(c.ns, {
      device: c.dev,
      port: 68,
      steps: [
        // INIT-REBOOT for the wrong address: NAK, broadcast.
        { type: 'REQUEST', mac: ALPHA, xid: 1, requested: '198.51.100.150', to: { address: '255.255.255.255', port: 67 }, waitMs: 800 },
        // SELECTING another server's offer: no answer.
        { type: 'REQUEST', mac: ALPHA, xid: 2, requested: '198.51.100.10', serverId: '198.51.100.254', to: { address: '255.255.255.255', port: 67 }, waitMs: 800 },
      ],
    });
    assert.deepEqual(
      replies.map((r) => [r.type, r.yiaddr]),
      [['NAK', '0.0.0.0']],
    );
    assert.match(replies[0]!.message ?? '', /reserved 198\.51\.100\.10/);
  });

  test('DECLINE: udhcpc finds the offered address in use (ARP) and the next offer avoids it', async () => {
    const delta = await clientOn(DELTA);
    const [offer] = await raw(delta.ns, {
      device: delta.dev,
      port: 68,
      steps: [{ type: 'DISCOVER', mac: DELTA, to: { address: '255.255.255.255', port: 67 }, waitMs: 600 }],
    });
    const taken = offer!.yiaddr;
    // A squatter on the boot VLAN already uses the address the server holds for delta.
    const squat = await clientOn('02:00:00:00:ee:01');
    await lab.exec(squat.ns, 'ip', ['addr', 'add', `${taken}/24`, 'dev', squat.dev]);
    const lease = await udhcpc(delta, ['-a']);
    assert.ok(lease, 'udhcpc got no lease after declining');
    assert.notEqual(lease.ip, taken);
    const rows = leases();
    assert.deepEqual(
      rows.find((l) => l.address === taken),
      { address: taken, mac: DELTA, state: 'declined' },
    );
    assert.deepEqual(
      rows.find((l) => l.address === lease.ip),
      { address: lease.ip, mac: DELTA, state: 'bound' },
    );
  });

  test('boot decisions: PXE firmware (option 93) gets an iPXE build over TFTP; iPXE gets its script URL and 175.176', async () => {
    const c = await clientOn(ALPHA);
    const replies = await raw(c.ns, {
      device: c.dev,
      port: 68,
      steps: [
        { type: 'DISCOVER', mac: ALPHA, xid: 10, vendorClass: 'PXEClient:Arch:00000:UNDI:002001', clientArch: 0, to: { address: '255.255.255.255', port: 67 }, waitMs: 600 },
        { type: 'DISCOVER', mac: ALPHA, xid: 11, vendorClass: 'PXEClient:Arch:00007:UNDI:003016', clientArch: 7, to: { address: '255.255.255.255', port: 67 }, waitMs: 600 },
        { type: 'DISCOVER', mac: ALPHA, xid: 12, vendorClass: 'PXEClient:Arch:00000:UNDI:002001', clientArch: 0, userClass: ['iPXE'], to: { address: '255.255.255.255', port: 67 }, waitMs: 600 },
      ],
    });
    assert.equal(replies.length, 3, JSON.stringify(replies));
    const [bios, uefi, ipxe] = replies as [RawReply, RawReply, RawReply];
    assert.deepEqual([bios.file, bios.siaddr, bios.vendorClass], ['undionly.kpxe', '198.51.100.1', 'PXEClient']);
    assert.deepEqual([uefi.file, uefi.siaddr], ['snponly.efi', '198.51.100.1']);
    assert.equal(ipxe.file, `http://198.51.100.1:8080/boot/ipxe?mac=${ALPHA}`);
    assert.equal(ipxe.ipxeNoPxeDhcp, true);
    assert.equal(bios.yiaddr, '198.51.100.10');
  });

  test('hostile packets are dropped and counted; a real client is still served afterwards', async () => {
    const c = await clientOn(BRAVO);
    let seed = 0x2545f491;
    const rnd = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) & 255;
    const steps = Array.from({ length: 200 }, (_, i) => {
      const len = i % 3 === 0 ? 8 + (i % 50) : 240 + (i % 300);
      const bytes = Buffer.from(Array.from({ length: len }, rnd));
      if (i % 2 === 0 && len > 240) {
        bytes[0] = 1; // op BOOTREQUEST, Ethernet, cookie: gets past the first checks
        bytes[1] = 1;
        bytes[2] = 6;
        bytes.writeUInt32BE(0x63825363, 236);
      }
      return { rawHex: bytes.toString('hex'), to: { address: '255.255.255.255', port: 67 }, waitMs: 2 };
    });
    await raw(c.ns, { device: c.dev, port: 68, steps });
    const lease = await udhcpc(c);
    assert.ok(lease, 'the server stopped answering after hostile input');
    assert.equal(daemon.proc.exitCode, null);
    // Counted, by reason, where an operator looks.
    const m = await lab.exec(srv, 'curl', ['-sS', '-H', `authorization: Bearer ${daemon.token}`, `${daemon.url}/metrics`]);
    const malformed = [...m.stdout.matchAll(/^ironbay_dhcp_malformed_total\{reason="([^"]+)"\} (\d+)$/gm)].map((x) => [x[1], Number(x[2])] as const);
    assert.ok(malformed.length >= 2, `malformed packets not counted by reason:\n${m.stdout.split('\n').filter((l) => l.startsWith('ironbay_dhcp')).join('\n')}`);
    assert.ok(malformed.reduce((a, [, n]) => a + n, 0) >= 100);
    assert.match(m.stdout, /^ironbay_dhcp_dropped_total\{reason="unknown-client"\} [1-9]/m);
    assert.match(m.stdout, /^ironbay_dhcp_replies_total\{type="ACK"\} [1-9]/m);
  });
});

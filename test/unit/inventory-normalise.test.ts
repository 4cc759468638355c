// Normalisation (parse → normalise → validate) and the inventory diff that turns an edit into
// one event per change. Two spellings of the same inventory must normalise to the same
// document and diff to nothing.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { canonicalJson } from '../../daemon/lib/canonical-json.ts';
import { formatSourceError } from '../../daemon/lib/yaml-source.ts';
import { diffInventories, diffNamed, emptyInventory, fieldChanges, isEmptyDiff } from '../../inventory/diff.ts';
import type { NormalizedInventory } from '../../inventory/schema.ts';
import { loadInventory } from '../../inventory/validate.ts';

function load(text: string): NormalizedInventory {
  const r = loadInventory('inventory.yaml', text);
  assert.ok(r.ok, r.ok ? '' : r.errors.map(formatSourceError).join('\n'));
  return r.inventory;
}

const BASE = `
networks:
  boot:
    - { name: boot, subnet: 198.51.100.0/24, gateway: 198.51.100.1, pool: { start: 198.51.100.100, end: 198.51.100.199 } }
  production:
    - { name: prod, subnet: 203.0.113.0/24, gateway: 203.0.113.1, dns: [203.0.113.53] }
    - { name: prod6, subnet: "2001:db8:0:1::/64", gateway: "2001:db8:0:1::1" }
profiles:
  - { name: debian12, kernel: debian12/vmlinuz, initrd: [debian12/initrd.img] }
machines:
  - name: m1
    macs: ["52:54:00:00:00:01"]
    role: worker
    zone: zone-a
    profile: debian12
    bootAddress: 198.51.100.11
    bmc: { driver: ipmi, address: 192.0.2.11, username: admin, passwordEnv: BMC_PASSWORD }
    production: { address: 203.0.113.11/24, gateway: 203.0.113.1 }
    labels: { rack: r1, slot: "4" }
  - name: m2
    macs: ["52:54:00:00:00:02"]
    role: kvm-host
    zone: zone-b
    production: { address: "2001:db8:0:1::12/64" }
clusters:
  - name: c1
    controlPlanes: 1
    workers: 2
    node: { vcpu: 2, memoryMiB: 4096, diskGiB: 20 }
    image: debian12/cloud.qcow2
    kubernetesVersion: 1.31.2
    podCidr: 198.18.0.0/16
    serviceCidr: 198.19.0.0/16
`;

describe('normalisation', () => {
  test('every MAC spelling becomes lower-case colon form', () => {
    const spellings = ['52:54:00:AB:CD:EF', '52-54-00-ab-cd-ef', '5254.00ab.cdef', '525400ABCDEF', '52:54:00:ab:cd:ef'];
    for (const s of spellings) {
      const inv = load(`machines: [{ name: m1, macs: ["${s}"], role: worker }]`);
      assert.deepEqual(inv.machines[0]!.macs, ['52:54:00:ab:cd:ef'], s);
    }
  });

  test('IPv6 addresses are written in RFC 5952 form; IPv4 as dotted quads', () => {
    const inv = load(`
networks:
  production:
    - { name: p6, subnet: "2001:DB8:0:1:0:0:0:0/64", gateway: "2001:0db8:0000:0001::0001", dns: ["2001:DB8::53", 203.0.113.53] }
machines:
  - name: m1
    macs: ["52:54:00:00:00:01"]
    role: worker
    production: { address: "2001:DB8:0:1:0:0:0:12/64", gateway: "2001:db8:0:1:0:0:0:1", dns: ["2001:0DB8:0:0:0:0:0:35"] }
`);
    const net = inv.networks.production[0]!;
    assert.equal(net.subnet, '2001:db8:0:1::/64');
    assert.equal(net.gateway, '2001:db8:0:1::1');
    assert.deepEqual(net.dns, ['2001:db8::53', '203.0.113.53']);
    const p = inv.machines[0]!.production!;
    assert.equal(p.address, '2001:db8:0:1::12/64');
    assert.equal(p.gateway, '2001:db8:0:1::1');
    assert.deepEqual(p.dns, ['2001:db8::35']);
  });

  test('subnets, pools and CIDRs are canonical', () => {
    const inv = load(`
networks:
  boot:
    - { name: boot, subnet: 198.51.100.0/24, pool: { start: 198.51.100.100, end: 198.51.100.199 } }
  production:
    - { name: p6, subnet: "2001:DB8:0:00A0::/60" }
clusters:
  - name: c1
    controlPlanes: 3
    workers: 0
    node: { vcpu: 2, memoryMiB: 4096, diskGiB: 20 }
    image: debian12/cloud.qcow2
    kubernetesVersion: v1.31
    podCidr: "2001:DB8:0:0100::/56"
    serviceCidr: 198.19.0.0/16
    calico: { ipPool: "2001:0db8:0:0100:0000::/64" }
`);
    assert.equal(inv.networks.boot[0]!.subnet, '198.51.100.0/24');
    assert.deepEqual(inv.networks.boot[0]!.pool, { start: '198.51.100.100', end: '198.51.100.199' });
    assert.equal(inv.networks.production[0]!.subnet, '2001:db8:0:a0::/60');
    const c = inv.clusters[0]!;
    assert.equal(c.podCidr, '2001:db8:0:100::/56');
    assert.equal(c.serviceCidr, '198.19.0.0/16');
    assert.equal(c.calico?.ipPool, '2001:db8:0:100::/64');
  });

  test('every section is present after normalisation, empty when left out', () => {
    const inv = load('machines: []');
    assert.deepEqual(inv, emptyInventory());
  });

  test('a BMC host name is kept as written; only IP addresses are rewritten', () => {
    const inv = load(`machines: [{ name: m1, macs: ["52:54:00:00:00:01"], role: worker, bmc: { driver: redfish, address: BMC-m1.example.net, username: root, passwordFile: /run/secrets/m1 } }]`);
    assert.equal(inv.machines[0]!.bmc!.address, 'BMC-m1.example.net');
  });

  test('two BMC host names that differ only in case are one BMC', () => {
    const r = loadInventory(
      'inventory.yaml',
      `machines:
  - { name: m1, macs: ["52:54:00:00:00:01"], role: worker, bmc: { driver: redfish, address: bmc.example.net, username: root, passwordFile: /run/secrets/m1 } }
  - { name: m2, macs: ["52:54:00:00:00:02"], role: worker, bmc: { driver: redfish, address: BMC.example.NET, port: 443, username: root, passwordFile: /run/secrets/m2 } }
`,
    );
    assert.ok(!r.ok);
    assert.deepEqual(r.errors.map((e) => [e.path, e.message]), [
      ['machines[1].bmc.address', 'duplicate BMC address bmc.example.net:443: already used by machine m1 at machines[0].bmc.address'],
    ]);
  });

  test('ipmi and redfish on one BMC address default to different ports, so they do not collide', () => {
    load(`machines:
  - { name: m1, macs: ["52:54:00:00:00:01"], role: worker, bmc: { driver: ipmi, address: 192.0.2.10, username: admin, passwordEnv: P } }
  - { name: m2, macs: ["52:54:00:00:00:02"], role: worker, bmc: { driver: redfish, address: 192.0.2.10, username: admin, passwordEnv: P } }
`);
  });

  test('a different spelling of the same inventory normalises to the same document', () => {
    const respelt = `
clusters:
  - podCidr: 198.18.0.0/16
    serviceCidr: 198.19.0.0/16
    name: c1
    workers: 2
    controlPlanes: 1
    kubernetesVersion: 1.31.2
    image: debian12/cloud.qcow2
    node: { diskGiB: 20, memoryMiB: 4096, vcpu: 2 }
machines:
  - name: m2
    role: kvm-host
    macs: ["52-54-00-00-00-02"]
    production: { address: "2001:DB8:0:1:0:0:0:12/64" }
    zone: zone-b
  - labels: { slot: "4", rack: r1 }
    production: { gateway: 203.0.113.1, address: 203.0.113.11/24 }
    bmc: { passwordEnv: BMC_PASSWORD, username: admin, address: 192.0.2.11, driver: ipmi }
    bootAddress: 198.51.100.11
    profile: debian12
    zone: zone-a
    role: worker
    macs: ["5254.0000.0001"]
    name: m1
profiles:
  - { initrd: [debian12/initrd.img], kernel: debian12/vmlinuz, name: debian12 }
networks:
  production:
    - { gateway: "2001:DB8:0:1::1", subnet: "2001:db8:0:1:0::/64", name: prod6 }
    - { name: prod, dns: [203.0.113.53], subnet: 203.0.113.0/24, gateway: 203.0.113.1 }
  boot:
    - { pool: { end: 198.51.100.199, start: 198.51.100.100 }, gateway: 198.51.100.1, subnet: 198.51.100.0/24, name: boot }
`;
    const a = load(BASE);
    const b = load(respelt);
    assert.ok(isEmptyDiff(diffInventories(a, b)), JSON.stringify(diffInventories(a, b)));
    assert.ok(isEmptyDiff(diffInventories(b, a)));
  });
});

describe('inventory diff', () => {
  test('an empty inventory to BASE adds everything; back removes everything', () => {
    const inv = load(BASE);
    const up = diffInventories(emptyInventory(), inv);
    assert.deepEqual(up.machines, { added: ['m1', 'm2'], removed: [], changed: [] });
    assert.deepEqual(up.profiles.added, ['debian12']);
    assert.deepEqual(up.bootNetworks.added, ['boot']);
    assert.deepEqual(up.productionNetworks.added, ['prod', 'prod6']);
    assert.deepEqual(up.clusters.added, ['c1']);
    const down = diffInventories(inv, emptyInventory());
    assert.deepEqual(down.machines, { added: [], removed: ['m1', 'm2'], changed: [] });
    assert.deepEqual(down.clusters.removed, ['c1']);
  });

  test('the same inventory twice is no change', () => {
    assert.ok(isEmptyDiff(diffInventories(load(BASE), load(BASE))));
  });

  test('edits are reported per entry with the paths of the fields that changed', () => {
    const before = load(BASE);
    const edited = BASE.replace('zone: zone-a', 'zone: zone-c')
      .replace('address: 192.0.2.11,', 'address: 192.0.2.111, port: 6230,')
      .replace('labels: { rack: r1, slot: "4" }', 'labels: { rack: r2 }')
      .replace('name: m2', 'name: m3')
      .replace('workers: 2', 'workers: 5');
    const d = diffInventories(before, load(edited));
    assert.deepEqual(d.machines.added, ['m3']);
    assert.deepEqual(d.machines.removed, ['m2']);
    assert.deepEqual(d.machines.changed, [
      {
        name: 'm1',
        fields: [
          { path: 'bmc.address', from: '192.0.2.11', to: '192.0.2.111' },
          { path: 'bmc.port', to: 6230 },
          { path: 'labels.rack', from: 'r1', to: 'r2' },
          { path: 'labels.slot', from: '4' },
          { path: 'zone', from: 'zone-a', to: 'zone-c' },
        ],
      },
    ]);
    assert.deepEqual(d.clusters.changed, [{ name: 'c1', fields: [{ path: 'workers', from: 2, to: 5 }] }]);
    assert.ok(!isEmptyDiff(d));
    for (const s of ['profiles', 'bootNetworks', 'productionNetworks'] as const) assert.deepEqual(d[s], { added: [], removed: [], changed: [] });
  });

  test('a MAC respelt is not a change; a MAC replaced is, as a whole list', () => {
    const before = load(BASE);
    assert.ok(isEmptyDiff(diffInventories(before, load(BASE.replace('"52:54:00:00:00:01"', '"52-54-00-00-00-01"')))));
    const d = diffInventories(before, load(BASE.replace('"52:54:00:00:00:01"', '"52:54:00:00:00:01", "52:54:00:00:01:01"')));
    assert.deepEqual(d.machines.changed, [{ name: 'm1', fields: [{ path: 'macs', from: ['52:54:00:00:00:01'], to: ['52:54:00:00:00:01', '52:54:00:00:01:01'] }] }]);
  });

  test('a sub-mapping added or removed is one change at its path', () => {
    const with_ = load(BASE);
    const without = load(BASE.replace('    bmc: { driver: ipmi, address: 192.0.2.11, username: admin, passwordEnv: BMC_PASSWORD }\n', ''));
    const d = diffInventories(with_, without);
    assert.deepEqual(d.machines.changed, [
      { name: 'm1', fields: [{ path: 'bmc', from: { driver: 'ipmi', address: '192.0.2.11', username: 'admin', passwordEnv: 'BMC_PASSWORD' } }] },
    ]);
  });

  test('reordering entries and keys is not a change', () => {
    const a = [
      { name: 'a', x: 1, y: { p: 1, q: 2 } },
      { name: 'b', x: 2 },
    ];
    const b = [
      { x: 2, name: 'b' },
      { y: { q: 2, p: 1 }, x: 1, name: 'a' },
    ];
    assert.deepEqual(diffNamed(a, b), { added: [], removed: [], changed: [] });
  });

  test('list order inside an entry is a change (DNS servers are tried in order)', () => {
    const before = [{ name: 'a', dns: ['192.0.2.53', '198.51.100.53'] }];
    const after = [{ name: 'a', dns: ['198.51.100.53', '192.0.2.53'] }];
    const d = diffNamed(before, after);
    assert.equal(d.changed.length, 1);
    assert.equal(d.changed[0]!.fields[0]!.path, 'dns');
  });

  test('fieldChanges reports leaves, and a type change as one change', () => {
    assert.deepEqual(fieldChanges({ a: { b: 1, c: 2 } }, { a: { b: 1, c: 3 } }), [{ path: 'a.c', from: 2, to: 3 }]);
    assert.deepEqual(fieldChanges({ a: { b: 1 } }, { a: 'x' }), [{ path: 'a', from: { b: 1 }, to: 'x' }]);
    assert.deepEqual(fieldChanges(1, 1), []);
    assert.deepEqual(fieldChanges({}, {}), []);
  });
});

describe('canonicalJson', () => {
  test('sorts keys at every depth and drops undefined', () => {
    assert.equal(canonicalJson({ b: 1, a: [{ d: 1, c: undefined, b: null }], c: { z: 1, y: 2 } }), '{"a":[{"b":null,"d":1}],"b":1,"c":{"y":2,"z":1}}');
  });

  test('a key named __proto__ is kept as data', () => {
    const v = JSON.parse('{"__proto__": {"x": 1}, "a": 1}') as unknown;
    assert.equal(canonicalJson(v), '{"__proto__":{"x":1},"a":1}');
    assert.notEqual(canonicalJson(v), canonicalJson({ a: 1 }));
  });
});

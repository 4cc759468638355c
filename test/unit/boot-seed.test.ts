// The per-machine installer configuration: NoCloud files and ironbay.env, quoting that
// survives hostile values, and the production NIC choice.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { load } from 'js-yaml';
import type { Machine, Profile } from '../../inventory/schema.ts';
import { productionMac, seedFile, seedKey } from '../../daemon/boot/seed.ts';

const m: Machine = {
  name: 'kvm-01',
  macs: ['52:54:00:00:00:01', '52:54:00:00:00:02'],
  role: 'kvm-host',
  production: { address: '198.18.2.11/24', gateway: '198.18.2.1', dns: ['198.18.2.53'] },
};
const p: Profile = { name: 'p', kernel: 'k', initrd: [], sshAuthorizedKeys: ["ssh-ed25519 AAAAC3Nza op's key", 'ssh-rsa AAAAB3 $(reboot) `x`'] };

describe('installer seed', () => {
  test('NoCloud files are YAML cloud-init reads: hostname, keys, network v2 matched by MAC', () => {
    assert.deepEqual(load(seedFile('meta-data', m, p, 7)), { 'instance-id': 'kvm-01-7', 'local-hostname': 'kvm-01' });
    const ud = seedFile('user-data', m, p, 7);
    assert.ok(ud.startsWith('#cloud-config\n'));
    assert.deepEqual((load(ud) as { ssh_authorized_keys: string[] }).ssh_authorized_keys, p.sshAuthorizedKeys);
    const nc = load(seedFile('network-config', m, p, 7)) as { version: number; ethernets: Record<string, { match: { macaddress: string }; addresses: string[]; routes: { via: string }[] }> };
    assert.equal(nc.version, 2);
    assert.equal(nc.ethernets.production!.match.macaddress, '52:54:00:00:00:02');
    assert.deepEqual(nc.ethernets.production!.addresses, ['198.18.2.11/24']);
    assert.equal(nc.ethernets.production!.routes[0]!.via, '198.18.2.1');
    assert.deepEqual(load(seedFile('user-data', m, undefined, 1)), { hostname: 'kvm-01', fqdn: 'kvm-01', ssh_authorized_keys: [] });
  });

  test('ironbay.env is sh: sourced by a real shell, every value comes back literally', () => {
    const env = seedFile('ironbay.env', m, p, 7);
    const out = execFileSync('sh', ['-c', `${env}\nprintf '%s|%s|%s|%s\\n' "$IRONBAY_HOSTNAME" "$IRONBAY_PROD_MAC" "$IRONBAY_PROD_ADDRESS" "$IRONBAY_SSH_AUTHORIZED_KEYS"`], { encoding: 'utf8' });
    assert.equal(out, `kvm-01|52:54:00:00:00:02|198.18.2.11/24|${p.sshAuthorizedKeys!.join('\n')}\n`);
  });

  test("the appliance's key is authorized on every installed machine, first and once", () => {
    const appliance = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIApplianceKeyForRunbooksxxxxxxxxxxxxxxxxxxx ironbay';
    const ud = load(seedFile('user-data', m, p, 7, [appliance, p.sshAuthorizedKeys![0]!])) as { ssh_authorized_keys: string[] };
    assert.deepEqual(ud.ssh_authorized_keys, [appliance, ...p.sshAuthorizedKeys!]);
    assert.deepEqual((load(seedFile('user-data', m, undefined, 7, [appliance])) as { ssh_authorized_keys: string[] }).ssh_authorized_keys, [appliance]);
    assert.ok(seedFile('ironbay.env', m, p, 7, [appliance]).includes(`IRONBAY_SSH_AUTHORIZED_KEYS='${appliance}\n`));
  });

  test('the production NIC: production.interface when it is a MAC, else the last MAC', () => {
    assert.equal(productionMac(m), '52:54:00:00:00:02');
    assert.equal(productionMac({ ...m, production: { address: '198.18.2.11/24', interface: '52-54-00-00-00-01' } }), '52:54:00:00:00:01');
    assert.equal(productionMac({ ...m, macs: ['52:54:00:00:00:09'] }), '52:54:00:00:00:09');
  });

  test('seed keys depend on the token hash and are URL-safe', () => {
    assert.match(seedKey('a'.repeat(64)), /^[0-9a-f]{32}$/);
    assert.notEqual(seedKey('a'.repeat(64)), seedKey('b'.repeat(64)));
  });
});

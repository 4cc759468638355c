// The per-machine installer configuration: cloud-init NoCloud files (meta-data, user-data,
// network-config v2) for installers that speak cloud-init, and ironbay.env, the same facts as
// single-quoted shell assignments for small busybox installers. Pure: machine and profile in,
// file text out.
import { createHash } from 'node:crypto';
import type { Machine, Profile } from '../../inventory/schema.ts';
import { normalizeMac } from '../lib/net.ts';

export const SEED_FILES = ['meta-data', 'user-data', 'network-config', 'ironbay.env'] as const;
export type SeedFile = (typeof SEED_FILES)[number];

/**
 * The key in a boot's config URL: derived from the boot's token hash, which only the database
 * and the script rendered for that boot know, so config URLs cannot be guessed from boot ids.
 */
export const seedKey = (tokenHash: string): string => createHash('sha256').update(`ironbay-seed:${tokenHash}`).digest('hex').slice(0, 32);

/** The production NIC: production.interface when it is a MAC, else the machine's last MAC. */
export function productionMac(m: Pick<Machine, 'macs' | 'production'>): string {
  const named = m.production?.interface && normalizeMac(m.production.interface);
  return named || normalizeMac(m.macs[m.macs.length - 1]!) || m.macs[m.macs.length - 1]!;
}

/** Single-quoted for sh: nothing inside is special except the quote itself. */
const sq = (v: string): string => `'${v.replace(/'/g, `'\\''`)}'`;
/** A YAML double-quoted scalar (JSON strings are valid YAML). */
const yq = (v: string): string => JSON.stringify(v);

/** `extraKeys`: authorized besides the profile's (the appliance's own key, so its runbooks reach the machine). */
export function seedFile(file: SeedFile, m: Machine, profile: Profile | undefined, bootId: number, extraKeys: readonly string[] = []): string {
  const keys = [...new Set([...extraKeys, ...(profile?.sshAuthorizedKeys ?? [])])];
  const prod = m.production;
  const mac = productionMac(m);
  switch (file) {
    case 'meta-data':
      return `instance-id: ${yq(`${m.name}-${bootId}`)}\nlocal-hostname: ${yq(m.name)}\n`;
    case 'user-data':
      return ['#cloud-config', `hostname: ${yq(m.name)}`, `fqdn: ${yq(m.name)}`, 'ssh_authorized_keys:', ...(keys.length ? keys.map((k) => `  - ${yq(k)}`) : ['  []']), ''].join('\n').replace('ssh_authorized_keys:\n  []', 'ssh_authorized_keys: []');
    case 'network-config': {
      if (!prod) return 'version: 2\nethernets: {}\n';
      const lines = ['version: 2', 'ethernets:', '  production:', '    match:', `      macaddress: ${yq(mac)}`, `    set-name: ${yq(prod.interface && !normalizeMac(prod.interface) ? prod.interface : 'prod0')}`, `    addresses: [${yq(prod.address)}]`];
      if (prod.gateway) lines.push('    routes:', `      - to: default`, `        via: ${yq(prod.gateway)}`);
      if (prod.dns?.length) lines.push('    nameservers:', `      addresses: [${prod.dns.map(yq).join(', ')}]`);
      return lines.join('\n') + '\n';
    }
    case 'ironbay.env':
      return [
        '# ironbay: this machine\'s production settings, for sh (`. ironbay.env`).',
        `IRONBAY_HOSTNAME=${sq(m.name)}`,
        `IRONBAY_PROD_MAC=${sq(mac)}`,
        `IRONBAY_PROD_ADDRESS=${sq(prod?.address ?? '')}`,
        `IRONBAY_PROD_GATEWAY=${sq(prod?.gateway ?? '')}`,
        `IRONBAY_PROD_DNS=${sq((prod?.dns ?? []).join(' '))}`,
        `IRONBAY_PROD_VLAN=${sq(prod?.vlan === undefined ? '' : String(prod.vlan))}`,
        `IRONBAY_SSH_AUTHORIZED_KEYS=${sq(keys.join('\n'))}`,
        '',
      ].join('\n');
  }
}

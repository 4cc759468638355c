// The libvirt domain of one cluster VM (issue #7): a qcow2 overlay on the cluster's base image,
// the NoCloud seed as a read-only second disk (any block device labelled "cidata" is a seed),
// one NIC on the cluster's bridge with the overlay MTU and a derived MAC, the serial console to
// a log file. Pure text; libvirt's own schema checks it (virt-xml-validate, in the tests).
import { createHash } from 'node:crypto';

export interface DomainSpec {
  /** The libvirt domain name: unique on the host, so cluster and VM together. */
  name: string;
  cluster: string;
  role: 'control-plane' | 'worker';
  /** `kvm` on real hosts; `qemu` (TCG) where /dev/kvm does not work. */
  type: 'kvm' | 'qemu';
  vcpu: number;
  memoryMiB: number;
  disk: string;
  seed: string;
  bridge: string;
  mac: string;
  mtu: number;
  consoleLog: string;
  /** Direct kernel boot (a test's kernel and initrd), instead of the disk's boot loader. */
  kernel?: { kernel: string; initrd: string; cmdline: string };
}

/** XML text and attribute values: the five characters XML gives meaning to. */
function x(v: string | number): string {
  return String(v).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** A UUID derived from the domain name: a VM re-created after it vanished is the same machine to the guest. */
export function domainUuid(name: string): string {
  const h = createHash('sha256').update(`ironbay-domain\0${name}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x50; // version 5 layout (name-based), variant RFC 4122
  h[8] = (h[8]! & 0x3f) | 0x80;
  const s = h.subarray(0, 16).toString('hex');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20, 32)}`;
}

export function domainXml(d: DomainSpec): string {
  const boot = d.kernel
    ? [`    <kernel>${x(d.kernel.kernel)}</kernel>`, `    <initrd>${x(d.kernel.initrd)}</initrd>`, `    <cmdline>${x(d.kernel.cmdline)}</cmdline>`]
    : ["    <boot dev='hd'/>"];
  return [
    `<domain type='${x(d.type)}'>`,
    `  <name>${x(d.name)}</name>`,
    `  <uuid>${domainUuid(d.name)}</uuid>`,
    '  <metadata>',
    `    <ironbay:vm xmlns:ironbay='https://ironbay.invalid/xmlns/vm/1' cluster='${x(d.cluster)}' role='${x(d.role)}'/>`,
    '  </metadata>',
    `  <memory unit='MiB'>${d.memoryMiB}</memory>`,
    `  <vcpu>${d.vcpu}</vcpu>`,
    '  <os>',
    "    <type arch='x86_64' machine='pc'>hvm</type>",
    ...boot,
    '  </os>',
    '  <features><acpi/><apic/></features>',
    // ACPI shutdown is how ironbay stops a VM gracefully; a crash is not restarted behind the
    // reconciler's back (it sees the domain gone and re-creates it, recorded).
    '  <on_poweroff>destroy</on_poweroff>',
    '  <on_reboot>restart</on_reboot>',
    '  <on_crash>destroy</on_crash>',
    '  <devices>',
    "    <disk type='file' device='disk'>",
    "      <driver name='qemu' type='qcow2' discard='unmap'/>",
    `      <source file='${x(d.disk)}'/>`,
    "      <target dev='vda' bus='virtio'/>",
    '    </disk>',
    "    <disk type='file' device='disk'>",
    "      <driver name='qemu' type='raw'/>",
    `      <source file='${x(d.seed)}'/>`,
    "      <target dev='vdb' bus='virtio'/>",
    '      <readonly/>',
    '    </disk>',
    "    <interface type='bridge'>",
    `      <source bridge='${x(d.bridge)}'/>`,
    `      <mac address='${x(d.mac)}'/>`,
    "      <model type='virtio'/>",
    `      <mtu size='${d.mtu}'/>`,
    '    </interface>',
    "    <serial type='file'>",
    // Appended, not truncated at each start: what a VM printed before a crash stays readable.
    `      <source path='${x(d.consoleLog)}' append='on'/>`,
    "      <target port='0'/>",
    '    </serial>',
    "    <console type='file'>",
    `      <source path='${x(d.consoleLog)}' append='on'/>`,
    "      <target type='serial' port='0'/>",
    '    </console>',
    "    <memballoon model='none'/>",
    '  </devices>',
    '</domain>',
    '',
  ].join('\n');
}

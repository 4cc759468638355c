// A cluster VM's libvirt domain: valid against libvirt's own schema (virt-xml-validate, Debian's
// libvirt-clients), hostile names escaped, a UUID that is the same for the same VM.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { domainUuid, domainXml, type DomainSpec } from '../../kvm/domain.ts';

const spec: DomainSpec = {
  name: 'ib-c1-c1-w-0',
  cluster: 'c1',
  role: 'worker',
  type: 'qemu',
  vcpu: 2,
  memoryMiB: 2048,
  disk: '/var/lib/ironbay/vms/c1-w-0.qcow2',
  seed: '/var/lib/ironbay/vms/c1-w-0-seed.iso',
  bridge: 'ibbr5001',
  mac: '02:1a:2b:3c:4d:5e',
  mtu: 1450,
  consoleLog: '/var/log/ironbay/vms/c1-w-0.log',
};

function validate(xml: string): { ok: boolean; out: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ironbay-domain-'));
  try {
    const f = join(dir, 'domain.xml');
    writeFileSync(f, xml);
    try {
      return { ok: true, out: execFileSync('virt-xml-validate', [f, 'domain'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) };
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string };
      return { ok: false, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("libvirt's schema accepts the domain, booting from its disk or a kernel", () => {
  const disk = validate(domainXml(spec));
  assert.ok(disk.ok, disk.out);
  const kernel = validate(domainXml({ ...spec, type: 'kvm', role: 'control-plane', kernel: { kernel: '/k/vmlinuz', initrd: '/k/initrd.img', cmdline: 'console=ttyS0 ds=nocloud' } }));
  assert.ok(kernel.ok, kernel.out);
  const broken = validate(domainXml(spec).replace("<vcpu>2</vcpu>", '<vcpu>two</vcpu>'));
  assert.ok(!broken.ok, 'the validator refuses what libvirt would');
});

test('values are escaped: a path with quotes and angle brackets stays one attribute', () => {
  const xml = domainXml({ ...spec, disk: `/tmp/a'b"<c>&d.qcow2` });
  assert.ok(xml.includes(`<source file='/tmp/a&apos;b&quot;&lt;c&gt;&amp;d.qcow2'/>`));
  assert.ok(validate(xml).ok);
});

test('the UUID is derived from the name: stable, version 5 layout, different per VM', () => {
  assert.equal(domainUuid('ib-c1-c1-w-0'), domainUuid('ib-c1-c1-w-0'));
  assert.notEqual(domainUuid('ib-c1-c1-w-0'), domainUuid('ib-c1-c1-w-1'));
  assert.match(domainUuid('x'), /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

// The TFTP server bound to a boot interface (SO_BINDTODEVICE): it answers a client on the boot
// network and nobody on the production network, even at an address it owns. The server runs
// as a process inside a namespace with both networks; the clients sit in two other namespaces.
// Addresses: 198.51.100.0/24 (RFC 5737) for boot, 198.18.0.0/24 (RFC 2544) for production.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { TransferRecord } from '../../daemon/tftp/server.ts';
import { Netns } from '../helpers/netns.ts';

const SERVE = fileURLToPath(new URL('../helpers/tftp-serve.ts', import.meta.url));

test('devices: served on the boot interface only; a production client gets no answer', async () => {
  const lab = new Netns('tftp');
  const dir = mkdtempSync(join(tmpdir(), 'ironbay-tftp-dev-'));
  try {
    const data = Buffer.alloc(200_000, 0);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
    writeFileSync(join(dir, 'ipxe.efi'), data);
    const srv = await lab.add('srv');
    const boot = await lab.add('boot');
    const prod = await lab.add('prod');
    const [bootIf] = await lab.veth({ ns: srv, suffix: 'b', cidr: '198.51.100.1/24' }, { ns: boot, suffix: 'bc', cidr: '198.51.100.2/24' });
    await lab.veth({ ns: srv, suffix: 'p', cidr: '198.18.0.1/24' }, { ns: prod, suffix: 'pc', cidr: '198.18.0.2/24' });
    // The production client can route to the boot address too, through the server's namespace.
    await lab.exec(prod, 'ip', ['route', 'add', 'default', 'via', '198.18.0.1']);

    const args = { roots: [dir], port: 6969, devices: [bootIf], maxTransfers: 10, maxWindowsize: 16, records: true };
    const child = lab.spawn(srv, process.execPath, [SERVE, JSON.stringify(args)]);
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const next = async (): Promise<Record<string, unknown>> => {
      const l = await lines.next();
      assert.ok(!l.done, 'the server process ended');
      return JSON.parse(l.value) as Record<string, unknown>;
    };
    assert.deepEqual(await next(), { ready: 6969 });

    const got = join(dir, 'got');
    const ok = await lab.try(boot, 'curl', ['-sS', '--tftp-blksize', '1468', '-o', got, 'tftp://198.51.100.1:6969/ipxe.efi']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(createHash('sha256').update(readFileSync(got)).digest('hex'), createHash('sha256').update(data).digest('hex'));
    const rec = (await next()).record as TransferRecord;
    assert.equal(rec.ok, true);
    assert.equal(rec.device, bootIf);
    assert.equal(rec.options?.blksize, 1468, 'from the veth MTU of 1500');

    for (const address of ['198.18.0.1', '198.51.100.1']) {
      const no = await lab.try(prod, 'curl', ['-sS', '--max-time', '3', '-o', join(dir, 'no'), `tftp://${address}:6969/ipxe.efi`]);
      assert.notEqual(no.code, 0, `production client got an answer from ${address}`);
      assert.ok(!existsSync(join(dir, 'no')) || statSync(join(dir, 'no')).size === 0, `production client got data from ${address}`);
    }
    child.kill('SIGTERM');
    const { stats } = (await next()) as { stats: { completed: number; requests: number } };
    assert.equal(stats.completed, 1);
    assert.equal(stats.requests, 1, 'no request from production reached the server');
  } finally {
    await lab.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});

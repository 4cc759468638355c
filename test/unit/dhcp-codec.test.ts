import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  buildReply,
  decode,
  encode,
  getOption,
  maxReplyLength,
  option,
  printable,
  readKnownOptions,
  REJECT_REASONS,
  userClassNames,
  type DhcpMessage,
  type KnownOptions,
  type RejectReason,
} from '../../daemon/dhcp/codec/index.ts';
import { decodeClientId, decodeMessageType } from '../../daemon/dhcp/codec/standard.ts';
import { decodeClientMachineId, decodePxeVendorOptions, DISCOVERY_CONTROL, parseVendorClass } from '../../daemon/dhcp/codec/pxe.ts';
import { decodeIpxeOptions } from '../../daemon/dhcp/codec/ipxe.ts';
import { decodeUserClass, encodeUserClass } from '../../daemon/dhcp/codec/user-class.ts';
import { decodeRelayAgentInfo } from '../../daemon/dhcp/codec/relay.ts';
import { fixture, fixtureNames } from '../fixtures/dhcp/fixtures.ts';

function ok(buf: Uint8Array): DhcpMessage {
  const r = decode(buf);
  assert.ok(r.ok, r.ok ? '' : `${r.reason}: ${r.detail}`);
  return r.message;
}

function known(buf: Uint8Array): KnownOptions {
  const r = readKnownOptions(ok(buf));
  assert.deepEqual(r.problems, []);
  return r.known;
}

function bytes(m: Omit<DhcpMessage, 'mac'>, maxLength?: number): Uint8Array {
  const e = encode(m, { maxLength });
  assert.ok(e.ok, e.ok ? '' : e.reason);
  return e.bytes;
}

const codes = (m: DhcpMessage): number[] => m.options.map((o) => o.code);
const text = (b: Uint8Array | undefined): string => Buffer.from(b ?? []).toString('latin1');

/** A hand-built request: header with MAC 52:54:00:1b:00:09, the cookie, then `options` as given. */
function packet(p: { op?: number; htype?: number; hlen?: number; options?: number[]; file?: number[]; sname?: number[]; length?: number } = {}): Uint8Array {
  const opts = p.options ?? [53, 1, 1, 255];
  const out = new Uint8Array(Math.max(240 + opts.length, p.length ?? 0));
  out[0] = p.op ?? 1;
  out[1] = p.htype ?? 1;
  out[2] = p.hlen ?? 6;
  out.set([0x52, 0x54, 0x00, 0x1b, 0x00, 0x09], 28);
  if (p.sname) out.set(p.sname, 44);
  if (p.file) out.set(p.file, 108);
  out.set([99, 130, 83, 99], 236);
  out.set(opts, 240);
  return out;
}

const ascii = (s: string): number[] => Array.from(Buffer.from(s, 'latin1'));

/** The option instances of the options field as laid out on the wire (no overload). */
function instances(b: Uint8Array): { code: number; at: number; len: number }[] {
  const out: { code: number; at: number; len: number }[] = [];
  for (let i = 240; i < b.length && b[i] !== 255; ) {
    if (b[i] === 0) {
      i++;
      continue;
    }
    out.push({ code: b[i]!, at: i, len: b[i + 1]! });
    i += 2 + b[i + 1]!;
  }
  return out;
}

describe('captured packets decode to what their senders sent', () => {
  test('udhcpc DISCOVER, REQUEST, RELEASE and dnsmasq OFFER, ACK: one exchange', () => {
    const discover = ok(fixture('udhcpc-discover'));
    assert.equal(discover.op, 'BOOTREQUEST');
    assert.equal(discover.mac, '52:54:00:1b:00:01');
    assert.equal(discover.broadcast, false);
    assert.deepEqual(codes(discover), [53, 57, 55, 12, 60, 61]);
    const k = known(fixture('udhcpc-discover'));
    assert.equal(k.messageType, 'DISCOVER');
    assert.equal(k.hostname, 'udhcpc-fixture');
    assert.equal(k.maxMessageSize, 576);
    assert.deepEqual(k.vendorClass, { text: 'udhcp 1.35.0' });
    assert.equal(k.clientId?.mac, '52:54:00:1b:00:01');
    assert.deepEqual(k.parameterRequestList, [1, 3, 6, 12, 15, 28, 42]);

    const offer = ok(fixture('dnsmasq-offer'));
    const o = known(fixture('dnsmasq-offer'));
    assert.equal(offer.op, 'BOOTREPLY');
    assert.equal(offer.xid, discover.xid);
    assert.equal(offer.yiaddr, '192.0.2.148');
    assert.equal(offer.siaddr, '192.0.2.1');
    assert.deepEqual(codes(offer).slice(0, 2), [53, 54]);
    assert.deepEqual(
      { t: o.messageType, s: o.serverId, l: o.leaseTime, t1: o.renewalTime, t2: o.rebindingTime, m: o.subnetMask, b: o.broadcastAddress },
      { t: 'OFFER', s: '192.0.2.1', l: 3600, t1: 1800, t2: 3150, m: '255.255.255.0', b: '192.0.2.255' },
    );
    assert.deepEqual(o.routers, ['192.0.2.1']);
    assert.deepEqual(o.dnsServers, ['192.0.2.53']);
    assert.equal(o.domainName, 'lab.example');

    const request = known(fixture('udhcpc-request'));
    assert.deepEqual([request.messageType, request.requestedIp, request.serverId], ['REQUEST', '192.0.2.148', '192.0.2.1']);
    assert.equal(ok(fixture('udhcpc-request')).xid, discover.xid);
    const ack = known(fixture('dnsmasq-ack'));
    assert.deepEqual([ack.messageType, ack.hostname], ['ACK', 'udhcpc-fixture']);

    const release = ok(fixture('udhcpc-release'));
    assert.equal(release.ciaddr, '192.0.2.148');
    assert.equal(readKnownOptions(release).known.messageType, 'RELEASE');
  });

  test('dhclient sends its user class as one bare string, not RFC 3004', () => {
    const d = known(fixture('dhclient-discover'));
    assert.equal(d.messageType, 'DISCOVER');
    assert.equal(d.hostname, 'dhclient-fixture');
    assert.deepEqual(d.userClass, { format: 'raw', text: 'ironbay-fixture' });
    assert.ok(d.parameterRequestList?.includes(121));
    const r = known(fixture('dhclient-request'));
    assert.deepEqual([r.messageType, r.serverId, r.requestedIp], ['REQUEST', '192.0.2.1', '192.0.2.148']);
    const rel = ok(fixture('dhclient-release'));
    assert.equal(rel.ciaddr, '192.0.2.148');
    assert.equal(readKnownOptions(rel).known.messageType, 'RELEASE');
  });

  test('a request relayed by ISC dhcrelay: giaddr, hops, option 82 last, echoed by dnsmasq byte for byte', () => {
    const req = ok(fixture('relay-udhcpc-discover'));
    assert.equal(req.giaddr, '198.18.1.1');
    assert.equal(req.hops, 1);
    assert.equal(codes(req).at(-1), 82);
    const relay = readKnownOptions(req).known.relayAgent!;
    assert.match(printable(relay.circuitId!) ?? '', /^ib\d+rd$/);
    assert.equal(relay.remoteId, undefined);
    assert.deepEqual(
      relay.subOptions.map((s) => s.code),
      [1],
    );

    const offer = ok(fixture('relay-dnsmasq-offer'));
    assert.equal(offer.giaddr, '198.18.1.1');
    assert.equal(offer.xid, req.xid);
    assert.deepEqual(getOption(offer, 82)?.data, getOption(req, 82)?.data);
  });

  test('iPXE under SeaBIOS: PXEClient, raw "iPXE" user class, 93/94/97 and the 175 feature list', () => {
    const m = ok(fixture('ipxe-bios-discover'));
    assert.equal(m.mac, '52:54:00:1b:00:03');
    const k = known(fixture('ipxe-bios-discover'));
    assert.equal(k.messageType, 'DISCOVER');
    assert.deepEqual(k.vendorClass, { text: 'PXEClient:Arch:00000:UNDI:002001', boot: 'PXEClient', arch: 0, undi: { major: 2, minor: 1 } });
    assert.deepEqual(k.userClass, { format: 'raw', text: 'iPXE' });
    assert.deepEqual(userClassNames(k.userClass), ['iPXE']);
    assert.deepEqual(k.clientArch, [0]);
    assert.deepEqual(k.clientNdi, { type: 1, major: 2, minor: 1 });
    assert.equal(k.maxMessageSize, 1472);
    assert.equal(k.clientId?.mac, '52:54:00:1b:00:03');
    // qemu -uuid 00112233-4455-6677-8899-aabbccddeeff, sent in SMBIOS byte order.
    assert.equal(k.clientMachineId?.smbiosUuid, '00112233-4455-6677-8899-aabbccddeeff');
    assert.equal(k.clientMachineId?.uuid, '33221100-5544-7766-8899-aabbccddeeff');
    const ipxe = k.ipxe!;
    assert.deepEqual(ipxe.busId, { bus: 'pci', vendor: 0x8086, device: 0x100e }); // Intel 82540EM, qemu's e1000
    assert.equal(ipxe.version, '1.0.0');
    assert.equal(ipxe.features.http, 1);
    assert.equal(ipxe.features.pxeext, 2);
    assert.equal(ipxe.features.https, undefined);
    assert.deepEqual(ipxe.other, []);

    const r = known(fixture('ipxe-bios-request'));
    assert.deepEqual([r.messageType, r.serverId, r.requestedIp], ['REQUEST', '198.18.3.1', '198.18.3.150']);
  });

  test("dnsmasq's answer to iPXE: boot file in 67 and 175.176 (no-pxedhcp)", () => {
    for (const name of ['dnsmasq-ipxe-offer', 'dnsmasq-ipxe-ack']) {
      const k = known(fixture(name));
      assert.equal(k.bootfileName, 'http://198.18.3.1/boot.ipxe');
      assert.equal(k.ipxe?.noPxeDhcp, true);
    }
  });

  test('EDK2 PXE (OVMF): arch 7, broadcast flag, 57 of 65280; dnsmasq answers with 43 PXE sub-options', () => {
    const m = ok(fixture('ovmf-pxe-discover'));
    assert.equal(m.broadcast, true);
    const k = known(fixture('ovmf-pxe-discover'));
    assert.deepEqual(k.vendorClass, { text: 'PXEClient:Arch:00007:UNDI:003000', boot: 'PXEClient', arch: 7, undi: { major: 3, minor: 0 } });
    assert.deepEqual(k.clientArch, [7]);
    assert.equal(k.clientId, undefined);
    assert.equal(k.clientMachineId?.smbiosUuid, '00112233-4455-6677-8899-aabbccddeeff');
    const req = ok(fixture('ovmf-pxe-request'));
    assert.equal(readKnownOptions(req).known.maxMessageSize, 65280);
    assert.equal(maxReplyLength(req), 1472, 'capped at an Ethernet frame');

    const offer = known(fixture('dnsmasq-pxe-offer'));
    assert.deepEqual(offer.vendorClass, { text: 'PXEClient', boot: 'PXEClient' });
    assert.deepEqual(offer.pxe, { discoveryControl: DISCOVERY_CONTROL.USE_BOOTFILE, menuPrompt: { timeout: 1, prompt: 'ironbay' }, other: [] });
  });

  test('EDK2 UEFI HTTP boot says HTTPClient, arch 16', () => {
    const k = known(fixture('ovmf-http-discover'));
    assert.deepEqual(k.vendorClass, { text: 'HTTPClient:Arch:00016:UNDI:003000', boot: 'HTTPClient', arch: 16, undi: { major: 3, minor: 0 } });
    assert.deepEqual(k.clientArch, [16]);
  });

  test('decoded values are plain, private copies — not Buffers, not views of the receive buffer', () => {
    const b = Buffer.from(fixture('relay-udhcpc-discover'));
    const m = ok(b);
    const before = Uint8Array.from(getOption(m, 82)!.data);
    b.fill(0);
    assert.deepEqual(getOption(m, 82)!.data, before);
    assert.equal(Object.getPrototypeOf(m.chaddr), Uint8Array.prototype);
    assert.equal(Object.getPrototypeOf(getOption(m, 82)!.data), Uint8Array.prototype);
  });
});

describe('round trips', () => {
  for (const name of fixtureNames()) {
    test(`${name}: encode(decode(bytes)) gives the same bytes, and decode again the same message`, () => {
      const b = fixture(name);
      const first = decode(b);
      assert.ok(first.ok);
      const again = bytes(first.message);
      assert.deepEqual(again, b);
      assert.deepEqual(decode(again), first);
    });
  }
});

describe('each rejection has its own reason', () => {
  const cases: [RejectReason, string, Uint8Array][] = [
    ['too-short', '235 bytes', new Uint8Array(235)],
    ['too-long', '1473 bytes', packet({ length: 1473 })],
    ['bad-op', 'op 3', packet({ op: 3 })],
    ['bad-op', 'op 0', packet({ op: 0 })],
    ['bad-htype', 'htype 0', packet({ htype: 0 })],
    ['bad-hlen', 'hlen 17', packet({ htype: 6, hlen: 17 })],
    ['bad-hlen', 'Ethernet with hlen 8', packet({ hlen: 8 })],
    ['no-magic-cookie', 'header only (plain BOOTP)', packet().subarray(0, 236)],
    ['no-magic-cookie', 'header and part of a cookie', packet().subarray(0, 239)],
    ['no-magic-cookie', 'wrong cookie', (() => { const p = packet(); p[239] = 0; return p; })()],
    ['option-no-length', 'code as the last byte', packet({ options: [53, 1, 1, 12] })],
    ['option-past-end', 'length past the end', packet({ options: [53, 1, 1, 12, 10, 0x41, 0x42] })],
    ['too-many-options', '257 empty options', packet({ options: [...Array<number[]>(257).fill([224, 0]).flat(), 255] })],
    ['bad-overload', '52 of two bytes', packet({ options: [52, 2, 1, 1, 255] })],
    ['bad-overload', '52 = 4', packet({ options: [52, 1, 4, 255] })],
    ['bad-overload', '52 twice (joined: two bytes)', packet({ options: [52, 1, 1, 52, 1, 1, 255] })],
    ['overload-in-overloaded-field', '52 in file', packet({ options: [52, 1, 1, 255], file: [52, 1, 2, 255] })],
    ['option-past-end', 'an option cut by the end of the file field', packet({ options: [52, 1, 1, 255], file: [...Array<number>(124).fill(0), 67, 8, 1, 2] })],
    ['option-no-length', 'a code as the last byte of sname', packet({ options: [52, 1, 2, 255], sname: [...Array<number>(63).fill(0), 66] })],
  ];
  for (const [reason, what, buf] of cases) {
    test(`${reason}: ${what}`, () => {
      const r = decode(buf);
      assert.equal(r.ok, false);
      assert.ok(!r.ok);
      assert.equal(r.reason, reason);
      assert.ok(r.detail.length > 0);
    });
  }

  test('every reason in the catalogue is exercised above', () => {
    assert.deepEqual(new Set(cases.map((c) => c[0])), new Set(Object.keys(REJECT_REASONS)));
  });

  test('256 option instances are accepted (the limit is inclusive)', () => {
    assert.ok(decode(packet({ options: [...Array<number[]>(256).fill([224, 0]).flat(), 255] })).ok);
  });

  test('a field ending without END is accepted when its last option is whole, and noted', () => {
    const r = decode(packet({ options: [53, 1, 1, 12, 2, 0x68, 0x69] }));
    assert.ok(r.ok);
    assert.deepEqual(r.framing.missingEnd, ['options']);
    assert.equal(readKnownOptions(r.message).known.hostname, 'hi');
  });

  test('whatever follows END is padding, even when it is not zeros', () => {
    const r = decode(packet({ options: [53, 1, 1, 255, 12, 200, 0xff, 0x01] }));
    assert.ok(r.ok);
    assert.deepEqual(codes(r.message), [53]);
    assert.deepEqual(r.framing.missingEnd, []);
  });

  test('a malformed known option is a problem for the server to weigh, not a rejection', () => {
    const r = decode(packet({ options: [53, 2, 1, 1, 97, 16, ...Array<number>(16).fill(1), 57, 2, 1, 0, 61, 1, 1, 255] }));
    assert.ok(r.ok);
    const k = readKnownOptions(r.message);
    assert.equal(k.known.messageType, undefined);
    assert.deepEqual(
      k.problems.map((p) => p.code),
      [53, 57, 61, 97],
    );
  });
});

describe('RFC 3396 long options and RFC 2131 §4.1 overload', () => {
  test('a value over 255 bytes is written as consecutive instances and read back joined', () => {
    const long = Uint8Array.from({ length: 600 }, (_, i) => i & 0xff);
    const m = ok(packet());
    m.options.push({ code: 224, data: long });
    const b = bytes(m);
    assert.deepEqual(
      instances(b).map((x) => [x.code, x.len]),
      [
        [53, 1],
        [224, 255],
        [224, 255],
        [224, 90],
      ],
    );
    const r = decode(b);
    assert.ok(r.ok);
    assert.equal(r.framing.instances, 4);
    assert.deepEqual(getOption(r.message, 224)?.data, long);
  });

  test('instances of one code are joined in order even with other options between them', () => {
    const m = ok(packet({ options: [43, 2, 1, 2, 53, 1, 1, 43, 1, 3, 255] }));
    assert.deepEqual(codes(m), [43, 53]);
    assert.deepEqual(getOption(m, 43)?.data, Uint8Array.of(1, 2, 3));
  });

  test('overloaded file and sname are read after the options field, in that order, and are not text', () => {
    // Hand-built: no captured client or server overloads. 43 is split across all three fields.
    const file = [67, 9, ...ascii('boot.ipxe'), 43, 1, 0xbb, 255];
    const sname = [66, 10, ...ascii('198.18.0.1'), 43, 1, 0xcc, 255];
    const m = decode(packet({ options: [53, 1, 1, 52, 1, 3, 43, 1, 0xaa, 255], file, sname }));
    assert.ok(m.ok);
    assert.equal(m.framing.overload, 3);
    assert.equal(m.message.file, '');
    assert.equal(m.message.sname, '');
    assert.deepEqual(codes(m.message), [53, 43, 67, 66]);
    assert.deepEqual(getOption(m.message, 43)?.data, Uint8Array.of(0xaa, 0xbb, 0xcc));
    const k = readKnownOptions(m.message).known;
    assert.equal(k.bootfileName, 'boot.ipxe');
    assert.equal(k.tftpServerName, '198.18.0.1');

    // Re-encoded without overload: the same message.
    const again = decode(bytes(m.message));
    assert.ok(again.ok);
    assert.equal(again.framing.overload, 0);
    assert.deepEqual(again.message, m.message);
  });

  test('with 52 = 1 only file carries options; sname stays text', () => {
    const m = ok(packet({ options: [53, 1, 1, 52, 1, 1, 255], file: [67, 3, ...ascii('a.b'), 255], sname: ascii('tftp-host') }));
    assert.equal(m.file, '');
    assert.equal(m.sname, 'tftp-host');
    assert.equal(readKnownOptions(m).known.bootfileName, 'a.b');
  });

  test('encode never writes 52 and refuses a message that needs it', () => {
    const m = ok(packet());
    m.options.push({ code: 52, data: Uint8Array.of(1) });
    const e = encode(m);
    assert.equal(e.ok, false);
    const big = ok(packet());
    big.options.push({ code: 224, data: new Uint8Array(400) });
    const r = encode(big, { maxLength: 548 });
    assert.ok(!r.ok);
    // 240 + 53 (3) + 224 as 255 + 145 (2 + 2 + 400) + END = 648
    assert.match(r.reason, /needs 648 bytes.*548/);
  });
});

describe('replies', () => {
  const relayed = ok(fixture('relay-udhcpc-discover'));

  test('option 82 is echoed byte for byte, last; 61 echoed (RFC 6842); 53 and 54 first', () => {
    const reply = buildReply(relayed, {
      type: 'OFFER',
      serverId: '198.18.2.1',
      yiaddr: '198.18.1.149',
      siaddr: '198.18.2.1',
      file: 'undionly.kpxe',
      options: [option.leaseTime(3600), option.subnetMask('255.255.255.0'), option.routers(['198.18.1.1'])],
    });
    const b = bytes(reply, maxReplyLength(relayed));
    const m = ok(b);
    assert.deepEqual(codes(m), [53, 54, 51, 1, 3, 61, 82]);
    assert.deepEqual(getOption(m, 82)?.data, getOption(relayed, 82)?.data);
    assert.deepEqual(getOption(m, 82)?.data, getOption(ok(fixture('relay-dnsmasq-offer')), 82)?.data);
    assert.deepEqual(getOption(m, 61)?.data, getOption(relayed, 61)?.data);
    const raw82 = getOption(relayed, 82)!.data;
    const last = instances(b).at(-1)!;
    assert.equal(last.code, 82);
    assert.deepEqual(b.subarray(last.at + 2, last.at + 2 + last.len), raw82);
    assert.deepEqual(
      { op: m.op, xid: m.xid, giaddr: m.giaddr, hops: m.hops, mac: m.mac, file: m.file, yiaddr: m.yiaddr },
      { op: 'BOOTREPLY', xid: relayed.xid, giaddr: '198.18.1.1', hops: 0, mac: '52:54:00:1b:00:02', file: 'undionly.kpxe', yiaddr: '198.18.1.149' },
    );
  });

  test('a NAK carries no address, file or lease options, and asks a relay to broadcast it', () => {
    const nak = buildReply(relayed, {
      type: 'NAK',
      serverId: '198.18.2.1',
      yiaddr: '198.18.1.149',
      file: 'x',
      options: [option.leaseTime(60), option.message('address not on this network')],
    });
    assert.deepEqual([nak.yiaddr, nak.siaddr, nak.ciaddr, nak.file, nak.broadcast], ['0.0.0.0', '0.0.0.0', '0.0.0.0', '', true]);
    assert.deepEqual(
      nak.options.map((o) => o.code),
      [53, 54, 56, 61, 82],
    );
  });

  test('an ACK keeps the client’s ciaddr (renewal, INFORM); an OFFER does not', () => {
    const renewing = { ...ok(fixture('udhcpc-request')), ciaddr: '192.0.2.148' };
    assert.equal(buildReply(renewing, { type: 'ACK', serverId: '192.0.2.1', yiaddr: '192.0.2.148' }).ciaddr, '192.0.2.148');
    assert.equal(buildReply(renewing, { type: 'OFFER', serverId: '192.0.2.1', yiaddr: '192.0.2.148' }).ciaddr, '0.0.0.0');
  });

  test('reply size: 576 unless the client says more, minus IP and UDP headers, at most a frame', () => {
    assert.equal(maxReplyLength(ok(fixture('dhclient-discover'))), 548);
    assert.equal(maxReplyLength(ok(fixture('udhcpc-discover'))), 548);
    assert.equal(maxReplyLength(ok(fixture('ipxe-bios-discover'))), 1444);
    assert.equal(maxReplyLength(ok(packet({ options: [53, 1, 1, 57, 2, 1, 0, 255] }))), 548, '57 = 256 is ignored');
  });

  test('a PXE reply: 60 PXEClient, 43 with boot servers, menu, prompt, item, and 175.176 for iPXE', () => {
    const req = ok(fixture('ovmf-pxe-discover'));
    const pxe = {
      discoveryControl: DISCOVERY_CONTROL.NO_MULTICAST | DISCOVERY_CONTROL.ONLY_LISTED_SERVERS,
      bootServers: [{ type: 0x8000, addresses: ['198.18.3.1', '198.18.3.2'] }],
      bootMenu: [{ type: 0x8000, description: 'ironbay' }],
      menuPrompt: { timeout: 0, prompt: 'booting' },
      bootItem: { type: 0x8000, layer: 0 },
    };
    const reply = buildReply(req, {
      type: 'OFFER',
      serverId: '198.18.3.1',
      yiaddr: '198.18.3.100',
      siaddr: '198.18.3.1',
      file: 'snponly.efi',
      options: [option.vendorClass('PXEClient'), option.pxe(pxe), option.ipxe({ noPxeDhcp: true })],
    });
    const k = known(bytes(reply, maxReplyLength(req)));
    assert.deepEqual(k.pxe, { ...pxe, other: [] });
    assert.equal(k.ipxe?.noPxeDhcp, true);
    assert.equal(k.clientMachineId, undefined, 'the server does not echo 97 unless asked to');
  });

  test('builders refuse what is not an address or fits no option', () => {
    assert.throws(() => option.serverId('198.18.3.256'), RangeError);
    assert.throws(() => option.routers([]), RangeError);
    assert.throws(() => option.hostname(''), RangeError);
    assert.throws(() => option.leaseTime(-1), RangeError);
    assert.throws(() => option.userClass(['']), RangeError);
  });

  test('encode refuses fields that do not fit, with a reason', () => {
    const m = ok(fixture('udhcpc-discover'));
    const reasons = [
      { ...m, yiaddr: '198.18.01.1' },
      { ...m, sname: 'x'.repeat(64) },
      { ...m, file: 'a\0b' },
      { ...m, file: 'ü'.repeat(10) + '\u2603' },
      { ...m, chaddr: new Uint8Array(17) },
      { ...m, xid: 2 ** 32 },
      { ...m, options: [...m.options, m.options[0]!] },
      { ...m, options: [{ code: 0, data: new Uint8Array() }] },
    ].map((x) => encode(x));
    for (const r of reasons) assert.equal(r.ok, false);
    const texts = reasons.map((r) => (r.ok ? '' : r.reason));
    assert.equal(new Set(texts).size, texts.length, texts.join('\n'));
  });
});

describe('typed option formats', () => {
  test('unknown options keep their bytes and place through a round trip', () => {
    const m = ok(fixture('ipxe-bios-discover'));
    m.options.splice(3, 0, { code: 224, data: Uint8Array.of(0, 255, 7) }, { code: 250, data: new Uint8Array() });
    const again = ok(bytes(m));
    assert.deepEqual(again.options, m.options);
  });

  test('user class: RFC 3004 list, or one raw string (iPXE, ISC)', () => {
    assert.deepEqual(decodeUserClass(encodeUserClass(['iPXE', 'ironbay'])), { ok: true, value: { format: 'rfc3004', classes: ['iPXE', 'ironbay'] } });
    assert.deepEqual(decodeUserClass(Uint8Array.from(ascii('iPXE'))), { ok: true, value: { format: 'raw', text: 'iPXE' } });
    // A zero-length class is not RFC 3004 (UC_Len_i > 0): read raw.
    assert.deepEqual(decodeUserClass(Uint8Array.of(0, 65)), { ok: true, value: { format: 'raw', text: '\0A' } });
    assert.equal(decodeUserClass(new Uint8Array()).ok, false);
  });

  test('vendor class: PXEClient and HTTPClient forms, partial and foreign ones', () => {
    assert.deepEqual(parseVendorClass('PXEClient'), { text: 'PXEClient', boot: 'PXEClient' });
    assert.deepEqual(parseVendorClass('HTTPClient'), { text: 'HTTPClient', boot: 'HTTPClient' });
    assert.deepEqual(parseVendorClass('PXEClient:Arch:00009'), { text: 'PXEClient:Arch:00009', boot: 'PXEClient', arch: 9 });
    assert.deepEqual(parseVendorClass('PXEClient:Arch:9:UNDI:x'), { text: 'PXEClient:Arch:9:UNDI:x', boot: 'PXEClient' });
    assert.deepEqual(parseVendorClass('MSFT 5.0'), { text: 'MSFT 5.0' });
  });

  test('43 is read as PXE only when 60 says PXEClient', () => {
    const m = ok(packet({ options: [53, 1, 2, 60, 4, ...ascii('ACME'), 43, 3, 6, 1, 8, 255] }));
    const k = readKnownOptions(m);
    assert.equal(k.known.pxe, undefined);
    assert.deepEqual(getOption(m, 43)?.data, Uint8Array.of(6, 1, 8));
  });

  test('43 PXE sub-options: malformed entries are problems; unknown ones kept', () => {
    assert.deepEqual(decodePxeVendorOptions(Uint8Array.of(1, 4, 224, 0, 0, 1, 255)), {
      ok: true,
      value: { other: [{ code: 1, data: Uint8Array.of(224, 0, 0, 1) }] },
    });
    for (const bad of [
      [6, 2, 0, 0],
      [8, 4, 0x80, 0, 2, 1],
      [9, 4, 0x80, 0, 9, 65],
      [71, 2, 0, 0],
      [10, 0],
      [6, 5, 1],
    ]) {
      assert.equal(decodePxeVendorOptions(Uint8Array.from(bad)).ok, false, JSON.stringify(bad));
    }
  });

  test('175: unknown sub-options kept; a short bus id still names the bus', () => {
    const r = decodeIpxeOptions(Uint8Array.of(177, 1, 7, 0x60, 1, 9, 1, 1, 0xff, 255));
    assert.deepEqual(r, { ok: true, value: { features: {}, busId: { bus: 'efi' }, other: [{ code: 0x60, data: Uint8Array.of(9) }], priority: -1 } });
  });

  test('82: remote id, link selection and server id override; empty or cut values are problems', () => {
    const data = Uint8Array.of(1, 3, ...ascii('p42'), 2, 2, 0xab, 0xcd, 5, 4, 198, 18, 9, 0, 11, 4, 198, 18, 0, 1);
    const r = decodeRelayAgentInfo(data);
    assert.ok(r.ok);
    assert.equal(text(r.value.circuitId), 'p42');
    assert.deepEqual(r.value.remoteId, Uint8Array.of(0xab, 0xcd));
    assert.equal(r.value.linkSelection, '198.18.9.0');
    assert.equal(r.value.serverIdOverride, '198.18.0.1');
    assert.equal(r.value.raw, data);
    assert.equal(decodeRelayAgentInfo(new Uint8Array()).ok, false);
    assert.equal(decodeRelayAgentInfo(Uint8Array.of(1, 5, 1)).ok, false);
    assert.equal(printable(Uint8Array.of(0, 1)), undefined);
  });

  test('53 names all RFC 2132/3203/4388/6926/7724 types; 61 keeps non-MAC identifiers', () => {
    assert.deepEqual(decodeMessageType(Uint8Array.of(13)), { ok: true, value: 'LEASEACTIVE' });
    assert.deepEqual(decodeMessageType(Uint8Array.of(15)), { ok: true, value: 'LEASEQUERYDONE' });
    assert.equal(decodeMessageType(Uint8Array.of(19)).ok, false);
    assert.deepEqual(decodeClientId(Uint8Array.of(255, 1, 2, 3)), { ok: true, value: { type: 255, id: Uint8Array.of(1, 2, 3) } });
  });

  test('97 must be type 0 and 16 bytes', () => {
    assert.equal(decodeClientMachineId(Uint8Array.of(1, ...new Uint8Array(16))).ok, false);
    assert.equal(decodeClientMachineId(new Uint8Array(16)).ok, false);
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeEmptyRouterAdvertisement, isRouterSolicitation, readIcmp6 } from '../../daemon/ipv6/codec/ndp.ts';

// Captured with tcpdump on a veth whose peer (MAC 02:00:00:00:c0:01) the Linux kernel brought
// up: its router solicitation, ICMPv6 bytes only (source link-layer address option included).
const KERNEL_RS = Buffer.from('8500fb2a00000000010102000000c001', 'hex');
// The kernel's neighbour solicitation for duplicate address detection, same capture.
const KERNEL_NS = Buffer.from('8700c31300000000fe80000000000000000000fffe00c0010e01631d5c4d6c9c', 'hex');

describe('NDP codec', () => {
  test('a kernel router solicitation is recognised; its DAD neighbour solicitation is not', () => {
    assert.equal(isRouterSolicitation(KERNEL_RS), true);
    assert.equal(isRouterSolicitation(KERNEL_NS), false);
    assert.deepEqual(readIcmp6(KERNEL_NS), { ok: true, type: 135, code: 0 });
  });

  test('truncated or odd solicitations are discarded, never thrown on (RFC 4861 §6.1.1)', () => {
    assert.equal(isRouterSolicitation(KERNEL_RS.subarray(0, 7)), false);
    assert.equal(isRouterSolicitation(Buffer.from('8501000000000000', 'hex')), false, 'code must be 0');
    assert.deepEqual(readIcmp6(new Uint8Array(3)), { ok: false, reason: '3 bytes: an ICMPv6 header is 4' });
  });

  test('the advertisement configures nothing: no flags, lifetime 0, no prefix; MAC as its only option', () => {
    const ra = encodeEmptyRouterAdvertisement('02:00:00:00:c0:01');
    assert.equal(Buffer.from(ra).toString('hex'), '86000000' + '00' + '00' + '0000' + '00000000' + '00000000' + '0101' + '02000000c001');
    assert.equal(encodeEmptyRouterAdvertisement().length, 16);
    assert.throws(() => encodeEmptyRouterAdvertisement('02:00:00'), RangeError);
  });
});

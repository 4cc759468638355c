import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  canonicalIp,
  cidrContains,
  cidrOverlaps,
  formatCidr,
  formatInterface,
  formatIp,
  mask,
  normalizeMac,
  parseCidr,
  parseInterface,
  parseIp,
  type Cidr,
} from '../../daemon/lib/net.ts';

function cidr(text: string): Cidr {
  const r = parseCidr(text);
  assert.ok(r.ok, r.ok ? '' : r.reason);
  return r.cidr;
}

function ip(text: string): NonNullable<ReturnType<typeof parseIp>> {
  const r = parseIp(text);
  assert.ok(r, `${text} did not parse`);
  return r;
}

describe('normalizeMac', () => {
  test('accepts the spellings operators paste, returns lower-case colon form', () => {
    for (const s of ['52:54:00:ab:cd:ef', '52:54:00:AB:CD:EF', '52-54-00-AB-CD-EF', '5254.00ab.cdef', '5254.00AB.CDEF', '525400abcdef', '525400ABCDEF', ' 52:54:00:ab:cd:ef\t']) {
      assert.equal(normalizeMac(s), '52:54:00:ab:cd:ef', JSON.stringify(s));
    }
  });

  test('refuses anything else', () => {
    for (const s of [
      '',
      '52:54:00:ab:cd', // five octets
      '52:54:00:ab:cd:ef:01', // EUI-64
      '5:54:0:ab:cd:ef', // unpadded octets
      '52:54:00:ab:cd:eg',
      '5254:00ab:cdef',
      '5254.00ab.cdef.0000',
      '52 54 00 ab cd ef',
      '52:54:00:ab:cd:ef\n52:54:00:ab:cd:ee',
      '0x525400abcdef',
    ]) {
      assert.equal(normalizeMac(s), undefined, JSON.stringify(s));
    }
  });
});

describe('parseIp / formatIp', () => {
  test('IPv4 round-trips and reads as a 32-bit number', () => {
    for (const s of ['0.0.0.0', '192.0.2.1', '198.51.100.255', '255.255.255.255']) assert.equal(formatIp(ip(s)), s);
    assert.deepEqual(ip('192.0.2.1'), { family: 4, value: 0xc0000201n });
    assert.deepEqual(ip('255.255.255.255'), { family: 4, value: 0xffffffffn });
  });

  test('IPv4 with leading zeros, missing or extra octets, or out of range is not an address', () => {
    for (const s of ['192.0.2.01', '192.0.2', '192.0.2.1.5', '192.0.2.256', '192.0.2.-1', ' 192.0.2.1', '192.0.2.1 ', '', '192.0.2.1/24']) {
      assert.equal(parseIp(s), undefined, JSON.stringify(s));
    }
  });

  test('IPv6 is formatted per RFC 5952: lower case, no leading zeros, longest zero run compressed', () => {
    const cases: [string, string][] = [
      ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
      ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
      ['::', '::'],
      ['::1', '::1'],
      ['1::', '1::'],
      // §4.2.2: a single zero group is not compressed.
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
      // §4.2.3: the longest run is compressed; the first of equal runs.
      ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      // Embedded IPv4 is read; it is written back in hex.
      ['::ffff:192.0.2.1', '::ffff:c000:201'],
      ['64:ff9b::198.51.100.7', '64:ff9b::c633:6407'],
    ];
    for (const [input, want] of cases) assert.equal(canonicalIp(input), want, input);
  });

  test('an IPv6 zone (fe80::1%eth0) is not an inventory address', () => {
    // Before the fix: "::ffff:1.2.3.4%x" parsed as ::ffff:1, and "fe80::%eth0" threw a RangeError.
    for (const s of ['fe80::1%eth0', 'fe80::%eth0', '::ffff:1.2.3.4%x', 'fe80::1%']) assert.equal(parseIp(s), undefined, s);
    assert.equal(parseCidr('fe80::%eth0/64').ok, false);
  });

  test('malformed IPv6 is not an address', () => {
    for (const s of ['2001:db8::1::2', '2001:db8:::1', '12345::', '2001:db8:0:0:0:0:0:0:1', 'g::1', ':1', '1:']) {
      assert.equal(parseIp(s), undefined, s);
    }
  });

  test('canonicalIp leaves non-addresses alone', () => {
    assert.equal(canonicalIp('bmc-1.example.net'), undefined);
  });
});

describe('parseCidr', () => {
  test('canonical form of IPv4 and IPv6 subnets', () => {
    assert.equal(formatCidr(cidr('198.51.100.0/24')), '198.51.100.0/24');
    assert.equal(formatCidr(cidr('2001:DB8:0:0::/48')), '2001:db8::/48');
    assert.equal(formatCidr(cidr('0.0.0.0/0')), '0.0.0.0/0');
    assert.equal(formatCidr(cidr('::/0')), '::/0');
    assert.equal(formatCidr(cidr('192.0.2.7/32')), '192.0.2.7/32');
    assert.equal(formatCidr(cidr('2001:db8::7/128')), '2001:db8::7/128');
  });

  test('host bits set is refused, naming the subnet that was probably meant', () => {
    assert.deepEqual(parseCidr('198.51.100.5/24'), { ok: false, reason: '"198.51.100.5/24" has host bits set; the subnet is 198.51.100.0/24' });
    assert.deepEqual(parseCidr('2001:db8::1/64'), { ok: false, reason: '"2001:db8::1/64" has host bits set; the subnet is 2001:db8::/64' });
    assert.deepEqual(parseCidr('0.0.0.1/0'), { ok: false, reason: '"0.0.0.1/0" has host bits set; the subnet is 0.0.0.0/0' });
  });

  test('anything that is not address/prefix is refused with an example', () => {
    for (const s of ['198.51.100.0', '198.51.100.0/', '/24', '198.51.100.0/33', '2001:db8::/129', '198.51.100.0/024', '198.51.100.0/-1', '198.51.100.0/24/8', '198.51.100.0/ 24', 'x/24', '198.51.100.0/1e1']) {
      const r = parseCidr(s);
      assert.equal(r.ok, false, s);
      if (!r.ok) assert.equal(r.reason, `${JSON.stringify(s)} is not a subnet in CIDR notation (e.g. 192.0.2.0/24)`);
    }
  });
});

describe('parseInterface', () => {
  test('keeps the host part, formats canonically', () => {
    const i = parseInterface('203.0.113.5/24');
    assert.ok(i);
    assert.equal(formatInterface(i), '203.0.113.5/24');
    const six = parseInterface('2001:DB8:0:1::0005/64');
    assert.ok(six);
    assert.equal(formatInterface(six), '2001:db8:0:1::5/64');
    assert.equal(parseInterface('203.0.113.5'), undefined);
    assert.equal(parseInterface('203.0.113.5/33'), undefined);
  });
});

describe('mask, containment and overlap', () => {
  test('mask', () => {
    assert.equal(mask(4, 0), 0n);
    assert.equal(mask(4, 24), 0xffffff00n);
    assert.equal(mask(4, 32), 0xffffffffn);
    assert.equal(mask(6, 0), 0n);
    assert.equal(mask(6, 128), (1n << 128n) - 1n);
    assert.equal(mask(6, 64), ((1n << 64n) - 1n) << 64n);
  });

  test('cidrContains: edges included, neighbours and other families excluded', () => {
    const net = cidr('198.51.100.0/24');
    assert.ok(cidrContains(net, ip('198.51.100.0')));
    assert.ok(cidrContains(net, ip('198.51.100.255')));
    assert.ok(!cidrContains(net, ip('198.51.101.0')));
    assert.ok(!cidrContains(net, ip('198.51.99.255')));
    assert.ok(!cidrContains(net, ip('::ffff:198.51.100.1')), 'an IPv4-mapped IPv6 address is IPv6');
    assert.ok(cidrContains(cidr('0.0.0.0/0'), ip('203.0.113.9')));
    assert.ok(cidrContains(cidr('2001:db8::/32'), ip('2001:db8:ffff::1')));
    assert.ok(!cidrContains(cidr('2001:db8::/32'), ip('2001:db9::')));
  });

  test('cidrOverlaps: nested, equal, adjacent, disjoint, mixed families', () => {
    assert.ok(cidrOverlaps(cidr('198.18.0.0/15'), cidr('198.19.0.0/16')));
    assert.ok(cidrOverlaps(cidr('198.19.0.0/16'), cidr('198.18.0.0/15')));
    assert.ok(cidrOverlaps(cidr('192.0.2.0/24'), cidr('192.0.2.0/24')));
    assert.ok(!cidrOverlaps(cidr('192.0.2.0/25'), cidr('192.0.2.128/25')));
    assert.ok(!cidrOverlaps(cidr('198.51.100.0/24'), cidr('203.0.113.0/24')));
    assert.ok(cidrOverlaps(cidr('0.0.0.0/0'), cidr('203.0.113.0/24')));
    assert.ok(!cidrOverlaps(cidr('::/0'), cidr('203.0.113.0/24')));
    assert.ok(cidrOverlaps(cidr('2001:db8::/32'), cidr('2001:db8:1::/48')));
  });
});

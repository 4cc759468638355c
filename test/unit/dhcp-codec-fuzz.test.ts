// Hostile input: decode() must never throw and every refusal must carry a catalogued reason;
// whatever it accepts must survive readKnownOptions() and re-encoding. Seeded, so a failure
// reproduces: the message names the seed, the iteration and the packet's bytes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decode, encode, readKnownOptions, REJECT_REASONS, wireOrder, type Decoded } from '../../daemon/dhcp/codec/index.ts';
import { decodeIpxeOptions } from '../../daemon/dhcp/codec/ipxe.ts';
import { decodeClientArch, decodeClientMachineId, decodePxeVendorOptions, decodeVendorClass } from '../../daemon/dhcp/codec/pxe.ts';
import { decodeRelayAgentInfo } from '../../daemon/dhcp/codec/relay.ts';
import { decodeClientId, decodeIpList, decodeMessageType } from '../../daemon/dhcp/codec/standard.ts';
import type { Parsed } from '../../daemon/dhcp/codec/suboptions.ts';
import { decodeUserClass } from '../../daemon/dhcp/codec/user-class.ts';
import { fixture, fixtureNames } from '../fixtures/dhcp/fixtures.ts';
import { mulberry32 } from '../helpers/prng.ts';

const SEED = 0x1b0075;
const ITERATIONS = 20_000;

function prng(seed: number): { int: (n: number) => number; bytes: (n: number) => Uint8Array; pick: <T>(xs: readonly T[]) => T } {
  const next = mulberry32(seed);
  const int = (n: number): number => Math.floor(next() * n);
  return {
    int,
    bytes: (n) => Uint8Array.from({ length: n }, () => int(256)),
    pick: (xs) => xs[int(xs.length)]!,
  };
}

const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const FIXTURES = fixtureNames().map(fixture);
// Codes whose values have a format to get wrong, so the typed decoders see malformed input.
const INTERESTING = [1, 3, 12, 43, 50, 51, 52, 53, 54, 55, 57, 60, 61, 66, 67, 77, 82, 93, 94, 97, 175, 224];

function header(r: ReturnType<typeof prng>, length: number): Uint8Array {
  const b = new Uint8Array(length);
  b[0] = r.pick([1, 2]);
  b[1] = 1;
  b[2] = 6;
  b.set(r.bytes(10), 4); // xid, secs, flags, part of ciaddr
  b.set(r.bytes(6), 28);
  b.set([99, 130, 83, 99], 236);
  return b;
}

/** A run of option instances: mostly well formed, biased to known codes, sometimes lying about a length. */
function tlvs(r: ReturnType<typeof prng>, room: number): number[] {
  const out: number[] = [];
  while (out.length < room - 2 && r.int(12) !== 0) {
    const code = r.int(3) ? r.pick(INTERESTING) : r.int(256);
    if (code === 52) {
      out.push(52, 1, r.int(4));
      continue;
    }
    if (code === 60 && r.int(2)) {
      const vc = Array.from(Buffer.from(r.pick(['PXEClient', 'PXEClient:Arch:00007:UNDI:003000', 'HTTPClient'])));
      out.push(60, vc.length, ...vc);
      continue;
    }
    const len = r.int(4) ? r.int(20) : r.int(256);
    if (out.length + 2 + len > room - 1) break;
    out.push(code, r.int(100) ? len : r.int(256), ...r.bytes(len));
  }
  if (r.int(4)) out.push(255);
  return out.slice(0, room);
}

function mutate(r: ReturnType<typeof prng>, src: Uint8Array): Uint8Array {
  let b = Array.from(src);
  for (let n = 1 + r.int(8); n > 0; n--) {
    // Mostly in the options, where a change gets past the header checks.
    const at = r.int(4) && b.length > 240 ? 240 + r.int(b.length - 239) : r.int(b.length + 1);
    switch (r.int(6)) {
      case 0:
        b[at] = r.int(256);
        break;
      case 1:
        b[at] = r.pick([0, 1, 52, 255]);
        break;
      case 2:
        b.splice(at, 0, r.int(256));
        break;
      case 3:
        b.splice(at, 1 + r.int(4));
        break;
      case 4:
        b = b.slice(0, at);
        break;
      default:
        b.splice(at, 0, ...b.slice(r.int(b.length), r.int(b.length)));
    }
  }
  return Uint8Array.from(b);
}

function generate(r: ReturnType<typeof prng>, i: number): Uint8Array {
  switch (i % 4) {
    case 0: // anything at all
      return r.bytes(r.int(1600));
    case 1: {
      // a valid header, then random bytes
      const b = header(r, 240 + r.int(1300));
      b.set(r.bytes(b.length - 240), 240);
      return b;
    }
    case 2: {
      // a valid header, then option instances, sometimes in file and sname too
      const opts = tlvs(r, 1200);
      const b = header(r, Math.max(300, 240 + opts.length));
      b.set(opts, 240);
      if (r.int(2)) b.set(tlvs(r, 128), 108);
      if (r.int(2)) b.set(tlvs(r, 64), 44);
      return b;
    }
    default:
      return mutate(r, r.pick(FIXTURES));
  }
}

/** Every acceptance must type and re-encode; every refusal must be a catalogued reason. */
function check(buf: Uint8Array, where: string, seen: Map<string, number>): Decoded {
  let d: Decoded;
  try {
    d = decode(buf);
  } catch (e) {
    assert.fail(`${where}: decode threw ${String(e)} on ${hexOf(buf)}`);
  }
  if (!d.ok) {
    assert.ok(d.reason in REJECT_REASONS, `${where}: unknown reason ${d.reason}`);
    assert.ok(typeof d.detail === 'string' && d.detail.length > 0, `${where}: no detail`);
    seen.set(d.reason, (seen.get(d.reason) ?? 0) + 1);
    return d;
  }
  seen.set('ok', (seen.get('ok') ?? 0) + 1);
  const k = readKnownOptions(d.message);
  for (const p of k.problems) assert.ok(typeof p.problem === 'string' && p.problem.length > 0, `${where}: empty problem`);
  const e1 = encode(d.message);
  if (!e1.ok) {
    seen.set('not re-encodable', (seen.get('not re-encodable') ?? 0) + 1);
    return d;
  }
  // decode ∘ encode changes nothing but the option order (wireOrder), and a second pass
  // through encode gives the same bytes.
  const d1 = decode(e1.bytes);
  assert.ok(d1.ok, `${where}: own encoding refused (${d1.ok ? '' : d1.reason}) for ${hexOf(buf)}`);
  assert.deepEqual(d1.message, { ...d.message, options: wireOrder(d.message.options, d.message.op) }, `${where}: ${hexOf(buf)}`);
  const e2 = encode(d1.message);
  assert.ok(e2.ok);
  assert.deepEqual(e2.bytes, e1.bytes, `${where}: encode is not stable for ${hexOf(buf)}`);
  return d;
}

describe('decode on hostile input', () => {
  test(`${ITERATIONS} random and mutated packets (seed ${SEED.toString(16)})`, () => {
    const r = prng(SEED);
    const seen = new Map<string, number>();
    for (let i = 0; i < ITERATIONS; i++) check(generate(r, i), `seed ${SEED.toString(16)} iteration ${i}`, seen);
    // The generators must reach past the header checks, or the run proves little.
    assert.ok((seen.get('ok') ?? 0) > ITERATIONS / 5, JSON.stringify([...seen]));
    const reasons = Object.keys(REJECT_REASONS).filter((x) => seen.has(x));
    assert.ok(reasons.length >= 9, `reasons reached: ${reasons.join(', ')}`);
  });

  test('every fixture truncated at every offset, and cut from every offset', () => {
    const seen = new Map<string, number>();
    for (const [n, b] of FIXTURES.entries()) {
      for (let len = 0; len <= b.length; len++) {
        const d = check(b.subarray(0, len), `fixture ${n} truncated to ${len}`, seen);
        if (len < 236) assert.equal(d.ok ? 'ok' : d.reason, 'too-short');
        else if (len < 240) assert.equal(d.ok ? 'ok' : d.reason, 'no-magic-cookie');
        else if (!d.ok) assert.ok(['option-no-length', 'option-past-end'].includes(d.reason), d.reason);
        check(b.subarray(len), `fixture ${n} from ${len}`, seen);
      }
    }
  });

  test('option value decoders return a value or a problem for any bytes', () => {
    const r = prng(SEED + 1);
    const decoders: ((d: Uint8Array) => Parsed<unknown>)[] = [
      decodePxeVendorOptions,
      decodeIpxeOptions,
      decodeRelayAgentInfo,
      decodeUserClass,
      decodeVendorClass,
      decodeClientArch,
      decodeClientMachineId,
      decodeClientId,
      decodeIpList,
      decodeMessageType,
    ];
    for (let i = 0; i < 5_000; i++) {
      const data = r.bytes(r.int(4) ? r.int(24) : r.int(256));
      for (const dec of decoders) {
        const p = dec(data);
        assert.ok(p.ok || p.problem.length > 0, `${dec.name}(${hexOf(data)})`);
      }
    }
  });
});

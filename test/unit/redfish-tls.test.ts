// Certificate policy: fingerprint spellings operators paste, and the verdict for each
// combination of node's CA check, a pin and insecureTls.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { normaliseFingerprint, peerVerdict } from '../../daemon/bmc/redfish/tls.ts';

const FP = '21:66:F8:BE:21:EC:E6:B4:3C:27:C1:09:26:48:BA:0A:4E:C8:9C:50:77:B0:1A:13:F1:A4:42:F0:8D:DF:FE:A5';
const OTHER = FP.replace(/^21/, '22');

describe('fingerprint spellings', () => {
  test('colons or not, any case, openssl output', () => {
    assert.equal(normaliseFingerprint(FP), FP);
    assert.equal(normaliseFingerprint(FP.toLowerCase()), FP);
    assert.equal(normaliseFingerprint(FP.replaceAll(':', '').toLowerCase()), FP);
    assert.equal(normaliseFingerprint(`sha256 Fingerprint=${FP}`), FP);
    assert.equal(normaliseFingerprint(`  SHA256:${FP} \n`), FP);
  });

  test('not 32 bytes of hex is refused', () => {
    assert.equal(normaliseFingerprint(''), undefined);
    assert.equal(normaliseFingerprint(FP.slice(3)), undefined);
    assert.equal(normaliseFingerprint(FP + ':00'), undefined);
    assert.equal(normaliseFingerprint(FP.replace('F8', 'G8')), undefined);
    // A sha1 fingerprint (20 bytes) is a common paste mistake.
    assert.equal(normaliseFingerprint('AB:'.repeat(19) + 'AB'), undefined);
  });
});

describe('verdicts', () => {
  const selfSigned = { authorized: false, authorizationError: 'DEPTH_ZERO_SELF_SIGNED_CERT', fingerprint256: FP };
  const trusted = { authorized: true, fingerprint256: FP };

  test('by default node decides, and a refusal tells the operator what to do', () => {
    assert.equal(peerVerdict(trusted, { insecure: false }), undefined);
    const why = peerVerdict(selfSigned, { insecure: false });
    assert.ok(why !== undefined);
    assert.match(why, /DEPTH_ZERO_SELF_SIGNED_CERT/);
    assert.ok(why.includes(`fingerprint ${FP}`));
    assert.match(why, /tlsFingerprint/);
    assert.match(why, /insecureTls: true/);
  });

  test('insecureTls accepts anything', () => {
    assert.equal(peerVerdict(selfSigned, { insecure: true }), undefined);
  });

  test('a pin replaces CA trust: it alone decides, with or without insecureTls', () => {
    assert.equal(peerVerdict(selfSigned, { insecure: false, pin: FP }), undefined);
    assert.equal(peerVerdict({ ...selfSigned, fingerprint256: FP.toLowerCase() }, { insecure: false, pin: FP }), undefined);
    for (const insecure of [false, true]) {
      const why = peerVerdict(trusted, { insecure, pin: OTHER });
      assert.ok(why !== undefined);
      assert.ok(why.includes(FP) && why.includes(OTHER), why);
    }
    assert.match(peerVerdict({ authorized: false }, { insecure: false, pin: FP })!, /fingerprint unknown/);
  });
});

// The BMC's side of RMCP+ session establishment and use (IPMI v2.0 §13.14–13.24): Open Session,
// RAKP 1→2 and 3→4 answered with the shared codec, then each session packet checked (integrity,
// confidentiality, session ID, sequence window) before its IPMI message is handed on. Pure: the
// caller passes datagram bodies in and sends what comes back; the clock is injected.
import { randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import {
  additionalKeys, decodeOpenSessionRequest, decodeRakp1, decodeRakp3, decodeSession, encodeOpenSessionResponse, encodeRakp2, encodeRakp4, encodeV2,
  PAYLOAD, PRIVILEGE, rakp2AuthCode, rakp3AuthCode, rakp4Icv, rakp4IcvLength, required, sessionIntegrityKey, SUITES,
  type Algorithms, type CipherSuite, type RakpValues, type SessionKeys,
} from '../../../daemon/bmc/ipmi/codec/index.ts';
import type { TestBmcConfig, TestBmcUser } from './config.ts';
import { CC, type Reply } from './machine.ts';

/** RMCP+ status codes the BMC sends (Table 13-15). */
export const STATUS = {
  ok: 0x00,
  noResources: 0x01,
  invalidSessionId: 0x02,
  invalidRole: 0x09,
  unauthorizedRole: 0x0a,
  unauthorizedName: 0x0d,
  invalidIntegrityCheck: 0x0f,
  noCipherSuiteMatch: 0x11,
} as const;

export interface BmcSession {
  readonly id: number;
  readonly consoleId: number;
  readonly suite: CipherSuite;
  state: 'opened' | 'rakp2-sent' | 'active';
  /** Open Session's requested maximum privilege (0 = the highest the suite allows: administrator). */
  readonly openPrivilege: number;
  user: TestBmcUser | undefined;
  /** The highest level Set Session Privilege Level may reach: the RAKP role, capped by the user. */
  limit: number;
  /** The current level; a session starts at user level (or its limit, if lower) (§22.18). */
  privilege: number;
  keys: SessionKeys | undefined;
  /** BMC → console session sequence number, from 1 (§13.6). */
  outSeq: number;
  /** Commands answered (duplicates not counted): `forgetSessionsAfter` counts these. */
  commands: number;
  lastSeen: number;
  /** Handshake answers kept so a retransmitted request gets the same answer (same Rc, same keys). */
  openRequest: Buffer;
  openReply: Buffer;
  rakp1?: Buffer;
  rakp2Reply?: Buffer;
  rakp3?: Buffer;
  rakp4Reply?: Buffer;
  values?: RakpValues;
  window: SequenceWindow;
  /** The last request's identity and answer: a retransmission is answered again, not run again. */
  last?: { key: string; message: Buffer };
}

/** An answer to send back outside a session: payload type and payload (session ID 0, sequence 0). */
export interface HandshakeReply {
  payloadType: number;
  payload: Buffer;
}

/** One Open Session Request: the algorithms asked for, the configured suite they match, the status answered. */
export interface OpenRecord extends Algorithms {
  suite: number | undefined;
  status: number;
}

interface OpenOutcome {
  reply: HandshakeReply;
  record: OpenRecord;
}

export type Inbound = { ok: true; session: BmcSession; payload: Buffer } | { ok: false; reason: string; silent?: boolean };

/** Console session IDs and sequence numbers are 32-bit; 0 is never a valid session ID (§13.17). */
const newSessionId = (): number => randomInt(1, 0xffffffff);

export class SessionTable {
  private readonly sessions = new Map<number, BmcSession>();
  /** IDs of sessions this BMC "forgot" (forgetSessionsAfter): their packets are ignored. */
  private readonly forgotten = new Set<number>();
  private readonly config: TestBmcConfig;
  private readonly guid: Uint8Array;
  /** Called when a session becomes active, times out, is closed or forgotten. */
  private readonly onEvent: (e: 'activated' | 'timed-out' | 'closed' | 'forgotten' | 'refused', s: BmcSession | undefined) => void;

  constructor(config: TestBmcConfig, guid: Uint8Array, onEvent: SessionTable['onEvent']) {
    this.config = config;
    this.guid = guid;
    this.onEvent = onEvent;
  }

  /** Drops sessions idle longer than the timeout; run before each datagram and each count. */
  sweep(): void {
    const now = this.config.now();
    for (const [id, s] of this.sessions) {
      if (now - s.lastSeen > this.config.sessionTimeoutMs) {
        this.sessions.delete(id);
        this.onEvent('timed-out', s);
      }
    }
  }

  list(): BmcSession[] {
    this.sweep();
    return [...this.sessions.values()];
  }

  get(id: number): BmcSession | undefined {
    return this.sessions.get(id);
  }

  remove(id: number, why: 'closed' | 'refused'): void {
    const s = this.sessions.get(id);
    if (s && this.sessions.delete(id)) this.onEvent(why, s);
  }

  /** Open Session Request → Response (§13.17, §13.18); what was asked and answered is returned for the log. */
  open(payload: Buffer): OpenOutcome | { reason: string } {
    const r = decodeOpenSessionRequest(payload);
    if (!r.ok) return { reason: r.reason };
    const q = r.value;
    const asked = { auth: q.auth, integrity: q.integrity, confidentiality: q.confidentiality };
    for (const s of this.sessions.values()) {
      if (s.consoleId === q.consoleSessionId && s.state === 'opened' && s.openRequest.equals(payload)) {
        s.lastSeen = this.config.now();
        return { reply: { payloadType: PAYLOAD.openSessionResponse, payload: s.openReply }, record: { ...asked, suite: s.suite.id, status: STATUS.ok } };
      }
    }
    const suiteId = this.config.suites.find((id) => {
      const s = SUITES.get(id)!;
      return s.auth === q.auth && s.integrity === q.integrity && s.confidentiality === q.confidentiality;
    });
    const refuse = (status: number): OpenOutcome => ({
      reply: { payloadType: PAYLOAD.openSessionResponse, payload: encodeOpenSessionResponse({ tag: q.tag, status, maxPrivilege: 0, consoleSessionId: q.consoleSessionId, bmcSessionId: 0, auth: 0, integrity: 0, confidentiality: 0 }) },
      record: { ...asked, suite: suiteId, status },
    });
    if (q.maxPrivilege > PRIVILEGE.oem) return refuse(STATUS.invalidRole);
    if (suiteId === undefined) return refuse(STATUS.noCipherSuiteMatch);
    if (this.sessions.size >= this.config.maxSessions) return refuse(STATUS.noResources);
    let id = newSessionId();
    while (this.sessions.has(id) || this.forgotten.has(id)) id = newSessionId();
    const suite = SUITES.get(suiteId)!;
    const maxPrivilege = q.maxPrivilege === 0 ? PRIVILEGE.administrator : q.maxPrivilege;
    const openReply = encodeOpenSessionResponse({ tag: q.tag, status: STATUS.ok, maxPrivilege, consoleSessionId: q.consoleSessionId, bmcSessionId: id, ...suite });
    this.sessions.set(id, {
      id, consoleId: q.consoleSessionId, suite, state: 'opened', openPrivilege: q.maxPrivilege, user: undefined, limit: 0, privilege: 0, keys: undefined,
      outSeq: 1, commands: 0, lastSeen: this.config.now(), openRequest: Buffer.from(payload), openReply, window: new SequenceWindow(),
    });
    return { reply: { payloadType: PAYLOAD.openSessionResponse, payload: openReply }, record: { ...asked, suite: suiteId, status: STATUS.ok } };
  }

  /**
   * RAKP 1 → RAKP 2 (§13.20, §13.21): find the user by name (bit 4 of ROLEm: name-only lookup;
   * either way this BMC has one entry per name), check the role, prove the password.
   */
  rakp1(payload: Buffer): HandshakeReply | { reason: string } {
    const r = decodeRakp1(payload);
    if (!r.ok) return { reason: r.reason };
    const q = r.value;
    const s = this.sessions.get(q.bmcSessionId);
    const answer = (status: number, consoleId: number, rest?: { bmcRandom: Uint8Array; authCode: Uint8Array }): HandshakeReply => ({
      payloadType: PAYLOAD.rakp2,
      payload: encodeRakp2({ tag: q.tag, status, consoleSessionId: consoleId, bmcRandom: rest?.bmcRandom ?? Buffer.alloc(0), bmcGuid: this.guid, authCode: rest?.authCode ?? Buffer.alloc(0) }),
    });
    if (!s || s.state === 'active') return answer(STATUS.invalidSessionId, 0);
    s.lastSeen = this.config.now();
    if (s.state === 'rakp2-sent' && s.rakp1?.equals(payload)) return { payloadType: PAYLOAD.rakp2, payload: s.rakp2Reply! };
    const fail = (status: number): HandshakeReply => {
      this.remove(s.id, 'refused');
      return answer(status, s.consoleId);
    };
    const role = q.role & 0x0f;
    if (role < PRIVILEGE.callback || role > PRIVILEGE.oem || (s.openPrivilege !== 0 && role > s.openPrivilege)) return fail(STATUS.invalidRole);
    const name = Buffer.from(q.username);
    const user = this.config.users.find((u) => Buffer.from(u.name, 'utf8').equals(name));
    if (!user) return fail(STATUS.unauthorizedName);
    if (role > user.privilege && this.config.roleCheck === 'rakp') return fail(STATUS.unauthorizedRole);
    const values: RakpValues = {
      auth: s.suite.auth,
      consoleSessionId: s.consoleId,
      bmcSessionId: s.id,
      consoleRandom: q.consoleRandom,
      bmcRandom: randomBytes(16),
      bmcGuid: this.guid,
      role: q.role,
      username: name,
      password: Buffer.from(user.password, 'utf8'),
    };
    s.user = user;
    s.limit = Math.min(role, user.privilege);
    s.values = values;
    s.state = 'rakp2-sent';
    s.rakp1 = Buffer.from(payload);
    s.rakp2Reply = answer(STATUS.ok, s.consoleId, { bmcRandom: values.bmcRandom, authCode: rakp2AuthCode(values) }).payload;
    s.rakp3 = undefined;
    return { payloadType: PAYLOAD.rakp2, payload: s.rakp2Reply };
  }

  /**
   * RAKP 3 → RAKP 4 (§13.22, §13.23): the console's proof of the password. Wrong → status 0Fh
   * and the slot is freed; a console that sends a non-zero status itself gets no answer.
   */
  rakp3(payload: Buffer): HandshakeReply | { reason: string } | undefined {
    const r = decodeRakp3(payload);
    if (!r.ok) return { reason: r.reason };
    const q = r.value;
    const s = this.sessions.get(q.bmcSessionId);
    const answer = (status: number, consoleId: number, icv: Uint8Array = Buffer.alloc(0)): HandshakeReply => ({
      payloadType: PAYLOAD.rakp4,
      payload: encodeRakp4({ tag: q.tag, status, consoleSessionId: consoleId, icv }),
    });
    if (s?.state === 'active' && s.rakp3?.equals(payload)) {
      s.lastSeen = this.config.now();
      return { payloadType: PAYLOAD.rakp4, payload: s.rakp4Reply! };
    }
    if (s?.state !== 'rakp2-sent') return answer(STATUS.invalidSessionId, 0);
    if (q.status !== STATUS.ok) {
      this.remove(s.id, 'refused');
      return undefined;
    }
    const values = s.values!;
    const want = rakp3AuthCode(values);
    if (want.length !== q.authCode.length || !timingSafeEqual(want, q.authCode)) {
      this.remove(s.id, 'refused');
      return answer(STATUS.invalidIntegrityCheck, s.consoleId);
    }
    const sik = sessionIntegrityKey(values);
    const { k1, k2 } = additionalKeys(s.suite.auth, sik);
    s.keys = { integrity: s.suite.integrity, confidentiality: s.suite.confidentiality, k1, aesKey: k2.subarray(0, 16) };
    s.state = 'active';
    s.privilege = Math.min(PRIVILEGE.user, s.limit);
    s.lastSeen = this.config.now();
    s.rakp3 = Buffer.from(payload);
    s.rakp4Reply = answer(STATUS.ok, s.consoleId, rakp4Icv(values, sik).subarray(0, rakp4IcvLength(s.suite.auth))).payload;
    this.onEvent('activated', s);
    return { payloadType: PAYLOAD.rakp4, payload: s.rakp4Reply };
  }

  /**
   * A packet for an active session (header session ID ≠ 0): authenticated and encrypted as the
   * suite demands, inside the sequence window. A forgotten session's packets are ignored.
   */
  inbound(body: Buffer, sessionId: number): Inbound {
    if (this.forgotten.has(sessionId)) return { ok: false, reason: 'forgotten-session', silent: true };
    const s = this.sessions.get(sessionId);
    if (s?.state !== 'active') return { ok: false, reason: 'unknown-session' };
    const d = decodeSession(body, s.keys);
    if (!d.ok) return { ok: false, reason: d.reason };
    const p = d.value;
    if (p.format !== 'v2.0') return { ok: false, reason: 'v15-in-session' };
    const need = required(s.keys!);
    if ((need.authenticated && !p.authenticated) || (need.encrypted && !p.encrypted)) return { ok: false, reason: 'session-unprotected' };
    if (p.payloadType !== PAYLOAD.ipmi) return { ok: false, reason: 'session-payload-type' };
    if (!s.window.accept(p.sequence)) return { ok: false, reason: 'session-replay' };
    const limit = this.config.forgetSessionsAfter;
    if (limit !== undefined && s.commands >= limit) {
      this.sessions.delete(s.id);
      this.forgotten.add(s.id);
      this.onEvent('forgotten', s);
      return { ok: false, reason: 'forgotten-session', silent: true };
    }
    s.lastSeen = this.config.now();
    return { ok: true, session: s, payload: p.payload };
  }

  /** Wraps an IPMI response message for the console: its session ID, our sequence, the session's keys. */
  seal(s: BmcSession, message: Buffer): Buffer {
    const sequence = s.outSeq;
    s.outSeq = s.outSeq >= 0xffffffff ? 1 : s.outSeq + 1;
    return encodeV2({ payloadType: PAYLOAD.ipmi, sessionId: s.consoleId, sequence, payload: message, keys: s.keys });
  }

  /*
   * Set Session Privilege Level (§22.18): requested level (bits 3:0; 0 = report the current one).
   * Response: the new level. Above the session's limit: 81h ("exceeds channel and/or user limit").
   */
  setPrivilege(s: BmcSession, d: Buffer): Reply {
    if (d.length !== 1) return { cc: CC.lengthInvalid };
    const level = d[0]! & 0x0f;
    if (level === 0) return { cc: CC.ok, data: [s.privilege] };
    if (level > PRIVILEGE.oem) return { cc: CC.invalidData };
    if (level > s.limit) return { cc: 0x81 };
    s.privilege = level;
    return { cc: CC.ok, data: [level] };
  }

  /*
   * Close Session (§22.19): session ID (4, LE). Its own session, or (administrator) another one;
   * an unknown ID is 87h. The caller removes the session after sealing the answer with its keys.
   */
  closeTarget(s: BmcSession, d: Buffer): { reply: Reply; target?: number } {
    if (d.length !== 4 && d.length !== 5) return { reply: { cc: CC.lengthInvalid } };
    const id = d.readUInt32LE(0);
    if (id === s.id || id === 0) return { reply: { cc: CC.ok }, target: s.id };
    if (!this.sessions.has(id)) return { reply: { cc: 0x87 } };
    if (s.privilege < PRIVILEGE.administrator) return { reply: { cc: CC.insufficientPrivilege } };
    return { reply: { cc: CC.ok }, target: id };
  }
}

/**
 * Inbound session sequence numbers (§6.12.13): each number once, none too far behind the
 * highest seen (a captured packet replayed later is dropped), none too far ahead (a console
 * cannot skip the window forward). 32 wide, as the spec suggests for RMCP+.
 */
export class SequenceWindow {
  private static readonly WIDTH = 32;
  private top = 0;
  private seen = 0;

  accept(seq: number): boolean {
    if (seq === 0) return false;
    const ahead = (seq - this.top) >>> 0;
    if (ahead !== 0 && ahead <= SequenceWindow.WIDTH) {
      this.seen = ahead >= SequenceWindow.WIDTH ? 1 : ((this.seen << ahead) | 1) >>> 0;
      this.top = seq;
      return true;
    }
    const behind = (this.top - seq) >>> 0;
    if (this.top === 0 || behind >= SequenceWindow.WIDTH) return false;
    const bit = (1 << behind) >>> 0;
    if (this.seen & bit) return false;
    this.seen = (this.seen | bit) >>> 0;
    return true;
  }
}

// The test BMC without its socket: one datagram in, the datagrams to answer with out (STYLE.md
// §1). RMCP/ASF presence, the pre-session commands in v1.5 or RMCP+ framing, the handshake
// (sessions.ts) and the in-session commands (machine.ts, channel.ts), with the quirks applied
// and everything counted. A bad datagram is dropped and counted, never thrown (STYLE.md §4).
import { randomBytes } from 'node:crypto';
import {
  AUTH_TYPE_NONE, AUTH_TYPE_RMCP_PLUS, decodeAsf, decodeRequest, decodeRmcp, decodeSession, encodeAsfPong, encodeResponse, encodeV15, encodeV2,
  NETFN, PAYLOAD, PRIVILEGE, RMCP_CLASS, type IpmiRequest,
} from '../../../daemon/bmc/ipmi/codec/index.ts';
import { mulberry32 } from '../prng.ts';
import { APP_CMD, authCapabilities, cipherSuites, systemGuid } from './channel.ts';
import type { TestBmcConfig } from './config.ts';
import { CC, Machine, type Reply } from './machine.ts';
import { SessionTable, type BmcSession, type OpenRecord } from './sessions.ts';

export interface TestBmcCounters {
  /** Datagrams that reached the BMC. */
  datagrams: number;
  /** Dropped by `lossRate` before being read. */
  lost: number;
  /** Arrived while silent(). */
  ignored: number;
  /** Read and dropped, by reason (malformed, bad integrity, replay, unknown or forgotten session…). */
  rejected: Record<string, number>;
  /** Datagrams answered with. */
  replies: number;
  /** Sessions that completed RAKP 4 with status 0. */
  sessionsOpened: number;
  sessionsClosed: number;
  sessionsTimedOut: number;
  sessionsForgotten: number;
  /** In-session commands run (a retransmitted request is answered again but not counted). */
  commands: number;
  /** Retransmitted requests answered from the last answer. */
  duplicates: number;
}

/** One in-session command: what it was and the completion code it got. */
export interface CommandRecord {
  netFn: number;
  cmd: number;
  data: number[];
  cc: number;
  user: string;
  suite: number;
}

/** The log keeps the last this many commands. */
const LOG_LIMIT = 10_000;

export class TestBmcCore {
  readonly config: TestBmcConfig;
  readonly machine: Machine;
  readonly sessions: SessionTable;
  readonly guid = randomBytes(16);
  readonly counters: TestBmcCounters = {
    datagrams: 0, lost: 0, ignored: 0, rejected: {}, replies: 0, sessionsOpened: 0, sessionsClosed: 0, sessionsTimedOut: 0, sessionsForgotten: 0, commands: 0, duplicates: 0,
  };
  readonly opens: OpenRecord[] = [];
  readonly log: CommandRecord[] = [];
  /** Exceptions thrown while handling a datagram: a bug in the test BMC; tests assert none. */
  readonly errors: Error[] = [];
  silenced = false;
  private readonly random: () => number;

  constructor(config: TestBmcConfig) {
    this.config = config;
    this.machine = new Machine(config);
    this.random = mulberry32(config.seed);
    this.sessions = new SessionTable(config, this.guid, (e) => {
      if (e === 'activated') this.counters.sessionsOpened++;
      else if (e === 'closed') this.counters.sessionsClosed++;
      else if (e === 'timed-out') this.counters.sessionsTimedOut++;
      else if (e === 'forgotten') this.counters.sessionsForgotten++;
    });
  }

  respond(datagram: Buffer): Buffer[] {
    this.counters.datagrams++;
    if (this.config.lossRate > 0 && this.random() < this.config.lossRate) {
      this.counters.lost++;
      return [];
    }
    if (this.silenced) {
      this.counters.ignored++;
      return [];
    }
    let out: Buffer[];
    try {
      this.sessions.sweep();
      out = this.handle(datagram);
    } catch (e) {
      this.errors.push(e as Error);
      out = this.reject('exception');
    }
    this.counters.replies += out.length;
    return out;
  }

  private reject(reason: string): [] {
    this.counters.rejected[reason] = (this.counters.rejected[reason] ?? 0) + 1;
    return [];
  }

  private handle(datagram: Buffer): Buffer[] {
    const r = decodeRmcp(datagram);
    if (!r.ok) return this.reject(r.reason);
    const body = Buffer.from(r.value.body);
    if (r.value.cls === RMCP_CLASS.asf) {
      // ASF Presence Ping → Pong (DSP0136 §3.2.4): "IPMI supported" in the entities byte.
      const a = decodeAsf(body);
      if (!a.ok) return this.reject(a.reason);
      return 'ping' in a.value ? [encodeAsfPong(a.value.ping)] : this.reject('asf-not-a-ping');
    }
    if (body.length < 1) return this.reject('session-short');
    return (body[0]! & 0x0f) === AUTH_TYPE_RMCP_PLUS ? this.v2(body) : this.v15(body);
  }

  /** IPMI v1.5 framing: only the unauthenticated, session-less pre-session commands (§13.6). */
  private v15(body: Buffer): Buffer[] {
    const d = decodeSession(body);
    if (!d.ok) return this.reject(d.reason);
    const p = d.value;
    if (p.format !== 'v1.5' || p.authType !== AUTH_TYPE_NONE || p.sessionId !== 0) return this.reject('v15-session');
    const reply = this.outside(p.payload);
    return reply ? [encodeV15(reply)] : [];
  }

  /*
   * RMCP+ framing: session ID 0 carries the handshake payloads and session-less IPMI messages;
   * any other ID is an active session's (Table 13-8: session ID at offset 2 of the session header).
   */
  private v2(body: Buffer): Buffer[] {
    if (body.length < 6) return this.reject('v2-short');
    const sessionId = body.readUInt32LE(2);
    if (sessionId !== 0) return this.inSession(body, sessionId);
    const d = decodeSession(body);
    if (!d.ok) return this.reject(d.reason);
    const p = d.value;
    if (p.format !== 'v2.0') return this.reject('v2-format');
    const send = (payloadType: number, payload: Buffer): Buffer[] => [encodeV2({ payloadType, sessionId: 0, sequence: 0, payload })];
    switch (p.payloadType) {
      case PAYLOAD.ipmi: {
        const reply = this.outside(p.payload);
        return reply ? send(PAYLOAD.ipmi, reply) : [];
      }
      case PAYLOAD.openSessionRequest: {
        const o = this.sessions.open(p.payload);
        if ('reason' in o) return this.reject(o.reason);
        this.opens.push(o.record);
        return send(o.reply.payloadType, o.reply.payload);
      }
      case PAYLOAD.rakp1: {
        const o = this.sessions.rakp1(p.payload);
        return 'reason' in o ? this.reject(o.reason) : send(o.payloadType, o.payload);
      }
      case PAYLOAD.rakp3: {
        const o = this.sessions.rakp3(p.payload);
        if (!o) return [];
        return 'reason' in o ? this.reject(o.reason) : send(o.payloadType, o.payload);
      }
      default:
        return this.reject('v2-payload-type-outside-session');
    }
  }

  /** A session-less IPMI request: Get Channel Authentication Capabilities, Cipher Suites, System GUID. */
  private outside(payload: Buffer): Buffer | undefined {
    const m = decodeRequest(payload);
    if (!m.ok) {
      this.reject(m.reason);
      return undefined;
    }
    const q = m.value;
    if (q.netFn !== NETFN.app || (q.cmd !== APP_CMD.getChannelAuthCapabilities && q.cmd !== APP_CMD.getChannelCipherSuites && q.cmd !== APP_CMD.getSystemGuid)) {
      this.reject('outside-session-command');
      return undefined;
    }
    return answer(q, this.channelCommand(q.cmd, Buffer.from(q.data)));
  }

  private channelCommand(cmd: number, data: Buffer): Reply {
    if (cmd === APP_CMD.getChannelAuthCapabilities) return authCapabilities(data, this.config.users.some((u) => u.name === ''));
    if (cmd === APP_CMD.getChannelCipherSuites) return this.config.cipherSuitesCommandUnsupported ? { cc: CC.invalidCommand } : cipherSuites(data, this.config.suites);
    return systemGuid(data, this.guid);
  }

  private inSession(body: Buffer, sessionId: number): Buffer[] {
    const i = this.sessions.inbound(body, sessionId);
    if (!i.ok) return this.reject(i.reason);
    const s = i.session;
    const m = decodeRequest(i.payload);
    if (!m.ok) return this.reject(m.reason);
    const q = m.value;
    // A console that lost our answer sends the request again (same rqSeq, command and data,
    // a new session sequence number): answer it again rather than power-cycle twice, as BMCs
    // that keep their last response per session do.
    const key = `${q.rqAddr}|${q.seq}|${q.netFn}|${q.cmd}|${Buffer.from(q.data).toString('hex')}`;
    if (s.last?.key === key) {
      this.counters.duplicates++;
      return [this.sessions.seal(s, s.last.message)];
    }
    s.commands++;
    this.counters.commands++;
    let close: number | undefined;
    let reply: Reply;
    if (q.netFn === NETFN.chassis) {
      reply = this.machine.chassis(q.cmd, Buffer.from(q.data), s.privilege);
    } else if (q.netFn === NETFN.app) {
      if (q.cmd === APP_CMD.closeSession) {
        const c = this.sessions.closeTarget(s, Buffer.from(q.data));
        reply = c.reply;
        close = c.target;
      } else {
        reply = this.appCommand(s, q.cmd, Buffer.from(q.data));
      }
    } else {
      reply = { cc: CC.invalidCommand };
    }
    this.record(s, q, reply.cc);
    const message = answer(q, reply);
    s.last = { key, message };
    const sealed = this.sessions.seal(s, message);
    if (close !== undefined) this.sessions.remove(close, 'closed');
    return [sealed];
  }

  private appCommand(s: BmcSession, cmd: number, data: Buffer): Reply {
    switch (cmd) {
      case APP_CMD.getDeviceId:
        return data.length ? { cc: CC.lengthInvalid } : this.machine.deviceId();
      case APP_CMD.setSessionPrivilegeLevel:
        return this.sessions.setPrivilege(s, data);
      case APP_CMD.getChannelAuthCapabilities:
      case APP_CMD.getChannelCipherSuites:
      case APP_CMD.getSystemGuid:
        return s.privilege < PRIVILEGE.user ? { cc: CC.insufficientPrivilege } : this.channelCommand(cmd, data);
      default:
        return { cc: CC.invalidCommand };
    }
  }

  private record(s: BmcSession, q: Required<IpmiRequest>, cc: number): void {
    if (this.log.length >= LOG_LIMIT) this.log.shift();
    this.log.push({ netFn: q.netFn, cmd: q.cmd, data: [...q.data], cc, user: s.user?.name ?? '', suite: s.suite.id });
  }
}

/** The response message to a request (Table 13-4): addresses swapped, NetFn + 1, same rqSeq and command. */
function answer(q: Required<IpmiRequest>, r: Reply): Buffer {
  return encodeResponse({ rqAddr: q.rqAddr, rsAddr: q.rsAddr, netFn: q.netFn + 1, cmd: q.cmd, seq: q.seq, completionCode: r.cc, data: Buffer.from(r.data ?? []) });
}

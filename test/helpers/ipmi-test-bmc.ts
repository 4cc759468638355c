// An in-repo IPMI v2.0 BMC for tests: the server side of RMCP+ ("lanplus") on a UDP socket on
// 127.0.0.1, built on the same codec as ironbay's client (daemon/bmc/ipmi/codec). It speaks the
// suites ipmi_sim lacks (17: HMAC-SHA256 / HMAC-SHA256-128 / AES-CBC-128, and 1, 2, 15, 16),
// holds a chassis with power and boot options, and misbehaves on request (see TestBmcOptions:
// loss, forgotten sessions, boot flags accepted but not applied, busy, silence).
//
// The protocol lives in ipmi-test-bmc/ (core.ts: datagram in → datagrams out); this file owns
// the socket. Many BMCs in one process each get their own socket: startTestBmcs(n).
import dgram from 'node:dgram';
import { resolveConfig, type TestBmcConfig, type TestBmcOptions } from './ipmi-test-bmc/config.ts';
import { TestBmcCore, type CommandRecord, type TestBmcCounters } from './ipmi-test-bmc/core.ts';
import type { BootFlagsState, BootRecord } from './ipmi-test-bmc/machine.ts';
import type { BmcSession, OpenRecord } from './ipmi-test-bmc/sessions.ts';

export type { TestBmcOptions, TestBmcConfig, TestBmcUser } from './ipmi-test-bmc/config.ts';
export type { CommandRecord, TestBmcCounters } from './ipmi-test-bmc/core.ts';
export type { OpenRecord } from './ipmi-test-bmc/sessions.ts';
export type { BootFlagsState, BootRecord } from './ipmi-test-bmc/machine.ts';

export const TEST_BMC_HOST = '127.0.0.1';

/** What a test may read about a live session. */
export interface SessionInfo {
  id: number;
  user: string;
  suite: number;
  state: BmcSession['state'];
  privilege: number;
  commands: number;
}

export class TestBmc {
  readonly host = TEST_BMC_HOST;
  readonly port: number;
  private readonly core: TestBmcCore;
  private readonly socket: dgram.Socket;
  private stopped = false;

  constructor(core: TestBmcCore, socket: dgram.Socket, port: number) {
    this.core = core;
    this.socket = socket;
    this.port = port;
  }

  /** The resolved options; the quirks (busy, ignoreBootFlags, lossRate…) may be changed while running. */
  get config(): TestBmcConfig {
    return this.core.config;
  }

  get counters(): TestBmcCounters {
    return this.core.counters;
  }

  get power(): 'on' | 'off' {
    return this.core.machine.power;
  }

  set power(p: 'on' | 'off') {
    this.core.machine.power = p;
  }

  get bootFlags(): BootFlagsState {
    return this.core.machine.bootFlags;
  }

  /** Every power-on, cycle and reset, with the boot flags the host found. */
  get boots(): readonly BootRecord[] {
    return this.core.machine.boots;
  }

  /** Every Open Session Request, with the suite it matched and the status it got. */
  get opens(): readonly OpenRecord[] {
    return this.core.opens;
  }

  /** In-session commands in order (the last 10 000). */
  get log(): readonly CommandRecord[] {
    return this.core.log;
  }

  /** Exceptions while handling datagrams: a bug here, not in the client; expected empty. */
  get errors(): readonly Error[] {
    return this.core.errors;
  }

  /** Live sessions and handshakes (idle ones already timed out). */
  get sessions(): SessionInfo[] {
    return this.core.sessions.list().map((s) => ({ id: s.id, user: s.user?.name ?? '', suite: s.suite.id, state: s.state, privilege: s.privilege, commands: s.commands }));
  }

  get guid(): Buffer {
    return this.core.guid;
  }

  /** Stops answering anything (datagrams are counted as ignored) until resume(). */
  silent(): void {
    this.core.silenced = true;
  }

  resume(): void {
    this.core.silenced = false;
  }

  stop(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.stopped = true;
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/** Starts one test BMC on 127.0.0.1 (`port` 0: a free one). */
export async function startTestBmc(opts: TestBmcOptions = {}): Promise<TestBmc> {
  const core = new TestBmcCore(resolveConfig(opts));
  const socket = dgram.createSocket({ type: 'udp4' });
  socket.on('message', (msg, rinfo) => {
    for (const reply of core.respond(msg)) socket.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(core.config.port, TEST_BMC_HOST, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  // Send errors (a console gone away) are per datagram: note them and keep serving.
  socket.on('error', (e) => core.errors.push(e));
  return new TestBmc(core, socket, socket.address().port);
}

/**
 * Starts n BMCs, each with its own socket and port; BMC i draws its losses from seed + i so they
 * do not drop in step. A fixed `port` is taken as the first of n consecutive ones.
 */
export async function startTestBmcs(n: number, opts: TestBmcOptions = {}): Promise<TestBmc[]> {
  const bmcs: TestBmc[] = [];
  try {
    for (let i = 0; i < n; i++) {
      bmcs.push(await startTestBmc({ ...opts, seed: (opts.seed ?? 1) + i, port: opts.port ? opts.port + i : 0 }));
    }
  } catch (e) {
    await Promise.all(bmcs.map((b) => b.stop()));
    throw e;
  }
  return bmcs;
}

// Options of the in-repo IPMI test BMC: who may log in, which cipher suites it speaks, how many
// sessions it holds, and the quirks that make it misbehave the way real BMCs do. Resolved once
// at start; the quirks stay writable on `bmc.config` so a test can flip them mid-run.
import { PRIVILEGE, SUITES } from '../../../daemon/bmc/ipmi/codec/index.ts';

export interface TestBmcUser {
  name: string;
  password: string;
  /** Channel privilege limit (§6.8): 2 user, 3 operator, 4 administrator. */
  privilege: number;
}

export interface TestBmcOptions {
  /** UDP port on 127.0.0.1; 0 (the default) picks a free one. */
  port?: number;
  /** Default: one administrator "admin" / "admin". */
  users?: TestBmcUser[];
  /** Cipher suites offered and accepted (§22.15.2), in the order listed; default [3, 17]. */
  suites?: number[];
  /** Session slots, pending handshakes included; default 4. A full table answers Open Session with status 01h. */
  maxSessions?: number;
  /** A session (or a handshake) unused this long is gone; default 60 s. */
  sessionTimeoutMs?: number;
  /** Chassis power at start; default off. */
  power?: 'on' | 'off';
  /** After a soft shutdown, the "OS" powers off this much later; default 0 (at once). */
  softOffDelayMs?: number;
  /**
   * Where a role above the user's limit is refused: 'rakp' (default) answers RAKP 2 with status
   * 0Ah; 'session' grants the session capped at the user's limit, as some BMCs do for name-only
   * lookups, so Set Session Privilege Level is what fails (81h).
   */
  roleCheck?: 'rakp' | 'session';
  /** Get Device ID: IANA manufacturer (default 343, Intel), product ID, firmware "major.minor" (BCD minor). */
  manufacturerId?: number;
  productId?: number;
  firmware?: string;

  // ---- quirks -------------------------------------------------------------------------------
  /** Fraction [0, 1) of incoming datagrams dropped, drawn from a PRNG seeded with `seed`. */
  lossRate?: number;
  seed?: number;
  /** Each session is forgotten after answering this many commands: its packets are then ignored. */
  forgetSessionsAfter?: number | undefined;
  /** Set System Boot Options (boot flags) answers 00h but changes nothing ("accepted, not applied"). */
  ignoreBootFlags?: boolean;
  /** The boot flags are stored without the EFI bit (firmware that only knows legacy boot). */
  dropEfiBit?: boolean;
  /** Chassis commands answer C0h, node busy. */
  busy?: boolean;
  /** Get Channel Cipher Suites answers C1h, invalid command (older BMCs). */
  cipherSuitesCommandUnsupported?: boolean;
  /** Monotonic milliseconds; injected by tests of timeouts. Default performance.now. */
  now?: () => number;
}

export type TestBmcConfig = Required<Omit<TestBmcOptions, 'forgetSessionsAfter'>> & { forgetSessionsAfter: number | undefined };

/** IPMI user names are at most 16 bytes, passwords 20 in IPMI v2.0 (§13.20, §22.29). */
const MAX_NAME = 16;
const MAX_PASSWORD = 20;

export function resolveConfig(o: TestBmcOptions = {}): TestBmcConfig {
  const c: TestBmcConfig = {
    port: o.port ?? 0,
    users: (o.users ?? [{ name: 'admin', password: 'admin', privilege: PRIVILEGE.administrator }]).map((u) => ({ ...u })),
    suites: [...(o.suites ?? [3, 17])],
    maxSessions: o.maxSessions ?? 4,
    sessionTimeoutMs: o.sessionTimeoutMs ?? 60_000,
    power: o.power ?? 'off',
    softOffDelayMs: o.softOffDelayMs ?? 0,
    roleCheck: o.roleCheck ?? 'rakp',
    manufacturerId: o.manufacturerId ?? 343,
    productId: o.productId ?? 0x0b1b,
    firmware: o.firmware ?? '1.23',
    lossRate: o.lossRate ?? 0,
    seed: o.seed ?? 1,
    forgetSessionsAfter: o.forgetSessionsAfter,
    ignoreBootFlags: o.ignoreBootFlags ?? false,
    dropEfiBit: o.dropEfiBit ?? false,
    busy: o.busy ?? false,
    cipherSuitesCommandUnsupported: o.cipherSuitesCommandUnsupported ?? false,
    now: o.now ?? (() => performance.now()),
  };
  for (const s of c.suites) if (!SUITES.has(s)) throw new RangeError(`test BMC: cipher suite ${s} is not in the codec's table (${[...SUITES.keys()].join(', ')})`);
  if (!Number.isInteger(c.port) || c.port < 0 || c.port > 0xffff) throw new RangeError(`test BMC: port ${c.port} is not a UDP port`);
  if (!Number.isInteger(c.maxSessions) || c.maxSessions < 1) throw new RangeError(`test BMC: maxSessions ${c.maxSessions} must be a positive integer`);
  if (!(c.lossRate >= 0 && c.lossRate < 1)) throw new RangeError(`test BMC: lossRate ${c.lossRate} is outside [0, 1)`);
  if (c.forgetSessionsAfter !== undefined && !(Number.isInteger(c.forgetSessionsAfter) && c.forgetSessionsAfter >= 1)) {
    throw new RangeError(`test BMC: forgetSessionsAfter ${c.forgetSessionsAfter} must be a positive integer`);
  }
  if (!/^\d{1,3}\.\d{2}$/.test(c.firmware)) throw new RangeError(`test BMC: firmware "${c.firmware}" is not "major.minor" with a two-digit minor`);
  const names = new Set<string>();
  for (const u of c.users) {
    if (Buffer.byteLength(u.name) > MAX_NAME) throw new RangeError(`test BMC: user name "${u.name}" is longer than ${MAX_NAME} bytes`);
    if (Buffer.byteLength(u.password) > MAX_PASSWORD) throw new RangeError(`test BMC: the password of "${u.name}" is longer than ${MAX_PASSWORD} bytes`);
    if (!(u.privilege >= PRIVILEGE.callback && u.privilege <= PRIVILEGE.oem)) throw new RangeError(`test BMC: user "${u.name}" has privilege ${u.privilege}, not 1–5`);
    if (names.has(u.name)) throw new RangeError(`test BMC: user "${u.name}" is listed twice`);
    names.add(u.name);
  }
  return c;
}

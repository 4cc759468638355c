// A Redfish BMC for tests: a real HTTPS server on 127.0.0.1 with a self-signed certificate made
// by openssl at start. Resources are shaped after DMTF's schema (DSP0268: ServiceRoot,
// ComputerSystemCollection, ComputerSystem with the Reset action and the Boot override,
// SessionService + Sessions, ManagerCollection, Manager, ActionInfo) and the protocol after
// DSP0266 (session login, Basic auth, ETag/If-Match, error bodies with @Message.ExtendedInfo).
//
// `config` may be changed while the server runs to make it misbehave the way BMCs do: answer 503,
// stop answering, accept a boot override without applying it, demand If-Match, forget sessions.
// Every request is recorded (method, path, auth, body) for assertions on order and count.
import { execFileSync } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type Role = 'Administrator' | 'Operator' | 'ReadOnly';

export interface RedfishBmcConfig {
  users: Record<string, { password: string; role: Role }>;
  /** The service has a SessionService; false: HTTP Basic only, POST Sessions → 404. */
  sessions: boolean;
  /** HTTP Basic is accepted; false: session auth is required. */
  basic: boolean;
  /** Answer session logins with this status instead (405: sessions listed but not creatable). */
  sessionCreateStatus?: number;
  /** ResetType@Redfish.AllowableValues and what the Reset action accepts. */
  resetTypes: string[];
  /** Where the allowable reset types are published: inline, an ActionInfo resource, nowhere. */
  resetInfo: 'inline' | 'actionInfo' | 'none';
  /** BootSourceOverrideTarget@Redfish.AllowableValues; null: no annotation (any schema value). */
  bootTargets: string[] | null;
  /** The system has BootSourceOverrideMode (PATCHing it otherwise is 400 PropertyUnknown). */
  bootMode: boolean;
  bootModes: string[] | null;
  /** false: a boot PATCH answers 204 but changes nothing (firmware seen doing this). */
  applyBoot: boolean;
  /** PATCH without If-Match → 428 (some BMCs' rule); a stale one → 412 regardless. */
  requireIfMatch: boolean;
  /** The system's ETag moves on before the next N PATCHes are checked (another client wrote). */
  staleEtags: number;
  /** The next N requests (any) answer 503 with Retry-After `retryAfter`. */
  busy: number;
  retryAfter: string | undefined;
  /** Requests are read and never answered. */
  hang: boolean;
  /** After ForceOff the system reads PoweringOff this many times before Off. */
  offLag: number;
  health: string;
  /** A failed login's error body repeats the password it was given (seen in the wild). */
  leakyErrors: boolean;
  /** The service root demands credentials too (against DSP0266, seen on some firmware). */
  rootNeedsAuth: boolean;
}

export interface RedfishBmcState {
  power: 'On' | 'Off' | 'PoweringOff';
  boot: { target: string; enabled: string; mode: string };
  etag: number;
  /** Each power-on or restart, with the override target and mode it booted with. */
  boots: { target: string; mode: string }[];
}

export interface RecordedRequest {
  method: string;
  path: string;
  auth: 'session' | 'basic' | 'none';
  body?: unknown;
}

export interface RedfishBmc {
  port: number;
  certPem: string;
  /** "AB:CD:…" as X509Certificate.fingerprint256 gives it. */
  fingerprint256: string;
  config: RedfishBmcConfig;
  state: RedfishBmcState;
  requests: RecordedRequest[];
  /** Successful session logins. */
  logins: number;
  /** TLS connections accepted (keep-alive reuse shows as few). */
  connections: number;
  /** Live sessions by token. */
  sessions: Map<string, { id: string; user: string }>;
  /** Forgets every session, as a BMC does on session timeout or its own reboot. */
  dropSessions(): void;
  close(): Promise<void>;
}

export interface StartOptions extends Partial<RedfishBmcConfig> {
  power?: 'On' | 'Off';
  /** The certificate's subjectAltName; the default names 127.0.0.1. */
  san?: string;
}

const ROOT = '/redfish/v1/';
const SYSTEMS = '/redfish/v1/Systems';
const SYS = '/redfish/v1/Systems/1';
const RESET = `${SYS}/Actions/ComputerSystem.Reset`;
const RESET_INFO = `${SYS}/ResetActionInfo`;
const MANAGERS = '/redfish/v1/Managers';
const MGR = '/redfish/v1/Managers/BMC';
const SESSION_SERVICE = '/redfish/v1/SessionService';
const SESSIONS = `${SESSION_SERVICE}/Sessions`;
/** DSP0268 BootSource values, accepted when the system publishes no AllowableValues. */
const ALL_TARGETS = ['None', 'Pxe', 'Floppy', 'Cd', 'Usb', 'Hdd', 'BiosSetup', 'Utilities', 'Diags', 'UefiShell', 'UefiTarget', 'SDCard', 'UefiHttp'];

/** A self-signed P-256 certificate from openssl, valid two days. */
function makeCert(san: string): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ironbay-redfish-'));
  try {
    const key = join(dir, 'key.pem');
    const crt = join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-subj', '/CN=ironbay-test-bmc', '-addext', `subjectAltName=${san}`, '-keyout', key, '-out', crt], { stdio: 'pipe' });
    return { key: readFileSync(key, 'utf8'), cert: readFileSync(crt, 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const link = (id: string): { '@odata.id': string } => ({ '@odata.id': id });

/** A DSP0266 error body; MessageIds from the Base message registry. */
function errorBody(id: string, message: string): unknown {
  return {
    error: {
      code: `Base.1.16.${id}`,
      message,
      '@Message.ExtendedInfo': [{ '@odata.type': '#Message.v1_1_1.Message', MessageId: `Base.1.16.${id}`, Message: message, Severity: 'Critical', Resolution: 'None.' }],
    },
  };
}

export async function startRedfishBmc(opts: StartOptions = {}): Promise<RedfishBmc> {
  const { power = 'On', san = 'IP:127.0.0.1', ...over } = opts;
  const config: RedfishBmcConfig = {
    users: { admin: { password: 'admin-secret-pw', role: 'Administrator' } },
    sessions: true,
    basic: true,
    resetTypes: ['On', 'ForceOff', 'GracefulShutdown', 'GracefulRestart', 'ForceRestart', 'PowerCycle', 'Nmi'],
    resetInfo: 'inline',
    bootTargets: ['None', 'Pxe', 'Cd', 'Usb', 'Hdd', 'BiosSetup', 'UefiTarget'],
    bootMode: true,
    bootModes: ['Legacy', 'UEFI'],
    applyBoot: true,
    requireIfMatch: false,
    staleEtags: 0,
    busy: 0,
    retryAfter: '1',
    hang: false,
    offLag: 0,
    health: 'OK',
    leakyErrors: false,
    rootNeedsAuth: false,
    ...over,
  };
  const state: RedfishBmcState = { power, boot: { target: 'None', enabled: 'Disabled', mode: 'UEFI' }, etag: 1, boots: [] };
  const requests: RecordedRequest[] = [];
  const sessions = new Map<string, { id: string; user: string }>();
  let offLagLeft = 0;
  const { key, cert } = makeCert(san);

  const etag = (): string => `W/"${state.etag}"`;
  const changed = (): void => {
    state.etag++;
  };
  /** A power-on or restart: the firmware takes the override; a Once override is then cleared. */
  const boot = (): void => {
    const b = state.boot;
    state.boots.push({ target: b.enabled === 'Disabled' ? 'None' : b.target, mode: b.mode });
    if (b.enabled === 'Once') Object.assign(b, { enabled: 'Disabled', target: 'None' });
    changed();
  };

  const system = (): unknown => {
    if (state.power === 'PoweringOff' && --offLagLeft <= 0) state.power = 'Off';
    const reset: Record<string, unknown> = { target: RESET };
    if (config.resetInfo === 'inline') reset['ResetType@Redfish.AllowableValues'] = config.resetTypes;
    if (config.resetInfo === 'actionInfo') reset['@Redfish.ActionInfo'] = RESET_INFO;
    return {
      '@odata.type': '#ComputerSystem.v1_22_0.ComputerSystem',
      '@odata.id': SYS,
      '@odata.etag': etag(),
      Id: '1',
      Name: 'ironbay test machine',
      SystemType: 'Physical',
      Manufacturer: 'Ironbay Test Works',
      Model: 'Mock 1U',
      SerialNumber: 'IB-0001',
      PowerState: state.power,
      Status: { State: 'Enabled', Health: config.health, HealthRollup: config.health },
      Boot: {
        BootSourceOverrideEnabled: state.boot.enabled,
        BootSourceOverrideTarget: state.boot.target,
        ...(config.bootTargets ? { 'BootSourceOverrideTarget@Redfish.AllowableValues': config.bootTargets } : {}),
        ...(config.bootMode ? { BootSourceOverrideMode: state.boot.mode } : {}),
        ...(config.bootMode && config.bootModes ? { 'BootSourceOverrideMode@Redfish.AllowableValues': config.bootModes } : {}),
      },
      Links: { Chassis: [], ManagedBy: [link(MGR)] },
      Actions: { '#ComputerSystem.Reset': reset },
    };
  };

  const resources: Record<string, () => unknown> = {
    [ROOT]: () => ({
      '@odata.type': '#ServiceRoot.v1_15_0.ServiceRoot',
      '@odata.id': ROOT,
      Id: 'RootService',
      Name: 'Root Service',
      RedfishVersion: '1.15.0',
      Systems: link(SYSTEMS),
      Managers: link(MANAGERS),
      ...(config.sessions ? { SessionService: link(SESSION_SERVICE), Links: { Sessions: link(SESSIONS) } } : { Links: {} }),
    }),
    [SYSTEMS]: () => ({ '@odata.type': '#ComputerSystemCollection.ComputerSystemCollection', '@odata.id': SYSTEMS, Name: 'Computer System Collection', 'Members@odata.count': 1, Members: [link(SYS)] }),
    [SYS]: system,
    [RESET_INFO]: () => ({
      '@odata.type': '#ActionInfo.v1_3_0.ActionInfo',
      '@odata.id': RESET_INFO,
      Id: 'ResetActionInfo',
      Name: 'Reset Action Info',
      Parameters: [{ Name: 'ResetType', Required: true, DataType: 'String', AllowableValues: config.resetTypes }],
    }),
    [MANAGERS]: () => ({ '@odata.type': '#ManagerCollection.ManagerCollection', '@odata.id': MANAGERS, Name: 'Manager Collection', 'Members@odata.count': 1, Members: [link(MGR)] }),
    [MGR]: () => ({
      '@odata.type': '#Manager.v1_17_0.Manager',
      '@odata.id': MGR,
      Id: 'BMC',
      Name: 'Manager',
      ManagerType: 'BMC',
      Model: 'Ironbay Mock BMC',
      FirmwareVersion: '1.2.3-test',
      Status: { State: 'Enabled', Health: 'OK' },
      Links: { ManagerForServers: [link(SYS)] },
    }),
    [SESSION_SERVICE]: () => ({
      '@odata.type': '#SessionService.v1_1_8.SessionService',
      '@odata.id': SESSION_SERVICE,
      Id: 'SessionService',
      Name: 'Session Service',
      ServiceEnabled: true,
      SessionTimeout: 30,
      Sessions: link(SESSIONS),
    }),
    [SESSIONS]: () => ({ '@odata.type': '#SessionCollection.SessionCollection', '@odata.id': SESSIONS, Name: 'Session Collection', Members: [...sessions.values()].map((s) => link(`${SESSIONS}/${s.id}`)) }),
  };

  /** The Reset action (DSP0268 ComputerSystem.Reset) on the power state machine; an error text or undefined. */
  const doReset = (type: string): [number, string, string] | undefined => {
    if (!config.resetTypes.includes(type)) return [400, 'ActionParameterValueNotInList', `The value ${type} for ResetType is not in the list of acceptable values.`];
    const on = state.power === 'On';
    if (state.power === 'PoweringOff') return [409, 'ResourceInStandby', 'The system is powering off.'];
    if (type === 'On' || type === 'ForceOn' || (type === 'PushPowerButton' && !on)) {
      if (!on) {
        state.power = 'On';
        boot();
      }
    } else if (type === 'ForceOff' || type === 'GracefulShutdown' || type === 'PushPowerButton') {
      if (on) {
        offLagLeft = type === 'ForceOff' ? config.offLag : 0;
        state.power = offLagLeft > 0 ? 'PoweringOff' : 'Off';
        changed();
      }
    } else if (type === 'ForceRestart' || type === 'GracefulRestart' || type === 'PowerCycle') {
      if (!on) return [409, 'ResourceInStandby', 'The system is off.'];
      boot();
    }
    return undefined;
  };

  /** PATCH of the system: only Boot override properties, checked against their allowable values. */
  const doPatch = (body: unknown): [number, string, string] | undefined => {
    const b = (body as { Boot?: unknown }).Boot;
    if (typeof b !== 'object' || b === null) return [400, 'PropertyMissing', 'The property Boot is a required property.'];
    const allowed: Record<string, string[] | null> = {
      BootSourceOverrideTarget: config.bootTargets ?? ALL_TARGETS,
      BootSourceOverrideEnabled: ['Disabled', 'Once', 'Continuous'],
      ...(config.bootMode ? { BootSourceOverrideMode: config.bootModes ?? ['Legacy', 'UEFI'] } : {}),
    };
    for (const [k, v] of Object.entries(b)) {
      if (!(k in allowed)) return [400, 'PropertyUnknown', `The property ${k} is not in the list of valid properties for the resource.`];
      if (typeof v !== 'string' || !allowed[k]!.includes(v)) return [400, 'PropertyValueNotInList', `The value ${JSON.stringify(v)} for the property ${k} is not in the list of acceptable values.`];
    }
    if (!config.applyBoot) return undefined;
    const p = b as Record<string, string>;
    state.boot = { target: p.BootSourceOverrideTarget ?? state.boot.target, enabled: p.BootSourceOverrideEnabled ?? state.boot.enabled, mode: p.BootSourceOverrideMode ?? state.boot.mode };
    changed();
    return undefined;
  };

  const handle = (req: IncomingMessage, res: ServerResponse, raw: Buffer): void => {
    const method = req.method ?? 'GET';
    const path = (req.url ?? '/').replace(/\?.*$/, '').replace(/^\/redfish\/v1$/, ROOT);
    const send = (status: number, body?: unknown, headers: Record<string, string> = {}): void => {
      const data = body === undefined ? '' : JSON.stringify(body);
      res.writeHead(status, { ...(data ? { 'content-type': 'application/json' } : {}), 'odata-version': '4.0', ...headers });
      res.end(data);
    };
    const fail = (status: number, id: string, message: string, headers: Record<string, string> = {}): void => send(status, errorBody(id, message), headers);

    let body: unknown;
    if (raw.length) {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        body = undefined;
      }
    }
    const token = req.headers['x-auth-token'];
    const session = typeof token === 'string' ? sessions.get(token) : undefined;
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
    const auth = session ? 'session' : basic ? 'basic' : 'none';
    const recorded = path === SESSIONS && method === 'POST' ? { UserName: (body as { UserName?: unknown } | undefined)?.UserName } : body;
    requests.push({ method, path, auth, ...(recorded === undefined ? {} : { body: recorded }) });

    if (config.hang) return;
    if (config.busy > 0) {
      config.busy--;
      fail(503, 'ServiceTemporarilyUnavailable', 'The service is temporarily unavailable.', config.retryAfter === undefined ? {} : { 'retry-after': config.retryAfter });
      return;
    }
    if (raw.length && body === undefined) return fail(400, 'MalformedJSON', 'The request body submitted was malformed JSON.');

    if (method === 'POST' && path === SESSIONS) {
      if (!config.sessions) return fail(404, 'ResourceMissingAtURI', `The resource at the URI ${path} was not found.`);
      if (config.sessionCreateStatus !== undefined) return fail(config.sessionCreateStatus, 'OperationNotAllowed', 'Sessions cannot be created.');
      const { UserName, Password } = (body ?? {}) as { UserName?: unknown; Password?: unknown };
      const user = typeof UserName === 'string' ? config.users[UserName] : undefined;
      if (!user || user.password !== Password) {
        const echo = config.leakyErrors ? ` with password '${String(Password)}'` : '';
        return fail(401, 'NoValidSession', `Login for ${String(UserName)}${echo} failed.`);
      }
      const id = randomBytes(8).toString('hex');
      const t = randomBytes(16).toString('hex');
      sessions.set(t, { id, user: UserName as string });
      bmc.logins++;
      const loc = `${SESSIONS}/${id}`;
      return send(201, { '@odata.type': '#Session.v1_6_0.Session', '@odata.id': loc, Id: id, Name: 'User Session', UserName }, { 'x-auth-token': t, location: loc });
    }

    const isRoot = path === ROOT && method === 'GET';
    let user: { password: string; role: Role } | undefined = session ? config.users[session.user] : undefined;
    if (!user && basic && config.basic) {
      const [name, ...pw] = Buffer.from(basic[1]!, 'base64').toString('utf8').split(':');
      const u = config.users[name ?? ''];
      if (u && u.password === pw.join(':')) user = u;
    }
    if (!user && !(isRoot && !config.rootNeedsAuth)) {
      return fail(401, 'NoValidSession', 'There is no valid session established with the implementation.', config.basic ? { 'www-authenticate': 'Basic realm="Redfish"' } : {});
    }
    // DSP0268 Privileges: GET needs Login; PATCH and actions need ConfigureComponents.
    if ((method === 'PATCH' || (method === 'POST' && path !== SESSIONS)) && user?.role === 'ReadOnly') {
      return fail(403, 'InsufficientPrivilege', 'There are insufficient privileges for the account or credentials associated with the current session to perform the requested operation.');
    }

    if (method === 'GET' && path in resources && (config.sessions || !path.startsWith(SESSION_SERVICE))) {
      return send(200, resources[path]!(), path === SYS ? { etag: etag() } : {});
    }
    if (method === 'DELETE' && path.startsWith(`${SESSIONS}/`)) {
      const entry = [...sessions.entries()].find(([, s]) => `${SESSIONS}/${s.id}` === path);
      if (!entry) return fail(404, 'ResourceMissingAtURI', `The resource at the URI ${path} was not found.`);
      sessions.delete(entry[0]);
      return send(204);
    }
    if (method === 'POST' && path === RESET) {
      const type = (body as { ResetType?: unknown } | undefined)?.ResetType;
      const err = typeof type === 'string' ? doReset(type) : [400, 'ActionParameterMissing', 'The action requires the parameter ResetType.'] as const;
      return err ? fail(err[0], err[1], err[2]) : send(204);
    }
    if (method === 'PATCH' && path === SYS) {
      if (config.staleEtags > 0) {
        config.staleEtags--;
        changed();
      }
      const ifMatch = req.headers['if-match'];
      if (ifMatch === undefined && config.requireIfMatch) return fail(428, 'PreconditionRequired', 'A precondition header or annotation is required to change the resource.');
      if (ifMatch !== undefined && ifMatch !== etag()) return fail(412, 'PreconditionFailed', 'The ETag supplied did not match the ETag required to change this resource.');
      const err = doPatch(body);
      return err ? fail(err[0], err[1], err[2]) : send(204);
    }
    if (path in resources || path === RESET) return fail(405, 'OperationNotAllowed', `The HTTP method ${method} is not allowed for ${path}.`);
    fail(404, 'ResourceMissingAtURI', `The resource at the URI ${path} was not found.`);
  };

  const server = https.createServer({ key, cert }, (req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= 65536) chunks.push(c);
    });
    req.on('end', () => handle(req, res, Buffer.concat(chunks)));
  });
  server.on('secureConnection', () => bmc.connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

  const bmc: RedfishBmc = {
    port: (server.address() as AddressInfo).port,
    certPem: cert,
    fingerprint256: new X509Certificate(cert).fingerprint256,
    config,
    state,
    requests,
    logins: 0,
    connections: 0,
    sessions,
    dropSessions: () => sessions.clear(),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return bmc;
}


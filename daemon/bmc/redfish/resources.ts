// Redfish resources as the power driver reads them: JSON bytes → the few typed fields it uses.
// Shapes follow DSP0268 (Redfish schema: ServiceRoot, ComputerSystem, Manager, ActionInfo) and
// DSP0266 (Redfish specification: error responses, resource links). Pure — no socket, logger or
// clock (STYLE.md §1). Every field a BMC sends is checked before use; a wrong shape throws
// RedfishShapeError, which the client reports as IB_ERR_BMC_PROTOCOL.

export class RedfishShapeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RedfishShapeError';
  }
}

type Obj = Record<string, unknown>;

/** Bodies larger than this are not a power-control resource; refusing them bounds memory. */
export const MAX_BODY_BYTES = 1024 * 1024;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const optStr = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** A JSON object, or RedfishShapeError naming `what` (every Redfish resource is an object). */
export function parseObject(body: Uint8Array, what: string): Obj {
  if (body.length > MAX_BODY_BYTES) throw new RedfishShapeError(`${what}: body of ${body.length} bytes exceeds ${MAX_BODY_BYTES}`);
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch {
    throw new RedfishShapeError(`${what}: body is not JSON (${body.length} bytes)`);
  }
  if (!isObj(v)) throw new RedfishShapeError(`${what}: JSON is not an object`);
  return v;
}

function child(o: Obj, key: string, where: string): Obj {
  const v = o[key];
  if (!isObj(v)) throw new RedfishShapeError(`${where}: ${key} is not an object`);
  return v;
}

/** A resource link, DSP0266 "Resource identifier property": `{"@odata.id": "/redfish/v1/…"}`. */
function link(v: unknown, where: string): string {
  if (!isObj(v)) throw new RedfishShapeError(`${where} is not a link object`);
  return path(v['@odata.id'], `${where}.@odata.id`);
}

function optLink(v: unknown, where: string): string | undefined {
  return v === undefined ? undefined : link(v, where);
}

/** An absolute path on this service; a full URL (some BMCs' Location headers) is cut to its path. */
export function path(v: unknown, where: string): string {
  if (typeof v !== 'string' || v.length === 0) throw new RedfishShapeError(`${where} is not a URI`);
  if (v.startsWith('/')) return v;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new RedfishShapeError(`${where} is not a URI: ${JSON.stringify(v.slice(0, 80))}`);
  }
  return u.pathname + u.search;
}

/** `X@Redfish.AllowableValues` (DSP0266 "Allowable values" annotation): strings only, else ignored. */
function allowable(o: Obj, prop: string): string[] | undefined {
  const v = o[`${prop}@Redfish.AllowableValues`];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : undefined;
}

/** ServiceRoot (DSP0268 ServiceRoot; DSP0266 "Service root" — readable without credentials). */
export interface ServiceRoot {
  systems: string;
  managers?: string;
  sessionService?: string;
  /** Links.Sessions: where a session is created (DSP0266 "Session login authentication"). */
  sessions?: string;
}

export function readServiceRoot(o: Obj): ServiceRoot {
  const links = isObj(o.Links) ? o.Links : {};
  const root: ServiceRoot = { systems: link(o.Systems, 'ServiceRoot.Systems') };
  const managers = optLink(o.Managers, 'ServiceRoot.Managers');
  const sessionService = optLink(o.SessionService, 'ServiceRoot.SessionService');
  const sessions = optLink(links.Sessions, 'ServiceRoot.Links.Sessions');
  if (managers !== undefined) root.managers = managers;
  if (sessionService !== undefined) root.sessionService = sessionService;
  if (sessions !== undefined) root.sessions = sessions;
  return root;
}

/** A resource collection's member paths (DSP0266 "Resource collections": `Members`). */
export function readCollection(o: Obj, what: string): string[] {
  const m = o.Members;
  if (!Array.isArray(m)) throw new RedfishShapeError(`${what}: Members is not an array`);
  return m.map((x, i) => link(x, `${what}.Members[${i}]`));
}

/** ComputerSystem.Boot, the override part (DSP0268 ComputerSystem, "Boot"). */
export interface BootResource {
  target?: string;
  enabled?: string;
  mode?: string;
  /** Whether the system has BootSourceOverrideMode at all; only then is Mode sent. */
  modeExposed: boolean;
  targets?: string[];
  modes?: string[];
}

/** ComputerSystem fields used by the driver (DSP0268 ComputerSystem). */
export interface SystemResource {
  path: string;
  powerState: string;
  health?: string;
  manufacturer?: string;
  model?: string;
  /** Actions."#ComputerSystem.Reset".target: where the Reset action is POSTed. */
  resetTarget: string;
  /** ResetType@Redfish.AllowableValues, when given inline. */
  resetTypes?: string[];
  /** @Redfish.ActionInfo: where the allowable values are when not inline (OpenBMC bmcweb does this). */
  resetActionInfo?: string;
  boot: BootResource;
  /** Links.ManagedBy[0]: the BMC's Manager resource. */
  managedBy?: string;
  /** @odata.etag in the body; the client prefers the ETag header (DSP0266 "ETags"). */
  etag?: string;
}

export function readBoot(o: Obj): BootResource {
  const b: BootResource = { modeExposed: 'BootSourceOverrideMode' in o };
  const target = optStr(o.BootSourceOverrideTarget);
  const enabled = optStr(o.BootSourceOverrideEnabled);
  const mode = optStr(o.BootSourceOverrideMode);
  const targets = allowable(o, 'BootSourceOverrideTarget');
  const modes = allowable(o, 'BootSourceOverrideMode');
  if (target !== undefined) b.target = target;
  if (enabled !== undefined) b.enabled = enabled;
  if (mode !== undefined) b.mode = mode;
  if (targets !== undefined) b.targets = targets;
  if (modes !== undefined) b.modes = modes;
  return b;
}

export function readSystem(o: Obj, at: string): SystemResource {
  const where = `ComputerSystem ${at}`;
  const powerState = optStr(o.PowerState);
  if (powerState === undefined) throw new RedfishShapeError(`${where}: PowerState is missing`);
  const reset = child(child(o, 'Actions', where), '#ComputerSystem.Reset', `${where}.Actions`);
  const sys: SystemResource = {
    path: at,
    powerState,
    resetTarget: path(reset.target, `${where}: Reset target`),
    boot: isObj(o.Boot) ? readBoot(o.Boot) : { modeExposed: false },
  };
  const health = isObj(o.Status) ? optStr(o.Status.Health) : undefined;
  const resetTypes = allowable(reset, 'ResetType');
  const actionInfo = optStr(reset['@Redfish.ActionInfo']);
  const managedBy: unknown = isObj(o.Links) && Array.isArray(o.Links.ManagedBy) ? (o.Links.ManagedBy as unknown[])[0] : undefined;
  const etag = optStr(o['@odata.etag']);
  if (health !== undefined) sys.health = health;
  if (typeof o.Manufacturer === 'string') sys.manufacturer = o.Manufacturer;
  if (typeof o.Model === 'string') sys.model = o.Model;
  if (resetTypes !== undefined) sys.resetTypes = resetTypes;
  if (actionInfo !== undefined) sys.resetActionInfo = path(actionInfo, `${where}: @Redfish.ActionInfo`);
  if (managedBy !== undefined) sys.managedBy = link(managedBy, `${where}.Links.ManagedBy[0]`);
  if (etag !== undefined) sys.etag = etag;
  return sys;
}

/** Manager fields for probe() (DSP0268 Manager). */
export interface ManagerResource {
  model?: string;
  firmware?: string;
  manufacturer?: string;
}

export function readManager(o: Obj): ManagerResource {
  const m: ManagerResource = {};
  if (typeof o.Model === 'string') m.model = o.Model;
  if (typeof o.FirmwareVersion === 'string') m.firmware = o.FirmwareVersion;
  if (typeof o.Manufacturer === 'string') m.manufacturer = o.Manufacturer;
  return m;
}

/** ActionInfo.Parameters[Name=param].AllowableValues (DSP0268 ActionInfo). */
export function readActionInfoAllowable(o: Obj, param: string): string[] | undefined {
  if (!Array.isArray(o.Parameters)) throw new RedfishShapeError('ActionInfo: Parameters is not an array');
  const p: unknown = o.Parameters.find((x) => isObj(x) && x.Name === param);
  if (!isObj(p) || !Array.isArray(p.AllowableValues)) return undefined;
  return p.AllowableValues.filter((x): x is string => typeof x === 'string');
}

/** What a Redfish error body says (DSP0266 "Error responses"). */
export interface RedfishErrorInfo {
  messages: string[];
  messageIds: string[];
}

/**
 * The messages of `{"error": {"code", "message", "@Message.ExtendedInfo": [{MessageId, Message}]}}`,
 * tolerant of what BMCs actually send (no body, HTML, partial objects): never throws.
 */
export function readErrorBody(body: Uint8Array): RedfishErrorInfo {
  const info: RedfishErrorInfo = { messages: [], messageIds: [] };
  let o: Obj;
  try {
    o = parseObject(body, 'error');
  } catch {
    return info;
  }
  const err = isObj(o.error) ? o.error : o;
  const ext = err['@Message.ExtendedInfo'];
  for (const e of Array.isArray(ext) ? ext : []) {
    if (!isObj(e)) continue;
    if (typeof e.Message === 'string') info.messages.push(e.Message);
    if (typeof e.MessageId === 'string') info.messageIds.push(e.MessageId);
  }
  if (!info.messages.length && typeof err.message === 'string') info.messages.push(err.message);
  if (!info.messageIds.length && typeof err.code === 'string') info.messageIds.push(err.code);
  // Bound what a hostile body can put into an error message.
  info.messages = info.messages.slice(0, 8).map((m) => (m.length > 300 ? m.slice(0, 300) + '…' : m));
  info.messageIds = info.messageIds.slice(0, 8).map((m) => m.slice(0, 100));
  return info;
}

/** Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date; undefined if absent or bad. */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  // All three HTTP-date forms (RFC 9110 §5.6.7) start with a day name; Date.parse alone would
  // take "-1" for a year.
  if (!/^[A-Z][a-z]{2,8},? /.test(v)) return undefined;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

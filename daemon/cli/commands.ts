// The `ironbay` commands. Everything except `daemon`, `config validate` and `inventory
// validate` talks to the daemon's API; none of it opens the database. Modules a command
// needs are imported inside it, so `inventory validate` does not pay for the API client.
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { locateConfig } from '../config/locate.ts';
import { POWER_ACTIONS } from '../bmc/driver.ts';
import { IronbayError } from '../errors.ts';
import { formatSourceError, type SourceError } from '../lib/yaml-source.ts';
import type { ConfigResult } from '../config/load.ts';
import type { EventRow } from '../store/db.ts';
import type { ApiClient } from './client.ts';
import { printBootTimeline, printDiff, printEvent, printMachine } from './render.ts';
import { registerRunbookCommands } from './runbooks.ts';
import { registerClusterCommands } from './clusters.ts';
import { table } from './table.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command('ironbay')
  .description('ironbay: provisioning appliance daemon and its command-line client')
  .version(pkg.version)
  .option('--url <url>', 'daemon API URL (env IRONBAY_URL)')
  .option('--token <token>', 'API bearer token (env IRONBAY_TOKEN)')
  .option('--config <file>', 'daemon config file (env IRONBAY_CONFIG; default /etc/ironbay/ironbay.yaml or the checkout default)')
  .showHelpAfterError();

async function client(): Promise<ApiClient> {
  const { ApiClient, resolveConnection } = await import('./client.ts');
  return new ApiClient(resolveConnection(program.opts(), process.env));
}

async function readConfig(file: string): Promise<ConfigResult> {
  return (await import('../config/load.ts')).readConfig(file);
}
const out = (s: string): void => void process.stdout.write(s + '\n');
const json = (v: unknown): void => out(JSON.stringify(v, null, 2));

program
  .command('daemon')
  .description('run the ironbay daemon in the foreground')
  .action(async () => {
    const file = locateConfig(program.opts<{ config?: string }>().config, process.env);
    const cfg = await readConfig(file);
    if (!cfg.ok) configErrors(cfg.errors);
    const { runDaemon } = await import('../main.ts');
    await runDaemon(cfg.config, file);
  });

program
  .command('config')
  .description('daemon configuration')
  .command('validate [file]')
  .description('check a config file; exit 0 valid, 2 invalid')
  .action(async (file?: string) => {
    const f = file ?? locateConfig(program.opts<{ config?: string }>().config, process.env);
    const cfg = await readConfig(f);
    if (!cfg.ok) configErrors(cfg.errors);
    out(`${f}: valid`);
  });

const inventory = program.command('inventory').description('the inventory file');
inventory
  .command('validate <file>')
  .description('check an inventory file without a daemon; exit 0 valid, 1 invalid (usable in a git pre-commit hook)')
  .option('--json', 'errors as JSON')
  .action(async (file: string, o: { json?: boolean }) => {
    const { loadInventory } = await import('../../inventory/validate.ts');
    const r = loadInventory(file, readInput(file));
    reportValidation(
      file,
      r.ok ? { summary: `${r.inventory.machines.length} machines, ${r.inventory.profiles.length} profiles, ${r.inventory.clusters.length} clusters`, data: { machines: r.inventory.machines.length } } : r.errors,
      o.json,
    );
  });
inventory
  .command('diff <file>')
  .description('what applying FILE would change in the running daemon (nothing is applied); exit 1 if FILE is invalid')
  .option('--json', 'JSON output')
  .action(async (file: string, o: { json?: boolean }) => {
    const r = await (await client()).request<{ valid: boolean; errors: SourceError[]; diff?: Parameters<typeof printDiff>[0] }>('POST', '/api/v1/inventory/diff', {
      file,
      content: readInput(file),
    });
    if (o.json) json(r);
    else if (!r.valid) for (const e of r.errors) process.stderr.write(formatSourceError(e) + '\n');
    else out(printDiff(r.diff!));
    process.exitCode = r.valid ? 0 : 1;
  });
inventory
  .command('status')
  .description('the applied inventory and the last rejected edit')
  .option('--json', 'JSON output')
  .action(async (o: { json?: boolean }) => {
    const r = await (await client()).request<{ file: string | null; hash: string | null; appliedAt: string | null; counts: Record<string, number>; lastError: SourceError[] | null; lastErrorAt: string | null }>(
      'GET',
      '/api/v1/inventory',
    );
    if (o.json) return json(r);
    out(`file:     ${r.file ?? '-'}\napplied:  ${r.appliedAt ?? 'never'} (sha256 ${r.hash?.slice(0, 12) ?? '-'})`);
    out(`contents: ${Object.entries(r.counts).map(([k, v]) => `${v} ${k}`).join(', ')}`);
    if (r.lastError) {
      out(`rejected: the newest edit (${r.lastErrorAt}) has ${r.lastError.length} error(s); the inventory above keeps running:`);
      for (const e of r.lastError) out('  ' + formatSourceError(e));
    }
  });
inventory
  .command('reload')
  .description('re-read the inventory file now')
  .action(async () => {
    const r = await (await client()).request<{ result: string; errors?: SourceError[] }>('POST', '/api/v1/inventory/reload', {});
    out(r.result);
    for (const e of r.errors ?? []) process.stderr.write(formatSourceError(e) + '\n');
    process.exitCode = r.result === 'rejected' ? 1 : 0;
  });

const machines = program
  .command('machines')
  .description('list machines')
  .option('--state <state>', 'only machines in this state')
  .option('--role <role>', 'only machines with this role')
  .option('--zone <zone>', 'only machines in this zone')
  .option('--all', 'include retired machines')
  .option('--json', 'JSON output')
  .action(async (o: { state?: string; role?: string; zone?: string; all?: boolean; json?: boolean }) => {
    const q = new URLSearchParams();
    if (o.state) q.set('state', o.state);
    if (o.role) q.set('role', o.role);
    if (o.zone) q.set('zone', o.zone);
    if (o.all) q.set('includeRetired', 'true');
    const r = await (await client()).request<{ machines: MachineOut[] }>('GET', `/api/v1/machines${q.size ? `?${q.toString()}` : ''}`);
    if (o.json) return json(r.machines);
    out(table(['NAME', 'STATE', 'ROLE', 'ZONE', 'PROFILE', 'MAC', 'PRODUCTION', 'SINCE'], r.machines.map((m) => [m.name, m.state, m.role, m.zone, m.profile, m.macs[0], m.spec.production?.address, m.stateSince])));
  });
machines
  .command('show <name>')
  .description('one machine in detail')
  .option('--json', 'JSON output')
  .action(async (name: string, o: { json?: boolean }) => {
    // `machines` has a --json of its own, and commander gives it the flag wherever it stands.
    const asJson = o.json ?? machines.opts<{ json?: boolean }>().json;
    const m = await (await client()).request<MachineOut>('GET', `/api/v1/machines/${encodeURIComponent(name)}`);
    if (asJson) return json({ ...m, boot: await (await client()).request<BootTimelineOut>('GET', `/api/v1/machines/${encodeURIComponent(name)}/boot`) });
    out(printMachine(m));
    const boot = await (await client()).request<BootTimelineOut>('GET', `/api/v1/machines/${encodeURIComponent(name)}/boot`);
    out('\n' + printBootTimeline(boot));
    const ev = await (await client()).request<{ events: EventOut[] }>('GET', `/api/v1/events?machine=${encodeURIComponent(name)}&limit=10`);
    if (ev.events.length) out('\nrecent events:\n' + ev.events.map((e) => '  ' + printEvent(e)).join('\n'));
  });

program
  .command('events')
  .description('the audit log')
  .option('--machine <name>', 'events of one machine')
  .option('--kind <kind>', 'an event kind, or a prefix ending in "." (machine.)')
  .option('--actor <actor>', 'events by one actor')
  .option('--limit <n>', 'how many of the newest events', '50')
  .option('-f, --follow', 'keep printing new events as they happen')
  .option('--json', 'one JSON object per line')
  .action(async (o: { machine?: string; kind?: string; actor?: string; limit: string; follow?: boolean; json?: boolean }) => {
    const q = new URLSearchParams({ limit: o.limit });
    if (o.machine) q.set('machine', o.machine);
    if (o.kind) q.set('kind', o.kind);
    if (o.actor) q.set('actor', o.actor);
    const print = (e: EventOut): void => out(o.json ? JSON.stringify(e) : printEvent(e));
    if (!o.follow) {
      const r = await (await client()).request<{ events: EventOut[] }>('GET', `/api/v1/events?${q.toString()}`);
      return r.events.forEach(print);
    }
    q.set('follow', 'true');
    await followEvents(`/api/v1/events?${q.toString()}`, print);
  });

// driver.ts holds only types and this list (its one import is errors.ts): cheap for every command.
const POWER_VERBS = POWER_ACTIONS;
const BOOT_DEVICES = ['pxe', 'disk', 'bios'] as const;

program
  .command('bmc <action> [device]')
  .description(
    `talk to one BMC directly, without the daemon (check a BMC before it goes in the inventory); action: ${POWER_VERBS.join('|')}|bootdev [${BOOT_DEVICES.join('|')}]|probe. Exit 0 on success, 1 with a one-line reason`,
  )
  .requiredOption('--host <host[:port]>', 'BMC address (IPMI port 623, Redfish 443 unless given)')
  .requiredOption('--user <name>', 'BMC user name')
  .option('--password-file <file>', 'file holding the password (never give it on the command line)')
  .option('--password-env <var>', 'environment variable holding the password')
  .addOption(new Option('--driver <driver>', 'protocol').choices(['ipmi', 'redfish']).default('ipmi'))
  .option('--cipher-suite <n>', 'IPMI cipher suite (default: 17 if offered, else 3)', (v) => Number.parseInt(v, 10))
  .option('--allow-cipher-suite-zero', 'accept IPMI cipher suite 0 (no authentication)')
  .option('--insecure-tls', 'Redfish: accept a certificate that does not verify')
  .option('--tls-fingerprint <sha256>', 'Redfish: accept exactly this certificate')
  .option('--persistent', 'bootdev: every boot, not only the next')
  .option('--efi', 'bootdev: UEFI boot')
  .option('--timeout <ms>', 'wait per try', (v) => Number.parseInt(v, 10))
  .option('--retries <n>', 'tries after the first', (v) => Number.parseInt(v, 10))
  .option('--json', 'JSON output')
  .action(async (action: string, device: string | undefined, o: BmcFlags) => {
    const { runBmc } = await import('./bmc.ts');
    process.exitCode = await runBmc(action, device, o, out);
  });

program
  .command('power <action> [machines...]')
  .description(`power status or action of inventory machines through the daemon; action: ${POWER_VERBS.join('|')}`)
  .option('--pxe', 'on, cycle, reset: first set a one-time PXE boot (verified)')
  .option('--efi', 'with --pxe: UEFI network boot')
  .option('--role <role>', 'every machine of this role that has a BMC')
  .option('--all', 'every machine that has a BMC')
  .option('--json', 'JSON output')
  .action(async (action: string, names: string[], o: { pxe?: boolean; efi?: boolean; role?: string; all?: boolean; json?: boolean }) => {
    if (!(POWER_VERBS as readonly string[]).includes(action)) throw new IronbayError('IB_ERR_BAD_REQUEST', `unknown power action "${action}"; one of ${POWER_VERBS.join(', ')}`);
    const body = { action, ...(o.pxe && { pxe: true }), ...(o.efi && { efi: true }), ...selection(names, o) };
    const r = await (await client()).request<{ results: PowerResultOut[] }>('POST', '/api/v1/power', body);
    process.exitCode = printResults(r.results, o.json);
  });

program
  .command('bootdev <device> [machines...]')
  .description(`set the next boot device of inventory machines through the daemon (read back and verified); device: ${BOOT_DEVICES.join('|')}`)
  .option('--persistent', 'every boot, not only the next')
  .option('--efi', 'UEFI boot')
  .option('--role <role>', 'every machine of this role that has a BMC')
  .option('--all', 'every machine that has a BMC')
  .option('--json', 'JSON output')
  .action(async (device: string, names: string[], o: { persistent?: boolean; efi?: boolean; role?: string; all?: boolean; json?: boolean }) => {
    if (!(BOOT_DEVICES as readonly string[]).includes(device)) throw new IronbayError('IB_ERR_BAD_REQUEST', `unknown boot device "${device}"; one of ${BOOT_DEVICES.join(', ')}`);
    const body = { device, ...(o.persistent && { persistent: true }), ...(o.efi && { efi: true }), ...selection(names, o) };
    const r = await (await client()).request<{ results: PowerResultOut[] }>('POST', '/api/v1/bootdev', body);
    process.exitCode = printResults(r.results, o.json);
  });

interface LifecycleResultOut {
  machine: string;
  ok: boolean;
  state?: string;
  result?: string;
  code?: string;
  error?: string;
}

function printLifecycle(results: LifecycleResultOut[], asJson?: boolean): number {
  if (asJson) json(results);
  else out(table(['MACHINE', 'RESULT', 'STATE', 'DETAIL'], results.map((r) => [r.machine, r.ok ? r.result : r.code, r.state, r.ok ? undefined : r.error])));
  return results.every((r) => r.ok) ? 0 : 1;
}

program
  .command('provision [machines...]')
  .description('queue machines for provisioning (PXE install, handoff to the production network, ready); admission control starts them in order')
  .option('--role <role>', 'every machine of this role')
  .option('--all', 'every registered or failed machine')
  .option('--json', 'JSON output')
  .action(async (names: string[], o: { role?: string; all?: boolean; json?: boolean }) => {
    const r = await (await client()).request<{ results: LifecycleResultOut[] }>('POST', '/api/v1/provision', selection(names, o));
    process.exitCode = printLifecycle(r.results, o.json);
  });

program
  .command('deprovision <machines...>')
  .description('power ready machines off and return them to registered (failed ones return at once)')
  .option('--json', 'JSON output')
  .action(async (names: string[], o: { json?: boolean }) => {
    const r = await (await client()).request<{ results: LifecycleResultOut[] }>('POST', '/api/v1/deprovision', { machines: names });
    process.exitCode = printLifecycle(r.results, o.json);
  });

program
  .command('maintenance <on|off> <machine>')
  .description('an operator hold: the lifecycle leaves a machine in maintenance alone until it is released')
  .option('--reason <text>', 'why, for the event log')
  .option('--json', 'JSON output')
  .action(async (onOff: string, name: string, o: { reason?: string; json?: boolean }) => {
    if (onOff !== 'on' && onOff !== 'off') throw new IronbayError('IB_ERR_BAD_REQUEST', `maintenance takes on or off, not "${onOff}"`);
    const r = await (await client()).request<{ results: LifecycleResultOut[] }>('POST', `/api/v1/machines/${encodeURIComponent(name)}/maintenance`, { on: onOff === 'on', ...(o.reason && { reason: o.reason }) });
    process.exitCode = printLifecycle(r.results, o.json);
  });

program
  .command('retry <machine>')
  .description('a failed machine back to registered, queued for provisioning again')
  .option('--json', 'JSON output')
  .action(async (name: string, o: { json?: boolean }) => {
    const r = await (await client()).request<{ results: LifecycleResultOut[] }>('POST', `/api/v1/machines/${encodeURIComponent(name)}/retry`, {});
    process.exitCode = printLifecycle(r.results, o.json);
  });

function selection(names: string[], o: { role?: string; all?: boolean }): Record<string, unknown> {
  if (!names.length && !o.role && !o.all) throw new IronbayError('IB_ERR_BAD_REQUEST', 'name machines, or give --role ROLE or --all');
  return { ...(names.length && { machines: names }), ...(o.role && { role: o.role }), ...(o.all && { all: true }) };
}

/** A table of machine × result; exit code 0 only if every machine succeeded. */
function printResults(results: PowerResultOut[], asJson?: boolean): number {
  if (asJson) json(results);
  else {
    out(table(['MACHINE', 'RESULT', 'POWER', 'BOOT', 'DETAIL'], results.map((r) => [r.machine, r.ok ? (r.changed === undefined ? 'ok' : r.changed ? 'changed' : 'unchanged') : r.code, r.power, r.boot?.raw ?? r.boot?.device, r.ok ? [...(r.faults ?? []), ...(r.boot?.warnings ?? [])].join('; ') || undefined : r.error])));
    const failed = results.filter((r) => !r.ok).length;
    out(`${results.length - failed} of ${results.length} succeeded${failed ? `, ${failed} failed` : ''}`);
  }
  return results.every((r) => r.ok) ? 0 : 1;
}

export interface BmcFlags {
  host: string;
  user: string;
  passwordFile?: string;
  passwordEnv?: string;
  driver: 'ipmi' | 'redfish';
  cipherSuite?: number;
  allowCipherSuiteZero?: boolean;
  insecureTls?: boolean;
  tlsFingerprint?: string;
  persistent?: boolean;
  efi?: boolean;
  timeout?: number;
  retries?: number;
  json?: boolean;
}

/** One machine's outcome in /api/v1/power and /api/v1/bootdev (MachineResultView). */
export interface PowerResultOut {
  machine: string;
  ok: boolean;
  changed?: boolean;
  power?: string;
  faults?: string[];
  boot?: { device: string; persistent: boolean; efi: boolean; raw?: string; warnings?: string[] };
  code?: string;
  error?: string;
  durationMs: number;
}

const runbook = program.command('runbook').description('operator runbooks');
runbook
  .command('validate <file>')
  .description('check a runbook file without a daemon; exit 0 valid, 1 invalid (every error as FILE:LINE:COL)')
  .option('--json', 'errors as JSON')
  .action(async (file: string, o: { json?: boolean }) => {
    const { loadRunbook } = await import('../ssh/runbook/load.ts');
    const r = loadRunbook(file, readInput(file));
    reportValidation(file, r.ok ? { summary: `runbook ${r.runbook.name}, ${r.runbook.steps.length} steps`, data: { name: r.runbook.name, steps: r.runbook.steps.length } } : r.errors, o.json);
  });

registerRunbookCommands(program, runbook, client, out, json);
registerClusterCommands(program, client, out, json);

const token = program.command('token').description('API tokens (admin)');
token
  .command('create')
  .description('create a token; it is printed once and only its hash is stored')
  .requiredOption('--name <name>', 'who or what the token is for')
  .addOption(new Option('--role <role>', 'what it may do').choices(['viewer', 'operator', 'admin']).makeOptionMandatory())
  .option('--json', 'JSON output')
  .action(async (o: { name: string; role: string; json?: boolean }) => {
    const r = await (await client()).request<{ name: string; role: string; token: string }>('POST', '/api/v1/tokens', { name: o.name, role: o.role });
    if (o.json) json(r);
    else out(r.token);
  });
token
  .command('list')
  .option('--json', 'JSON output')
  .action(async (o: { json?: boolean }) => {
    const r = await (await client()).request<{ tokens: { name: string; role: string; createdAt: string; lastUsedAt: string | null; revokedAt: string | null }[] }>('GET', '/api/v1/tokens');
    if (o.json) return json(r.tokens);
    out(table(['NAME', 'ROLE', 'CREATED', 'LAST USED', 'REVOKED'], r.tokens.map((t) => [t.name, t.role, t.createdAt, t.lastUsedAt, t.revokedAt])));
  });
token
  .command('revoke <name>')
  .action(async (name: string) => {
    await (await client()).request('DELETE', `/api/v1/tokens/${encodeURIComponent(name)}`);
    out(`revoked ${name}`);
  });

export interface MachineOut {
  name: string;
  state: string;
  role: string;
  zone: string | null;
  profile: string | null;
  macs: string[];
  stateReason: string | null;
  stateSince: string;
  spec: { production?: { address?: string }; bmc?: { driver: string; address: string }; bootAddress?: string; labels?: Record<string, string> };
  retiredAt: string | null;
}
/** GET /api/v1/machines/:name/boot (BootTimelineView in daemon/api/routes/machines.ts). */
export interface BootTimelineOut {
  machine: string;
  bootId: number | null;
  startedAt: string | null;
  session: { id: number; action: string; profile: string | null; createdAt: string; endedAt: string | null; endReason: string | null } | null;
  entries: { stage: string; detail: string | null; bootId: number | null; at: string; offsetMs: number }[];
  truncated: boolean;
}
/** The API's event view is the store's event row. */
export type EventOut = EventRow;

async function followEvents(path: string, print: (e: EventOut) => void): Promise<void> {
  const res = await (await client()).fetch('GET', path);
  if (!res.ok || !res.body) {
    const e = (await res.json().catch(() => ({}))) as { code?: 'IB_ERR_INTERNAL'; message?: string };
    throw new IronbayError(e.code ?? 'IB_ERR_INTERNAL', `GET ${path}: ${res.status} ${e.message ?? ''}`);
  }
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of res.body) {
    buf += decoder.decode(chunk as Uint8Array, { stream: true });
    let end: number;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const frame = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const data = frame
        .split('\n')
        .filter((l) => l.startsWith('data: '))
        .map((l) => l.slice(6))
        .join('\n');
      if (data) print(JSON.parse(data) as EventOut);
    }
  }
}

/** A `validate` command's answer: a summary, or every error as FILE:LINE:COL; exit 0 or 1. */
function reportValidation(file: string, r: { summary: string; data: Record<string, unknown> } | SourceError[], asJson?: boolean): void {
  const valid = !Array.isArray(r);
  if (asJson) json(valid ? { valid: true, errors: [], ...r.data } : { valid: false, errors: r });
  else if (valid) out(`${file}: valid (${r.summary})`);
  else {
    for (const e of r) process.stderr.write(formatSourceError(e) + '\n');
    process.stderr.write(`${file}: ${r.length} error${r.length === 1 ? '' : 's'}\n`);
  }
  process.exitCode = valid ? 0 : 1;
}

function readInput(file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new IronbayError('IB_ERR_INVENTORY_READ', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

function configErrors(errors: SourceError[]): never {
  for (const e of errors) process.stderr.write(formatSourceError(e) + '\n');
  process.exit(2);
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  const msg = err instanceof IronbayError ? `${err.message} [${err.code}]` : err instanceof Error ? err.message : String(err);
  process.stderr.write(`ironbay: ${msg}\n`);
  process.exitCode = 1;
}

// `ironbay bmc …`: one BMC, straight from the CLI process, no daemon and no database. For
// checking a BMC's address and credentials before the machine goes into the inventory.
import type { BmcFlags } from './commands.ts';
import { BmcError, POWER_ACTIONS, powerAction, type BmcTarget, type PowerAction, type PowerDriver, type PowerResult } from '../bmc/driver.ts';
import { createPowerDriver, defaultPort, IpmiClient, readPassword } from '../bmc/index.ts';

/** Runs one action; returns the exit code. Errors print as one line: the reason and its code. */
export async function runBmc(action: string, device: string | undefined, o: BmcFlags, out: (s: string) => void): Promise<number> {
  const { host, port } = splitHostPort(o.host, defaultPort(o.driver));
  const endpoint = `${host}:${port}`;
  if (!o.passwordFile && !o.passwordEnv) throw new BmcError('IB_ERR_BMC_AUTH', endpoint, 'give --password-file FILE or --password-env VAR (a password on the command line would be visible to every user of this machine)');
  const password = readPassword(o.passwordFile ? { passwordFile: o.passwordFile } : { passwordEnv: o.passwordEnv! }, endpoint, process.cwd());
  const target: BmcTarget = {
    driver: o.driver,
    host,
    port,
    username: o.user,
    password,
    ...(o.cipherSuite !== undefined && { cipherSuite: o.cipherSuite }),
    ...(o.allowCipherSuiteZero && { allowCipherSuiteZero: true }),
    ...(o.insecureTls && { insecureTls: true }),
    ...(o.tlsFingerprint && { tlsFingerprint: o.tlsFingerprint }),
    ...(o.timeout !== undefined && { timeoutMs: o.timeout }),
    ...(o.retries !== undefined && { retries: o.retries }),
  };
  const ipmi = new IpmiClient({ ...(o.timeout !== undefined && { timeoutMs: o.timeout }), ...(o.retries !== undefined && { retries: o.retries }) });
  const driver = createPowerDriver(target, { ipmi });
  try {
    const result = await act(driver, action, device, o);
    if (o.json) out(JSON.stringify(result, null, 2));
    else out(describe(action, result));
    return 0;
  } finally {
    await driver.close().catch(() => undefined);
    await ipmi.close();
  }
}

async function act(d: PowerDriver, action: string, device: string | undefined, o: BmcFlags): Promise<unknown> {
  if ((POWER_ACTIONS as readonly string[]).includes(action)) return powerAction(d, action as PowerAction);
  switch (action) {
    case 'probe':
      return d.probe();
    case 'bootdev':
      if (device === undefined) return d.getBootDevice();
      if (device !== 'pxe' && device !== 'disk' && device !== 'bios') throw new BmcError('IB_ERR_BMC_UNSUPPORTED', d.endpoint, `unknown boot device "${device}"; one of pxe, disk, bios`);
      return d.setBootDevice(device, { persistent: o.persistent ?? false, efi: o.efi ?? false });
    default:
      throw new BmcError('IB_ERR_BMC_UNSUPPORTED', d.endpoint, `unknown action "${action}"; one of status, on, off, soft-off, cycle, reset, bootdev, probe`);
  }
}

function describe(action: string, r: unknown): string {
  const x = r as Partial<PowerResult> & { faults?: string[]; device?: string; raw?: string; warnings?: string[] };
  if (action === 'status') return `power ${x.power}${x.faults?.length ? ` (faults: ${x.faults.join(', ')})` : ''}`;
  if (action === 'bootdev') return `boot device ${x.raw ?? x.device}${x.warnings?.length ? `\nwarning: ${x.warnings.join('\nwarning: ')}` : ''}`;
  if (action === 'probe') return Object.entries(r as Record<string, unknown>).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : String(v)}`).join('\n');
  return `${action}: ${x.changed ? 'done' : 'nothing to do'} (power ${x.power})`;
}

/** "host", "host:port", "[v6]:port", or a bare IPv6 address. */
export function splitHostPort(s: string, fallback: number): { host: string; port: number } {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (v6) return { host: v6[1]!, port: v6[2] ? Number(v6[2]) : fallback };
  const parts = s.split(':');
  if (parts.length === 2 && /^\d+$/.test(parts[1]!)) return { host: parts[0]!, port: Number(parts[1]) };
  return { host: s, port: fallback };
}

// The CLI's only way to the daemon: its HTTP API. URL and token come from flags, then the
// environment, then the CLI config file, then (on the appliance or in a checkout) the
// daemon's own config and bootstrap token file.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { readConfig } from '../config/load.ts';
import { BOOTSTRAP_TOKEN_FILE, locateConfig } from '../config/locate.ts';
import { IronbayError, type ErrorCode } from '../errors.ts';

export interface Connection {
  url: string;
  token: string | undefined;
}

export interface ConnectionFlags {
  url?: string;
  token?: string;
  config?: string;
}

export function resolveConnection(flags: ConnectionFlags, env: NodeJS.ProcessEnv): Connection {
  let url = flags.url ?? env.IRONBAY_URL;
  let token = flags.token ?? env.IRONBAY_TOKEN;
  if (!url || !token) {
    const cliFile = env.IRONBAY_CLI_CONFIG ?? join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'ironbay', 'cli.yaml');
    const cli = readOptional(cliFile);
    if (cli) {
      const c = (load(cli) ?? {}) as { url?: string; token?: string };
      url ??= c.url;
      token ??= c.token;
    }
  }
  if (!url || !token) {
    const daemon = readConfig(locateConfig(flags.config, env));
    if (daemon.ok) {
      const host = daemon.config.api.listen.includes(':') ? `[${daemon.config.api.listen}]` : daemon.config.api.listen;
      url ??= `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${daemon.config.api.port}`;
      token ??= readOptional(join(daemon.config.dataDir, BOOTSTRAP_TOKEN_FILE))?.trim();
    }
  }
  return { url: (url ?? 'http://127.0.0.1:8470').replace(/\/+$/, ''), token };
}

function readOptional(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

export class ApiClient {
  private readonly conn: Connection;

  constructor(conn: Connection) {
    this.conn = conn;
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.fetch(method, path, body);
    const text = await res.text();
    const json = text ? (JSON.parse(text) as unknown) : undefined;
    if (!res.ok) {
      const e = (json ?? {}) as { code?: ErrorCode; message?: string };
      throw new IronbayError(e.code ?? 'IB_ERR_INTERNAL', `${method} ${path}: ${res.status} ${e.message ?? res.statusText}`);
    }
    return json as T;
  }

  async fetch(method: string, path: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.conn.token) headers.authorization = `Bearer ${this.conn.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    try {
      return await fetch(this.conn.url + path, { method, headers, ...(body !== undefined && { body: JSON.stringify(body) }) });
    } catch (err) {
      const c = (err as { cause?: { code?: string; message?: string } }).cause;
      const cause = c?.code ?? c?.message ?? (err as Error).message;
      throw new IronbayError('IB_ERR_API_UNREACHABLE', `cannot reach the ironbay API at ${this.conn.url} (${cause}); is the daemon running?`, { cause: err });
    }
  }
}

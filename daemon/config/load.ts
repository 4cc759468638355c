// Config is read once, in main, validated whole, defaulted and frozen; nothing else reads
// the file or the environment for settings.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { compileChecker } from '../lib/schema-check.ts';
import { parseYaml, type SourceError } from '../lib/yaml-source.ts';
import type { Config } from './schema.ts';
// Generated from schema.ts (see inventory/schema-json.ts): loading TypeBox costs ~250 ms.
import ConfigSchema from './schema.json' with { type: 'json' };

export const APPLIANCE_CONFIG = '/etc/ironbay/ironbay.yaml';

export type ConfigResult = { ok: true; config: Readonly<Config> } | { ok: false; errors: SourceError[] };

export function parseConfig(file: string, text: string): ConfigResult {
  const parsed = parseYaml(file, text);
  if (!parsed.ok) return parsed;
  // Defaults are filled in during the check, so it sees the effective config.
  const config = structuredClone(parsed.doc.value ?? {}) as Config;
  const issues = compileChecker(ConfigSchema, { useDefaults: true })(config);
  if (issues.length) return { ok: false, errors: issues.map((i) => parsed.doc.error(i.path, i.message, i.atKey)) };
  // Relative paths in the file are relative to the file, so a checkout's config works from any cwd.
  const base = dirname(resolve(file));
  config.dataDir = resolve(base, config.dataDir);
  config.inventory = resolve(base, config.inventory);
  if (config.ssh.runbooks) config.ssh.runbooks = resolve(base, config.ssh.runbooks);
  if (config.ssh.keyFile) config.ssh.keyFile = resolve(base, config.ssh.keyFile);
  return { ok: true, config: deepFreeze(config) };
}

export function readConfig(file: string): ConfigResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { ok: false, errors: [{ file, line: 1, col: 1, path: '', message: `cannot read config: ${e.code ?? e.message}` }] };
  }
  return parseConfig(file, text);
}

function deepFreeze<T>(o: T): Readonly<T> {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

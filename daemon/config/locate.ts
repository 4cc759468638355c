// Which config file applies: --config, then $IRONBAY_CONFIG, then the appliance's file, then
// the checkout's development default. The daemon and the CLI resolve it the same way.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { APPLIANCE_CONFIG } from './load.ts';

/** Written by the daemon into its data directory on first start; read by the CLI on the same host. */
export const BOOTSTRAP_TOKEN_FILE = 'admin.token';

export const CHECKOUT_CONFIG = fileURLToPath(new URL('./dev.yaml', import.meta.url));

export function locateConfig(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  if (flag) return flag;
  if (env.IRONBAY_CONFIG) return env.IRONBAY_CONFIG;
  if (existsSync(APPLIANCE_CONFIG)) return APPLIANCE_CONFIG;
  return CHECKOUT_CONFIG;
}

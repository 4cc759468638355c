// `ironbay daemon`: open the store, apply the inventory, serve the API, watch the file,
// and stop cleanly on SIGTERM/SIGINT within STOP_DEADLINE_MS.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { buildApp } from './api/app.ts';
import { BmcService } from './bmc/service.ts';
import { LifecycleService } from './lifecycle/service.ts';
import { RunbookService } from './ssh/service.ts';
import { ClusterService } from './clusters/service.ts';
import { startBootPlane } from './boot-plane.ts';
import type { Config } from './config/schema.ts';
import { inventoryService } from './inventory/service.ts';
import { watchFile } from './inventory/watch.ts';
import { rootLogger } from './log.ts';
import { BOOTSTRAP_TOKEN_FILE } from './config/locate.ts';
import { createMetrics } from './metrics.ts';
import { Store } from './store/db.ts';
import { countActiveTokens, createToken, listTokens } from './store/tokens.ts';

const STOP_DEADLINE_MS = 5_000;

export async function runDaemon(config: Readonly<Config>, configFile: string): Promise<void> {
  const log = rootLogger(config.log.level);
  const store = Store.open(join(config.dataDir, 'ironbay.db'));
  ensureBootstrapToken(store, config.dataDir, log);
  const metrics = createMetrics(store);
  const inventory = inventoryService(store, config.inventory, log.child({ mod: 'inventory' }), metrics.inventoryReloads);
  // A reload that fails for a reason other than the file (the validating process crashed)
  // is logged; the last applied inventory keeps running.
  const reload = (reason: string): Promise<unknown> => inventory.reload(reason).catch((err: unknown) => log.error({ err, reason }, 'inventory reload failed'));
  // Watch before the first read, so that an edit made while the daemon starts is not missed.
  const watcher = watchFile(
    config.inventory,
    config.inventoryReload.debounceMs,
    () => void reload('file-change'),
    (err) => log.error({ err, file: config.inventory }, 'cannot watch the inventory file; reload with SIGHUP'),
  );
  const onHup = (): void => void reload('sighup');
  process.on('SIGHUP', onHup);
  await reload('start');

  // The boot plane refuses to start rather than serve on the wrong interfaces: a boot
  // interface that is missing or has no address stops the daemon with the reason.
  // The runbooks' key first: the boot plane puts it in every installed machine's authorized keys.
  const runbooks = new RunbookService({ store, config, log: log.child({ mod: 'runbooks' }) });
  await runbooks.open();
  const bootPlane = config.boot.interfaces.length
    ? await startBootPlane(config, store, log, { applianceKeys: () => [runbooks.publicKey().publicKey] })
    : undefined;
  if (bootPlane) metrics.registerBootPlane({ dhcp: () => bootPlane.dhcp.stats(), tftp: () => bootPlane.tftp.stats() });

  const bmc = new BmcService({ store, config, log: log.child({ mod: 'bmc' }), metrics });
  const provisioning = new LifecycleService({ store, config, log: log.child({ mod: 'lifecycle' }), bmc, runbooks });
  const clusters = new ClusterService({ store, config, log: log.child({ mod: 'clusters' }), runbooks, registry: metrics.registry });
  const lifecycle = { stopping: false };
  const app = await buildApp({ config, store, metrics, inventory, bmc, provisioning, runbooks, clusters, log, lifecycle });
  const url = await app.listen({ host: config.api.listen, port: config.api.port });

  provisioning.start();
  clusters.start();
  log.info(
    {
      url,
      config: configFile,
      dataDir: config.dataDir,
      inventory: config.inventory,
      boot: bootPlane
        ? { interfaces: config.boot.interfaces, mode: config.boot.mode, advertise: bootPlane.advertise }
        : 'off: no boot interfaces configured, no DHCP/TFTP served',
      pid: process.pid,
    },
    'ironbay started',
  );

  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      if (lifecycle.stopping) return;
      lifecycle.stopping = true;
      log.info({ signal }, 'stopping');
      // A stuck close must not keep a stop hanging: systemd would SIGKILL us anyway.
      const force = setTimeout(() => {
        log.error({ deadlineMs: STOP_DEADLINE_MS }, 'clean stop took too long; exiting');
        log.flush();
        process.exit(1);
      }, STOP_DEADLINE_MS);
      force.unref();
      watcher.close();
      process.off('SIGHUP', onHup);
      provisioning
        .stop()
        .then(() => Promise.all([clusters.stop(), runbooks.close(), app.close(), inventory.close(), bootPlane?.close(), bmc.close()]))
        .catch((err: unknown) => log.error({ err }, 'error while closing'))
        .finally(() => {
          store.close();
          log.info('stopped');
          log.flush();
          clearTimeout(force);
          resolve();
        });
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}

/**
 * The first start has no tokens, so nobody could create one through the API. Write an
 * admin token to a root-only file in the data directory, as many appliances do with their
 * initial password; the CLI on the appliance picks it up.
 */
function ensureBootstrapToken(store: Store, dataDir: string, log: Logger): void {
  if (countActiveTokens(store) > 0) return;
  const file = join(dataDir, BOOTSTRAP_TOKEN_FILE);
  const taken = new Set(listTokens(store).map((t) => t.name));
  const name = taken.has('bootstrap-admin') ? `bootstrap-admin-${store.now().getTime()}` : 'bootstrap-admin';
  const token = createToken(store, name, 'admin', 'ironbay:bootstrap');
  writeFileSync(file, token + '\n', { mode: 0o600 });
  log.warn({ file, name }, 'no API tokens existed; wrote a bootstrap admin token');
}

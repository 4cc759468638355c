// An API instance over a fresh on-disk store and inventory file, for app.inject() tests.
import type { Config } from '../../daemon/config/schema.ts';
import { ClusterService } from '../../daemon/clusters/service.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { buildApp, type App } from '../../daemon/api/app.ts';
import { BmcService } from '../../daemon/bmc/service.ts';
import { LifecycleService } from '../../daemon/lifecycle/service.ts';
import { RunbookService } from '../../daemon/ssh/service.ts';
import { parseConfig } from '../../daemon/config/load.ts';
import { inventoryService, type InventoryService } from '../../daemon/inventory/service.ts';
import { createMetrics } from '../../daemon/metrics.ts';
import { Store } from '../../daemon/store/db.ts';
import { createToken, type Role } from '../../daemon/store/tokens.ts';

export interface TestApp {
  app: App;
  store: Store;
  inventory: InventoryService;
  inventoryFile: string;
  runbooks: RunbookService;
  clusters: ClusterService;
  config: Readonly<Config>;
  dir: string;
  lifecycle: { stopping: boolean };
  tokens: Record<Role, string>;
  writeInventory(text: string): void;
  close(): Promise<void>;
}

/** `configText` is appended to the configuration (YAML: an `ssh:` section, say). */
export async function testApp(inventoryText: string, configText = ''): Promise<TestApp> {
  const dir = mkdtempSync(join(tmpdir(), 'ironbay-app-'));
  const store = Store.open(join(dir, 'ironbay.db'));
  const inventoryFile = join(dir, 'inventory.yaml');
  writeFileSync(inventoryFile, inventoryText);
  const log = pino({ level: 'silent' });
  const metrics = createMetrics(store);
  const inventory = inventoryService(store, inventoryFile, log, metrics.inventoryReloads);
  await inventory.reload('test');
  const lifecycle = { stopping: false };
  const parsed = parseConfig(join(dir, 'ironbay.yaml'), `dataDir: ${dir}\ninventory: ${inventoryFile}\n${configText}`);
  if (!parsed.ok) throw new Error('test config invalid');
  const bmc = new BmcService({ store, config: parsed.config, log });
  // The reconciler is not started: these tests look at the API, and machines stay where they are put.
  const provisioning = new LifecycleService({ store, config: parsed.config, log, bmc });
  const runbooks = new RunbookService({ store, config: parsed.config, log });
  await runbooks.open();
  // Nor is the cluster reconciler: a test that wants a pass asks for one.
  const clusters = new ClusterService({ store, config: parsed.config, log, runbooks });
  const app = await buildApp({ config: parsed.config, store, metrics, inventory, bmc, provisioning, runbooks, clusters, log, lifecycle });
  const tokens = {
    viewer: createToken(store, 'test-viewer', 'viewer', 'test'),
    operator: createToken(store, 'test-operator', 'operator', 'test'),
    admin: createToken(store, 'test-admin', 'admin', 'test'),
  };
  return {
    app,
    store,
    inventory,
    inventoryFile,
    runbooks,
    clusters,
    config: parsed.config,
    dir,
    lifecycle,
    tokens,
    writeInventory: (text) => writeFileSync(inventoryFile, text),
    async close() {
      await clusters.stop();
      await runbooks.close();
      await app.close();
      await bmc.close();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const auth = (token: string): { authorization: string } => ({ authorization: `Bearer ${token}` });

/** A small valid inventory; `n` workers named w-000… with addresses from documentation ranges. */
export function smallInventory(n = 3, extra = ''): string {
  const machines = Array.from({ length: n }, (_, i) => {
    const id = String(i).padStart(3, '0');
    const hex = i.toString(16).padStart(2, '0');
    return `  - name: w-${id}
    macs: ["52:54:00:00:10:${hex}"]
    role: worker
    zone: zone-${i % 2 === 0 ? 'a' : 'b'}
    profile: debian12
    bootAddress: 198.51.100.${10 + i}
    bmc: { driver: ipmi, address: 192.0.2.${10 + i}, username: admin, passwordEnv: BMC_PASSWORD }
    production: { address: 203.0.113.${10 + i}/24, gateway: 203.0.113.1 }
`;
  }).join('');
  return `networks:
  boot:
    - { name: boot, subnet: 198.51.100.0/24, pool: { start: 198.51.100.200, end: 198.51.100.250 } }
  production:
    - { name: prod, subnet: 203.0.113.0/24, gateway: 203.0.113.1 }
profiles:
  - { name: debian12, kernel: vmlinuz, initrd: [initrd.img] }
machines:
${machines}${extra}`;
}

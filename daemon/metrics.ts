// Prometheus metrics. One registry per daemon (not prom-client's global), so tests can build
// many apps in one process.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Store } from './store/db.ts';
import { countByState, MACHINE_STATES } from './store/machines.ts';

export interface Metrics {
  registry: Registry;
  inventoryReloads: Counter<'result'>;
  httpRequests: Counter<'method' | 'route' | 'status'>;
  httpDuration: Histogram<'route'>;
}

export function createMetrics(store: Store): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'ironbay_' });
  new Gauge({
    name: 'ironbay_machines',
    help: 'Machines by lifecycle state',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const counts = countByState(store);
      for (const s of MACHINE_STATES) this.set({ state: s }, counts[s] ?? 0);
    },
  });
  new Gauge({
    name: 'ironbay_inventory_rejected',
    help: '1 while the newest inventory edit is rejected (the previous one keeps running), else 0',
    registers: [registry],
    collect() {
      const row = store.db.prepare('SELECT last_error IS NOT NULL AS rejected FROM inventory_state WHERE id = 1').get() as { rejected: number };
      this.set(row.rejected);
    },
  });
  return {
    registry,
    inventoryReloads: new Counter({
      name: 'ironbay_inventory_reloads_total',
      help: 'Inventory reloads by result (applied, unchanged, rejected)',
      labelNames: ['result'],
      registers: [registry],
    }),
    httpRequests: new Counter({
      name: 'ironbay_http_requests_total',
      help: 'API requests',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'ironbay_http_request_duration_seconds',
      help: 'API request duration',
      labelNames: ['route'],
      buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2],
      registers: [registry],
    }),
  };
}

// Prometheus metrics. One registry per daemon (not prom-client's global), so tests can build
// many apps in one process.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DhcpStats } from './dhcp/server.ts';
import type { Store } from './store/db.ts';
import type { TftpStats } from './tftp/server.ts';
import { countByState, MACHINE_STATES } from './store/machines.ts';

/** What the boot plane's servers count, read at scrape time. */
export interface BootPlaneStats {
  dhcp(): DhcpStats;
  tftp(): TftpStats;
}

export interface Metrics {
  registry: Registry;
  registerBootPlane(plane: BootPlaneStats): void;
  inventoryReloads: Counter<'result'>;
  httpRequests: Counter<'method' | 'route' | 'status'>;
  httpDuration: Histogram<'route'>;
  /** BMC operations by driver, kind (power.on, bootdev.set, …) and result (ok or an IB_ERR_BMC_* code). */
  bmcOperations: Counter<'driver' | 'kind' | 'result'>;
  registerBmc(stats: () => BmcStats): void;
}

/** What the IPMI client counts, read at scrape time. */
export interface BmcStats {
  ipmiSessionsOpen: number;
  ipmiSessionsOpened: number;
  /** Datagrams dropped by reason (malformed, failed integrity, replayed, from nobody asked). */
  ipmiDropped: Record<string, number>;
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
  new Gauge({
    name: 'ironbay_runbook_runs',
    help: 'Runbook runs recorded, by state (running ones are going now)',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const rows = store.db.prepare('SELECT state, count(*) AS n FROM runbook_runs GROUP BY state').all() as { state: string; n: number }[];
      for (const st of ['running', 'succeeded', 'failed', 'cancelled', 'interrupted']) this.set({ state: st }, rows.find((r) => r.state === st)?.n ?? 0);
    },
  });
  new Gauge({
    name: 'ironbay_ssh_host_keys_refused',
    help: 'Hosts whose SSH host key differs from the pinned one and was refused, waiting for `ironbay hosts accept`',
    registers: [registry],
    collect() {
      this.set((store.db.prepare('SELECT count(*) AS n FROM ssh_host_keys WHERE pending_fingerprint IS NOT NULL').get() as { n: number }).n);
    },
  });
  return {
    registry,
    registerBootPlane: (plane) => registerBootPlane(registry, plane),
    bmcOperations: new Counter({
      name: 'ironbay_bmc_operations_total',
      help: 'BMC operations by driver, kind and result (ok, or the error code)',
      labelNames: ['driver', 'kind', 'result'],
      registers: [registry],
    }),
    registerBmc: (stats) => registerBmc(registry, stats),
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

function registerBmc(registry: Registry, stats: () => BmcStats): void {
  new Gauge({
    name: 'ironbay_ipmi_sessions_open',
    help: 'IPMI sessions open now (one per BMC in use; closed after 20 s idle)',
    registers: [registry],
    collect() {
      this.set(stats().ipmiSessionsOpen);
    },
  });
  new Counter({
    name: 'ironbay_ipmi_sessions_opened_total',
    help: 'IPMI sessions established (a BMC that keeps dropping sessions makes this climb)',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(stats().ipmiSessionsOpened);
    },
  });
  new Counter({
    name: 'ironbay_ipmi_dropped_total',
    help: 'IPMI datagrams dropped, by reason',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, n] of Object.entries(stats().ipmiDropped)) this.inc({ reason }, n);
    },
  });
}

/**
 * Boot-plane counters as Prometheus counters, read from the servers' own tallies at scrape
 * time (the hot paths only increment plain numbers). Dropped and malformed packets are here
 * by reason: a rising `ironbay_dhcp_dropped_total{reason="unknown-client"}` is a machine
 * missing from the inventory; `malformed` is a broken or hostile client.
 */
function registerBootPlane(registry: Registry, plane: BootPlaneStats): void {
  const counter = (name: string, help: string, labelNames: string[], read: (set: (labels: Record<string, string>, v: number) => void) => void): void => {
    new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        read((labels, v) => this.inc(labels, v));
      },
    });
  };
  counter('ironbay_dhcp_received_total', 'DHCP datagrams received on the boot interfaces', [], (set) => set({}, plane.dhcp().received));
  counter('ironbay_dhcp_replies_total', 'DHCP replies sent, by message type', ['type'], (set) => {
    for (const [type, n] of Object.entries(plane.dhcp().replies)) set({ type }, n);
  });
  counter('ironbay_dhcp_dropped_total', 'DHCP requests not answered, by reason', ['reason'], (set) => {
    for (const [reason, n] of Object.entries(plane.dhcp().dropped)) set({ reason }, n ?? 0);
  });
  counter('ironbay_dhcp_malformed_total', 'DHCP datagrams dropped as malformed, by reason', ['reason'], (set) => {
    for (const [reason, n] of Object.entries(plane.dhcp().malformed)) set({ reason }, n ?? 0);
  });
  counter('ironbay_tftp_requests_total', 'TFTP read requests', [], (set) => set({}, plane.tftp().requests));
  counter('ironbay_tftp_transfers_total', 'TFTP transfers ended, by result', ['result'], (set) => {
    const t = plane.tftp();
    set({ result: 'completed' }, t.completed);
    for (const [reason, n] of Object.entries(t.failed)) set({ result: `failed:${reason}` }, n ?? 0);
    for (const [reason, n] of Object.entries(t.refused)) set({ result: `refused:${reason}` }, n ?? 0);
  });
  counter('ironbay_tftp_malformed_total', 'TFTP datagrams dropped as malformed', ['reason'], (set) => {
    for (const [reason, n] of Object.entries(plane.tftp().malformed)) set({ reason }, n ?? 0);
  });
  counter('ironbay_tftp_bytes_total', 'TFTP file bytes sent', [], (set) => set({}, plane.tftp().bytesSent));
  counter('ironbay_tftp_retransmits_total', 'TFTP DATA packets sent again', [], (set) => set({}, plane.tftp().retransmits));
}

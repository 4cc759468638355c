// A child process for test/integration/cluster-kill9.test.ts: creates, scales and deletes
// clusters against a shared database as fast as it can, until it is killed (with -9).
// Usage: node test/helpers/cluster-churn.ts DB SEED
import { applyCluster, listClusters, listVms, markClusterDeleting, releaseCluster, releaseVm } from '../../daemon/clusters/store.ts';
import { parseConfig } from '../../daemon/config/load.ts';
import { isIronbayError } from '../../daemon/errors.ts';
import { Store } from '../../daemon/store/db.ts';
import { mulberry32 } from './prng.ts';

const [db, seedText] = process.argv.slice(2);
const parsed = parseConfig('churn.yaml', 'clusters: { vniRange: { min: 1, max: 12 }, overlayPool: 198.19.0.0/20, subnetPrefix: 24, endpoints: { ports: { min: 20000, max: 20100 } }, overcommit: { vcpu: 64, memory: 4, disk: 16 } }\n');
if (!parsed.ok) throw new Error('churn config invalid');
const config = parsed.config;
const store = Store.open(db!);
const rand = mulberry32(Number(seedText));
const secrets = () => ({ token: 'abcdef.0123456789abcdef', certificateKey: 'a'.repeat(64), ca: { certPem: '', keyPem: '', certHash: '' } });
let n = 0;
// The parent kills only after this: a child killed while it loads would test nothing.
process.stdout.write('ready\n');
for (;;) {
  const all = listClusters(store);
  const r = rand();
  try {
    if (r < 0.5 || all.length === 0) {
      const name = `c${process.pid}-${n++}`;
      applyCluster(store, config, { name, controlPlanes: rand() < 0.5 ? 1 : 3, workers: Math.floor(rand() * 4), node: { vcpu: 1, memoryMiB: 512, diskGiB: 1 }, image: 'i', kubernetesVersion: '1.31.2', podCidr: '100.64.0.0/16', serviceCidr: '100.65.0.0/16' }, { source: 'api', actor: 'churn', secrets });
    } else if (r < 0.7) {
      const c = all[Math.floor(rand() * all.length)]!;
      if (c.state !== 'deleting') applyCluster(store, config, { ...c.spec, workers: Math.floor(rand() * 4) }, { source: 'api', actor: 'churn', secrets: () => c.secrets });
    } else {
      const c = all[Math.floor(rand() * all.length)]!;
      markClusterDeleting(store, c.name, 'churn');
      for (const v of listVms(store, c.name)) releaseVm(store, v, 'churn');
      releaseCluster(store, c.name, 'churn');
    }
  } catch (err) {
    // A full range and a lost race (the other process took it first) are expected here.
    if (!isIronbayError(err, 'IB_ERR_CLUSTER_EXHAUSTED') && !isIronbayError(err, 'IB_ERR_CONFLICT') && !isIronbayError(err, 'IB_ERR_BAD_REQUEST')) throw err;
  }
}

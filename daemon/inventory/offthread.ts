// Inventory validation in a worker thread; see validate-worker.ts for why.
import { Worker } from 'node:worker_threads';
import type { InventoryResult } from '../../inventory/validate.ts';

const WORKER = new URL('./validate-worker.ts', import.meta.url);

export function validateOffThread(file: string, text: string): Promise<InventoryResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER, { workerData: { file, text } });
    let result: InventoryResult | undefined;
    w.once('message', (r: InventoryResult) => (result = r));
    w.once('error', reject);
    w.once('exit', (code) => (result ? resolve(result) : reject(new Error(`inventory validation worker exited with code ${code} and no result`))));
  });
}

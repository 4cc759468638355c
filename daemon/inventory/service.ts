// Keeps the running inventory in step with the file: reload on request (start, SIGHUP,
// file change, API), apply a valid file whole, keep the last good one on a bad file.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Counter } from 'prom-client';
import { validateOffThread } from './offthread.ts';
import { formatSourceError, type SourceError } from '../lib/yaml-source.ts';
import type { Store } from '../store/db.ts';
import { applyPrepared, inventoryStatus, recordInventoryError, type ApplySummary } from './apply.ts';

export type ReloadOutcome =
  | { result: 'applied'; summary: ApplySummary }
  | { result: 'unchanged' }
  | { result: 'rejected'; errors: SourceError[] };

export interface InventoryService {
  /** `actor` is who events are attributed to; by default `inventory:REASON` (start, sighup, file-change). */
  reload(reason: string, actor?: string): Promise<ReloadOutcome>;
  /** Waits for a reload under way; one that is still validating when the store closes is not applied. */
  close(): Promise<void>;
}

export function inventoryService(store: Store, file: string, log: Logger, counter?: Counter<'result'>): InventoryService {
  // Reloads are serialised: a change event arriving during an apply queues one more reload.
  let chain: Promise<unknown> = Promise.resolve();
  let closed = false;

  async function reloadNow(reason: string, actor: string): Promise<ReloadOutcome> {
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (err) {
      const errors: SourceError[] = [{ file, line: 1, col: 1, path: '', message: `cannot read the inventory: ${(err as NodeJS.ErrnoException).code ?? String(err)}` }];
      recordInventoryError(store, file, errors, actor);
      log.error({ file, err }, 'inventory unreadable; keeping the last good inventory');
      return { result: 'rejected', errors };
    }
    const hash = createHash('sha256').update(bytes).digest('hex');
    const status = inventoryStatus(store);
    if (status.hash === hash && status.file === file && !status.lastError) {
      log.debug({ file, reason }, 'inventory unchanged');
      return { result: 'unchanged' };
    }
    const started = performance.now();
    const loaded = await validateOffThread(file, bytes.toString('utf8'));
    if (!loaded.ok) {
      recordInventoryError(store, file, loaded.errors, actor);
      log.error({ file, errors: loaded.errors.slice(0, 20).map(formatSourceError), errorCount: loaded.errors.length }, 'inventory rejected; keeping the last good inventory');
      return { result: 'rejected', errors: loaded.errors };
    }
    if (closed) {
      log.warn({ file, reason }, 'daemon stopping; the edit was validated but not applied');
      return { result: 'unchanged' };
    }
    const validated = performance.now();
    const summary = applyPrepared(store, loaded.inventory, { file, hash, actor });
    const counts = Object.fromEntries(Object.entries(summary.diff).map(([s, d]) => [s, `+${d.added.length} ~${d.changed.length} -${d.removed.length}`]));
    const done = performance.now();
    log.info(
      { file, reason, ms: Math.round(done - started), validateMs: Math.round(validated - started), applyMs: Math.round(done - validated), ...counts },
      'inventory applied',
    );
    return { result: 'applied', summary };
  }

  return {
    reload(reason, actor = `inventory:${reason}`) {
      const next = chain.then(async () => {
        const outcome = await reloadNow(reason, actor);
        counter?.inc({ result: outcome.result });
        return outcome;
      });
      chain = next.catch(() => undefined);
      return next;
    },
    async close() {
      closed = true;
      await chain;
    },
  };
}

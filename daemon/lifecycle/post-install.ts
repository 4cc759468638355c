// The post-install step over the runbook service: a machine that answers on SSH after its
// install gets the configured runbook once; its run, in the store, says when it is ready. A
// run cut short by a restart is started again. The host key pinned for the previous system is
// forgotten here: ironbay itself installed the new one, so its new key is expected, not an attack.
import type { Config } from '../config/schema.ts';
import { forgetHostKey, getHostKey } from '../ssh/hostkeys.ts';
import type { RunbookService } from '../ssh/service.ts';
import type { Store } from '../store/db.ts';
import type { MachineRecord } from '../store/machines.ts';
import type { PostInstall } from './ports.ts';

export const ACTOR = 'lifecycle';

export function runbookPostInstall(store: Store, runbooks: RunbookService | undefined, cfg: Config['lifecycle']['postInstallRunbook']): PostInstall {
  const latest = store.db.prepare(
    `SELECT r.id, r.state, r.error FROM runbook_runs r JOIN runbook_run_machines rm ON rm.run_id = r.id
     WHERE r.runbook = ? AND rm.machine = ? AND r.actor = ? AND r.created_at >= ? ORDER BY r.id DESC LIMIT 1`,
  );
  return {
    async step(m: MachineRecord, since: number) {
      const pin = getHostKey(store, 'machine', m.name);
      if (pin && pin.pinnedAt < since) forgetHostKey(store, 'machine', m.name, ACTOR, 'reinstalled by ironbay: the new system has its own host key');
      if (!cfg || !runbooks) return { state: 'done' as const, detail: '' };
      const run = latest.get(cfg.name, m.name, ACTOR, since) as { id: number; state: string; error: string | null } | undefined;
      if (run?.state === 'running') return { state: 'running' as const, detail: `post-install runbook ${cfg.name} (run ${run.id}) is running` };
      if (run?.state === 'succeeded') return { state: 'done' as const, detail: `post-install runbook ${cfg.name} (run ${run.id}) succeeded` };
      if (run && run.state !== 'interrupted') {
        return { state: 'failed' as const, detail: `post-install runbook ${cfg.name} ${run.state} (run ${run.id}): ${run.error ?? ''}; see: ironbay runbook show ${run.id}` };
      }
      try {
        const { id } = runbooks.start({ runbook: cfg.name, params: cfg.params, target: { names: [m.name] }, parallel: 1 }, ACTOR);
        return { state: 'running' as const, detail: `post-install runbook ${cfg.name} started (run ${id})` };
      } catch (err) {
        // An invalid runbook or parameters: an operator's fix, not something a retry mends.
        return { state: 'failed' as const, detail: `post-install runbook ${cfg.name} cannot start: ${(err as Error).message}` };
      }
    },
  };
}

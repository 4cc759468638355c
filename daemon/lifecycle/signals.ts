// BootSignals over the store: the boot plane already records every stage of a machine's boot
// (daemon/boot/timeline.ts) and every phone-home (boot_sessions); the reconciler only reads
// them. Level-triggered: after a restart the same rows give the same answers.
import type { Store } from '../store/db.ts';
import type { BootSeen, BootSignals } from './ports.ts';

export function storeSignals(store: Store): BootSignals {
  const stages = store.db.prepare('SELECT stage, detail FROM boot_stages WHERE machine_id = ? AND at >= ? ORDER BY id');
  const ends = store.db.prepare("SELECT end_reason FROM boot_sessions WHERE machine_id = ? AND ended_at >= ? AND end_reason IN ('installed', 'failed') ORDER BY id DESC LIMIT 1");
  const failure = store.db.prepare("SELECT details FROM events WHERE machine_id = ? AND kind = 'boot.install-failed' ORDER BY id DESC LIMIT 1");
  return {
    // No flushBootStages() here: a flush is a commit, and the reconciler asks for every waiting
    // machine every poll. Stages reach the table within the timeline's FLUSH_MS (50 ms), a
    // delay no wait of the lifecycle notices.
    since(machineId, t) {
      const seen: BootSeen = { dhcp: false, pxe: false, installer: false, installed: false };
      for (const r of stages.all(machineId, t) as { stage: string; detail: string | null }[]) {
        if (r.stage.startsWith('dhcp-') || r.stage.startsWith('proxy-')) seen.dhcp = true;
        if (r.stage === 'tftp' || r.stage === 'script' || r.stage === 'http') seen.pxe = true;
        if (r.stage === 'kernel' || r.stage === 'initrd' || (r.stage === 'report' && r.detail?.startsWith('progress'))) seen.installer = true;
      }
      const end = ends.get(machineId, t) as { end_reason: string } | undefined;
      if (end?.end_reason === 'installed') seen.installed = true;
      if (end?.end_reason === 'failed') {
        const d = failure.get(machineId) as { details: string } | undefined;
        seen.failed = (d && (JSON.parse(d.details) as { message?: string }).message) ?? 'the installer reported failure';
      }
      return seen;
    },
  };
}

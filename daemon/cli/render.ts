// Human renderings for the CLI. Scripts use --json.
import type { BootTimelineOut, EventOut, MachineOut } from './commands.ts';

interface SectionDiff {
  added: string[];
  removed: string[];
  changed: { name: string; fields: { path: string; from?: unknown; to?: unknown }[] }[];
}

const show = (v: unknown): string => (v === undefined ? '(unset)' : typeof v === 'string' ? v : JSON.stringify(v));

export function printDiff(diff: Record<string, SectionDiff>): string {
  const lines: string[] = [];
  for (const [section, d] of Object.entries(diff)) {
    for (const n of d.added) lines.push(`+ ${section} ${n}`);
    for (const c of d.changed) {
      lines.push(`~ ${section} ${c.name}`);
      for (const f of c.fields) lines.push(`    ${f.path}: ${show(f.from)} -> ${show(f.to)}`);
    }
    for (const n of d.removed) lines.push(`- ${section} ${n}${section === 'machines' ? ' (would be retired; its history is kept)' : ''}`);
  }
  return lines.length ? lines.join('\n') : 'no changes';
}

export function printEvent(e: EventOut): string {
  const details = Object.keys(e.details).length ? ' ' + JSON.stringify(e.details) : '';
  return `${e.time} #${e.id} ${e.kind}${e.machine ? ` ${e.machine}` : ''} by ${e.actor}${details}`;
}

export function printMachine(m: MachineOut): string {
  const rows: [string, string | null | undefined][] = [
    ['name', m.name],
    ['state', `${m.state} since ${m.stateSince}${m.stateReason ? ` (${m.stateReason})` : ''}`],
    ['role', m.role],
    ['zone', m.zone],
    ['profile', m.profile],
    ['macs', m.macs.join(', ')],
    ['boot address', m.spec.bootAddress],
    ['production', m.spec.production?.address],
    ['bmc', m.spec.bmc ? `${m.spec.bmc.driver} ${m.spec.bmc.address}` : undefined],
    ['labels', m.spec.labels ? Object.entries(m.spec.labels).map(([k, v]) => `${k}=${v}`).join(', ') : undefined],
    ['retired', m.retiredAt],
  ];
  return rows
    .filter(([, v]) => v)
    .map(([k, v]) => `${(k + ':').padEnd(14)}${v}`)
    .join('\n');
}

/** Seconds since the first stage, as "+12.345s": a boot is read as durations, not clock times. */
export function offset(ms: number): string {
  return `+${(ms / 1000).toFixed(3)}s`;
}

export function printBootTimeline(t: BootTimelineOut): string {
  if (!t.entries.length) return 'last boot:    none seen';
  const s = t.session;
  const head = [
    `last boot:    ${t.startedAt}${s ? ` (boot ${s.id}: ${s.action}${s.profile ? ` ${s.profile}` : ''}` : ''}${s ? `, ${s.endReason ? `${s.endReason} ${s.endedAt}` : 'open'})` : ''}`,
  ];
  if (t.truncated) head.push('              (older stages of this boot are not shown)');
  const width = Math.max(...t.entries.map((e) => offset(e.offsetMs).length));
  const stageWidth = Math.max(...t.entries.map((e) => e.stage.length));
  return [...head, ...t.entries.map((e) => `  ${offset(e.offsetMs).padStart(width)}  ${e.stage.padEnd(stageWidth)}${e.detail ? `  ${e.detail}` : ''}`)].join('\n');
}

// Human renderings for the CLI. Scripts use --json.
import type { EventOut, MachineOut } from './commands.ts';

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

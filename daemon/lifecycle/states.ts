// The machine lifecycle: which state may follow which, and why. The diagram (states.dot beside
// this file, rendered in README.md) is generated from TRANSITIONS by `npm run diagram`, and a
// test keeps the two in step. One reconciler (reconciler.ts) makes every automatic move; the
// operator actions (actions.ts) make the rest; both write the new state and its event in one
// transaction.
import type { MachineState } from '../store/machines.ts';

export interface Transition {
  to: MachineState;
  /** What makes it happen, as the diagram labels it. */
  on: string;
  /** Made by an operator (provision, retry, maintenance…) rather than the reconciler. */
  operator?: boolean;
}

export const TRANSITIONS: Readonly<Record<MachineState, readonly Transition[]>> = {
  discovered: [{ to: 'registered', on: 'added to the inventory', operator: true }],
  registered: [{ to: 'power-cycling', on: 'provision, admitted' }],
  'power-cycling': [
    { to: 'pxe-booting', on: 'DHCP seen' },
    { to: 'installing', on: 'installer already running' },
    { to: 'installed', on: 'installed report already in' },
    { to: 'power-cycling', on: 'no DHCP by the deadline: cycle again' },
    { to: 'failed', on: 'no DHCP after K cycles / BMC error / installer failed' },
  ],
  'pxe-booting': [
    { to: 'installing', on: 'installer running' },
    { to: 'installed', on: 'installed report already in' },
    { to: 'power-cycling', on: 'stuck: cycle again' },
    { to: 'failed', on: 'stuck after K cycles / installer failed' },
  ],
  installing: [
    { to: 'installed', on: 'installer reports installed' },
    { to: 'power-cycling', on: 'install deadline: cycle again' },
    { to: 'failed', on: 'installer reports failed / K attempts' },
  ],
  installed: [
    { to: 'rebooting', on: 'boot device disk (verified), power cycle; live: nothing to hand over' },
    { to: 'failed', on: 'BMC error / boot device not applied' },
  ],
  rebooting: [
    { to: 'ready', on: 'answers SSH on the production address; post-install runbook succeeded' },
    { to: 'failed', on: 'PXE-booted again (boot loop) / unreachable after K cycles / post-install runbook failed' },
  ],
  ready: [
    { to: 'wiping', on: 'deprovision', operator: true },
    { to: 'failed', on: 'PXE-booted again (boot loop)' },
  ],
  wiping: [{ to: 'registered', on: 'powered off' }],
  failed: [{ to: 'registered', on: 'retry', operator: true }],
  // Maintenance is entered from and left to any live state (held_state remembers which).
  maintenance: [{ to: 'registered', on: 'maintenance off (back to the held state)', operator: true }],
  retired: [],
};

/** States the reconciler acts in (the others wait for an operator or the inventory). */
export const WORKING: ReadonlySet<MachineState> = new Set(['registered', 'power-cycling', 'pxe-booting', 'installing', 'installed', 'rebooting', 'ready', 'wiping']);

/** Where `maintenance on` may not be used: the machine is not in service. */
export const NO_MAINTENANCE: ReadonlySet<MachineState> = new Set(['retired', 'discovered', 'maintenance']);

/** The diagram in Graphviz dot: the source of states.dot. */
export function diagram(): string {
  const lines = ['// Generated from daemon/lifecycle/states.ts by `npm run diagram`; do not edit.', 'digraph lifecycle {', '  rankdir=LR;', '  node [shape=box, style=rounded];'];
  for (const [from, ts] of Object.entries(TRANSITIONS)) {
    for (const t of ts) lines.push(`  "${from}" -> "${t.to}" [label="${t.on}"${t.operator ? ', style=dashed' : ''}];`);
  }
  lines.push('  "any live state" -> "maintenance" [label="maintenance on", style=dashed];', '}', '');
  return lines.join('\n');
}

/** The same graph as a Mermaid state diagram, for README.md (GitHub renders it). */
export function mermaid(): string {
  const id = (s: string): string => s.replace(/-/g, '_');
  const lines = ['stateDiagram-v2'];
  for (const [from, ts] of Object.entries(TRANSITIONS)) {
    for (const t of ts) if (t.to !== from) lines.push(`  ${id(from)} --> ${id(t.to)}: ${t.on}${t.operator ? ' (operator)' : ''}`);
  }
  return lines.join('\n');
}

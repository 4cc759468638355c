// From a runbook and an operator's request to what runs where: parameters typed and checked,
// the target machines chosen, each step's command as it will be sent. Pure but for reading
// the machines; the dry run prints exactly this.
import { IronbayError } from '../../errors.ts';
import type { Store } from '../../store/db.ts';
import { MACHINE_COLUMNS, fromRow, type MachineRecord, type MachineRow } from '../../store/machines.ts';
import { evaluate, parseCondition, placeholders, shellQuote, substitute } from './quote.ts';
import type { Runbook, Step } from './schema.ts';

export type ParamInput = Record<string, string | number | boolean>;

/** Checks and types every parameter; every problem in one error. Values become strings for the shell. */
export function resolveParams(rb: Runbook, input: ParamInput): Map<string, string> {
  const problems: string[] = [];
  const values = new Map<string, string>();
  const declared = rb.parameters ?? {};
  for (const k of Object.keys(input)) if (!(k in declared)) problems.push(`${k}: runbook ${rb.name} has no such parameter${Object.keys(declared).length ? ` (it has ${Object.keys(declared).join(', ')})` : ''}`);
  for (const [name, p] of Object.entries(declared)) {
    const raw = input[name];
    if (raw === undefined) {
      if (p.default !== undefined) values.set(name, String(p.default));
      else if (p.required) problems.push(`${name}: required`);
      else values.set(name, '');
      continue;
    }
    const text = String(raw);
    if (p.type === 'integer' && !/^-?\d{1,15}$/.test(text)) problems.push(`${name}: ${JSON.stringify(text)} is not an integer`);
    else if (p.type === 'boolean' && !['true', 'false'].includes(text)) problems.push(`${name}: ${JSON.stringify(text)} is not true or false`);
    else if (p.enum && !p.enum.includes(text)) problems.push(`${name}: ${JSON.stringify(text)} is not one of ${p.enum.join(', ')}`);
    else values.set(name, text);
  }
  if (problems.length) throw new IronbayError('IB_ERR_RUNBOOK_PARAMS', `runbook ${rb.name}: ${problems.join('; ')}`, { details: { problems } });
  return values;
}

/** A runbook's own selector, or the operator's in its place. */
export interface TargetSelector {
  names?: string[] | undefined;
  roles?: string[] | undefined;
  zones?: string[] | undefined;
  labels?: Record<string, string> | undefined;
  states?: string[] | undefined;
}

/** Without a states filter, runbooks go to machines that are up: named ones excepted. */
export const DEFAULT_STATES = ['ready', 'maintenance'];

export function selectTargets(store: Store, sel: TargetSelector): MachineRecord[] {
  const all = (store.db.prepare(`SELECT ${MACHINE_COLUMNS} FROM machines WHERE state != 'retired' ORDER BY name`).all() as MachineRow[]).map(fromRow);
  if (sel.names?.length) {
    const byName = new Map(all.map((m) => [m.name, m]));
    const missing = sel.names.filter((n) => !byName.has(n));
    if (missing.length) throw new IronbayError('IB_ERR_NOT_FOUND', `no machine named ${missing.map((n) => `"${n}"`).join(', ')}`);
  }
  const states = sel.states ?? (sel.names?.length ? undefined : DEFAULT_STATES);
  const picked = all.filter(
    (m) =>
      (!sel.names?.length || sel.names.includes(m.name)) &&
      (!sel.roles?.length || sel.roles.includes(m.role)) &&
      (!sel.zones?.length || (m.zone !== null && sel.zones.includes(m.zone))) &&
      (!states?.length || states.includes(m.state)) &&
      Object.entries(sel.labels ?? {}).every(([k, v]) => m.spec.labels?.[k] === v),
  );
  if (!picked.length) throw new IronbayError('IB_ERR_BAD_REQUEST', `no machine matches the target ${describeSelector(sel, states)}`);
  return picked;
}

export function describeSelector(sel: TargetSelector, states = sel.states): string {
  const parts: string[] = [];
  if (sel.names?.length) parts.push(`names=${sel.names.join(',')}`);
  if (sel.roles?.length) parts.push(`roles=${sel.roles.join(',')}`);
  if (sel.zones?.length) parts.push(`zones=${sel.zones.join(',')}`);
  for (const [k, v] of Object.entries(sel.labels ?? {})) parts.push(`label ${k}=${v}`);
  if (states?.length) parts.push(`states=${states.join(',')}`);
  return parts.join(' ') || '(every machine)';
}

export interface RenderedStep {
  command: string;
  stdin?: string;
  /** The kill command needs the same privilege as the step. */
  sudo: boolean;
}

/** The exact command line sent for a step (and its stdin for a script). */
export function renderStep(step: Step, values: ReadonlyMap<string, string>, user: string): RenderedStep {
  // sudo only when it changes something: root needs none, and minimal hosts have no sudo.
  const sudo = step.sudo === true && user !== 'root';
  if (step.script !== undefined) {
    return { command: sudo ? 'sudo -n -- sh -s' : 'sh -s', stdin: substitute(step.script, values), sudo };
  }
  const cmd = substitute(step.run!, values);
  return { command: sudo ? `sudo -n -- sh -c ${shellQuote(cmd)}` : cmd, sudo };
}

/** For the dry run: a step whose values are captured later shows the capture's name instead. */
export function previewStep(step: Step, values: ReadonlyMap<string, string>, captures: ReadonlySet<string>, user: string): RenderedStep & { when: string } {
  const shown = new Map(values);
  for (const n of [...placeholders(step.run ?? step.script ?? ''), ...(step.when ? [parseCondition(step.when)?.name ?? ''] : [])])
    if (captures.has(n)) shown.set(n, `<captured ${n}>`);
  let when = 'always';
  if (step.when) {
    const c = parseCondition(step.when)!;
    when = captures.has(c.name) ? `if ${step.when} (decided at run time)` : evaluate(c, values) ? `if ${step.when}: yes` : `if ${step.when}: no, skipped`;
  }
  return { ...renderStep(step, shown, user), when };
}

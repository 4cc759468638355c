// Loading a runbook file: YAML with positions, the schema, then the rules that span fields —
// each step does one of run/script; captures are unique; every ${name} and `when` refers to a
// parameter or an earlier step's capture; defaults fit their types. Rejected whole with
// FILE:LINE:COL errors, like the inventory (STYLE.md §9).
import { compileChecker } from '../../lib/schema-check.ts';
import { parseYaml, type SourceError } from '../../lib/yaml-source.ts';
import { parseCondition, placeholders } from './quote.ts';
import { RunbookSchema, type Runbook } from './schema.ts';

export type RunbookResult = { ok: true; runbook: Runbook } | { ok: false; errors: SourceError[] };

let checker: ReturnType<typeof compileChecker> | undefined;

export function loadRunbook(file: string, text: string): RunbookResult {
  const parsed = parseYaml(file, text);
  if (!parsed.ok) return parsed;
  const doc = parsed.doc;
  if (doc.value === null || doc.value === undefined) return { ok: false, errors: [doc.error([], 'the runbook is empty')] };
  checker ??= compileChecker(RunbookSchema);
  const errors: SourceError[] = checker(doc.value).map((i) => doc.error(i.path, i.message, i.atKey));
  const rb = doc.value as Runbook;
  const params = typeof rb.parameters === 'object' && rb.parameters !== null ? rb.parameters : {};
  for (const [name, p] of Object.entries(params)) {
    if (typeof p !== 'object' || p === null) continue;
    const d = p.default;
    if (d === undefined) continue;
    const fits = p.type === 'string' ? typeof d === 'string' : p.type === 'integer' ? Number.isInteger(d) : typeof d === 'boolean';
    if (!fits) errors.push(doc.error(['parameters', name, 'default'], `the default is not ${p.type === 'integer' ? 'an integer' : `a ${p.type}`}`));
    else if (p.enum && !p.enum.includes(String(d))) errors.push(doc.error(['parameters', name, 'default'], `the default is not one of ${p.enum.join(', ')}`));
    if (p.required && d !== undefined) errors.push(doc.error(['parameters', name, 'required'], 'a required parameter cannot have a default: drop one of the two'));
  }
  const known = new Set(Object.keys(params));
  const captures = new Set<string>();
  (Array.isArray(rb.steps) ? rb.steps : []).forEach((s, i) => {
    if (typeof s !== 'object' || s === null) return;
    const at = ['steps', i];
    const has = (k: 'run' | 'script'): boolean => typeof s[k] === 'string';
    if (has('run') === has('script')) errors.push(doc.error(at, 'a step has exactly one of run (a command) or script (a multi-line script)'));
    for (const k of ['run', 'script'] as const) {
      if (!has(k)) continue;
      for (const n of placeholders(s[k]!)) {
        if (!known.has(n)) errors.push(doc.error([...at, k], `\${${n}} is no parameter and no earlier step's capture`));
      }
    }
    if (typeof s.when === 'string') {
      const c = parseCondition(s.when);
      const base = c?.name.split('.')[0] ?? '';
      if (!c) errors.push(doc.error([...at, 'when'], "a condition is NAME, !NAME, NAME == 'text' or NAME != 'text' (NAME: a parameter, a capture, or CAPTURE.ok / CAPTURE.exit)"));
      else if (c.name.includes('.') && !captures.has(base)) errors.push(doc.error([...at, 'when'], `${c.name}: ${base} is no earlier step's capture (.ok and .exit are a captured step's result)`));
      else if (!known.has(base)) errors.push(doc.error([...at, 'when'], `${c.name} is no parameter and no earlier step's capture`));
    }
    if (typeof s.capture === 'string') {
      if (known.has(s.capture)) errors.push(doc.error([...at, 'capture'], `${s.capture} is already a ${captures.has(s.capture) ? 'capture' : 'parameter'}`));
      captures.add(s.capture);
      known.add(s.capture);
    }
  });
  errors.sort((a, b) => a.line - b.line || a.col - b.col);
  return errors.length ? { ok: false, errors } : { ok: true, runbook: rb };
}

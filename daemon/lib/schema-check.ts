// JSON Schema validation of operator-edited documents, with errors expressed as paths and
// messages an operator understands (not ajv's keyword vocabulary). The same TypeBox schemas
// feed the API's validators and the OpenAPI document.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { PathSegment } from './yaml-source.ts';

export interface PathIssue {
  path: PathSegment[];
  message: string;
  /** Point at the mapping key rather than its value (unknown fields). */
  atKey?: boolean;
}

// ajv-formats is CommonJS; its typings describe the ESM-interop wrapper, not the function.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

/**
 * `useDefaults` fills absent properties from the schema's `default`s while checking — the
 * value passed in is changed in place.
 */
export function compileChecker(schema: object, options: { useDefaults?: boolean } = {}): (value: unknown) => PathIssue[] {
  // strict:false because schemas carry our `errorMessage` annotation; verbose gives us the
  // failing sub-schema so that annotation can be read back.
  const ajv = new Ajv({ allErrors: true, strict: false, verbose: true, useDefaults: options.useDefaults ?? false });
  addFormats(ajv);
  const validate: ValidateFunction = ajv.compile(schema);
  return (value) => (validate(value) ? [] : toIssues(validate.errors ?? [], value));
}

function toIssues(errors: ErrorObject[], root: unknown): PathIssue[] {
  const out: PathIssue[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    const issue = toIssue(e, pointerToPath(e.instancePath, root));
    const key = `${issue.path.join('\0')}|${issue.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(issue);
  }
  return out;
}

/**
 * JSON Pointer (RFC 6901) to path segments. A segment is a list index only where the data
 * there is a list: a mapping key that looks like a number (`labels: { "1": … }`) stays a key.
 */
function pointerToPath(pointer: string, root: unknown): PathSegment[] {
  if (pointer === '') return [];
  const path: PathSegment[] = [];
  let node = root;
  for (const raw of pointer.slice(1).split('/')) {
    const s = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    const seg = Array.isArray(node) ? Number(s) : s;
    path.push(seg);
    node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[s] : undefined;
  }
  return path;
}

function toIssue(e: ErrorObject, path: PathSegment[]): PathIssue {
  const custom = (e.parentSchema as { errorMessage?: string } | undefined)?.errorMessage;
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return { path: [...path, String(p.missingProperty)], message: 'required field is missing' };
    case 'additionalProperties': {
      const name = String(p.additionalProperty);
      const parent = e.parentSchema as { properties?: object; patternProperties?: object } | undefined;
      // A free-form map (labels) whose keys follow a pattern: say what a key must look like.
      if (!parent?.properties && parent?.patternProperties) return { path: [...path, name], atKey: true, message: custom ?? `${JSON.stringify(name)} is not a valid key` };
      // Fields marked deprecated are declared only to be refused with a precise message; never suggest them.
      const known = Object.entries(parent?.properties ?? {}).filter(([, v]) => !(v as { deprecated?: boolean }).deprecated);
      const guess = closest(name, known.map(([k]) => k));
      return { path: [...path, name], atKey: true, message: `unknown field${guess ? ` (did you mean "${guess}"?)` : ''}` };
    }
    case 'type':
      return { path, message: `must be ${article(String(p.type))}, got ${describe(e.data)}` };
    case 'enum':
      return { path, message: `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}, got ${JSON.stringify(e.data)}` };
    case 'const':
      return { path, message: `must be ${JSON.stringify(p.allowedValue)}` };
    case 'pattern':
    case 'format':
      return { path, message: custom ?? `${JSON.stringify(e.data)} is not a valid ${e.keyword === 'format' ? String(p.format) : 'value'}` };
    case 'minLength':
      return { path, message: custom ?? (p.limit === 1 ? 'must not be empty' : `must be at least ${String(p.limit)} characters long`) };
    case 'maxLength':
      return { path, message: custom ?? `must be at most ${String(p.limit)} characters long` };
    case 'minItems':
      return { path, message: custom ?? `must list at least ${p.limit === 1 ? 'one entry' : `${String(p.limit)} entries`}` };
    case 'maxItems':
      return { path, message: custom ?? `must list at most ${String(p.limit)} entries` };
    default:
      return { path, message: custom ?? e.message ?? e.keyword };
  }
}

// JSON Schema type names in YAML's words, as the operator sees the file.
const YAML_TYPE: Record<string, string> = { object: 'mapping', array: 'list' };

function article(type: string): string {
  const t = type
    .split(',')
    .map((x) => YAML_TYPE[x] ?? x)
    .join(' or ');
  return /^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`;
}

function describe(v: unknown): string {
  if (v === null) return 'nothing (null)';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

/** A known field name within edit distance 2, to catch typos like `macaddress` / `adress`. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

// Operator files (config, inventory) are YAML. We parse to an event stream first so that
// errors found later — by the schema or by cross-checks — can still be pointed at the
// line and column the operator has to edit. js-yaml's event parser was chosen over the
// `yaml` package because it parses a 10,000-machine inventory ~8x faster (see bench/).
import { parseEvents, constructFromEvents, getScalarValue, load, EVENT_ID, SCALAR_STYLE, YAMLException } from 'js-yaml';
import type { Event } from 'js-yaml';

export type PathSegment = string | number;

/** One problem in an operator file, as `FILE:LINE:COL path: message`. Line and column are 1-based. */
export interface SourceError {
  file: string;
  line: number;
  col: number;
  path: string;
  message: string;
}

export function formatSourceError(e: SourceError): string {
  return `${e.file}:${e.line}:${e.col} ${e.path || '(root)'}: ${e.message}`;
}

/** `machines[3].bmc.address` — the same spelling the reference documentation uses. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

export interface YamlDocument {
  readonly file: string;
  readonly value: unknown;
  /** Position of the node at `path`, or of its deepest existing ancestor. `key` points at a mapping key instead of its value. */
  locate(path: readonly PathSegment[], key?: boolean): { line: number; col: number };
  error(path: readonly PathSegment[], message: string, key?: boolean): SourceError;
}

export type ParseResult = { ok: true; doc: YamlDocument } | { ok: false; errors: SourceError[] };

// Deeply nested input is legal YAML but never a legitimate operator file; bound it so a
// hostile or broken file cannot exhaust the stack.
const MAX_DEPTH = 64;

export function parseYaml(file: string, text: string): ParseResult {
  // Callers decode bytes as UTF-8, which turns invalid sequences into U+FFFD silently; a
  // file saved in Latin-1 would otherwise load with mangled names.
  const bad = text.indexOf('\uFFFD');
  if (bad >= 0) {
    const { line, col } = lineCol(lineStarts(text), bad);
    return { ok: false, errors: [{ file, line, col, path: '', message: 'the file is not valid UTF-8 (save it as UTF-8)' }] };
  }
  // Fast path: a file that loads cleanly is parsed once, without keeping its event stream
  // (~50 MB for 10,000 machines) alive through validation. The events are rebuilt only if
  // a later check has an error to locate. Anything load() refuses takes the full path
  // below, which explains the problem precisely.
  let value: unknown;
  try {
    value = load(text, { filename: file, maxDepth: MAX_DEPTH, maxAliases: 0 });
  } catch {
    return parseFull(file, text);
  }
  let located: YamlDocument | undefined;
  const full = (): YamlDocument => {
    if (located) return located;
    const r = parseFull(file, text);
    if (!r.ok) throw new Error(`${file}: loads cleanly but fails the full parse: ${r.errors[0]?.message ?? ''}`);
    return (located = r.doc);
  };
  return {
    ok: true,
    doc: {
      file,
      value: value ?? null,
      locate: (path, key) => full().locate(path, key),
      error: (path, message, key) => full().error(path, message, key),
    },
  };
}

function parseFull(file: string, text: string): ParseResult {
  let events: Event[];
  let docs: unknown[];
  try {
    events = parseEvents(text, { filename: file, maxDepth: MAX_DEPTH });
    // Aliases are rejected: an inventory is a reviewable list, and alias bombs are a DoS.
    const alias = events.find((e) => e.type === EVENT_ID.ALIAS);
    if (alias) {
      const { line, col } = lineCol(lineStarts(text), Math.max(startOf(alias), 0));
      return { ok: false, errors: [{ file, line, col, path: '', message: 'YAML syntax: aliases (*name) are not allowed in this file; write the value out in full' }] };
    }
    docs = constructFromEvents(events, { source: text, filename: file, maxAliases: 0 });
  } catch (err) {
    if (err instanceof YAMLException) {
      const line = (err.mark?.line ?? 0) + 1;
      // A byte-order mark is not a column an editor shows.
      const col = Math.max((err.mark?.column ?? 0) + 1 - (line === 1 ? bomLength(text) : 0), 1);
      return { ok: false, errors: [{ file, line, col, path: '', message: `YAML syntax: ${reason(err.reason)}` }] };
    }
    throw err;
  }
  if (docs.length > 1) {
    const second = events.findIndex((e, i) => i > 0 && e.type === EVENT_ID.DOCUMENT);
    let at = startOf(events[second + 1]);
    // An empty second document has no node to point at: point at its `---` marker instead.
    if (at < 0) at = documentMarker(text, endOf(events.slice(0, second)));
    const { line, col } = lineCol(lineStarts(text), Math.max(at, 0));
    return { ok: false, errors: [{ file, line, col, path: '', message: 'more than one YAML document; keep one per file' }] };
  }
  let starts: number[] | undefined;
  const cache = new Map<number, Children>();
  const locate = (path: readonly PathSegment[], key = false): { line: number; col: number } => {
    starts ??= lineStarts(text);
    if (events.length < 2) return { line: 1, col: 1 };
    const trail = find(events, text, 1, path, key, cache);
    // An empty value (`key:` with nothing after it) has no position of its own; use the
    // nearest node on the way down that has one (its key, or the enclosing collection).
    for (let t = trail.length - 1; t >= 0; t--) {
      const at = startOf(events[trail[t]!]);
      if (at >= 0) return lineCol(starts, at);
    }
    return { line: 1, col: 1 };
  };
  const doc: YamlDocument = {
    file,
    value: docs[0] ?? null,
    locate,
    error(path, message, key = false) {
      return { file, ...locate(path, key), path: formatPath(path), message };
    },
  };
  return { ok: true, doc };
}

/** js-yaml's limit message names its option; say what the operator has to change instead. */
function reason(r: string): string {
  return r.startsWith('nesting exceeded') ? `nested deeper than ${MAX_DEPTH} levels` : r;
}

/** Offset just past the last node of a run of events (0 when none has a position). */
function endOf(events: Event[]): number {
  let end = 0;
  for (const e of events) {
    if ('valueEnd' in e) end = Math.max(end, e.valueEnd);
    else if ('start' in e) end = Math.max(end, e.start);
  }
  return end;
}

/** Offset of the first `---` document marker at or after `from`, or -1. */
function documentMarker(text: string, from: number): number {
  const re = /^---(?=[ \t\r\n]|$)/gm;
  re.lastIndex = from;
  return re.exec(text)?.index ?? -1;
}

/** Offset where a node starts (its anchor or tag if written first), or -1 when it has none (an empty value). */
function startOf(e: Event | undefined): number {
  if (!e) return -1;
  let at = -1;
  const take = (n: number): void => {
    if (n >= 0 && (at < 0 || n < at)) at = n;
  };
  // Anchor and alias names start after their `&` / `*`; point at that sigil.
  if ('anchorStart' in e) take(e.anchorStart > 0 ? e.anchorStart - 1 : e.anchorStart);
  if ('tagStart' in e) take(e.tagStart);
  if ('start' in e) take(e.start);
  // A quoted scalar's value starts after its opening quote; point at the quote.
  if ('valueStart' in e) take(e.valueStart >= 0 && (e.style === SCALAR_STYLE.SINGLE_QUOTED || e.style === SCALAR_STYLE.DOUBLE_QUOTED) ? e.valueStart - 1 : e.valueStart);
  return at;
}

/** Index just past the node that starts at `i`. */
function skip(events: Event[], i: number): number {
  const e = events[i];
  if (!e || (e.type !== EVENT_ID.SEQUENCE && e.type !== EVENT_ID.MAPPING)) return i + 1;
  let depth = 0;
  for (let j = i; j < events.length; j++) {
    const t = events[j]!.type;
    if (t === EVENT_ID.SEQUENCE || t === EVENT_ID.MAPPING) depth++;
    else if (t === EVENT_ID.POP && --depth === 0) return j + 1;
  }
  return events.length;
}

/**
 * Children of each collection, indexed on first visit, so that locating N errors costs
 * O(N × depth) instead of a walk over the whole event stream per error.
 */
type Children = { seq: number[] } | { map: Map<string, { key: number; value: number }> };

function children(events: Event[], src: string, i: number, cache: Map<number, Children>): Children | undefined {
  const hit = cache.get(i);
  if (hit) return hit;
  const e = events[i];
  let out: Children | undefined;
  if (e?.type === EVENT_ID.SEQUENCE) {
    const seq: number[] = [];
    for (let j = i + 1; events[j] && events[j]!.type !== EVENT_ID.POP; j = skip(events, j)) seq.push(j);
    out = { seq };
  } else if (e?.type === EVENT_ID.MAPPING) {
    const map = new Map<string, { key: number; value: number }>();
    let j = i + 1;
    while (events[j] && events[j]!.type !== EVENT_ID.POP) {
      const k = events[j]!;
      const v = skip(events, j);
      if (k.type === EVENT_ID.SCALAR) {
        const name = getScalarValue(src, k);
        if (!map.has(name)) map.set(name, { key: j, value: v });
      }
      j = skip(events, v);
    }
    out = { map };
  }
  if (out) cache.set(i, out);
  return out;
}

/** Event indexes from the root down to the node at `path` (or its deepest existing ancestor). */
function find(events: Event[], src: string, root: number, path: readonly PathSegment[], key: boolean, cache: Map<number, Children>): number[] {
  let i = root;
  const trail = [i];
  for (let depth = 0; depth < path.length; depth++) {
    const c = children(events, src, i, cache);
    const seg = path[depth]!;
    if (!c) return trail;
    if ('seq' in c) {
      const next = c.seq[Number(seg)];
      if (next === undefined) return trail;
      i = next;
    } else {
      const entry = c.map.get(String(seg));
      if (!entry) return trail;
      trail.push(entry.key);
      if (key && depth + 1 === path.length) return trail;
      i = entry.value;
    }
    trail.push(i);
  }
  return trail;
}

/** Offsets where lines start. Line breaks are LF, CRLF or a lone CR, as js-yaml counts them. */
function lineStarts(text: string): number[] {
  const starts = [bomLength(text)];
  if (!text.includes('\r')) {
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
    return starts;
  }
  for (const m of text.matchAll(/\r\n?|\n/g)) starts.push(m.index + m[0].length);
  return starts;
}

function bomLength(text: string): number {
  return text.charCodeAt(0) === 0xfeff ? 1 : 0;
}

function lineCol(starts: number[], offset: number): { line: number; col: number } {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo + 1, col: Math.max(offset - starts[lo]! + 1, 1) };
}

// iPXE scripts from the templates in pxe-assets/templates/. A template is plain iPXE with
// `{{name}}` placeholders; every value put into one goes through an escaper below that
// knows how iPXE reads a script (ipxe src/image/script.c, src/core/exec.c):
//
// - a script is split into lines at "\n"; a trailing "\r" is dropped and a line ending in
//   "\" continues on the next one — so a value never holds a line break or ends in "\";
// - a line is split into arguments at whitespace, with no quoting at all; an argument that
//   is exactly "||", "&&" or ";" ends the command, one starting with "#" starts a comment;
// - `${name}` in an argument is expanded (repeatedly) after the split. Expansion cannot
//   add arguments or commands, so it is no injection; operators may use it on purpose
//   (`${net0/mac}` in a profile's cmdline), and our own values never contain "$".
//
// Values that cannot be said safely are refused with the reason (IB_ERR_INVENTORY_INVALID:
// they come from the inventory); nothing is silently dropped from a kernel command line.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { IronbayError } from '../errors.ts';

/** A value checked for its place in a script. `line` values stand alone on their own line. */
export interface IpxeValue {
  readonly kind: 'inline' | 'line';
  readonly text: string;
}

const OPERATOR_TOKENS = new Set(['||', '&&', ';']);

/** Why `token` cannot be one iPXE argument, or undefined when it can. */
export function tokenProblem(token: string): string | undefined {
  if (token === '') return 'is empty';
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) return `contains ${c === 0x20 ? 'a space' : `control character 0x${c.toString(16).padStart(2, '0')}`}`;
  }
  if (OPERATOR_TOKENS.has(token)) return `is the iPXE operator "${token}"`;
  if (token.startsWith('#')) return 'starts with "#", which iPXE reads as a comment';
  if (token.endsWith('\\')) return 'ends with "\\", which iPXE reads as a line continuation';
  return undefined;
}

/** One argument (a URL, a name, a token). */
export function ipxeArg(value: string, what: string): IpxeValue {
  const problem = tokenProblem(value);
  if (problem) throw new IronbayError('IB_ERR_INVENTORY_INVALID', `${what} ${JSON.stringify(value)} cannot be put in an iPXE script: it ${problem}`, { details: { what, value } });
  return { kind: 'inline', text: value };
}

/**
 * Zero or more arguments, e.g. a kernel command line: split at whitespace (line breaks and
 * tabs included, as iPXE would) and rejoined with single spaces, each argument checked.
 */
export function ipxeArgs(value: string, what: string): IpxeValue {
  const tokens = value.split(/[\t\n\v\f\r ]+/).filter((t) => t !== '');
  for (const t of tokens) {
    const problem = tokenProblem(t);
    if (problem) throw new IronbayError('IB_ERR_INVENTORY_INVALID', `${what}: argument ${JSON.stringify(t)} cannot be put in an iPXE script: it ${problem}`, { details: { what, value, argument: t } });
  }
  return { kind: 'inline', text: tokens.join(' ') };
}

/**
 * Text for `echo`: never refused. Characters iPXE would act on are replaced ("$" and "#" by
 * "?", control characters by spaces) and standalone operators are dropped — this is a
 * console message, a changed character is better than no message.
 */
export function ipxeText(value: string): IpxeValue {
  let safe = '';
  for (const ch of value) {
    const c = ch.charCodeAt(0);
    safe += c < 0x20 || c === 0x7f ? ' ' : ch === '$' || ch === '#' || ch === '\\' ? '?' : ch;
  }
  const cleaned = safe
    .split(' ')
    .filter((t) => t !== '' && !OPERATOR_TOKENS.has(t))
    .join(' ');
  return { kind: 'inline', text: cleaned };
}

/** Several commands, each already made of checked values, to stand on their own lines. */
export function ipxeLines(lines: readonly (readonly IpxeValue[])[]): IpxeValue {
  return { kind: 'line', text: lines.map((l) => l.map((v) => v.text).join(' ')).join('\n') };
}

/** A literal word of our own (a command, an option, "||"): never from outside, so operators are allowed. */
export function word(w: string): IpxeValue {
  if (!/^[\x21-\x7e]+$/.test(w)) throw new IronbayError('IB_ERR_INTERNAL', `iPXE word ${JSON.stringify(w)} is not one printable argument`);
  return { kind: 'inline', text: w };
}

export interface Template {
  name: string;
  text: string;
  placeholders: ReadonlySet<string>;
  /** Placeholders that stand alone on a line (may take `line` values). */
  ownLine: ReadonlySet<string>;
}

const PLACEHOLDER = /\{\{([a-zA-Z][a-zA-Z0-9]*)\}\}/g;

/** Parses and checks a template: it must be an iPXE script and use only `allowed` placeholders. */
export function parseTemplate(name: string, text: string, allowed: readonly string[]): Template {
  if (!/^#!ipxe[ \t\r]*\n/.test(text)) throw new IronbayError('IB_ERR_CONFIG_INVALID', `iPXE template ${name} must start with the line "#!ipxe" (iPXE checks that magic)`);
  const placeholders = new Set<string>();
  const ownLine = new Set<string>();
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    for (const m of line.matchAll(PLACEHOLDER)) {
      const key = m[1]!;
      if (!allowed.includes(key)) {
        throw new IronbayError('IB_ERR_CONFIG_INVALID', `iPXE template ${name}:${i + 1}: unknown placeholder {{${key}}}; this template may use ${allowed.map((a) => `{{${a}}}`).join(', ')}`);
      }
      placeholders.add(key);
      if (line.trim() === m[0]) ownLine.add(key);
    }
    if (/\{\{|\}\}/.test(line.replace(PLACEHOLDER, ''))) throw new IronbayError('IB_ERR_CONFIG_INVALID', `iPXE template ${name}:${i + 1}: malformed placeholder`);
  });
  return { name, text, placeholders, ownLine };
}

export function renderTemplate(t: Template, values: Readonly<Record<string, IpxeValue>>): string {
  return t.text.replace(PLACEHOLDER, (_, key: string) => {
    const v = values[key];
    if (!v) throw new IronbayError('IB_ERR_INTERNAL', `iPXE template ${t.name}: no value for {{${key}}}`);
    if (v.kind === 'line' && !t.ownLine.has(key)) throw new IronbayError('IB_ERR_INTERNAL', `iPXE template ${t.name}: {{${key}}} holds commands and must stand alone on its line`);
    return v.text;
  });
}

/** The templates the boot app renders and the placeholders each may use. */
export const TEMPLATE_PLACEHOLDERS = {
  'kernel.ipxe': ['action', 'machine', 'profile', 'bootId', 'kernelUrl', 'initrds', 'cmdline', 'initrdArgs'],
  'local-disk.ipxe': ['machine', 'reason', 'bootId'],
  'hold.ipxe': ['who', 'reason', 'holdSeconds'],
} as const;
export type TemplateName = keyof typeof TEMPLATE_PLACEHOLDERS;
export type Templates = Readonly<Record<TemplateName, Template>>;

/** Reads and checks every template once, at start: a broken template stops the start, not a boot. */
export function loadTemplates(dir: string): Templates {
  const out: Partial<Record<TemplateName, Template>> = {};
  for (const [name, allowed] of Object.entries(TEMPLATE_PLACEHOLDERS) as [TemplateName, readonly string[]][]) {
    const file = join(dir, name);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new IronbayError('IB_ERR_CONFIG_INVALID', `cannot read iPXE template ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
    }
    out[name] = parseTemplate(file, text, allowed);
  }
  return out as Templates;
}

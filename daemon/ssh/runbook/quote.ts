// Values put into commands: every parameter and captured value is substituted shell-quoted, so
// it stays one literal word whatever it holds (`"; rm -rf / #` included). Pure.

/** POSIX sh single quotes: nothing inside is special except the quote itself. */
export function shellQuote(v: string): string {
  return `'${v.replace(/'/g, `'\\''`)}'`;
}

/** `${name}` placeholders in a command or script. */
export const PLACEHOLDER = /\$\{([a-z][a-z0-9_]{0,62})\}/g;

/** Names a command refers to. */
export function placeholders(text: string): string[] {
  return [...text.matchAll(PLACEHOLDER)].map((m) => m[1]!);
}

/** Substitutes every `${name}` with its quoted value; an unknown name throws (load.ts rejects those first). */
export function substitute(text: string, values: ReadonlyMap<string, string>): string {
  return text.replace(PLACEHOLDER, (_, name: string) => {
    const v = values.get(name);
    if (v === undefined) throw new Error(`\${${name}} has no value`);
    return shellQuote(v);
  });
}

export type Condition = { name: string; op: 'truthy' | 'falsy' } | { name: string; op: '==' | '!='; value: string };

/**
 * `when:` — NAME, !NAME, NAME == 'text', NAME != 'text'. NAME is a parameter, an earlier step's
 * capture, or that step's result: CAPTURE.ok ('true' when it succeeded) or CAPTURE.exit (its
 * exit code). Undefined when it is none of these forms.
 */
export function parseCondition(text: string): Condition | undefined {
  const t = text.trim();
  let m = /^(!?)([a-z][a-z0-9_]{0,62}(?:\.(?:ok|exit))?)$/.exec(t);
  if (m) return { name: m[2]!, op: m[1] ? 'falsy' : 'truthy' };
  m = /^([a-z][a-z0-9_]{0,62}(?:\.(?:ok|exit))?)\s*(==|!=)\s*'((?:[^'\\]|\\.)*)'$/.exec(t);
  if (m) return { name: m[1]!, op: m[2] as '==' | '!=', value: m[3]!.replace(/\\(.)/g, '$1') };
  return undefined;
}

/** Empty, "false" and "0" are false; anything else is true. */
export function evaluate(c: Condition, values: ReadonlyMap<string, string>): boolean {
  const v = values.get(c.name) ?? '';
  const truthy = v !== '' && v !== 'false' && v !== '0';
  switch (c.op) {
    case 'truthy':
      return truthy;
    case 'falsy':
      return !truthy;
    case '==':
      return v === c.value;
    case '!=':
      return v !== c.value;
  }
}

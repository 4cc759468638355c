/**
 * JSON with object keys sorted, so that reordering keys in a YAML file is not a change.
 * Written as a serializer rather than sort-then-JSON.stringify: it runs for every machine
 * of every inventory apply, and building sorted copies first cost twice the time.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      const x: unknown = value[i];
      // As JSON.stringify does: an undefined item is written as null.
      out += (i ? ',' : '') + (x === undefined ? 'null' : canonicalJson(x));
    }
    return out + ']';
  }
  // Object.keys treats a `__proto__` key (legal in YAML and JSON) as an ordinary key.
  const obj = value as Record<string, unknown>;
  let out = '{';
  for (const k of Object.keys(obj).sort()) {
    const x = obj[k];
    if (x === undefined) continue;
    out += (out.length > 1 ? ',' : '') + JSON.stringify(k) + ':' + canonicalJson(x);
  }
  return out + '}';
}

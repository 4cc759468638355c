// Text the page shows, from API values. Pure functions: no DOM, no clock (callers pass now).

/** "just now", "42s ago", "3m ago", "5h ago", "12d ago". @param {number} t ms @param {number} now ms */
export function ago(t, now) {
  if (!Number.isFinite(t)) return '';
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 5) return 'just now';
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

/** "3m", "2h 5m": how long, without "ago" (time in state). */
export function duration(t, now) {
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

export const iso = (t) => (Number.isFinite(t) ? new Date(t).toISOString().replace('.000Z', 'Z') : '');

/** `observed.power` as the daemon records it: `{ state: 'on' | 'off', at }`, or absent. */
export function powerOf(observed) {
  const p = observed?.power;
  if (!p || (p.state !== 'on' && p.state !== 'off')) return null;
  return { state: p.state, at: Date.parse(p.at) };
}

/** What the table keeps of an event: its kind, time and whether it reports a failure. */
export function eventSummary(e) {
  const d = e.details ?? {};
  return { id: e.id, kind: e.kind, at: Date.parse(e.time), ok: d.ok !== false, code: typeof d.code === 'string' ? d.code : undefined };
}

/** One line for an event's details in the machine panel. */
export function eventDetail(e) {
  const d = e.details ?? {};
  if (d.ok === false) return `${d.code ?? 'failed'}${d.error ? `: ${d.error}` : ''}`;
  const parts = [];
  for (const [k, v] of Object.entries(d)) {
    if (k === 'ok' || k === 'durationMs') continue;
    parts.push(`${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
    if (parts.length === 6) break;
  }
  return parts.join(' ');
}

/** The boot column: the last stage seen and how many, e.g. "install · kernel (6)". */
export function bootSummary(b) {
  if (!b || !b.entries.length) return { text: 'no boot seen', at: NaN };
  const last = b.entries[b.entries.length - 1];
  const action = b.session?.action ? `${b.session.action} · ` : '';
  const end = b.session?.endReason ? ` · ${b.session.endReason}` : '';
  return { text: `${action}${last.stage}${end} (${b.entries.length}${b.truncated ? '+' : ''})`, at: Date.parse(last.at) };
}

/** The name collation the table sorts with: "node-2" before "node-10". */
export const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

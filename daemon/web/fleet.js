// The machines the page knows, as small row objects, and the filtered, sorted view of them the
// table shows. 10,000 rows filter and sort in a few milliseconds, so every change simply
// rebuilds the view; nothing here touches the DOM.
import { collator, eventSummary, powerOf } from './format.js';

/**
 * A row: what the table shows of a machine. `lastEvent` is undefined while unknown (to be
 * fetched when the row is in view) and null when the machine has none; `boot` likewise.
 * @typedef {{ name: string, state: string, since: number, reason: string | null, role: string,
 *   zone: string, power: { state: string, at: number } | null, lastEvent?: object | null,
 *   boot?: { text: string, at: number }, bootAt?: number, flashUntil: number }} Row
 */

const SORTS = {
  name: (a, b) => collator.compare(a.name, b.name),
  state: (a, b) => collator.compare(a.state, b.state) || collator.compare(a.name, b.name),
  since: (a, b) => a.since - b.since || collator.compare(a.name, b.name),
  role: (a, b) => collator.compare(a.role, b.role) || collator.compare(a.name, b.name),
  zone: (a, b) => collator.compare(a.zone, b.zone) || collator.compare(a.name, b.name),
};

export class Fleet {
  /** @type {Map<string, Row>} */
  byName = new Map();
  /** @type {Row[]} */
  view = [];
  filter = { text: '', state: '', role: '', zone: '' };
  sort = { key: 'name', dir: 1 };
  /** Last events seen before their machine's row exists (the page reads events first). */
  pendingEvents = new Map();
  /** Whether "no last event known" means none: the whole log was read at start. */
  eventsComplete = false;

  get size() {
    return this.byName.size;
  }

  get(name) {
    return this.byName.get(name);
  }

  /** Adds or updates the row of a machine (a MachineView from the API). */
  upsert(m) {
    let r = this.byName.get(m.name);
    if (!r) {
      const pending = this.pendingEvents.get(m.name);
      this.pendingEvents.delete(m.name);
      r = { name: m.name, flashUntil: 0, lastEvent: pending ?? (this.eventsComplete ? null : undefined) };
      this.byName.set(m.name, r);
    }
    r.state = m.state;
    r.since = Date.parse(m.stateSince);
    r.reason = m.stateReason;
    r.role = m.role;
    r.zone = m.zone ?? '';
    r.power = powerOf(m.observed);
    return r;
  }

  /** Forgets everything (sign-out). */
  clear() {
    this.byName.clear();
    this.pendingEvents.clear();
    this.view = [];
    this.eventsComplete = false;
  }

  remove(name) {
    this.byName.delete(name);
  }

  /** The whole list, as `GET /api/v1/machines` answers it: rows of machines not in it go. */
  replaceAll(machines) {
    const keep = new Set();
    for (const m of machines) {
      this.upsert(m);
      keep.add(m.name);
    }
    for (const name of this.byName.keys()) if (!keep.has(name)) this.byName.delete(name);
  }

  /** Records an event as its machine's last (events arrive in id order). */
  noteEvent(e) {
    if (!e.machine) return undefined;
    const s = eventSummary(e);
    const r = this.byName.get(e.machine);
    if (!r) {
      this.pendingEvents.set(e.machine, s);
      return undefined;
    }
    if (!r.lastEvent || r.lastEvent.id < s.id) r.lastEvent = s;
    return r;
  }

  /** Rebuilds `view` from the rows, the filter and the sort. */
  refresh() {
    const { text, state, role, zone } = this.filter;
    const needle = text.trim().toLowerCase();
    const out = [];
    for (const r of this.byName.values()) {
      if (state && r.state !== state) continue;
      if (role && r.role !== role) continue;
      if (zone && r.zone !== zone) continue;
      if (needle && !r.name.toLowerCase().includes(needle)) continue;
      out.push(r);
    }
    const cmp = SORTS[this.sort.key] ?? SORTS.name;
    const dir = this.sort.dir;
    out.sort(dir === 1 ? cmp : (a, b) => cmp(b, a));
    this.view = out;
  }

  /** The values each filter can take, from the rows present (plus the current choice). */
  facets() {
    const states = new Set();
    const roles = new Set();
    const zones = new Set();
    for (const r of this.byName.values()) {
      states.add(r.state);
      roles.add(r.role);
      if (r.zone) zones.add(r.zone);
    }
    const sorted = (s, current) => {
      if (current) s.add(current);
      return [...s].sort(collator.compare);
    };
    return { state: sorted(states, this.filter.state), role: sorted(roles, this.filter.role), zone: sorted(zones, this.filter.zone) };
  }
}

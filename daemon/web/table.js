// The machines table, virtualised: only the rows in view (plus OVERSCAN above and below) are
// in the DOM, each ROW_HEIGHT tall, between two spacer rows that give the scroller its full
// height. Row elements are recycled, and a cell is written only when its text changed, so a
// scroll or a live update costs a few dozen text writes whatever the fleet's size.
//
// Accessibility (WAI-ARIA 1.2 "grid and table properties"): the table carries aria-rowcount
// (all rows, header included) and each rendered row its aria-rowindex, so a screen reader
// announces "row 4,211 of 10,001" though only ~40 rows exist. The machine's name is a link
// (keyboard focus, Enter opens the panel); Up/Down/PageUp/PageDown/Home/End move between rows.
import { ago, duration, iso } from './format.js';

export const OVERSCAN = 8;
const COLUMNS = 8;

/**
 * @param {{ scroller: HTMLElement, table: HTMLTableElement, tbody: HTMLTableSectionElement,
 *   fleet: import('./fleet.js').Fleet, now: () => number, onRendered: (rows: object[]) => void }} o
 */
export function createTable({ scroller, table, tbody, fleet, now, onRendered }) {
  const rowHeight = Number.parseFloat(getComputedStyle(document.documentElement).getPropertyValue('--row')) || 32;
  const spacer = () => {
    const tr = document.createElement('tr');
    tr.className = 'spacer';
    tr.setAttribute('aria-hidden', 'true');
    const td = document.createElement('td');
    td.colSpan = COLUMNS;
    tr.append(td);
    return tr;
  };
  const top = spacer();
  const bottom = spacer();
  tbody.append(top, bottom);
  /** @type {HTMLTableRowElement[]} */
  const pool = [];
  let first = 0;
  let selected = '';
  let frame = 0;

  function makeRow() {
    const tr = document.createElement('tr');
    for (let i = 0; i < COLUMNS; i++) {
      const td = document.createElement(i === 0 ? 'th' : 'td');
      if (i === 0) {
        td.scope = 'row';
        td.append(document.createElement('a'));
      }
      if (i === 1) td.append(document.createElement('span'));
      tr.append(td);
    }
    return tr;
  }

  const set = (el, text) => {
    if (el.textContent !== text) el.textContent = text;
  };
  const setTitle = (el, title) => {
    if (el.title !== title) el.title = title;
  };

  function fill(tr, r, index, t) {
    tr.dataset.name = r.name;
    tr.setAttribute('aria-rowindex', String(index + 2));
    tr.classList.toggle('flash', r.flashUntil > t);
    tr.classList.toggle('selected', r.name === selected);
    const c = tr.children;
    const a = c[0].firstChild;
    set(a, r.name);
    const href = `#/machines/${encodeURIComponent(r.name)}`;
    if (a.getAttribute('href') !== href) a.setAttribute('href', href);
    const badge = c[1].firstChild;
    set(badge, r.state);
    const cls = `badge s-${r.state}`;
    if (badge.className !== cls) badge.className = cls;
    setTitle(c[1], r.reason ?? '');
    set(c[2], duration(r.since, t));
    setTitle(c[2], `since ${iso(r.since)}`);
    set(c[3], r.role);
    set(c[4], r.zone || '—');
    set(c[5], r.power ? `${r.power.state} · ${ago(r.power.at, t)}` : '—');
    setTitle(c[5], r.power ? `observed ${iso(r.power.at)}` : 'power not observed yet');
    const e = r.lastEvent;
    set(c[6], e ? `${e.kind}${e.ok ? '' : ` ✗ ${e.code ?? ''}`} · ${ago(e.at, t)}` : e === null ? '—' : '…');
    setTitle(c[6], e ? `#${e.id} at ${iso(e.at)}` : '');
    c[6].classList.toggle('bad', Boolean(e && !e.ok));
    const b = r.boot;
    set(c[7], b ? `${b.text}${Number.isFinite(b.at) ? ` · ${ago(b.at, t)}` : ''}` : '…');
  }

  /** The index range in view: [start, end). */
  function range() {
    const n = fleet.view.length;
    const start = Math.max(0, Math.floor(scroller.scrollTop / rowHeight) - OVERSCAN);
    const visible = Math.ceil(scroller.clientHeight / rowHeight) + 1;
    return [start, Math.min(n, start + visible + 2 * OVERSCAN)];
  }

  function render() {
    frame = 0;
    const view = fleet.view;
    const [start, end] = range();
    const count = end - start;
    while (pool.length < count) {
      const tr = makeRow();
      pool.push(tr);
      bottom.before(tr);
    }
    while (pool.length > count) pool.pop().remove();
    first = start;
    top.firstChild.style.height = `${start * rowHeight}px`;
    bottom.firstChild.style.height = `${(view.length - end) * rowHeight}px`;
    top.hidden = start === 0;
    bottom.hidden = end === view.length;
    table.setAttribute('aria-rowcount', String(view.length + 1));
    const t = now();
    for (let i = 0; i < count; i++) fill(pool[i], view[start + i], start + i, t);
    onRendered(view.slice(start, end));
  }

  const schedule = () => {
    if (!frame) frame = requestAnimationFrame(render);
  };
  scroller.addEventListener('scroll', schedule, { passive: true });
  new ResizeObserver(schedule).observe(scroller);

  /** Scrolls so that view index i is in view, renders, and focuses its link. */
  function focusIndex(i) {
    const n = fleet.view.length;
    if (!n) return;
    i = Math.max(0, Math.min(n - 1, i));
    const y = i * rowHeight;
    const header = table.tHead.offsetHeight;
    if (y < scroller.scrollTop) scroller.scrollTop = y;
    else if (y + rowHeight + header > scroller.scrollTop + scroller.clientHeight) scroller.scrollTop = y + rowHeight + header - scroller.clientHeight;
    render();
    pool[i - first]?.querySelector('a')?.focus({ preventScroll: true });
  }

  // One listener for every row (rows are recycled; none has its own).
  tbody.addEventListener('keydown', (ev) => {
    const tr = ev.target.closest('tr[aria-rowindex]');
    if (!tr) return;
    const i = Number(tr.getAttribute('aria-rowindex')) - 2;
    const page = Math.max(1, Math.floor(scroller.clientHeight / rowHeight) - 1);
    const to = { ArrowDown: i + 1, ArrowUp: i - 1, PageDown: i + page, PageUp: i - page, Home: 0, End: fleet.view.length - 1 }[ev.key];
    if (to === undefined) return;
    ev.preventDefault();
    focusIndex(to);
  });

  return {
    render,
    schedule,
    select(name) {
      selected = name;
      schedule();
    },
    /** Scrolls the row of `name` into view (when the panel opens on a row out of view). */
    reveal(name) {
      const i = fleet.view.findIndex((r) => r.name === name);
      if (i < 0) return;
      const y = i * rowHeight;
      if (y < scroller.scrollTop || y > scroller.scrollTop + scroller.clientHeight - 2 * rowHeight) scroller.scrollTop = Math.max(0, y - scroller.clientHeight / 3);
      schedule();
    },
    renderedCount: () => pool.length,
  };
}

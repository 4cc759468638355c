// The fleet page: sign in with a token, the machines table, filters, the machine panel, and
// live updates from the event stream.
//
// Start: who the token is (/web/whoami), the newest 1,000 events (each machine's last event),
// the machine list, then the event stream from the newest event read, so nothing committed
// in between is missed. An event for machine M re-fetches M (many at once: the whole list,
// with If-None-Match); an inventory event re-fetches the list. Rows in view fetch what the
// list does not carry (last event when older than the first page, boot timeline) lazily.
import { createApi } from './api.js';
import { Fleet } from './fleet.js';
import { bootSummary, eventSummary } from './format.js';
import { createPanel, h } from './panel.js';
import { createTable } from './table.js';

const TOKEN_KEY = 'ironbay.token';
const FIRST_EVENTS = 1000;
/** More machines than this changed at once: re-fetch the list rather than each one. */
const LIST_THRESHOLD = 25;
const DETAIL_WORKERS = 4;
/** Rows in these states have their boot timeline re-read this often while in view. */
const ACTIVE_STATES = new Set(['power-cycling', 'pxe-booting', 'installing', 'rebooting', 'wiping']);
const ACTIVE_BOOT_REFRESH_MS = 10_000;

const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;

const s = {
  me: null,
  /** Server clock minus ours (from the Date header), so "3m ago" is the daemon's 3 minutes. */
  skew: 0,
  etag: undefined,
  lastId: 0,
  stream: null,
  dirty: new Set(),
  listDirty: false,
  syncing: false,
  syncAgain: false,
  syncTimer: 0,
  facetKey: '',
  visible: [],
  detailTimer: 0,
  detailInFlight: new Set(),
  announcements: [],
};
const now = () => Date.now() + s.skew;
const canOperate = () => s.me?.role === 'operator' || s.me?.role === 'admin';

const api = createApi({
  token: () => sessionStorage.getItem(TOKEN_KEY),
  onUnauthorized: (e) => signOut(`${e.code}: ${e.message}`),
});
const fleet = new Fleet();
let table;
let panel;

// ---- sign in / out -------------------------------------------------------------------

function showLogin(message = '') {
  $('fleet-view').hidden = true;
  $('who').hidden = true;
  $('conn').hidden = true;
  $('login-view').hidden = false;
  $('login-error').textContent = message;
  $('token').value = '';
  $('token').focus();
}

function signOut(message = '') {
  s.stream?.abort();
  s.stream = null;
  s.me = null;
  sessionStorage.removeItem(TOKEN_KEY);
  fleet.clear();
  s.etag = undefined;
  s.lastId = 0;
  panel.close();
  if (location.hash) history.replaceState(null, '', location.pathname);
  showLogin(message);
}

async function start() {
  if (!sessionStorage.getItem(TOKEN_KEY)) {
    showLogin();
    return;
  }
  try {
    s.me = (await api.get('/web/whoami')).data;
  } catch (err) {
    if (err.status !== 401) showLogin(`${err.code}: ${err.message}`);
    return;
  }
  $('login-view').hidden = true;
  $('fleet-view').hidden = false;
  $('who').hidden = false;
  $('conn').hidden = false;
  $('who-name').textContent = s.me.name;
  $('who-role').textContent = s.me.role;
  $('list-error').textContent = '';
  try {
    await loadInitial();
  } catch (err) {
    if (err.status !== 401) $('list-error').textContent = `Could not load machines: ${err.code}: ${err.message}`;
    return;
  }
  route();
  const ctl = new AbortController();
  s.stream = ctl;
  void followLoop(ctl.signal);
}

// ---- loading ---------------------------------------------------------------------------

async function loadInitial() {
  const { data } = await api.get(`/api/v1/events?limit=${FIRST_EVENTS}`);
  fleet.eventsComplete = data.events.length < FIRST_EVENTS;
  for (const e of data.events) fleet.noteEvent(e);
  s.lastId = data.events.at(-1)?.id ?? 0;
  await loadList();
  applyView();
}

async function loadList() {
  const r = await api.get('/api/v1/machines', { etag: s.etag });
  if (r.notModified) return;
  noteClock(r.date);
  s.etag = r.etag;
  const before = new Map([...fleet.byName].map(([n, row]) => [n, row.state]));
  fleet.replaceAll(r.data.machines);
  if (before.size) {
    for (const [n, row] of fleet.byName) if (before.get(n) !== row.state) announce(before.has(n) ? `${n}: ${before.get(n)} → ${row.state}` : `${n} added`);
    for (const n of before.keys()) if (!fleet.get(n)) announce(`${n} removed`);
  }
}

async function loadOne(name) {
  let m;
  try {
    const r = await api.get(`/api/v1/machines/${enc(name)}`);
    noteClock(r.date);
    m = r.data;
  } catch (err) {
    if (err.status !== 404) throw err;
  }
  const old = fleet.get(name);
  if (!m || m.retiredAt) {
    if (old) announce(`${name} removed`);
    fleet.remove(name);
    return;
  }
  const row = fleet.upsert(m);
  if (!old) announce(`${name} added`);
  else if (old.state !== row.state) announce(`${name}: now ${row.state}`);
}

function noteClock(date) {
  const server = Date.parse(date ?? '');
  // The Date header has whole seconds: only a clearly wrong local clock is corrected.
  if (Number.isFinite(server) && Math.abs(server - Date.now()) > 2000) s.skew = server - Date.now();
}

// ---- live updates ------------------------------------------------------------------------

async function followLoop(signal) {
  let delay = 1000;
  let reconnect = false;
  while (!signal.aborted) {
    setConn('', 'connecting');
    try {
      await api.follow(
        s.lastId,
        onEvent,
        () => {
          setConn('live', 'live');
          delay = 1000;
          // Events are replayed from lastId; the list catches anything else (a restart).
          if (reconnect) {
            s.listDirty = true;
            scheduleSync();
          }
        },
        signal,
      );
    } catch (err) {
      if (signal.aborted || err.status === 401) return;
    }
    if (signal.aborted) return;
    reconnect = true;
    setConn('down', `disconnected; retrying in ${delay / 1000}s`);
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 15_000);
  }
}

function setConn(cls, text) {
  $('conn').className = `conn ${cls}`;
  $('conn-text').textContent = text;
}

function onEvent(e) {
  s.lastId = Math.max(s.lastId, e.id);
  if (e.machine) {
    const row = fleet.noteEvent(e);
    if (row) {
      row.flashUntil = now() + 2500;
      row.bootAt = 0;
    }
    s.dirty.add(e.machine);
  } else if (e.kind.startsWith('inventory.') || e.kind.startsWith('machine.')) {
    s.listDirty = true;
  }
  panel.onEvent(e);
  table.schedule();
  scheduleSync();
}

function scheduleSync() {
  if (!s.syncTimer) s.syncTimer = setTimeout(sync, 100);
}

async function sync() {
  s.syncTimer = 0;
  if (s.syncing) {
    s.syncAgain = true;
    return;
  }
  s.syncing = true;
  try {
    do {
      s.syncAgain = false;
      const names = [...s.dirty];
      s.dirty.clear();
      const whole = s.listDirty || names.length > LIST_THRESHOLD;
      s.listDirty = false;
      if (whole) await loadList();
      else await Promise.all(names.map(loadOne));
      applyView();
    } while (s.syncAgain || s.dirty.size || s.listDirty);
    $('list-error').textContent = '';
  } catch (err) {
    if (err.status !== 401) $('list-error').textContent = `Live update failed: ${err.code}: ${err.message}`;
  } finally {
    s.syncing = false;
  }
}

// ---- the view ----------------------------------------------------------------------------

function applyView() {
  fleet.refresh();
  updateFacets();
  $('count').textContent = `${fleet.view.length.toLocaleString('en')} of ${fleet.size.toLocaleString('en')} machines`;
  table.schedule();
}

function updateFacets() {
  const f = fleet.facets();
  const key = JSON.stringify(f);
  if (key === s.facetKey) return;
  s.facetKey = key;
  for (const k of ['state', 'role', 'zone']) {
    const sel = $(`f-${k}`);
    const value = fleet.filter[k];
    sel.replaceChildren(h('option', { value: '' }, 'any'), ...f[k].map((v) => h('option', { value: v }, v)));
    sel.value = value;
  }
}

let filterTimer = 0;
function onFilter(ev) {
  const text = ev.target.id === 'f-text';
  clearTimeout(filterTimer);
  filterTimer = setTimeout(
    () => {
      fleet.filter = { text: $('f-text').value, state: $('f-state').value, role: $('f-role').value, zone: $('f-zone').value };
      $('scroller').scrollTop = 0;
      applyView();
    },
    text ? 80 : 0,
  );
}

function onSort(ev) {
  const btn = ev.target.closest('button[data-sort]');
  if (!btn) return;
  const key = btn.dataset.sort;
  fleet.sort = { key, dir: fleet.sort.key === key ? -fleet.sort.dir : 1 };
  for (const th of $('machines').tHead.querySelectorAll('th')) {
    const k = th.querySelector('button')?.dataset.sort;
    if (k) th.setAttribute('aria-sort', k === key ? (fleet.sort.dir === 1 ? 'ascending' : 'descending') : 'none');
  }
  applyView();
}

/** Rows in view fetch what the list lacks: their last event (if unknown) and boot summary. */
function onRendered(rows) {
  s.visible = rows;
  clearTimeout(s.detailTimer);
  s.detailTimer = setTimeout(fetchDetails, 150);
}

const needsBoot = (r, t) => r.boot === undefined || r.bootAt === 0 || (ACTIVE_STATES.has(r.state) && t - (r.bootAt ?? 0) > ACTIVE_BOOT_REFRESH_MS);
const needsDetail = (r, t) => r.lastEvent === undefined || needsBoot(r, t);

async function fetchDetails() {
  const t = Date.now();
  const queue = s.visible.filter((r) => !s.detailInFlight.has(r.name) && needsDetail(r, t)).map((r) => r.name);
  const worker = async () => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      if (!s.visible.some((r) => r.name === name)) continue;
      s.detailInFlight.add(name);
      try {
        await loadDetail(name);
      } catch (err) {
        if (err.status === 401) return;
      } finally {
        s.detailInFlight.delete(name);
      }
    }
  };
  await Promise.all(Array.from({ length: DETAIL_WORKERS }, worker));
}

async function loadDetail(name) {
  const row = fleet.get(name);
  if (!row) return;
  const jobs = [];
  if (row.lastEvent === undefined) {
    jobs.push(
      api.get(`/api/v1/events?${new URLSearchParams({ machine: name, limit: '1' }).toString()}`).then(({ data }) => {
        const e = data.events.at(-1);
        if (row.lastEvent === undefined) row.lastEvent = e ? eventSummary(e) : null;
      }),
    );
  }
  if (needsBoot(row, Date.now())) {
    row.bootAt = Date.now();
    jobs.push(
      api.get(`/api/v1/machines/${enc(name)}/boot`).then(({ data }) => {
        row.boot = bootSummary(data);
      }),
    );
  }
  await Promise.all(jobs);
  table.schedule();
}

/** Screen readers hear changes in batches, not one per event. */
function announce(text) {
  s.announcements.push(text);
}
setInterval(() => {
  const a = s.announcements.splice(0);
  if (!a.length) return;
  $('announce').textContent = a.length <= 3 ? a.join('; ') : `${a.length} machines changed`;
}, 2000);

// ---- routing: #/machines/NAME opens the panel ---------------------------------------------

function route() {
  if (!s.me) return;
  const m = /^#\/machines\/(.+)$/.exec(location.hash);
  if (m) {
    const name = decodeURIComponent(m[1]);
    if (panel.name !== name) panel.open(name);
    table.select(name);
    table.reveal(name);
    return;
  }
  if (panel.name) {
    const prev = panel.name;
    panel.close();
    table.select('');
    document.querySelector(`#rows tr[data-name="${CSS.escape(prev)}"] a`)?.focus();
  }
}

// ---- wiring ------------------------------------------------------------------------------

function main() {
  table = createTable({ scroller: $('scroller'), table: $('machines'), tbody: $('rows'), fleet, now, onRendered });
  panel = createPanel({
    root: $('panel'),
    api,
    canOperate,
    role: () => s.me?.role ?? '',
    now,
    onMachine: (m) => {
      if (!m.retiredAt && fleet.get(m.name)) {
        fleet.upsert(m);
        table.schedule();
      }
    },
    onClose: () => {
      location.hash = '#/';
    },
  });
  $('login').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const token = $('token').value.trim();
    if (!token) {
      $('login-error').textContent = 'Paste a token first.';
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    void start();
  });
  $('signout').addEventListener('click', () => signOut('Signed out.'));
  $('filters').addEventListener('input', onFilter);
  $('filters').addEventListener('submit', (ev) => ev.preventDefault());
  $('machines').tHead.addEventListener('click', onSort);
  window.addEventListener('hashchange', route);
  let ticks = 0;
  setInterval(() => {
    if (!s.me) return;
    table.render();
    if (++ticks % 5 === 0) panel.tick();
  }, 1000);
  void start();
}

main();

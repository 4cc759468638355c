// The machine panel (`#/machines/NAME`): details, actions for operators, the last boot's
// timeline and the machine's events. Live: the page hands it every event of its machine.
// Buttons carry data-action and one listener on the panel handles them all.
import { ApiError } from './api.js';
import { ago, bootSummary, eventDetail, iso } from './format.js';

/** Builds an element: h('p', { class: 'x' }, 'text', child). Text is never parsed as HTML. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === undefined || v === null) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

const enc = encodeURIComponent;

/**
 * Each action: its button, its request, and whether to ask first. The lifecycle endpoints
 * answer `{ results: [{ machine, ok, state?, result?, code?, error? }] }`, as the power one
 * does (with power?, changed?).
 */
export const ACTIONS = {
  provision: { group: 'Lifecycle', label: 'Provision', request: (n) => ['/api/v1/provision', { machines: [n] }], confirm: (n) => `Provision ${n}? It is powered on and installed from its profile.` },
  deprovision: { group: 'Lifecycle', label: 'Deprovision', danger: true, request: (n) => ['/api/v1/deprovision', { machines: [n] }], confirm: (n) => `Deprovision ${n}?` },
  'maintenance-on': { group: 'Lifecycle', label: 'Maintenance on', request: (n) => [`/api/v1/machines/${enc(n)}/maintenance`, { on: true }], when: (m) => m.state !== 'maintenance' },
  'maintenance-off': { group: 'Lifecycle', label: 'Maintenance off', request: (n) => [`/api/v1/machines/${enc(n)}/maintenance`, { on: false }], when: (m) => m.state === 'maintenance' },
  retry: { group: 'Lifecycle', label: 'Retry', request: (n) => [`/api/v1/machines/${enc(n)}/retry`, {}], when: (m) => m.state === 'failed' },
  'power-status': { group: 'Power', label: 'Power status', secondary: true, request: (n) => ['/api/v1/power', { action: 'status', machines: [n] }] },
  'power-on': { group: 'Power', label: 'Power on', request: (n) => ['/api/v1/power', { action: 'on', machines: [n] }] },
  'power-off': { group: 'Power', label: 'Power off', danger: true, request: (n) => ['/api/v1/power', { action: 'off', machines: [n] }], confirm: (n) => `Power off ${n}? Whatever runs on it stops at once.` },
  'power-cycle': { group: 'Power', label: 'Power cycle', danger: true, request: (n) => ['/api/v1/power', { action: 'cycle', machines: [n] }], confirm: (n) => `Power cycle ${n}?` },
};

/** One line for a per-machine result: "Power on: ok · power on · changed". */
export function resultText(label, r) {
  if (!r.ok) return `${label} failed: ${r.code ?? 'error'}${r.error ? ` — ${r.error}` : ''}`;
  const bits = [`${label}: ok`];
  if (r.result) bits.push(r.result);
  if (r.state) bits.push(`state ${r.state}`);
  if (r.power) bits.push(`power ${r.power}`);
  if (r.changed !== undefined) bits.push(r.changed ? 'changed' : 'already so');
  return bits.join(' · ');
}

/**
 * @param {{ root: HTMLElement, api: ReturnType<import('./api.js').createApi>, canOperate: () => boolean,
 *   role: () => string, now: () => number, onMachine: (m: object) => void, onClose: () => void }} o
 */
export function createPanel({ root, api, canOperate, role, now, onMachine, onClose }) {
  let name = '';
  let machine = null;
  let events = [];
  let boot = null;
  let generation = 0;
  let refreshTimer = 0;
  const parts = {};

  root.addEventListener('click', (ev) => {
    const btn = ev.target.closest('button[data-action]');
    if (btn && root.contains(btn)) void run(btn.dataset.action);
  });
  root.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') onClose();
  });

  function skeleton() {
    root.replaceChildren();
    parts.heading = h('h2', { id: 'panel-heading', tabindex: '-1' }, name);
    parts.badge = h('span', { class: 'badge' });
    parts.error = h('p', { class: 'error', role: 'alert' });
    parts.details = h('dl');
    parts.ok = h('div', { class: 'result', role: 'status' });
    parts.fail = h('div', { class: 'result error', role: 'alert', id: 'action-error' });
    parts.actions = h('div', { class: 'actions', id: 'actions' });
    parts.boot = h('div');
    parts.events = h('div');
    parts.observed = h('pre', { class: 'observed' });
    root.append(
      h('header', {}, parts.heading, parts.badge, h('a', { class: 'close', href: '#/' }, 'Close')),
      parts.error,
      parts.details,
      h('h3', {}, 'Actions'),
      parts.actions,
      parts.ok,
      parts.fail,
      h('h3', {}, 'Boot timeline'),
      parts.boot,
      h('h3', {}, 'Events'),
      parts.events,
      h('h3', {}, 'Observed'),
      parts.observed,
    );
    buildActions();
  }

  /** The buttons, built once per machine; renderActions only shows or hides them. */
  function buildActions() {
    if (!canOperate()) {
      parts.actions.replaceChildren(h('p', { class: 'muted' }, `Your role (${role()}) can view only; actions need an operator token.`));
      return;
    }
    const groups = new Map();
    for (const [id, a] of Object.entries(ACTIONS)) {
      if (!groups.has(a.group)) groups.set(a.group, []);
      groups.get(a.group).push(h('button', { type: 'button', dataset: { action: id }, class: a.danger ? 'danger' : a.secondary ? 'secondary' : undefined, hidden: Boolean(a.when) }, a.label));
    }
    parts.actions.replaceChildren(...[...groups].map(([g, buttons]) => h('fieldset', {}, h('legend', {}, g), buttons)));
  }

  /** Buttons that apply only in some states (Retry when failed …) follow the machine's state. */
  function renderActions() {
    if (!machine) return;
    const focused = document.activeElement;
    for (const b of parts.actions.querySelectorAll('button[data-action]')) {
      const when = ACTIONS[b.dataset.action]?.when;
      if (when) b.hidden = !when(machine);
    }
    // A button that hid itself (Maintenance on → off) hands focus to its group, not to the page.
    if (focused?.hidden && parts.actions.contains(focused)) focused.closest('fieldset')?.querySelector('button:not([hidden])')?.focus();
  }

  function renderDetails() {
    const m = machine;
    if (!m) return;
    const t = now();
    parts.badge.textContent = m.state;
    parts.badge.className = `badge s-${m.state}`;
    const bmc = m.spec?.bmc;
    const p = m.observed?.power;
    const rows = [
      ['State', `${m.state}${m.stateReason ? ` — ${m.stateReason}` : ''}`],
      ['In state since', `${iso(Date.parse(m.stateSince))} (${ago(Date.parse(m.stateSince), t)})`],
      ['Role', m.role],
      ['Zone', m.zone ?? '—'],
      ['Profile', m.profile ?? '—'],
      ['MACs', m.macs.join(', ')],
      ['BMC', bmc ? `${bmc.driver} ${bmc.address}${bmc.port ? `:${bmc.port}` : ''}` : 'none in the inventory'],
      ['Power', p?.state ? `${p.state} (observed ${ago(Date.parse(p.at), t)})` : 'not observed yet'],
      ['Labels', m.spec?.labels ? Object.entries(m.spec.labels).map(([k, v]) => `${k}=${v}`).join(', ') || '—' : '—'],
      ['Updated', iso(Date.parse(m.updatedAt))],
    ];
    if (m.retiredAt) rows.push(['Retired', iso(Date.parse(m.retiredAt))]);
    parts.details.replaceChildren(...rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
    parts.observed.textContent = JSON.stringify(m.observed ?? {}, null, 2);
  }

  function renderBoot() {
    const b = boot;
    if (!b) return;
    const s = bootSummary(b);
    const session = b.session
      ? `Boot #${b.bootId}: ${b.session.action}${b.session.profile ? ` (${b.session.profile})` : ''}, started ${iso(Date.parse(b.session.createdAt))}${b.session.endedAt ? `, ended ${b.session.endReason ?? ''} ${iso(Date.parse(b.session.endedAt))}` : ', in progress'}`
      : 'No boot session.';
    if (!b.entries.length) {
      parts.boot.replaceChildren(h('p', { class: 'muted' }, 'No network boot seen.'));
      return;
    }
    parts.boot.replaceChildren(
      h('p', {}, session, h('br'), `Last: ${s.text} · ${ago(s.at, now())}`),
      h(
        'table',
        { class: 'mini', 'aria-label': 'Boot stages, oldest first' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col', class: 't' }, '+time'), h('th', { scope: 'col', class: 't' }, 'Stage'), h('th', { scope: 'col' }, 'Detail'))),
        h('tbody', {}, b.entries.map((e) => h('tr', {}, h('td', { class: 't' }, `+${(e.offsetMs / 1000).toFixed(1)}s`), h('td', { class: 't' }, e.stage), h('td', {}, e.detail ?? '')))),
      ),
      b.truncated ? h('p', { class: 'muted' }, 'Older stages left out.') : '',
    );
  }

  function renderEvents() {
    if (!events.length) {
      parts.events.replaceChildren(h('p', { class: 'muted' }, 'No events.'));
      return;
    }
    const t = now();
    parts.events.replaceChildren(
      h(
        'table',
        { class: 'mini', id: 'panel-events', 'aria-label': `Events of ${name}, newest first` },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col', class: 't' }, 'When'), h('th', { scope: 'col', class: 't' }, 'Kind'), h('th', { scope: 'col' }, 'Actor · details'))),
        h(
          'tbody',
          {},
          [...events].reverse().map((e) =>
            h(
              'tr',
              { dataset: { id: e.id } },
              h('td', { class: 't', title: e.time }, ago(Date.parse(e.time), t)),
              h('td', { class: e.details?.ok === false ? 't bad' : 't' }, e.kind),
              h('td', {}, `${e.actor} · ${eventDetail(e)}`),
            ),
          ),
        ),
      ),
    );
  }

  const showError = (el, err) => {
    el.textContent = err instanceof ApiError ? `${err.code}: ${err.message}` : String(err?.message ?? err);
  };

  async function loadMachine(gen) {
    const { data } = await api.get(`/api/v1/machines/${enc(name)}`);
    if (gen !== generation) return;
    machine = data;
    onMachine(data);
    renderDetails();
    renderActions();
  }

  async function loadBoot(gen) {
    const { data } = await api.get(`/api/v1/machines/${enc(name)}/boot`);
    if (gen !== generation) return;
    boot = data;
    renderBoot();
  }

  async function loadEvents(gen) {
    const { data } = await api.get(`/api/v1/events?${new URLSearchParams({ machine: name, limit: '100' }).toString()}`);
    if (gen !== generation) return;
    // Live events may have arrived while this was in flight: merge by id.
    const byId = new Map([...data.events, ...events].map((e) => [e.id, e]));
    events = [...byId.values()].sort((a, b) => a.id - b.id).slice(-100);
    renderEvents();
  }

  async function run(id) {
    const a = ACTIONS[id];
    if (!a || !machine) return;
    if (a.confirm && !window.confirm(a.confirm(name))) return;
    const [path, body] = a.request(name);
    const buttons = parts.actions.querySelectorAll('button');
    for (const b of buttons) b.disabled = true;
    parts.actions.setAttribute('aria-busy', 'true');
    parts.ok.textContent = '';
    parts.fail.textContent = '';
    try {
      const { data } = await api.post(path, body);
      const results = data?.results ?? [];
      const mine = results.find((r) => r.machine === name) ?? results[0];
      if (!mine) parts.ok.textContent = `${a.label}: done`;
      else (mine.ok ? parts.ok : parts.fail).textContent = resultText(a.label, mine);
    } catch (err) {
      parts.fail.textContent = `${a.label} failed: `;
      parts.fail.append(err instanceof ApiError ? `${err.code} — ${err.message}` : String(err?.message ?? err));
    } finally {
      for (const b of parts.actions.querySelectorAll('button')) b.disabled = false;
      parts.actions.removeAttribute('aria-busy');
      refreshSoon(0);
    }
  }

  function refreshSoon(ms = 150) {
    clearTimeout(refreshTimer);
    const gen = generation;
    refreshTimer = setTimeout(() => {
      if (gen !== generation) return;
      loadMachine(gen).catch((err) => showError(parts.error, err));
      loadBoot(gen).catch((err) => showError(parts.error, err));
    }, ms);
  }

  return {
    get name() {
      return name;
    },
    /** Opens (or re-opens) the panel on a machine; focuses its heading. */
    open(n) {
      generation++;
      name = n;
      machine = null;
      boot = null;
      events = [];
      root.hidden = false;
      skeleton();
      parts.heading.focus();
      const gen = generation;
      const errors = [loadMachine(gen), loadBoot(gen), loadEvents(gen)].map((p) => p.catch((err) => err));
      void Promise.all(errors).then((results) => {
        const err = results.find((r) => r instanceof Error);
        if (err && gen === generation) showError(parts.error, err);
      });
    },
    close() {
      generation++;
      name = '';
      root.hidden = true;
      root.replaceChildren();
    },
    /** An event from the stream: if it is this machine's, show it and refresh. */
    onEvent(e) {
      if (!name || e.machine !== name) return;
      if (!events.some((x) => x.id === e.id)) events.push(e);
      if (events.length > 100) events.shift();
      renderEvents();
      refreshSoon();
    },
    /** Relative times ("3m ago") move on. */
    tick() {
      if (!name) return;
      renderDetails();
    },
  };
}

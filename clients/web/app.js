// The operator console: plain ES module, no framework. REST for actions and
// lists (/api/...), Socket.IO for live events (no polling). Every payload is
// the gateway's JSON (lowerCamelCase, enums as short names like "ringing",
// int64 as strings, RFC 3339 times).

const $ = (sel, root = document) => root.querySelector(sel);
const TERMINAL = new Set(['completed', 'busy', 'no_answer', 'failed', 'canceled']);
const STATUSES = ['initiated', 'ringing', 'in_progress', ...TERMINAL];
const CALL_EVENTS = ['call_initiated', 'call_ringing', 'call_answered', 'call_ended', 'call_transferred'];

const state = {
  token: localStorage.getItem('cs.token') || '',
  lastSeq: localStorage.getItem('cs.lastSeq') || '0',
  me: null,
  active: new Map(), // call id -> call
  socket: null,
  view: 'board',
  history: { page: 1, pages: 1 },
  openCall: null,
  typingTimer: null,
  typingSent: false,
};

// --- helpers -------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) e.append(c instanceof Node ? c : document.createTextNode(c ?? ''));
  return e;
}

function toast(msg) {
  const t = $('#toast');
  t.textContent = msg;
  t.classList.add('show');
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.remove('show'), 3000);
}

const fmtTime = (s) => (s ? new Date(s).toLocaleString() : '');
const fmtDur = (sec) => {
  const n = Number(sec || 0);
  return `${Math.floor(n / 60)}:${String(Math.round(n % 60)).padStart(2, '0')}`;
};
const party = (p) => (p ? [p.name, p.extension || p.number].filter(Boolean).join(' · ') : '');
const badge = (status) => el('span', { class: `badge ${status}` }, (status || '').replace('_', ' '));
const isSupervisor = () => state.me && (state.me.role === 'admin' || state.me.role === 'supervisor');

async function api(method, path, body) {
  const res = await fetch(`/api${path}`, {
    method,
    headers: {
      ...(body ? { 'content-type': 'application/json' } : {}),
      ...(state.token ? { authorization: `Bearer ${state.token}` } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  const data = text ? JSON.parse(text) : {};
  if (!res.ok) {
    if (res.status === 401 && state.token) logout();
    const err = new Error(data.error?.message || `${res.status} ${res.statusText}`);
    err.code = data.error?.code;
    throw err;
  }
  return data;
}

// --- login / session -----------------------------------------------------

async function login(ev) {
  ev.preventDefault();
  const f = ev.target;
  $('#login-error').textContent = '';
  try {
    const r = await api('POST', '/users/login', { email: f.email.value, password: f.password.value });
    state.token = r.token;
    localStorage.setItem('cs.token', r.token);
    await start();
  } catch (e) {
    $('#login-error').textContent = e.message;
  }
}

function logout() {
  state.token = '';
  localStorage.removeItem('cs.token');
  localStorage.removeItem('cs.lastSeq');
  state.lastSeq = '0';
  state.socket?.disconnect();
  state.socket = null;
  $('#app-view').hidden = true;
  $('#login-view').hidden = false;
}

async function start() {
  try {
    state.me = await api('GET', '/users/profile');
  } catch {
    logout();
    return;
  }
  $('#login-view').hidden = true;
  $('#app-view').hidden = false;
  $('#me-name').textContent = `${state.me.name} (${state.me.role}${state.me.sipDevice ? `, ext ${state.me.sipDevice.extension}` : ''})`;
  $('#presence').value = state.me.status || 'available';
  for (const a of document.querySelectorAll('nav a[data-role]')) {
    a.hidden = a.dataset.role === 'admin' ? state.me.role !== 'admin' : !isSupervisor();
  }
  connectSocket();
  route();
}

// --- live events -----------------------------------------------------------

function connectSocket() {
  if (state.socket || typeof io !== 'function') return;
  // auth is a function so every reconnect sends the newest lastSeq and
  // gets what it missed.
  const socket = io({ auth: (cb) => cb({ token: state.token, lastSeq: state.lastSeq }) });
  state.socket = socket;
  const conn = $('#conn');
  socket.on('connect', () => {
    conn.textContent = 'live';
    conn.classList.add('live');
    refreshBoard();
    if (state.openCall) socket.emit('join_call', { callId: state.openCall }, () => {});
  });
  socket.on('disconnect', () => { conn.textContent = 'reconnecting'; conn.classList.remove('live'); });
  socket.on('connect_error', (err) => {
    conn.textContent = 'offline';
    conn.classList.remove('live');
    if (/token|auth/i.test(err.message)) logout();
  });
  for (const name of CALL_EVENTS) socket.on(name, (evt) => onCallEvent(name, evt));
  socket.on('call_note_added', (evt) => {
    noteSeq(evt);
    if (evt.note && evt.note.callId === state.openCall) appendNote(evt.note);
  });
  socket.on('user_status_changed', (evt) => {
    noteSeq(evt);
    const u = evt.user;
    if (u && state.me && u.id === state.me.id) $('#presence').value = u.status;
    if (state.view === 'users') loadUsers();
  });
  socket.on('typing', (evt) => {
    const t = evt.typing || evt;
    if (t.callId !== state.openCall) return;
    $('#typing').textContent = t.typing ? `${t.userName || 'Someone'} is typing…` : '';
  });
  socket.on('resync', (evt) => { noteSeq(evt); refreshBoard(); });
}

function noteSeq(evt) {
  if (evt && evt.seq && BigInt(evt.seq) > BigInt(state.lastSeq)) {
    state.lastSeq = String(evt.seq);
    localStorage.setItem('cs.lastSeq', state.lastSeq);
  }
}

function onCallEvent(name, evt) {
  noteSeq(evt);
  const call = evt.call || evt;
  if (!call || !call.id) return;
  const prev = state.active.get(call.id);
  if (prev && Number(prev.version || 0) > Number(call.version || 0)) return; // stale
  state.active.set(call.id, call);
  if (TERMINAL.has(call.status)) {
    // Keep an ended call on the board for a moment so the outcome is seen.
    setTimeout(() => {
      const cur = state.active.get(call.id);
      if (cur && TERMINAL.has(cur.status)) { state.active.delete(call.id); renderBoard(); }
    }, 4000);
  }
  renderBoard();
  if (state.openCall === call.id) renderCall(call);
}

// --- board -------------------------------------------------------------------

async function refreshBoard() {
  try {
    const r = await api('GET', '/calls/active');
    state.active = new Map((r.calls || []).map((c) => [c.id, c]));
    renderBoard();
  } catch (e) {
    $('#board-error').textContent = e.message;
  }
}

function callActions(call, { detail = true } = {}) {
  const act = (label, fn, cls = '') => el('button', { class: cls, onclick: fn, 'aria-label': `${label} call ${call.id}` }, label);
  const out = [];
  if (TERMINAL.has(call.status)) return out;
  const mine = state.me && call.callee && call.callee.userId === state.me.id;
  if (call.status === 'ringing' && (call.direction === 'inbound' || mine)) {
    out.push(act('Answer', () => doAction(call, 'answer')));
  }
  if (call.status === 'in_progress') out.push(act('Transfer', () => transfer(call), 'secondary'));
  out.push(act('Hang up', () => doAction(call, 'hangup'), 'danger'));
  if (detail) out.push(act('Details', () => { location.hash = `#call/${call.id}`; }, 'link'));
  return out;
}

function renderBoard() {
  const body = $('#board-body');
  const calls = [...state.active.values()].sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
  body.replaceChildren(...calls.map((c) => el('tr', { 'data-call': c.id, 'data-status': c.status },
    el('td', {}, badge(c.status)), el('td', {}, c.direction || ''), el('td', {}, party(c.caller)),
    el('td', {}, party(c.callee)), el('td', {}, fmtTime(c.answeredAt || c.createdAt)),
    el('td', { class: 'actions' }, callActions(c)))));
  $('#board-empty').hidden = calls.length > 0;
}

async function doAction(call, action) {
  try {
    const c = await api('POST', `/calls/${call.id}/${action}`, {});
    onCallEvent('', { call: c });
  } catch (e) {
    toast(e.message);
  }
}

async function transfer(call) {
  const to = prompt('Transfer to (extension or number):');
  if (!to) return;
  try {
    const c = await api('POST', `/calls/${call.id}/transfer`, { to });
    onCallEvent('', { call: c });
    toast(`Transferred to ${to}`);
  } catch (e) {
    toast(e.message);
  }
}

async function makeCall(ev) {
  ev.preventDefault();
  const to = ev.target.to.value.trim();
  $('#board-error').textContent = '';
  try {
    const c = await api('POST', '/calls/make', { to, requestId: crypto.randomUUID() });
    onCallEvent('', { call: c });
    ev.target.reset();
  } catch (e) {
    $('#board-error').textContent = e.message;
  }
}

// --- history -------------------------------------------------------------------

async function loadHistory(page = 1) {
  const f = $('#history-form');
  const q = new URLSearchParams({ page: String(page), limit: '20' });
  if (f.status.value) q.set('status', f.status.value);
  if (f.direction.value) q.set('direction', f.direction.value);
  if (f.from.value) q.set('from', new Date(`${f.from.value}T00:00:00`).toISOString());
  if (f.to.value) q.set('to', new Date(`${f.to.value}T23:59:59`).toISOString());
  try {
    const r = await api('GET', `/calls/history?${q}`);
    const info = r.pageInfo || {};
    state.history = { page: info.page || page, pages: Math.max(1, info.pages || 1) };
    $('#history-body').replaceChildren(...(r.calls || []).map((c) => el('tr', {},
      el('td', {}, badge(c.status)), el('td', {}, c.direction || ''), el('td', {}, party(c.caller)),
      el('td', {}, party(c.callee)), el('td', {}, fmtTime(c.createdAt)), el('td', {}, fmtDur(c.durationSeconds)),
      el('td', {}, el('a', { href: `#call/${c.id}` }, 'details')))));
    $('#page-info').textContent = `page ${state.history.page} of ${state.history.pages} (${info.total || 0} calls)`;
    $('#prev-page').disabled = state.history.page <= 1;
    $('#next-page').disabled = state.history.page >= state.history.pages;
  } catch (e) {
    toast(e.message);
  }
}

// --- call detail -----------------------------------------------------------------

function appendNote(n) {
  if (document.querySelector(`#notes li[data-note="${n.id}"]`)) return;
  $('#notes').append(el('li', { 'data-note': n.id }, el('div', { class: 'meta' },
    `${n.authorName || 'someone'} · ${fmtTime(n.createdAt)}`), el('div', {}, n.text)));
}

function renderCall(c) {
  const facts = [
    ['Status', badge(c.status)], ['Direction', c.direction], ['From', party(c.caller)], ['To', party(c.callee)],
    ['Created', fmtTime(c.createdAt)], ['Answered', fmtTime(c.answeredAt)], ['Ended', fmtTime(c.endedAt)],
    ['Duration', fmtDur(c.durationSeconds)], ['Wait', fmtDur(c.waitSeconds)], ['Hangup cause', c.hangupCause || ''],
    ['Transfers', (c.transfers || []).map((t) => `${t.byName || t.byUserId} → ${t.to}`).join(', ')],
  ];
  $('#call-facts').replaceChildren(...facts.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v || '')]));
  $('#call-actions').replaceChildren(...callActions(c, { detail: false }));
}

async function openCall(id) {
  state.openCall = id;
  $('#notes').replaceChildren();
  $('#typing').textContent = '';
  try {
    const c = await api('GET', `/calls/${id}`);
    renderCall(c);
    (c.notes || []).forEach(appendNote);
    state.socket?.emit('join_call', { callId: id }, (ack) => {
      if (ack && ack.ok === false) toast(ack.error?.message || 'cannot follow this call');
    });
  } catch (e) {
    toast(e.message);
  }
}

function leaveCall() {
  if (state.openCall) state.socket?.emit('leave_call', { callId: state.openCall }, () => {});
  state.openCall = null;
}

function onNoteInput() {
  if (!state.socket || !state.openCall) return;
  if (!state.typingSent) {
    state.socket.emit('typing', { callId: state.openCall, typing: true }, () => {});
    state.typingSent = true;
  }
  clearTimeout(state.typingTimer);
  state.typingTimer = setTimeout(() => {
    state.socket?.emit('typing', { callId: state.openCall, typing: false }, () => {});
    state.typingSent = false;
  }, 2000);
}

async function addNote(ev) {
  ev.preventDefault();
  const text = ev.target.text.value.trim();
  if (!text) return;
  try {
    const n = await api('POST', `/calls/${state.openCall}/notes`, { text });
    appendNote(n);
    ev.target.reset();
  } catch (e) {
    toast(e.message);
  }
}

// --- statistics --------------------------------------------------------------------

function barChart(svg, items, { label, value, value2 }) {
  const W = 600, H = 220, pad = 24;
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  const max = Math.max(1, ...items.map(value));
  const bw = items.length ? (W - pad * 2) / items.length : 0;
  const ns = 'http://www.w3.org/2000/svg';
  const kids = [];
  items.forEach((it, i) => {
    const h = ((H - pad * 2) * value(it)) / max;
    const r = document.createElementNS(ns, 'rect');
    Object.entries({ x: pad + i * bw + 1, y: H - pad - h, width: Math.max(1, bw - 2), height: h, class: 'bar' })
      .forEach(([k, v]) => r.setAttribute(k, v));
    const t = document.createElementNS(ns, 'title');
    t.textContent = `${label(it)}: ${value(it)}`;
    r.append(t);
    kids.push(r);
    if (value2) {
      const h2 = ((H - pad * 2) * value2(it)) / max;
      const r2 = document.createElementNS(ns, 'rect');
      Object.entries({ x: pad + i * bw + bw / 4, y: H - pad - h2, width: Math.max(1, bw / 2 - 1), height: h2, class: 'bar answered' })
        .forEach(([k, v]) => r2.setAttribute(k, v));
      kids.push(r2);
    }
    if (items.length <= 12 || i % Math.ceil(items.length / 12) === 0) {
      const tx = document.createElementNS(ns, 'text');
      tx.setAttribute('x', pad + i * bw + bw / 2);
      tx.setAttribute('y', H - 6);
      tx.setAttribute('text-anchor', 'middle');
      tx.textContent = label(it);
      kids.push(tx);
    }
  });
  svg.replaceChildren(...kids);
  svg.dataset.bars = String(items.length);
}

async function loadStats() {
  const hours = Number($('#stats-period').value);
  const to = new Date();
  const from = new Date(to.getTime() - hours * 3600e3);
  try {
    const s = await api('GET', `/calls/statistics?from=${from.toISOString()}&to=${to.toISOString()}`);
    const kpi = (k, v) => el('div', { class: 'kpi' }, el('span', { class: 'muted' }, k), el('b', {}, v));
    $('#kpis').replaceChildren(
      kpi('Calls', String(s.total || 0)),
      kpi('Answer rate', `${Math.round((s.answerRate || 0) * 100)}%`),
      kpi('Avg duration', fmtDur(s.averageDurationSeconds)),
      kpi('Max duration', fmtDur(s.maxDurationSeconds)),
      kpi('Avg wait', fmtDur(s.averageWaitSeconds)));
    const hourly = s.perHour || [];
    barChart($('#chart-hourly'), hourly, {
      label: (b) => new Date(b.start).getHours() + 'h', value: (b) => Number(b.total || 0), value2: (b) => Number(b.answered || 0),
    });
    barChart($('#chart-outcomes'), (s.byStatus || []).filter((b) => Number(b.count) > 0), {
      label: (b) => b.status.replace('_', ' '), value: (b) => Number(b.count || 0),
    });
    $('#per-user').replaceChildren(...(s.perUser || []).map((u) => el('tr', {},
      el('td', {}, u.name || u.userId), el('td', {}, String(u.total || 0)), el('td', {}, String(u.answered || 0)),
      el('td', {}, `${Math.round((u.answerRate || 0) * 100)}%`), el('td', {}, fmtDur(u.averageDurationSeconds)))));
  } catch (e) {
    toast(e.message);
  }
}

// --- users -----------------------------------------------------------------------

async function loadUsers() {
  try {
    const r = await api('GET', '/users?limit=100');
    $('#users-body').replaceChildren(...(r.users || []).map((u) => el('tr', {},
      el('td', {}, u.name), el('td', {}, u.email), el('td', {}, u.role), el('td', {}, u.sipDevice?.extension || ''),
      el('td', {}, u.status || ''),
      el('td', { class: 'actions' },
        el('button', { class: 'link', onclick: () => editUser(u) }, 'Edit'),
        el('button', { class: 'link', onclick: () => deleteUser(u) }, 'Delete')))));
  } catch (e) {
    $('#users-error').textContent = e.message;
  }
}

function editUser(u) {
  const f = $('#user-form');
  f.id.value = u.id; f.name.value = u.name; f.email.value = u.email; f.role.value = u.role; f.password.value = '';
  $('#user-submit').textContent = 'Save';
  $('#user-cancel').hidden = false;
}

function resetUserForm() {
  $('#user-form').reset();
  $('#user-form').id.value = '';
  $('#user-submit').textContent = 'Create';
  $('#user-cancel').hidden = true;
}

async function saveUser(ev) {
  ev.preventDefault();
  const f = ev.target;
  const body = { name: f.name.value, email: f.email.value, role: f.role.value };
  if (f.password.value) body.password = f.password.value;
  $('#users-error').textContent = '';
  try {
    if (f.id.value) await api('PUT', `/users/${f.id.value}`, body);
    else await api('POST', '/users', body);
    resetUserForm();
    loadUsers();
  } catch (e) {
    $('#users-error').textContent = e.message;
  }
}

async function deleteUser(u) {
  if (!confirm(`Delete ${u.name}?`)) return;
  try { await api('DELETE', `/users/${u.id}`); loadUsers(); } catch (e) { $('#users-error').textContent = e.message; }
}

async function setPresence(ev) {
  const status = ev.target.value;
  if (state.socket?.connected) {
    state.socket.emit('update_status', { status }, (ack) => { if (ack && ack.ok === false) toast(ack.error?.message); });
  } else {
    try { await api('PUT', '/users/status', { status }); } catch (e) { toast(e.message); }
  }
}

// --- routing ----------------------------------------------------------------------

function route() {
  if (!state.me) return;
  const [view, arg] = (location.hash.slice(1) || 'board').split('/');
  if (state.view === 'call' && view !== 'call') leaveCall();
  state.view = view;
  for (const s of document.querySelectorAll('.view')) s.hidden = s.id !== `view-${view}`;
  for (const a of document.querySelectorAll('nav a')) {
    if (a.dataset.view === view) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  ({
    board: refreshBoard, history: () => loadHistory(1), stats: loadStats, users: loadUsers,
    call: () => openCall(arg),
  }[view] || refreshBoard)();
}

function init() {
  const statusSel = $('#history-form').status;
  for (const s of STATUSES) statusSel.append(el('option', { value: s }, s.replace('_', ' ')));
  $('#login-form').addEventListener('submit', login);
  $('#logout').addEventListener('click', logout);
  $('#make-form').addEventListener('submit', makeCall);
  $('#history-form').addEventListener('submit', (e) => { e.preventDefault(); loadHistory(1); });
  $('#prev-page').addEventListener('click', () => loadHistory(state.history.page - 1));
  $('#next-page').addEventListener('click', () => loadHistory(state.history.page + 1));
  $('#note-form').addEventListener('submit', addNote);
  $('#note-text').addEventListener('input', onNoteInput);
  $('#stats-period').addEventListener('change', loadStats);
  $('#user-form').addEventListener('submit', saveUser);
  $('#user-cancel').addEventListener('click', resetUserForm);
  $('#presence').addEventListener('change', setPresence);
  window.addEventListener('hashchange', route);
  if (state.token) start(); else $('#login-view').hidden = false;
}

init();

// The operator console: plain ES module, no framework. REST for actions and
// lists (/api/...), Socket.IO for live events (no polling). Every payload is
// the gateway's JSON (lowerCamelCase, enums as short names like "ringing",
// int64 as strings, RFC 3339 times).

const $ = (sel, root = document) => root.querySelector(sel);
const TERMINAL = new Set(['completed', 'busy', 'no_answer', 'failed', 'canceled']);
const STATUSES = ['initiated', 'ringing', 'in_progress', ...TERMINAL];
const CALL_EVENTS = ['call_initiated', 'call_ringing', 'call_answered', 'call_ended', 'call_transferred',
  'call_held', 'call_resumed'];
// What SendDtmf accepts: 1 to 32 of these.
const DTMF_RE = /^[0-9*#A-D]{1,32}$/;

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
  readyTimer: null,
  readyChain: 0,
  dtmfChain: Promise.resolve(), // the keypad's digits go out one request at a time, in order
  // The open call's timeline: what it shows (up to lastSeq), and the live
  // events that came while it loaded (added once it has).
  timeline: null, // { callId, call, lastSeq: BigInt, loading, pending: [] }
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
// fmtTime with the seconds always shown (the timeline's events come seconds apart).
const fmtTimeSec = (s) => (s ? new Date(s).toLocaleString(undefined, {
  year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: '2-digit', second: '2-digit',
}) : '');
const fmtDur = (sec) => {
  const n = Number(sec || 0);
  return `${Math.floor(n / 60)}:${String(Math.floor(n % 60)).padStart(2, '0')}`; // whole seconds, as the server counts
};
const party = (p) => (p ? [p.name, p.extension || p.number].filter(Boolean).join(' · ') : '');
const badge = (status) => el('span', { class: `badge ${status}` }, (status || '').replace('_', ' '));
// On hold: heldAt is set while a hold is in progress (onHold says which party).
const isHeld = (c) => Boolean(c.heldAt || c.caller?.onHold || c.callee?.onHold);
const heldFor = (since) => Math.max(0, (Date.now() - Date.parse(since)) / 1000);
// The "on hold" badge of a held party, with a timer from heldAt that
// tickHoldTimers() keeps running.
const holdBadge = (c, p) => (p?.onHold && !TERMINAL.has(c.status)
  ? el('span', { class: 'badge on-hold', title: c.heldAt ? `on hold since ${fmtTime(c.heldAt)}` : 'on hold' }, 'on hold',
    c.heldAt ? [' ', el('span', { class: 'hold-timer', 'data-since': c.heldAt }, fmtDur(heldFor(c.heldAt)))] : [])
  : '');
// A party and, while held, its badge.
const partyCell = (c, p) => [party(p), p?.onHold && !TERMINAL.has(c.status) ? ' ' : '', holdBadge(c, p)];
function tickHoldTimers() {
  for (const t of document.querySelectorAll('.hold-timer[data-since]')) {
    const text = fmtDur(heldFor(t.dataset.since));
    if (t.textContent !== text) t.textContent = text;
  }
}
const isSupervisor = () => state.me && (state.me.role === 'admin' || state.me.role === 'supervisor');

// An answer that takes longer than this is an error (the gateway answers
// 503 itself when callsvc is away, so only a lost connection gets here).
const API_TIMEOUT_MS = 15000;

async function api(method, path, body) {
  const res = await fetch(`/api${path}`, {
    method,
    headers: {
      ...(body ? { 'content-type': 'application/json' } : {}),
      ...(state.token ? { authorization: `Bearer ${state.token}` } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(API_TIMEOUT_MS),
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
    // Logging in to the console is going on duty: offline becomes available.
    if (r.user?.status === 'offline') await api('PUT', '/users/status', { status: 'available' }).catch(() => {});
    await start();
  } catch (e) {
    $('#login-error').textContent = e.message;
  }
}

// --- service status ------------------------------------------------------
// /readyz is 200 while callsvc can place calls (database and Asterisk
// reachable). Asked every READY_UP_MS while it is, every READY_DOWN_MS while
// it is not, so the banner comes and goes within seconds.
const READY_UP_MS = 5000;
const READY_DOWN_MS = 2000;

async function checkReady() {
  clearTimeout(state.readyTimer);
  if (!state.token) return;
  // a logout and a new login while this one waits start another chain
  const chain = ++state.readyChain;
  let up = false;
  try {
    up = (await fetch('/readyz', { cache: 'no-store' })).ok;
  } catch {
    up = false; // callgw itself unreachable: the socket's state says so too
  }
  if (chain !== state.readyChain || !state.token) return;
  $('#service-down').hidden = up;
  state.readyTimer = setTimeout(checkReady, up ? READY_UP_MS : READY_DOWN_MS);
}

function logout() {
  clearTimeout(state.readyTimer);
  state.dtmfChain = Promise.resolve();
  state.readyChain++;
  $('#service-down').hidden = true;
  state.token = '';
  localStorage.removeItem('cs.token');
  localStorage.removeItem('cs.lastSeq');
  state.lastSeq = '0';
  state.socket?.disconnect();
  state.socket = null;
  state.me = null;
  state.active.clear();
  state.openCall = null;
  state.timeline = null;
  $('#app-view').hidden = true;
  $('#login-view').hidden = false;
}

// The Log out button: going off duty first (best effort), then forgetting the session.
async function logoutClicked() {
  await api('PUT', '/users/status', { status: 'offline' }).catch(() => {});
  logout();
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
  checkReady();
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
    timelineLive(evt, 'call_note_added');
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
  // on the timeline even when the board has a newer version of the call already
  if (name) timelineLive(evt, name);
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
  // The server lets the called user answer, and supervisors and admins
  // answer for anyone; an outbound call is answered by the far end.
  const me = state.me?.id;
  const mine = call.callee && call.callee.userId === me;
  const iCall = call.caller && call.caller.userId === me;
  if (call.status === 'ringing' && call.direction !== 'outbound' && (mine || (isSupervisor() && !iCall))) {
    out.push(act('Answer', () => doAction(call, 'answer')));
  }
  if (call.status === 'in_progress') {
    // One toggle: the server puts the other party on hold (or takes it off).
    out.push(isHeld(call) ? act('Resume', () => doAction(call, 'resume'), 'resume')
      : act('Hold', () => doAction(call, 'hold'), 'secondary'));
    out.push(act('Transfer', () => transfer(call), 'secondary'));
  }
  out.push(act('Hang up', () => doAction(call, 'hangup'), 'danger'));
  if (detail) out.push(act('Details', () => { location.hash = `#call/${call.id}`; }, 'link'));
  return out;
}

function renderBoard() {
  const body = $('#board-body');
  const calls = [...state.active.values()].sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
  body.replaceChildren(...calls.map((c) => el('tr', { 'data-call': c.id, 'data-status': c.status,
    'data-held': isHeld(c) && !TERMINAL.has(c.status) },
    el('td', {}, badge(c.status)), el('td', {}, c.direction || ''), el('td', {}, partyCell(c, c.caller)),
    el('td', {}, partyCell(c, c.callee)), el('td', {}, fmtTime(c.answeredAt || c.createdAt)),
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
      el('td', { class: 'hold-time' }, Number(c.holdSeconds || 0) > 0 ? fmtDur(c.holdSeconds) : ''),
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
    // the held party's badge next to its name
    ['Status', badge(c.status)], ['Direction', c.direction],
    ['From', el('span', {}, partyCell(c, c.caller))], ['To', el('span', {}, partyCell(c, c.callee))],
    ['Created', fmtTime(c.createdAt)], ['Answered', fmtTime(c.answeredAt)], ['Ended', fmtTime(c.endedAt)],
    ['Duration', fmtDur(c.durationSeconds)], ['Wait', fmtDur(c.waitSeconds)], ['Hangup cause', c.hangupCause || ''],
    ['Transfers', (c.transfers || []).map((t) => `${t.byName || t.byUserId} → ${t.to}`).join(', ')],
  ];
  // the hold time of the holds ended so far, once there is one
  if (Number(c.holdSeconds || 0) > 0) facts.push(['Hold time', el('span', { id: 'hold-time' }, fmtDur(c.holdSeconds))]);
  $('#call-facts').replaceChildren(...facts.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v || '')]));
  $('#call-actions').replaceChildren(...callActions(c, { detail: false }));
  $('#call-dtmf').hidden = c.status !== 'in_progress';
  if (state.timeline && state.timeline.callId === c.id) state.timeline.call = c;
}

// --- call timeline -----------------------------------------------------------------
// The call's stored events, oldest first (GET /api/calls/:id/events), then
// the live ones as they come. Events older than the event log's retention
// (7 days) are gone, so an old call's timeline may be short or empty.

// EventType by number, for a payload with enums as numbers.
const EVENT_TYPES = ['unspecified', 'call_initiated', 'call_ringing', 'call_answered', 'call_ended',
  'call_transferred', 'call_note_added', 'user_status_changed', 'typing', 'resync', 'call_held', 'call_resumed'];
const TIMELINE_SKIP = new Set(['', 'unspecified', 'user_status_changed', 'typing', 'resync']);
const TIMELINE_PAGES = 5;
const TIMELINE_LIMIT = 100;

// The short type ("call_held") whether the JSON says "call_held",
// "EVENT_TYPE_CALL_HELD" or 10; else the Socket.IO event's name.
function eventType(e, fallback = '') {
  let t = e?.type;
  if (typeof t === 'number' || (typeof t === 'string' && /^\d+$/.test(t))) t = EVENT_TYPES[Number(t)];
  t = String(t || '').toLowerCase().replace(/^event_type_/, '');
  return t || fallback;
}

const seqOf = (e) => {
  try { return BigInt(e?.seq || 0); } catch { return 0n; }
};

function timelineWhat(type, e) {
  const c = e.call || {};
  switch (type) {
    case 'call_initiated': return 'Call placed';
    case 'call_ringing': return 'Ringing';
    case 'call_answered': return 'Answered';
    case 'call_held': return 'On hold';
    case 'call_resumed': return 'Resumed';
    case 'call_note_added': return 'Note added';
    case 'call_transferred': {
      // the transfer this event made is the call's last one
      const to = (c.transfers || []).at(-1)?.to;
      return to ? `Transferred to ${to}` : 'Transferred';
    }
    case 'call_ended': return c.hangupCause ? `Ended (${c.hangupCause})` : 'Ended';
    default: return type.replace(/_/g, ' ');
  }
}

// Who did it: "you", else the caller's or callee's name, else the
// transferrer's (the event's call first, then the call as it is now), else
// a note's author; nothing when the event names no user.
function timelineWho(e) {
  const uid = e.userId;
  if (!uid) return '';
  if (state.me && uid === state.me.id) return 'you';
  const calls = [e.call, state.timeline?.call].filter(Boolean);
  for (const c of calls) {
    for (const p of [c.caller, c.callee]) if (p?.userId === uid && p.name) return p.name;
  }
  for (const c of calls) {
    const t = (c.transfers || []).find((x) => x.byUserId === uid && x.byName);
    if (t) return t.byName;
  }
  if (e.note?.authorId === uid && e.note.authorName) return e.note.authorName;
  return '';
}

// Appends the events (in seq order) that come after the last one shown.
function timelineAppend(events) {
  const tl = state.timeline;
  const list = $('#timeline');
  const rows = [];
  for (const { e, type } of events) {
    const seq = seqOf(e);
    if (seq <= tl.lastSeq) continue; // shown already (or older than what is shown)
    tl.lastSeq = seq;
    const who = timelineWho(e);
    rows.push(el('li', { class: 'tl-row', 'data-type': type, 'data-seq': String(e.seq) },
      el('time', { datetime: e.time || undefined }, fmtTimeSec(e.time)), ' ',
      el('span', { class: 'tl-what' }, timelineWhat(type, e)),
      who ? [' ', el('span', { class: 'tl-who' }, `by ${who}`)] : []));
  }
  list.append(...rows);
  $('#timeline-empty').hidden = list.children.length > 0 || tl.loading || $('#timeline-error').textContent !== '';
}

// A call event over Socket.IO: on the open call's timeline if it is newer
// than what is shown (kept aside while the timeline loads).
function timelineLive(evt, name) {
  const tl = state.timeline;
  if (!tl || !evt || !evt.seq || evt.stored === false) return; // an action's answer, or ephemeral
  const callId = evt.callId || evt.call?.id || evt.note?.callId;
  if (callId !== tl.callId || state.openCall !== tl.callId) return;
  const type = eventType(evt, name);
  if (TIMELINE_SKIP.has(type)) return;
  if (tl.loading) tl.pending.push({ e: evt, type });
  else timelineAppend([{ e: evt, type }]);
}

function timelineReset(callId) {
  state.timeline = callId ? { callId, call: null, lastSeq: 0n, loading: true, pending: [] } : null;
  $('#timeline').replaceChildren();
  $('#timeline-empty').hidden = true;
  $('#timeline-more').hidden = true;
  $('#timeline-error').textContent = '';
}

async function loadTimeline(tl) {
  const isCurrent = () => state.timeline === tl && state.openCall === tl.callId;
  let after = '0';
  let more = false;
  try {
    for (let page = 0; page < TIMELINE_PAGES; page++) {
      const q = new URLSearchParams({ afterSeq: after, limit: String(TIMELINE_LIMIT) });
      const r = await api('GET', `/calls/${encodeURIComponent(tl.callId)}/events?${q}`);
      if (!isCurrent()) return;
      timelineAppend((r.events || []).map((e) => ({ e, type: eventType(e) }))
        .filter(({ type }) => !TIMELINE_SKIP.has(type)));
      const next = String(r.nextAfterSeq || '0');
      if (next === '0' || next === after) { more = false; break; }
      after = next;
      more = true;
    }
  } catch (e) {
    if (!isCurrent()) return;
    $('#timeline-error').textContent = `Timeline unavailable: ${e.message}`;
  }
  // the events that came meanwhile, after what the pages showed
  tl.loading = false;
  $('#timeline-more').hidden = !more;
  timelineAppend(tl.pending.sort((a, b) => (seqOf(a.e) < seqOf(b.e) ? -1 : seqOf(a.e) > seqOf(b.e) ? 1 : 0)));
  tl.pending = [];
}

async function openCall(id) {
  state.openCall = id;
  state.dtmfChain = Promise.resolve(); // keys of another call do not hold this one up
  $('#call-dtmf').hidden = true;
  $('#dtmf-form').reset();
  $('#dtmf-sent').textContent = '';
  $('#notes').replaceChildren();
  $('#typing').textContent = '';
  // from now on the call's live events are kept for its timeline
  timelineReset(id);
  const tl = state.timeline;
  try {
    const c = await api('GET', `/calls/${id}`);
    if (state.timeline !== tl) return; // another call was opened meanwhile
    renderCall(c);
    (c.notes || []).forEach(appendNote);
    state.socket?.emit('join_call', { callId: id }, (ack) => {
      if (ack && ack.ok === false) toast(ack.error?.message || 'cannot follow this call');
    });
  } catch (e) {
    toast(e.message);
    return;
  }
  await loadTimeline(tl);
}

// DTMF to the other party of the open call (an IVR's menu, say): the
// keypad sends a key as it is pressed, the form a string. One request at a
// time so the far end hears them in the order pressed; what went out is
// shown under the keypad. Resolves to whether the digits went out.
function sendDtmf(digits) {
  const callId = state.openCall;
  if (!callId || !DTMF_RE.test(digits)) {
    toast('DTMF: 1 to 32 of 0-9 * # A-D');
    return Promise.resolve(false);
  }
  const sent = state.dtmfChain.then(async () => {
    if (state.openCall !== callId) return false; // the call was left (or the user logged out)
    try {
      const c = await api('POST', `/calls/${callId}/dtmf`, { digits });
      onCallEvent('', { call: c });
      if (state.openCall === callId) $('#dtmf-sent').textContent += digits;
      return true;
    } catch (e) {
      toast(e.message);
      return false;
    }
  });
  state.dtmfChain = sent;
  return sent;
}

async function dtmfSubmit(ev) {
  ev.preventDefault();
  const f = ev.target;
  const digits = f.digits.value.trim().toUpperCase();
  if (!digits) return;
  if (await sendDtmf(digits)) f.reset(); // kept on a refusal, to be corrected
}

function leaveCall() {
  if (state.openCall) state.socket?.emit('leave_call', { callId: state.openCall }, () => {});
  state.openCall = null;
  state.timeline = null;
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

// A bar chart in an SVG: one bar per item (value), an optional second bar
// inside it (value2, e.g. the answered part), value labels on top when there
// is room, x labels thinned to about 8, and a <title> per bar for hover and
// screen readers. fmt formats values; cls(item) adds a class to a bar.
function barChart(svg, items, { label, value, value2, max, fmt = String, cls }) {
  const W = 600, H = 240, padX = 24, padTop = 24, padBottom = 28;
  const ns = 'http://www.w3.org/2000/svg';
  const node = (tag, attrs, text) => {
    const n = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    return n;
  };
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  const top = Math.max(1e-9, max ?? Math.max(1, ...items.map(value)));
  const plotH = H - padTop - padBottom;
  const slot = items.length ? (W - padX * 2) / items.length : 0;
  const bw = Math.min(56, Math.max(1, slot * 0.8));
  const every = Math.ceil(items.length / 8) || 1;
  const kids = [node('line', { x1: padX, x2: W - padX, y1: H - padBottom, y2: H - padBottom, class: 'axis' })];
  items.forEach((it, i) => {
    const cx = padX + i * slot + slot / 2;
    const v = value(it);
    const h = (plotH * v) / top;
    const bar = node('rect', { x: cx - bw / 2, y: H - padBottom - h, width: bw, height: Math.max(h, 0),
      class: `bar ${cls ? cls(it) : ''}`.trim() });
    bar.append(node('title', {}, `${label(it)}: ${fmt(v)}${value2 ? `, answered ${fmt(value2(it))}` : ''}`));
    kids.push(bar);
    if (value2) {
      const h2 = (plotH * value2(it)) / top;
      kids.push(node('rect', { x: cx - bw / 4, y: H - padBottom - h2, width: Math.max(1, bw / 2), height: h2,
        class: 'bar answered' }));
    }
    if (items.length <= 31 && v > 0) {
      kids.push(node('text', { x: cx, y: H - padBottom - h - 4, 'text-anchor': 'middle', class: 'value' }, fmt(v)));
    }
    if (i % every === 0) {
      kids.push(node('text', { x: cx, y: H - 8, 'text-anchor': 'middle' }, label(it)));
    }
  });
  svg.replaceChildren(...kids);
  svg.dataset.bars = String(items.length);
}

// Every hour (or day) of [from, to), with the server's buckets (UTC starts)
// filled in and zeros elsewhere, so the axis is time and not just the busy
// hours.
function fillBuckets(buckets, from, to, stepMs) {
  const byStart = new Map((buckets || []).map((b) => [Date.parse(b.start), b]));
  const out = [];
  for (let t = Math.floor(from.getTime() / stepMs) * stepMs; t < to.getTime(); t += stepMs) {
    const b = byStart.get(t);
    out.push({ start: new Date(t), total: Number(b?.total || 0), answered: Number(b?.answered || 0) });
  }
  return out;
}

const OUTCOMES = ['completed', 'busy', 'no_answer', 'failed', 'canceled'];

async function loadStats() {
  const hours = Number($('#stats-period').value);
  // Up to a week: per hour; longer: per day. The period is whole buckets,
  // the last one being the current hour (or day).
  const daily = hours > 168;
  const unit = daily ? 'day' : 'hour';
  const step = daily ? 86400e3 : 3600e3;
  const n = daily ? hours / 24 : hours;
  const to = new Date();
  const from = new Date(Math.floor(to.getTime() / step) * step - (n - 1) * step);
  try {
    const s = await api('GET', `/calls/statistics?from=${from.toISOString()}&to=${to.toISOString()}`);
    const kpi = (k, v) => el('div', { class: 'kpi' }, el('span', { class: 'muted' }, k), el('b', {}, v));
    $('#kpis').replaceChildren(
      kpi('Calls', String(s.total || 0)),
      kpi('Answer rate', `${Math.round((s.answerRate || 0) * 100)}%`),
      kpi('Avg duration', fmtDur(s.averageDurationSeconds)),
      kpi('Max duration', fmtDur(s.maxDurationSeconds)),
      kpi('Avg wait', fmtDur(s.averageWaitSeconds)),
      kpi('Calls held', String(s.held || 0)),
      kpi('Avg hold', fmtDur(s.averageHoldSeconds)));
    const buckets = fillBuckets(daily ? s.perDay : s.perHour, from, to, step);
    const when = (b) => (daily ? `${b.start.getMonth() + 1}/${b.start.getDate()}`
      : hours > 24 && b.start.getHours() !== 0 ? `${b.start.getHours()}h`
        : hours > 24 ? `${b.start.getMonth() + 1}/${b.start.getDate()}` : `${b.start.getHours()}h`);
    $('#chart-hourly-title').textContent = `Calls per ${unit}`;
    barChart($('#chart-hourly'), buckets, {
      label: when, value: (b) => b.total, value2: (b) => b.answered,
    });
    const counts = new Map((s.byStatus || []).map((b) => [b.status, Number(b.count || 0)]));
    barChart($('#chart-outcomes'), OUTCOMES.map((st) => ({ status: st, count: counts.get(st) || 0 })), {
      label: (b) => b.status.replace('_', ' '), value: (b) => b.count, cls: (b) => b.status,
    });
    $('#chart-rate-title').textContent = `Answer rate per ${unit}`;
    barChart($('#chart-rate'), buckets, {
      label: when, value: (b) => (b.total ? b.answered / b.total : 0), max: 1,
      fmt: (v) => `${Math.round(v * 100)}%`, cls: () => 'answered',
    });
    const perUser = s.perUser || [];
    barChart($('#chart-duration'), perUser, {
      label: (u) => (u.name || u.userId).split(' ')[0], value: (u) => Number(u.averageDurationSeconds || 0),
      fmt: fmtDur,
    });
    $('#per-user').replaceChildren(...perUser.map((u) => el('tr', {},
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
  $('#logout').addEventListener('click', logoutClicked);
  $('#make-form').addEventListener('submit', makeCall);
  $('#history-form').addEventListener('submit', (e) => { e.preventDefault(); loadHistory(1); });
  $('#prev-page').addEventListener('click', () => loadHistory(state.history.page - 1));
  $('#next-page').addEventListener('click', () => loadHistory(state.history.page + 1));
  $('#note-form').addEventListener('submit', addNote);
  $('#note-text').addEventListener('input', onNoteInput);
  $('#dtmf-form').addEventListener('submit', dtmfSubmit);
  $('#keypad').replaceChildren(...['1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '0', '#'].map((k) =>
    el('button', { type: 'button', class: 'key secondary', 'aria-label': `Send DTMF ${k}`, onclick: () => sendDtmf(k) }, k)));
  setInterval(tickHoldTimers, 1000);
  $('#stats-period').addEventListener('change', loadStats);
  $('#user-form').addEventListener('submit', saveUser);
  $('#user-cancel').addEventListener('click', resetUserForm);
  $('#presence').addEventListener('change', setPresence);
  window.addEventListener('hashchange', route);
  if (state.token) start(); else $('#login-view').hidden = false;
}

init();

// Fidelity of the ARI simulator against the traces recorded from a real
// Asterisk 22.10.1 (shared/ari/traces, ARI_TRACES_DIR): each trace's REST
// calls are replayed against ari-sim, with the trace's channel and bridge
// ids mapped to the ones the simulator hands out, and what comes back is
// compared with what Asterisk answered:
//   - the same HTTP status for every request;
//   - the same JSON keys and value types in every REST body (recursively);
//   - per channel (and per bridge), the same sequence of events, where an
//     event is its type plus the values a client decides on (Dial status,
//     hangup cause and soft flag, state, STASISSTATUS), and each matched
//     event has the same keys and value types as Asterisk's.
// The simulator runs with ARI_SIM_TECHNOLOGIES=Local like the recorded box
// (no SIP stack), and the dialplan contexts' waits are scaled down.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { startSim, tracesDir, sleep } from './lib/stack.mjs';

// Event types the simulator deliberately does not produce (or does not
// produce in Asterisk's exact order), and why. They are left out of the
// comparison on both sides.
const NOT_COMPARED = {
  ChannelDialplan: 'dialplan steps of Local ;2 far-end halves are not modelled',
  ChannelCallerId: 'caller-id updates of far-end halves are not modelled',
  ChannelConnectedLine: 'connected-line updates are emitted but their order varies in Asterisk',
  'ChannelVarset:BRIDGEPEER': 'BRIDGEPEER is cosmetic; Asterisk itself emits it inconsistently',
  PlaybackStarted: 'media is not modelled', PlaybackFinished: 'media is not modelled',
  RecordingStarted: 'media is not modelled', RecordingFinished: 'media is not modelled',
  ChannelDtmfReceived: 'DTMF is not modelled', ApplicationMoveFailed: '/move is not modelled',
};

// Traces (or their tails) the simulator does not model.
const SKIP_TRACE = {
  'ivr-dtmf-playback-record': 'DTMF, playback and recording (media) are not modelled by ari-sim',
};
// REST lines skipped inside a trace, by a pattern on "METHOD path".
const SKIP_REST = [
  { re: /\/play\?/, why: 'playback is not modelled (ari-sim answers 501)' },
];
// Replay stops at the first line matching this (the rest is not compared).
const STOP_AT = {
  'continue-redirect-move': { re: /\/move\?/, why: '/move between apps is not modelled' },
};

// Far-end timings of the recorded dialplan, scaled down (trace: 2 s, 3 s).
const CONTEXTS = {
  'ring-answer': { mode: 'answer', answer_after_ms: 300 },
  'answer-hangup-3s': { mode: 'answer', answer_after_ms: 0, hangup_after_ms: 1500 },
};

const TS_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$/;

let sim;
before(async () => {
  sim = await startSim({ env: { ARI_SIM_TECHNOLOGIES: 'Local', ARI_SIM_USERS: 'admin:admin' } });
});
after(async () => { if (sim) await sim.stop(); });

function loadTrace(file) {
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
}

function sig(ev) {
  switch (ev.type) {
    case 'ChannelVarset': return `ChannelVarset:${ev.variable}${ev.variable === 'STASISSTATUS' ? '=' + ev.value : ''}`;
    case 'Dial': return `Dial:${ev.dialstatus}`;
    case 'ChannelHangupRequest': return `ChannelHangupRequest:${ev.cause}${ev.soft ? ':soft' : ''}`;
    case 'ChannelDestroyed': return `ChannelDestroyed:${ev.cause}`;
    case 'ChannelStateChange': return `ChannelStateChange:${ev.channel.state}`;
    default: return ev.type;
  }
}
function compared(ev) {
  const k = ev.type === 'ChannelVarset' ? `ChannelVarset:${ev.variable}` : ev.type;
  return !(k in NOT_COMPARED) && !(ev.type in NOT_COMPARED);
}
function evChannel(ev) { return ev.channel || ev.peer || null; }
// Local channel names without the per-call sequence: "Local/1000@answer-wait;1".
function normName(name) { return name.replace(/-[0-9a-f]{8}(;[12])?$/, '$1'); }

// Same keys and JSON types, recursively (arrays: element shapes pairwise).
function shapeDiff(a, b, where = '$') {
  const ta = a === null ? 'null' : Array.isArray(a) ? 'array' : typeof a;
  const tb = b === null ? 'null' : Array.isArray(b) ? 'array' : typeof b;
  if (ta !== tb) return `${where}: ${ta} in trace, ${tb} from ari-sim`;
  if (ta === 'array') {
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const d = shapeDiff(a[i], b[i], `${where}[${i}]`);
      if (d) return d;
    }
    return null;
  }
  if (ta !== 'object') return null;
  const ka = Object.keys(a).sort().join(','), kb = Object.keys(b).sort().join(',');
  if (ka !== kb) return `${where}: keys {${ka}} in trace, {${kb}} from ari-sim`;
  for (const k of Object.keys(a)) {
    const d = shapeDiff(a[k], b[k], `${where}.${k}`);
    if (d) return d;
  }
  return null;
}

// Maps trace ids to simulator ids. Channels are paired by normalized name in
// order of first appearance; bridges by order of creation.
class IdMap {
  constructor() { this.map = new Map(); this.traceOrder = new Map(); this.simOrder = new Map(); this.simIds = new Set(); }
  seenTrace(ch) { this.#seen(this.traceOrder, ch); }
  seenSim(ch) { if (!this.simIds.has(ch.id)) { this.simIds.add(ch.id); this.#seen(this.simOrder, ch); } this.#pair(normName(ch.name)); }
  #seen(order, ch) {
    const n = normName(ch.name);
    if (!order.has(n)) order.set(n, []);
    if (!order.get(n).includes(ch.id)) order.get(n).push(ch.id);
  }
  #pair(n) {
    const t = this.traceOrder.get(n) || [], s = this.simOrder.get(n) || [];
    for (let i = 0; i < Math.min(t.length, s.length); i++) if (!this.map.has(t[i])) this.map.set(t[i], s[i]);
  }
  pairBridge(traceId, simId) { this.map.set(traceId, simId); }
  sim(id) { return this.map.get(id) ?? id; }
}

// The trace channels ari-sim models: those returned by REST and those that
// enter Stasis (a Local ;2 half that only runs far-end dialplan is the far end).
function modelledTraceChannels(lines) {
  const ids = new Set();
  for (const l of lines) {
    if (l.rest && l.body && typeof l.body === 'object' && !Array.isArray(l.body) && /^POST \/ari\/channels(\/create)?(\?|$)/.test(l.rest) && l.body.id) ids.add(l.body.id);
    if (l.type === 'StasisStart') ids.add(l.channel.id);
  }
  return ids;
}

function eventKey(ev) {
  const ch = evChannel(ev);
  if (ch) return `channel:${ch.id}`;
  if (ev.bridge) return `bridge:${ev.bridge.id}`;
  return `other:${ev.type}`;
}

function rewrite(rest, ids) {
  // "POST /ari/channels/<id>/dial?caller=<id>&timeout=30"
  const [method, target] = rest.split(' ');
  const u = new URL(target, 'http://x');
  const segs = u.pathname.split('/').map((s) => (s ? encodeURIComponent(ids.sim(decodeURIComponent(s))) : s));
  const q = [];
  for (const [k, v] of u.searchParams) q.push(`${encodeURIComponent(k)}=${encodeURIComponent(v.split(',').map((x) => ids.sim(x)).join(','))}`);
  return { method, path: segs.join('/') + (q.length ? `?${q.join('&')}` : '') };
}

async function wsUpgrade(url) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.on('open', () => { ws.close(); resolve({ status: 101 }); });
    ws.on('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body, type: res.headers['content-type'] }));
    });
    ws.on('error', () => {});
  });
}

async function replay(t, name, lines) {
  const ids = new IdMap();
  const modelled = modelledTraceChannels(lines);
  const stop = STOP_AT[name];
  const stopIdx = stop ? lines.findIndex((l) => l.rest && stop.re.test(l.rest)) : -1;
  const used = stopIdx >= 0 ? lines.slice(0, stopIdx) : lines;
  const wsLine = name === 'continue-redirect-move' ? 'call-service,call-service-b' : 'call-service';

  // expected per-key event signatures, and how many precede each line
  const expected = new Map();
  const traceEvents = new Map();
  const before = [];
  // A trace line is written when the response arrives, so the events a
  // request causes come before its line. Before replaying a request, wait
  // only for the events Asterisk had sent before that request went out:
  // those stamped earlier than its response (same clock, loopback) by more
  // than the request's own latency.
  const LATENCY_MS = 5;
  const evTime = (l) => Date.parse(l.timestamp.replace(/\+0000$/, 'Z'));
  const seenAt = []; // [key, time] of every compared trace event so far
  for (const l of used) {
    if (l.rest && l.ts) {
      const cutoff = Date.parse(l.ts) - LATENCY_MS;
      const want = new Map();
      for (const [k, tm] of seenAt) if (tm < cutoff) want.set(k, (want.get(k) || 0) + 1);
      before.push(want);
    } else {
      before.push(new Map());
    }
    if (l.rest && l.body && typeof l.body === 'object' && !Array.isArray(l.body) && l.body.id && l.body.name && modelled.has(l.body.id)) ids.seenTrace(l.body);
    if (!l.type) continue;
    const ch = evChannel(l);
    if (ch && !modelled.has(ch.id)) continue;
    if (ch) ids.seenTrace(ch);
    if (!compared(l)) continue;
    const k = eventKey(l);
    if (!expected.has(k)) { expected.set(k, []); traceEvents.set(k, []); }
    expected.get(k).push(sig(l));
    seenAt.push([k, evTime(l)]);
    traceEvents.get(k).push(l);
  }

  const received = new Map();
  const simEvents = new Map();
  const problems = [];
  const ws = new WebSocket(`ws://${sim.addr}/ari/events?app=${wsLine}&api_key=admin:admin`);
  await new Promise((res, rej) => { ws.on('open', res); ws.on('error', rej); });
  ws.on('message', (data) => {
    const ev = JSON.parse(data.toString());
    if (!TS_RE.test(ev.timestamp)) problems.push(`bad timestamp ${ev.timestamp}`);
    if (typeof ev.asterisk_id !== 'string' || typeof ev.application !== 'string') problems.push(`event without asterisk_id/application: ${ev.type}`);
    const ch = evChannel(ev);
    if (ch) ids.seenSim(ch);
    if (!compared(ev)) return;
    const key = ch ? `channel:${ch.id}` : eventKey(ev);
    if (!received.has(key)) { received.set(key, []); simEvents.set(key, []); }
    received.get(key).push(sig(ev));
    simEvents.get(key).push(ev);
  });

  const simKey = (k) => { const [kind, id] = k.split(/:(.*)/s); return `${kind}:${ids.sim(id)}`; };
  const caughtUp = (want) => [...want].every(([k, n]) => (received.get(simKey(k)) || []).length >= n);
  const waitCaughtUp = async (want, ms = 6000) => {
    const end = Date.now() + ms;
    while (!caughtUp(want) && Date.now() < end) await sleep(5);
  };

  const auth = 'Basic ' + Buffer.from('admin:admin').toString('base64');
  const bad = 'Basic ' + Buffer.from('admin:wrong').toString('base64');
  let skipped = 0;
  for (let i = 0; i < used.length; i++) {
    const l = used[i];
    if (!l.rest) continue;
    const skip = SKIP_REST.find((s) => s.re.test(l.rest));
    if (skip) { skipped++; t.diagnostic(`skipped ${l.rest}: ${skip.why}`); continue; }
    await waitCaughtUp(before[i]);
    if (l.rest.endsWith('(websocket upgrade)')) {
      const target = l.rest.split(' ')[1];
      const r = await wsUpgrade(`ws://${sim.addr}${target}`);
      assert.equal(r.status, l.status, `${l.rest}: status`);
      if (typeof l.body === 'object') assert.equal(shapeDiff(l.body, JSON.parse(r.body)), null, l.rest);
      else assert.match(r.body, /^<!DOCTYPE HTML/, `${l.rest}: HTML body`);
      continue;
    }
    // ids the request names must be known first (an inbound channel's id
    // comes from its StasisStart, which may trail the previous response)
    const named = [...modelled].filter((id) => l.rest.includes(id));
    const end = Date.now() + 6000;
    while (named.some((id) => !ids.map.has(id)) && Date.now() < end) await sleep(5);
    const { method, path: p } = rewrite(l.rest, ids);
    const headers = { authorization: l.status === 401 ? bad : auth };
    const init = { method, headers };
    if (l.request_body) { headers['content-type'] = 'application/json'; init.body = JSON.stringify(l.request_body); }
    const res = await fetch(`http://${sim.addr}${p}`, init);
    if (process.env.FID_DEBUG) console.error("REST", method, p, res.status);
    const text = await res.text();
    const body = text ? JSON.parse(text) : null;
    assert.equal(res.status, l.status, `${l.rest} -> ${method} ${p}: status (body ${text})`);
    assert.equal(shapeDiff(l.body, body), null, `${l.rest}: body shape`);
    if (body && !Array.isArray(body) && body.id && body.name) ids.seenSim(body);
    if (/^POST \/ari\/bridges(\?|$)/.test(l.rest) && l.body && body) ids.pairBridge(l.body.id, body.id);
  }
  // everything the trace saw, then a moment for anything extra
  await waitCaughtUp(new Map([...expected].map(([k, v]) => [k, v.length])));
  await sleep(150);
  ws.close();

  assert.deepEqual(problems, []);
  for (const [k, want] of expected) {
    const sk = simKey(k);
    assert.deepEqual(received.get(sk) || [], want, `${name}: events of ${k} (ari-sim ${sk})`);
    const te = traceEvents.get(k), se = simEvents.get(sk);
    for (let i = 0; i < te.length; i++) {
      assert.equal(shapeDiff(te[i], se[i]), null, `${name}: shape of ${te[i].type} #${i} of ${k}`);
    }
  }
  // nothing extra on channels the trace knows
  const mappedSim = new Set([...expected.keys()].map(simKey));
  for (const [k, got] of received) {
    if (!mappedSim.has(k)) assert.fail(`${name}: ari-sim sent events for ${k} that the trace has no match for: ${got.join(', ')}`);
  }
  if (stopIdx >= 0) t.diagnostic(`replay stopped at line ${stopIdx + 1} (${lines[stopIdx].rest}): ${stop.why}`);
  return skipped;
}

const files = fs.existsSync(tracesDir) ? fs.readdirSync(tracesDir).filter((f) => f.endsWith('.jsonl')).sort() : [];

test('traces are present', () => {
  assert.ok(files.length > 0, `no traces in ${tracesDir} (set ARI_TRACES_DIR)`);
});

for (const f of files) {
  const name = path.basename(f, '.jsonl');
  const opts = SKIP_TRACE[name] ? { skip: SKIP_TRACE[name] } : {};
  test(`trace ${name}`, opts, async (t) => {
    await sim.control('POST', '/_sim/restart');
    await sim.control('POST', '/_sim/reset');
    for (const [ctx, cfg] of Object.entries(CONTEXTS)) await sim.control('POST', `/_sim/contexts/${ctx}`, cfg);
    await replay(t, name, loadTrace(path.join(tracesDir, f)));
  });
}

test('not compared, and why', (t) => {
  for (const [k, why] of Object.entries(NOT_COMPARED)) t.diagnostic(`${k}: ${why}`);
});

// PostgreSQL goes away under calls in progress and comes back: callsvc
// refuses what it cannot record (UNAVAILABLE, nothing half-made on the
// Asterisk side), loses no process and no memory (the ASan build runs this
// too), reconciles the calls whose ARI events it could not record, and
// calls work again without a restart. Its own cluster, because the test
// stops it. The last test loses a ringing to an events WebSocket outage
// instead: it needs this suite's long ring timeout (calls.test.mjs has 2 s).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startPostgres, startSim, startCallsvc, grpcApi, waitFor, makeUser as makeUserOn, waitCallStatus,
  expectGrpcError,
  simLegsOf,
  waitSimBridged,
} from './lib/stack.mjs';

let pg; let sim; let svc; let api;

const makeUser = (name) => makeUserOn(api, name);
const waitStatus = (id, status, token) => waitCallStatus(api, id, status, token, 15000);
const legsOf = (id) => simLegsOf(sim, id);
const waitBridged = (id) => waitSimBridged(sim, id);

before(async () => {
  pg = await startPostgres();
  sim = await startSim();
  svc = await startCallsvc({ pg, sim, env: { RING_TIMEOUT_S: '30' } });
  api = grpcApi(svc.addr);
  await sim.control('POST', '/_sim/default', { mode: 'answer', answer_after_ms: 50 });
});

after(async () => {
  api?.close();
  await svc?.stop();
  await sim?.stop();
  await pg?.destroy();
});

test('database restarted under calls in progress: UNAVAILABLE while down, then calls work again', { skip: !!process.env.TEST_DATABASE_URL }, async () => {
  const a = await makeUser('dbdown-a');
  const b = await makeUser('dbdown-b');
  const c = await makeUser('dbdown-c');
  const d = await makeUser('dbdown-d');
  // Calls up on both sides, several of them, so that a flow worker has
  // events of more than one call queued when the connection breaks.
  const up = [];
  for (const [from, to] of [[a, b], [c, d]]) {
    const call = await api.calls.MakeCall({ to: to.ext }, { token: from.token });
    up.push({ call, from, to });
  }
  for (const u of up) await waitStatus(u.call.id, 'CALL_STATUS_IN_PROGRESS', u.from.token);
  const pid = svc.proc.pid;
  const channelsBefore = (await sim.control('GET', '/_sim/state')).channels.length;
  const lostMetric = async () => Number((await api.ops.GetMetrics({})).text
    .match(/\ncallsvc_calls_lost_total (\d+)\n/)[1]);
  const lostBefore = await lostMetric();

  await pg.stop();
  // Nothing can be recorded: refused, and the device leg MakeCall created
  // first is hung up again, so Asterisk keeps no half-made call.
  await expectGrpcError(api.calls.MakeCall({ to: b.ext }, { token: a.token }), 'UNAVAILABLE', /database unavailable/);
  await expectGrpcError(api.calls.HangupCall({ call_id: up[0].call.id }, { token: a.token }), 'UNAVAILABLE');
  await waitFor(async () => (await sim.control('GET', '/_sim/state')).channels.length === channelsBefore,
    { what: 'the refused call\'s device leg hung up' });
  // The far end of the second call hangs up while the database is down:
  // its events cannot be recorded now, and callsvc must survive them.
  const gone = (await legsOf(up[1].call.id)).find((x) => x.id.endsWith('.b'));
  assert.ok(gone, 'the second call has its .b leg');
  await sim.control('POST', `/_sim/channels/${encodeURIComponent(gone.id)}/hangup`, { cause: 16 });
  // An operator sees it in the metrics (OpsService needs no token): the
  // services that need the database are down, the ARI link is not.
  await waitFor(async () => /\ncallsvc_serving\{service="callservice\.v1\.UserService"\} 0\n/
    .test((await api.ops.GetMetrics({})).text), { what: 'metrics: UserService NOT_SERVING', timeoutMs: 20000 });
  const down = (await api.ops.GetMetrics({})).text;
  assert.match(down, /\ncallsvc_ari_connected 1\n/);
  assert.match(down, /\ncallsvc_ready 0\n/);

  await pg.start();
  await waitFor(async () => (await api.health.Check({ service: '' })).status === 'SERVING',
    { what: 'health SERVING', timeoutMs: 20000 });
  assert.match((await api.ops.GetMetrics({})).text, /\ncallsvc_ready 1\n/);
  // Each flow worker's connection broke; each recovers on its next step.
  const done = await api.calls.HangupCall({ call_id: up[0].call.id }, { token: a.token });
  assert.equal(done.status, 'CALL_STATUS_COMPLETED');
  assert.equal(done.hangup_cause, 'normal');
  assert.ok(done.answered_at && done.ended_at, 'answered before the outage, ended after it');
  await waitFor(async () => (await legsOf(up[0].call.id)).length === 0, { what: 'the first call\'s legs gone' });
  // The second call lost its far end's hang-up: once the database answers,
  // its flow worker reconciles, and the call ends failed (lost) with its
  // remaining leg hung up, without anyone hanging up through the API.
  const second = await waitStatus(up[1].call.id, 'CALL_STATUS_FAILED', c.token);
  assert.equal(second.hangup_cause, 'lost');
  assert.equal(await lostMetric(), lostBefore + 1, 'the metrics count the call reconciliation ended');
  await waitFor(async () => (await legsOf(up[1].call.id)).length === 0, { what: 'the second call\'s legs gone' });
  // A new call goes through its whole life.
  const fresh = await api.calls.MakeCall({ to: d.ext }, { token: c.token });
  await waitStatus(fresh.id, 'CALL_STATUS_IN_PROGRESS', c.token);
  const end = await api.calls.HangupCall({ call_id: fresh.id }, { token: d.token });
  assert.equal(end.status, 'CALL_STATUS_COMPLETED');
  const active = await api.calls.ListActiveCalls({}, { token: a.token });
  assert.equal((active.calls || []).filter((x) => x.id === up[0].call.id).length, 0);
  assert.equal(svc.proc.pid, pid);
  assert.equal(svc.proc.exitCode, null);
});

test('a destination that answers while the database is down: the call is answered once it is back', { skip: !!process.env.TEST_DATABASE_URL }, async () => {
  const e = await makeUser('dbdown-e');
  const f = await makeUser('dbdown-f');
  // The destination rings 4 s, long enough for PostgreSQL to stop first.
  await sim.control('POST', `/_sim/endpoints/PJSIP/${f.ext}`, { mode: 'answer', answer_after_ms: 4000 });
  try {
    const call = await api.calls.MakeCall({ to: f.ext }, { token: e.token });
    await waitStatus(call.id, 'CALL_STATUS_RINGING', e.token);
    const dest = async () => (await legsOf(call.id)).find((x) => x.id.endsWith('.b'));
    await waitFor(async () => !!(await dest()), { what: 'the destination leg dialled' });
    await pg.stop();
    assert.notEqual((await dest()).state, 'Up', 'the destination must answer after PostgreSQL stopped');
    // Its ChannelStateChange and Dial ANSWER come now and cannot be
    // recorded: lost.
    await waitFor(async () => (await dest())?.state === 'Up', { what: 'the destination answered', timeoutMs: 10000 });
    await new Promise((r) => setTimeout(r, 500));
    await pg.start();
    // Reconciliation finds the leg Up that the call never saw answer and
    // applies the answer: the call is in progress, both legs bridged.
    const up = await waitStatus(call.id, 'CALL_STATUS_IN_PROGRESS', e.token);
    assert.ok(up.answered_at, 'answered_at set');
    await waitBridged(call.id);
    const end = await api.calls.HangupCall({ call_id: call.id }, { token: e.token });
    assert.equal(end.status, 'CALL_STATUS_COMPLETED');
    assert.equal(end.hangup_cause, 'normal');
  } finally {
    await sim.control('DELETE', `/_sim/endpoints/PJSIP/${f.ext}`);
  }
});

test('the database goes away between dialling the destination and the commit: the destination is taken over, not dialled twice', { skip: !!process.env.TEST_DATABASE_URL }, async () => {
  const g = await makeUser('dbdown-g');
  const h = await makeUser('dbdown-h');
  // g's own phone (MakeCall's first leg) answers after 1 s; the
  // destination answers at once.
  await sim.control('POST', `/_sim/endpoints/PJSIP/${g.ext}`, { mode: 'answer', answer_after_ms: 1000 });
  await sim.control('POST', `/_sim/endpoints/PJSIP/${h.ext}`, { mode: 'answer', answer_after_ms: 0 });
  try {
    const call = await api.calls.MakeCall({ to: h.ext }, { token: g.token });
    // The next ARI request, the destination's create once g answers, is
    // held 3 s: PostgreSQL stops meanwhile, so the step that dials the
    // destination cannot commit, and the row never learns of `.b`.
    await sim.control('POST', '/_sim/faults/delay', { count: 1, ms: 3000 });
    await waitFor(async () => (await sim.control('GET', '/_sim/state')).server.pending_delays === 0,
      { what: 'the destination\'s create held', timeoutMs: 10000 });
    await pg.stop();
    const dest = async () => (await legsOf(call.id)).find((x) => x.id === `${call.id}.b`);
    await waitFor(async () => (await dest())?.state === 'Up',
      { what: 'the destination created, dialled and answered', timeoutMs: 15000 });
    const channel = (await dest()).name; // unique to this channel: a new .b would have another
    await new Promise((r) => setTimeout(r, 500));
    await pg.start();
    // The pass finds g's leg Up unseen and `.b` already there: it takes
    // `.b` over (a second create of the same id would be refused and fail
    // the call), then applies `.b`'s answer too.
    const up = await waitStatus(call.id, 'CALL_STATUS_IN_PROGRESS', g.token);
    assert.equal(up.callee_channel_id, `${call.id}.b`);
    assert.equal((await dest()).name, channel, 'the same destination channel, not a second one');
    assert.match(svc.proc.log(), new RegExp(`${call.id}\\.b was dialled already; taking it over`));
    await waitBridged(call.id);
    const end = await api.calls.HangupCall({ call_id: call.id }, { token: g.token });
    assert.equal(end.status, 'CALL_STATUS_COMPLETED');
  } finally {
    await sim.control('DELETE', '/_sim/faults').catch(() => {});
    await sim.control('DELETE', `/_sim/endpoints/PJSIP/${g.ext}`).catch(() => {});
    await sim.control('DELETE', `/_sim/endpoints/PJSIP/${h.ext}`).catch(() => {});
  }
});

test('the database goes away between the hold in Asterisk and its commit: the hold is undone there', { skip: !!process.env.TEST_DATABASE_URL }, async () => {
  const k = await makeUser('dbdown-k');
  const l = await makeUser('dbdown-l');
  const call = await api.calls.MakeCall({ to: l.ext }, { token: k.token });
  await waitStatus(call.id, 'CALL_STATUS_IN_PROGRESS', k.token);
  await waitBridged(call.id);
  const held = async () => (await legsOf(call.id)).find((x) => x.id === `${call.id}.b`).on_hold;
  const ariRequests = async () => Number((await api.ops.GetMetrics({})).text
    .match(/\ncallsvc_ari_requests_total (\d+)\n/)[1]);
  try {
    // the hold's POST is held 3 s: PostgreSQL stops meanwhile, so the step
    // that records the hold cannot commit
    await sim.control('POST', '/_sim/faults/delay', { count: 1, ms: 3000 });
    const before = await ariRequests();
    const hold = api.calls.HoldCall({ call_id: call.id }, { token: k.token });
    await waitFor(async () => (await sim.control('GET', '/_sim/state')).server.pending_delays === 0,
      { what: 'the hold request held', timeoutMs: 10000 });
    await pg.stop();
    await expectGrpcError(hold, 'UNAVAILABLE');
    // Asterisk held the callee, then was put back as the database has it:
    // two requests (POST and DELETE /hold), nobody on hold
    assert.equal(await ariRequests() - before, 2);
    assert.equal(await held(), false);
    assert.doesNotMatch(svc.proc.log(), /not undone/);
    await pg.start();
    const now = await waitStatus(call.id, 'CALL_STATUS_IN_PROGRESS', k.token);
    assert.equal(now.callee.on_hold, false);
    // and the hold can be made again once the database is back
    const h = await waitFor(async () => api.calls.HoldCall({ call_id: call.id }, { token: k.token })
      .catch(() => null), { what: 'HoldCall to work again', timeoutMs: 15000 });
    assert.equal(h.callee.on_hold, true);
    assert.equal(await held(), true);
    await api.calls.HangupCall({ call_id: call.id }, { token: k.token });
  } finally {
    await sim.control('DELETE', '/_sim/faults').catch(() => {});
  }
});

test('ARI WebSocket down while MakeCall\'s own phone rings: the call is ringing once it is back', async () => {
  const i = await makeUser('dbdown-i');
  const j = await makeUser('dbdown-j');
  await sim.control('POST', `/_sim/endpoints/PJSIP/${i.ext}`, { mode: 'ring_forever' });
  try {
    // No events WebSocket for 2 s: the phone's ChannelStateChange Ringing
    // is never delivered (REST keeps working, so MakeCall goes through).
    await sim.control('POST', '/_sim/faults/drop_websockets', { down_ms: 2000 });
    const call = await api.calls.MakeCall({ to: j.ext }, { token: i.token });
    await waitFor(async () => (await legsOf(call.id)).find((x) => x.id === `${call.id}.a`)?.state === 'Ringing',
      { what: 'the caller\'s phone ringing' });
    assert.equal((await api.calls.GetCall({ call_id: call.id }, { token: i.token })).status,
      'CALL_STATUS_INITIATED', 'callsvc cannot have seen the ringing yet');
    // The reconnect's reconciliation applies it.
    const ringing = await waitStatus(call.id, 'CALL_STATUS_RINGING', i.token);
    assert.ok(ringing.ringing_at, 'ringing_at set');
    const done = await api.calls.HangupCall({ call_id: call.id }, { token: i.token });
    assert.equal(done.status, 'CALL_STATUS_CANCELED');
  } finally {
    await sim.control('DELETE', '/_sim/faults').catch(() => {});
    await sim.control('DELETE', `/_sim/endpoints/PJSIP/${i.ext}`).catch(() => {});
  }
});

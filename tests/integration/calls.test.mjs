// CallService end to end: callsvc + the ARI simulator + PostgreSQL, through
// the gRPC API. Far ends are steered through the simulator's control API
// (/_sim/...): answer, busy, ring forever, hang up, inbound calls, faults.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startPostgres, startSim, startCallsvc, grpcApi, waitFor, sleep, expectGrpcError,
  makeUser as makeUserOn, waitCallStatus, grpc, waitSimBridged,
} from './lib/stack.mjs';

let pg; let sim; let svc; let api;
const users = {};

const makeUser = (name, role) => makeUserOn(api, name, role);

const call = (c, opts) => api.calls.GetCall({ call_id: c }, opts);
const waitStatus = (id, status, token, timeoutMs) => waitCallStatus(api, id, status, token, timeoutMs);
const far = (endpoint, body) => sim.control('POST', `/_sim/endpoints/${endpoint}`, body);
const farClear = (endpoint) => sim.control('DELETE', `/_sim/endpoints/${endpoint}`).catch(() => {});
let numberSeq = 5550000;
const nextNumber = () => String(++numberSeq);

before(async () => {
  pg = await startPostgres();
  sim = await startSim();
  svc = await startCallsvc({ pg, sim, env: { RING_TIMEOUT_S: '2', CALLS_FLOW_WORKERS: '4' } });
  api = grpcApi(svc.addr);
  // devices answer fast unless a test says otherwise
  await sim.control('POST', '/_sim/default', { mode: 'answer', answer_after_ms: 50 });
  users.a = await makeUser('agent-a', 'ROLE_AGENT');
  users.b = await makeUser('agent-b', 'ROLE_AGENT');
  users.s = await makeUser('super', 'ROLE_SUPERVISOR');
  await waitFor(async () => (await sim.control('GET', '/_sim/state')) !== null, { what: 'sim' });
});

after(async () => {
  api?.close();
  await svc?.stop();
  await sim?.stop();
  await pg?.destroy();
});

test('outbound answered, then hung up by the caller through the API', async () => {
  const a = users.a;
  const c0 = await api.calls.MakeCall({ to: nextNumber() }, { token: a.token });
  assert.equal(c0.direction, 'CALL_DIRECTION_OUTBOUND');
  assert.ok(['CALL_STATUS_INITIATED', 'CALL_STATUS_RINGING'].includes(c0.status));
  assert.equal(c0.caller.user_id, a.id);
  const up = await waitStatus(c0.id, 'CALL_STATUS_IN_PROGRESS', a.token);
  assert.equal(up.bridge_id, c0.id);
  assert.ok(up.answered_at);
  await sleep(1100);
  const done = await api.calls.HangupCall({ call_id: c0.id }, { token: a.token });
  assert.equal(done.status, 'CALL_STATUS_COMPLETED');
  assert.equal(done.hangup_cause, 'normal');
  assert.ok(done.duration_seconds >= 1);
  assert.ok(Number(done.version) > Number(c0.version));
  await expectGrpcError(api.calls.HangupCall({ call_id: c0.id }, { token: a.token }),
    'FAILED_PRECONDITION');
  // no channel of the call is left in Asterisk
  await waitFor(async () => {
    const st = await sim.control('GET', '/_sim/state');
    return !JSON.stringify(st).includes(c0.id);
  }, { what: 'the call\'s channels and bridge to be gone' });
});

test('outbound answered, then the far end hangs up', async () => {
  const n = nextNumber();
  await far(`PJSIP/${n}@trunk`, { mode: 'answer', answer_after_ms: 50, hangup_after_ms: 500 });
  const c = await api.calls.MakeCall({ to: n }, { token: users.a.token });
  await waitStatus(c.id, 'CALL_STATUS_IN_PROGRESS', users.a.token);
  const done = await waitStatus(c.id, 'CALL_STATUS_COMPLETED', users.a.token);
  assert.equal(done.hangup_cause, 'normal');
  await farClear(`PJSIP/${n}@trunk`);
});

test('busy and no answer come from ARI', async () => {
  const busy = nextNumber();
  await far(`PJSIP/${busy}@trunk`, { mode: 'busy' });
  const c1 = await api.calls.MakeCall({ to: busy }, { token: users.a.token });
  const b = await waitStatus(c1.id, 'CALL_STATUS_BUSY', users.a.token);
  assert.equal(b.hangup_cause, 'busy');
  assert.equal(b.answered_at, null);

  const silent = nextNumber();
  await far(`PJSIP/${silent}@trunk`, { mode: 'ring_forever' });
  const c2 = await api.calls.MakeCall({ to: silent }, { token: users.a.token });
  await waitStatus(c2.id, 'CALL_STATUS_RINGING', users.a.token);
  const na = await waitStatus(c2.id, 'CALL_STATUS_NO_ANSWER', users.a.token, 8000);
  assert.equal(na.hangup_cause, 'no_answer');
});

test('the caller cancels while the destination rings', async () => {
  const n = nextNumber();
  await far(`PJSIP/${n}@trunk`, { mode: 'ring_forever' });
  const c = await api.calls.MakeCall({ to: n }, { token: users.a.token });
  await waitFor(async () => {
    const x = await call(c.id, { token: users.a.token });
    return x.callee_channel_id ? x : null;
  }, { what: 'the destination to be dialled' });
  const done = await api.calls.HangupCall({ call_id: c.id }, { token: users.a.token });
  assert.equal(done.status, 'CALL_STATUS_CANCELED');
  assert.equal(done.hangup_cause, 'canceled');
});

test('Asterisk down: UNAVAILABLE and no call written', async () => {
  const before = await api.calls.ListCallHistory({ limit: 100 }, { token: users.b.token });
  await sim.control('POST', '/_sim/faults/fail', { count: 1, status: 503 });
  await expectGrpcError(api.calls.MakeCall({ to: nextNumber() }, { token: users.b.token }),
    'UNAVAILABLE');
  const afterH = await api.calls.ListCallHistory({ limit: 100 }, { token: users.b.token });
  assert.equal(afterH.page_info.total, before.page_info.total);
  await sim.control('DELETE', '/_sim/faults');
});

test('bad input', async () => {
  const t = { token: users.a.token };
  for (const to of ['', 'abc', '12 3', '1'.repeat(33), '3001@x', '+', '1+2']) {
    await expectGrpcError(api.calls.MakeCall({ to }, t), 'INVALID_ARGUMENT');
  }
  await expectGrpcError(api.calls.MakeCall({ to: users.a.ext }, t), 'INVALID_ARGUMENT');
  await expectGrpcError(api.calls.GetCall({ call_id: 'nope' }, t), 'INVALID_ARGUMENT');
  await expectGrpcError(api.calls.GetCall({ call_id: '00000000-0000-4000-8000-000000000000' }, t),
    'NOT_FOUND');
  await expectGrpcError(api.calls.HangupCall({ call_id: '00000000-0000-4000-8000-000000000000' }, t),
    'NOT_FOUND');
  await expectGrpcError(api.calls.GetCall({ call_id: 'x' }), 'UNAUTHENTICATED');
  await expectGrpcError(api.calls.ListCallHistory({ cursor: 'garbage' }, t), 'INVALID_ARGUMENT');
});

test('idempotent MakeCall: a retried request_id returns the same call', async () => {
  const n = nextNumber();
  const r1 = await api.calls.MakeCall({ to: n, request_id: 'req-1' }, { token: users.b.token });
  const r2 = await api.calls.MakeCall({ to: n, request_id: 'req-1' }, { token: users.b.token });
  assert.equal(r2.id, r1.id);
  assert.equal(r2.request_id, 'req-1');
  await waitStatus(r1.id, 'CALL_STATUS_IN_PROGRESS', users.b.token);
  await api.calls.HangupCall({ call_id: r1.id }, { token: users.b.token });
});

test('inbound call answered through AnswerCall while ringing', async () => {
  const a = users.a;
  await far(`PJSIP/${a.ext}`, { mode: 'ring_forever' });
  const ch = await sim.control('POST', '/_sim/inbound',
    { extension: a.ext, caller: { name: 'Outside', number: '5551212' } });
  const chId = ch.id || ch.channel?.id;
  const c = await waitFor(async () => {
    const act = await api.calls.ListActiveCalls({}, { token: a.token });
    return act.calls.find((x) => x.direction === 'CALL_DIRECTION_INBOUND' &&
      x.status === 'CALL_STATUS_RINGING');
  }, { what: 'the inbound call to ring' });
  assert.equal(c.callee.user_id, a.id);
  assert.equal(c.caller.number, '5551212');
  // another agent cannot see or answer it
  await expectGrpcError(api.calls.AnswerCall({ call_id: c.id }, { token: users.b.token }), 'NOT_FOUND');
  const ans = await api.calls.AnswerCall({ call_id: c.id }, { token: a.token });
  assert.equal(ans.status, 'CALL_STATUS_IN_PROGRESS');
  await expectGrpcError(api.calls.AnswerCall({ call_id: c.id }, { token: a.token }),
    'FAILED_PRECONDITION');
  // The device, set to ring forever, was asked to auto-answer: its ringing
  // leg was replaced by one carrying the auto-answer headers, which picked up
  // and joined the caller in the call's bridge.
  const st = await waitFor(async () => {
    const now = await call(c.id, { token: a.token });
    if (!now.callee_channel_id.endsWith('.ba')) return null;
    const state = await sim.control('GET', '/_sim/state');
    const dev = state.channels.find((x) => x.id === now.callee_channel_id);
    return dev && dev.state === 'Up' && dev.bridge ? { now, state, dev } : null;
  }, { what: 'the auto-answered device leg in the bridge' });
  assert.equal(st.dev.bridge, st.now.bridge_id);
  assert.ok(!st.state.channels.some((x) => x.id === `${c.id}.b`), 'the ringing leg is gone');
  // the outside caller hangs up
  await sim.control('POST', `/_sim/channels/${encodeURIComponent(chId || c.caller_channel_id)}/hangup`,
    { cause: 16 });
  const done = await waitStatus(c.id, 'CALL_STATUS_COMPLETED', a.token);
  assert.equal(done.hangup_cause, 'normal');
  await farClear(`PJSIP/${a.ext}`);
});

test('internal call between two users shows up for both, then hung up by the callee', async () => {
  const { a, b } = users;
  const c = await api.calls.MakeCall({ to: b.ext }, { token: a.token });
  assert.equal(c.direction, 'CALL_DIRECTION_INTERNAL');
  assert.equal(c.callee.user_id, b.id);
  await waitStatus(c.id, 'CALL_STATUS_IN_PROGRESS', b.token);
  const actA = await api.calls.ListActiveCalls({}, { token: a.token });
  const actB = await api.calls.ListActiveCalls({}, { token: b.token });
  assert.ok(actA.calls.some((x) => x.id === c.id));
  assert.ok(actB.calls.some((x) => x.id === c.id));
  const done = await api.calls.HangupCall({ call_id: c.id }, { token: b.token });
  assert.equal(done.status, 'CALL_STATUS_COMPLETED');
  const act2 = await api.calls.ListActiveCalls({}, { token: a.token });
  assert.ok(!act2.calls.some((x) => x.id === c.id));
});

test('blind transfer: the agent leaves, the target joins, history shows who to whom', async () => {
  const { a, b } = users;
  const c = await api.calls.MakeCall({ to: nextNumber() }, { token: a.token });
  await waitStatus(c.id, 'CALL_STATUS_IN_PROGRESS', a.token);
  await expectGrpcError(api.calls.TransferCall({ call_id: c.id, to: 'x' }, { token: a.token }),
    'INVALID_ARGUMENT');
  const t = await api.calls.TransferCall({ call_id: c.id, to: b.ext }, { token: a.token });
  assert.equal(t.transfers.length, 1);
  assert.equal(t.transfers[0].by_user_id, a.id);
  assert.equal(t.transfers[0].to, b.ext);
  assert.equal(t.transfers[0].to_user_id, b.id);
  // b's device answers and is bridged with the far end; b now sees the call
  const joined = await waitFor(async () => {
    const x = await call(c.id, { token: b.token });
    return x.caller_channel_id.endsWith('.t1') && x.status === 'CALL_STATUS_IN_PROGRESS' ? x : null;
  }, { what: 'the transfer target to join' });
  assert.equal(joined.caller.user_id, b.id);
  // a still sees it in history
  const h = await api.calls.ListCallHistory({ limit: 5 }, { token: a.token });
  assert.ok(h.calls.some((x) => x.id === c.id));
  const done = await api.calls.HangupCall({ call_id: c.id }, { token: b.token });
  assert.equal(done.status, 'CALL_STATUS_COMPLETED');
  assert.equal(done.transfers.length, 1);
  assert.equal(done.transfers[0].to_user_id, b.id);
  // from the transfer on, every event of the call is visible to both the
  // agent who left and the target (the call's parties), and carries the transfer
  const rows = pg.psql(`SELECT count(*), count(*) FILTER (WHERE visible_to @> ARRAY['${a.id}',
    '${b.id}']::uuid[]) FROM call_events WHERE call_id = '${c.id}' AND seq >= (SELECT min(seq)
    FROM call_events WHERE call_id = '${c.id}' AND type = 5)`).split('|').map(Number);
  assert.ok(rows[0] >= 3, `transferred, answered, ended: ${rows[0]}`);
  assert.equal(rows[1], rows[0]);
});

const simLeg = async (channelId) =>
  (await sim.control('GET', '/_sim/state')).channels.find((x) => x.id === channelId);
const eventTypesOf = (id) => pg.psql(`SELECT string_agg(type::text, ',' ORDER BY seq)
  FROM call_events WHERE call_id = '${id}'`).split(',').map(Number);

test('hold and resume: the other party is held in Asterisk, hold time counted, events stored', async () => {
  const { a, b } = users;
  const c = await api.calls.MakeCall({ to: nextNumber() }, { token: a.token });
  await expectGrpcError(api.calls.HoldCall({ call_id: c.id }, { token: a.token }),
    'FAILED_PRECONDITION', /in progress/);
  await waitStatus(c.id, 'CALL_STATUS_IN_PROGRESS', a.token);
  await waitSimBridged(sim, c.id);
  await expectGrpcError(api.calls.ResumeCall({ call_id: c.id }, { token: a.token }),
    'FAILED_PRECONDITION', /not on hold/);
  await expectGrpcError(api.calls.HoldCall({ call_id: c.id }, { token: b.token }), 'NOT_FOUND');
  await expectGrpcError(api.calls.HoldCall({ call_id: 'nope' }, { token: a.token }),
    'INVALID_ARGUMENT');
  // the caller asks: the callee (the outside number) is held
  const held = await api.calls.HoldCall({ call_id: c.id }, { token: a.token });
  assert.equal(held.callee.on_hold, true);
  assert.equal(held.caller.on_hold, false);
  assert.ok(held.held_at);
  assert.equal(held.hold_seconds, 0);
  assert.equal((await simLeg(`${c.id}.b`)).on_hold, true);
  assert.equal((await simLeg(`${c.id}.a`)).on_hold, false);
  await expectGrpcError(api.calls.HoldCall({ call_id: c.id }, { token: a.token }),
    'FAILED_PRECONDITION', /on hold already/);
  const seen = await api.calls.GetCall({ call_id: c.id }, { token: a.token });
  assert.equal(seen.callee.on_hold, true);
  await sleep(1100);
  const resumed = await api.calls.ResumeCall({ call_id: c.id }, { token: a.token });
  assert.equal(resumed.callee.on_hold, false);
  assert.equal(resumed.held_at, null);
  assert.ok(resumed.hold_seconds >= 1, `hold_seconds ${resumed.hold_seconds}`);
  assert.equal((await simLeg(`${c.id}.b`)).on_hold, false);
  // held again, then hung up while held: the hold ends with the call
  await api.calls.HoldCall({ call_id: c.id }, { token: a.token });
  await sleep(1100);
  const done = await api.calls.HangupCall({ call_id: c.id }, { token: a.token });
  assert.equal(done.status, 'CALL_STATUS_COMPLETED');
  assert.equal(done.callee.on_hold, false);
  assert.equal(done.held_at, null);
  assert.ok(done.hold_seconds >= resumed.hold_seconds + 1, `hold_seconds ${done.hold_seconds}`);
  assert.equal(pg.psql(`SELECT coalesce(held_party, '-') || ' ' || coalesce(held_at::text, '-')
    FROM calls WHERE id = '${c.id}'`), '- -');
  // CALL_HELD (10) and CALL_RESUMED (11) are in the event log, in order
  const types = eventTypesOf(c.id);
  assert.deepEqual(types.filter((t) => t >= 10), [10, 11, 10]);
  assert.equal(types.at(-1), 4);
  // the call's timeline: every stored event, oldest first, in pages
  const tl = await api.events.ListCallEvents({ call_id: c.id }, { token: a.token });
  assert.deepEqual(tl.events.map((e) => e.type), pg.psql(`SELECT string_agg(type::text, ',' ORDER BY seq)
    FROM call_events WHERE call_id = '${c.id}'`).split(',').map((t) => [
    null, 'EVENT_TYPE_CALL_INITIATED', 'EVENT_TYPE_CALL_RINGING', 'EVENT_TYPE_CALL_ANSWERED',
    'EVENT_TYPE_CALL_ENDED', 'EVENT_TYPE_CALL_TRANSFERRED', 'EVENT_TYPE_CALL_NOTE_ADDED', null, null,
    null, 'EVENT_TYPE_CALL_HELD', 'EVENT_TYPE_CALL_RESUMED'][Number(t)]));
  assert.equal(Number(tl.next_after_seq), 0);
  const heldEv = tl.events.find((e) => e.type === 'EVENT_TYPE_CALL_HELD');
  assert.equal(heldEv.call.callee.on_hold, true);
  assert.equal(heldEv.user_id, a.id);
  const p1 = await api.events.ListCallEvents({ call_id: c.id, limit: 2 }, { token: a.token });
  assert.equal(p1.events.length, 2);
  const p2 = await api.events.ListCallEvents({ call_id: c.id, after_seq: p1.next_after_seq, limit: 500 },
    { token: a.token });
  assert.deepEqual([...p1.events, ...p2.events].map((e) => e.seq), tl.events.map((e) => e.seq));
  await expectGrpcError(api.events.ListCallEvents({ call_id: c.id }, { token: b.token }), 'NOT_FOUND');
  await expectGrpcError(api.events.ListCallEvents({ call_id: c.id, limit: 501 }, { token: a.token }),
    'INVALID_ARGUMENT');
  await expectGrpcError(api.events.ListCallEvents({ call_id: 'x' }, { token: a.token }), 'INVALID_ARGUMENT');
  assert.equal((await api.events.ListCallEvents({ call_id: c.id }, { token: users.s.token })).events.length,
    tl.events.length);
  // statistics count the calls with a hold, and their average hold
  const st = await api.calls.GetCallStatistics({}, { token: a.token });
  const nHeld = Number(pg.psql(`SELECT count(*) FROM call_parties p JOIN calls c ON c.id = p.call_id
    WHERE p.user_id = '${a.id}' AND c.hold_us > 0`));
  assert.equal(Number(st.held), nHeld);
  assert.ok(nHeld >= 1);
  assert.ok(st.average_hold_seconds >= 1, `average_hold_seconds ${st.average_hold_seconds}`);
});

test('hold by the callee holds the caller; a supervisor holds the party facing the user', async () => {
  const { a, b, s } = users;
  const c = await api.calls.MakeCall({ to: b.ext }, { token: a.token });
  await waitStatus(c.id, 'CALL_STATUS_IN_PROGRESS', b.token);
  await waitSimBridged(sim, c.id);
  const h1 = await api.calls.HoldCall({ call_id: c.id }, { token: b.token });
  assert.equal(h1.caller.on_hold, true);
  assert.equal((await simLeg(`${c.id}.a`)).on_hold, true);
  // anyone in the call (or a supervisor) may take it off hold
  const r1 = await api.calls.ResumeCall({ call_id: c.id }, { token: s.token });
  assert.equal(r1.caller.on_hold, false);
  assert.equal((await simLeg(`${c.id}.a`)).on_hold, false);
  const h2 = await api.calls.HoldCall({ call_id: c.id }, { token: s.token });
  assert.equal(h2.caller.on_hold, true, 'the callee is a user: the caller faces them');
  await api.calls.HangupCall({ call_id: c.id }, { token: a.token });
  const out = await api.calls.MakeCall({ to: nextNumber() }, { token: a.token });
  await waitStatus(out.id, 'CALL_STATUS_IN_PROGRESS', a.token);
  await waitSimBridged(sim, out.id);
  const h3 = await api.calls.HoldCall({ call_id: out.id }, { token: s.token });
  assert.equal(h3.callee.on_hold, true, 'an outside callee faces the agent');
  await api.calls.HangupCall({ call_id: out.id }, { token: s.token });
});

test('a held call transferred: the remaining party comes off hold and joins the target', async () => {
  const { a, b } = users;
  const c = await api.calls.MakeCall({ to: nextNumber() }, { token: a.token });
  await waitStatus(c.id, 'CALL_STATUS_IN_PROGRESS', a.token);
  await waitSimBridged(sim, c.id);
  await api.calls.HoldCall({ call_id: c.id }, { token: a.token });
  assert.equal((await simLeg(`${c.id}.b`)).on_hold, true);
  await sleep(1100);
  await far(`PJSIP/${b.ext}`, { mode: 'answer', answer_after_ms: 1500 });
  const t = await api.calls.TransferCall({ call_id: c.id, to: b.ext }, { token: a.token });
  await farClear(`PJSIP/${b.ext}`);
  assert.equal(t.callee.on_hold, false);
  assert.equal(t.caller.on_hold, false);
  assert.equal(t.held_at, null);
  assert.ok(t.hold_seconds >= 1);
  assert.equal((await simLeg(`${c.id}.b`)).on_hold, false);
  await expectGrpcError(api.calls.HoldCall({ call_id: c.id }, { token: users.s.token }),
    'FAILED_PRECONDITION', /transfer of this call is under way/);
  await waitFor(async () => {
    const x = await call(c.id, { token: b.token });
    return x.caller_channel_id.endsWith('.t1') && x.status === 'CALL_STATUS_IN_PROGRESS';
  }, { what: 'the transfer target to join' });
  // a, who transferred the call away, still sees it but no longer changes it
  assert.equal((await call(c.id, { token: a.token })).id, c.id);
  for (const [m, req] of [['HoldCall', {}], ['SendDtmf', { digits: '1' }], ['HangupCall', {}],
    ['TransferCall', { to: users.s.ext }]]) {
    await expectGrpcError(api.calls[m]({ call_id: c.id, ...req }, { token: a.token }),
      'PERMISSION_DENIED', /no longer in this call/);
  }
  const h = await api.calls.HoldCall({ call_id: c.id.toUpperCase() }, { token: b.token });
  assert.equal(h.callee.on_hold, true);
  await api.calls.HangupCall({ call_id: c.id }, { token: b.token });
});

test('DTMF goes to the other party; bad digits and calls not in progress are refused', async () => {
  const { a } = users;
  const n = nextNumber();
  await far(`PJSIP/${n}@trunk`, { mode: 'ring_forever' });
  const c = await api.calls.MakeCall({ to: n }, { token: a.token });
  for (const digits of ['', '12x', '1'.repeat(33), 'a', '1 2']) {
    await expectGrpcError(api.calls.SendDtmf({ call_id: c.id, digits }, { token: a.token }),
      'INVALID_ARGUMENT', /digits/);
  }
  await expectGrpcError(api.calls.SendDtmf({ call_id: c.id, digits: '1' }, { token: a.token }),
    'FAILED_PRECONDITION', /in progress/);
  await api.calls.HangupCall({ call_id: c.id }, { token: a.token });
  await farClear(`PJSIP/${n}@trunk`);
  const c2 = await api.calls.MakeCall({ to: nextNumber() }, { token: a.token });
  await waitStatus(c2.id, 'CALL_STATUS_IN_PROGRESS', a.token);
  await waitSimBridged(sim, c2.id);
  const before = await call(c2.id, { token: a.token });
  const after = await api.calls.SendDtmf({ call_id: c2.id, digits: '12#' }, { token: a.token });
  await api.calls.SendDtmf({ call_id: c2.id, digits: '*0AD' }, { token: a.token });
  assert.equal(after.version, before.version, 'DTMF changes nothing in the call');
  assert.equal((await simLeg(`${c2.id}.b`)).dtmf_sent, '12#*0AD');
  assert.equal((await simLeg(`${c2.id}.a`)).dtmf_sent, '');
  await api.calls.HangupCall({ call_id: c2.id }, { token: a.token });
});

test('notes, authorization between two agents and a supervisor', async () => {
  const { a, b, s } = users;
  const c = await api.calls.MakeCall({ to: nextNumber() }, { token: a.token });
  await waitStatus(c.id, 'CALL_STATUS_IN_PROGRESS', a.token);
  await expectGrpcError(api.calls.AddCallNote({ call_id: c.id, text: '' }, { token: a.token }),
    'INVALID_ARGUMENT');
  await expectGrpcError(api.calls.AddCallNote({ call_id: c.id, text: 'x'.repeat(4001) },
    { token: a.token }), 'INVALID_ARGUMENT');
  const n = await api.calls.AddCallNote({ call_id: c.id, text: 'customer wants a refund ü' },
    { token: a.token });
  assert.equal(n.author_id, a.id);
  assert.equal(n.author_name, 'agent-a');
  await api.calls.AddCallNote({ call_id: c.id, text: 'y'.repeat(4000) }, { token: a.token });
  // b: not a party -> NOT_FOUND everywhere
  await expectGrpcError(call(c.id, { token: b.token }), 'NOT_FOUND');
  await expectGrpcError(api.calls.AddCallNote({ call_id: c.id, text: 'hi' }, { token: b.token }), 'NOT_FOUND');
  await expectGrpcError(api.calls.HangupCall({ call_id: c.id }, { token: b.token }), 'NOT_FOUND');
  const hb = await api.calls.ListCallHistory({ user_id: a.id, limit: 100 }, { token: b.token });
  assert.ok(!hb.calls.some((x) => x.id === c.id)); // agents: user_id ignored, own calls only
  // the supervisor sees it, with its notes, and may hang it up
  const sv = await call(c.id, { token: s.token });
  assert.equal(sv.notes.length, 2);
  assert.equal(sv.notes[0].text, 'customer wants a refund ü');
  const done = await api.calls.HangupCall({ call_id: c.id }, { token: s.token });
  assert.equal(done.status, 'CALL_STATUS_COMPLETED');
  assert.deepEqual(done.notes.map((x) => x.id), sv.notes.map((x) => x.id));
});

test('history filters and pagination (page and cursor), newest first', async () => {
  const { s, a } = users;
  const all = await api.calls.ListCallHistory({ user_id: a.id, limit: 100 }, { token: s.token });
  assert.ok(all.calls.length >= 5);
  for (let i = 1; i < all.calls.length; i++) {
    assert.ok(Number(all.calls[i - 1].created_at.seconds) >= Number(all.calls[i].created_at.seconds));
  }
  // cursor pages of 2 reproduce the full list exactly
  const ids = [];
  let cursor = '';
  for (;;) {
    const p = await api.calls.ListCallHistory({ user_id: a.id, limit: 2, cursor }, { token: s.token });
    ids.push(...p.calls.map((x) => x.id));
    if (!p.next_cursor) break;
    cursor = p.next_cursor;
  }
  assert.deepEqual(ids, all.calls.map((x) => x.id));
  // page/limit
  const p2 = await api.calls.ListCallHistory({ user_id: a.id, page: 2, limit: 2 }, { token: s.token });
  assert.deepEqual(p2.calls.map((x) => x.id), all.calls.slice(2, 4).map((x) => x.id));
  assert.equal(p2.page_info.total, all.calls.length);
  assert.equal(p2.page_info.pages, Math.ceil(all.calls.length / 2));
  // filters
  const busy = await api.calls.ListCallHistory({ user_id: a.id, status: 'CALL_STATUS_BUSY' }, { token: s.token });
  assert.ok(busy.calls.length >= 1 && busy.calls.every((x) => x.status === 'CALL_STATUS_BUSY'));
  const inb = await api.calls.ListCallHistory({ direction: 'CALL_DIRECTION_INBOUND' }, { token: s.token });
  assert.ok(inb.calls.length >= 1 && inb.calls.every((x) => x.direction === 'CALL_DIRECTION_INBOUND'));
  const future = await api.calls.ListCallHistory({ from: { seconds: Math.floor(Date.now() / 1000) + 3600 } },
    { token: s.token });
  assert.equal(future.calls.length, 0);
});

test('statistics match the calls made', async () => {
  const { s, a } = users;
  const h = await api.calls.ListCallHistory({ user_id: a.id, limit: 100 }, { token: s.token });
  const st = await api.calls.GetCallStatistics({ user_id: a.id }, { token: s.token });
  assert.equal(Number(st.total), h.calls.length);
  const byStatus = Object.fromEntries(st.by_status.map((x) => [x.status, Number(x.count)]));
  for (const name of ['CALL_STATUS_COMPLETED', 'CALL_STATUS_BUSY', 'CALL_STATUS_NO_ANSWER', 'CALL_STATUS_CANCELED']) {
    assert.equal(byStatus[name], h.calls.filter((x) => x.status === name).length, name);
  }
  const answered = h.calls.filter((x) => x.answered_at).length;
  assert.ok(Math.abs(st.answer_rate - answered / h.calls.length) < 1e-9);
  const durs = h.calls.filter((x) => x.answered_at && x.ended_at).map((x) => x.duration_seconds);
  assert.ok(Number(st.max_duration_seconds) >= Math.max(...durs));
  assert.equal(st.per_hour.reduce((t, x) => t + Number(x.total), 0), h.calls.length);
  assert.ok(st.per_user.some((u) => u.user_id === a.id && Number(u.total) === h.calls.length));
  // an agent gets their own figures and no per-user breakdown
  const mine = await api.calls.GetCallStatistics({}, { token: a.token });
  assert.equal(Number(mine.total), h.calls.length);
  assert.equal(mine.per_user.length, 0);
});

test('ARI WebSocket dropped mid-call: the call goes on and ends right', async () => {
  const n = nextNumber();
  const c = await api.calls.MakeCall({ to: n }, { token: users.a.token });
  const up = await waitStatus(c.id, 'CALL_STATUS_IN_PROGRESS', users.a.token);
  await sim.control('POST', '/_sim/faults/drop_websockets');
  await sleep(1500); // reconnect with backoff, reconciliation finds both legs
  const still = await call(c.id, { token: users.a.token });
  assert.equal(still.status, 'CALL_STATUS_IN_PROGRESS');
  await sim.control('POST', `/_sim/channels/${encodeURIComponent(up.callee_channel_id)}/hangup`, { cause: 16 });
  const done = await waitStatus(c.id, 'CALL_STATUS_COMPLETED', users.a.token);
  assert.equal(done.hangup_cause, 'normal');
});

// One sample of callsvc's metrics (OpsService, no token), as a number.
async function metric(name) {
  const m = (await api.ops.GetMetrics({})).text.match(new RegExp(`\\n${name} (\\d+)\\n`));
  assert.ok(m, `metric ${name}`);
  return Number(m[1]);
}

test('ARI WebSocket down while the destination answers: the call is answered once it is back', async () => {
  const n = nextNumber();
  await far(`PJSIP/${n}@trunk`, { mode: 'answer', answer_after_ms: 1800 });
  try {
    const c = await api.calls.MakeCall({ to: n }, { token: users.a.token });
    await waitStatus(c.id, 'CALL_STATUS_RINGING', users.a.token);
    const dest = async () => (await sim.control('GET', '/_sim/state')).channels
      .find((x) => x.id === `${c.id}.b`);
    await waitFor(async () => !!(await dest()), { what: 'the destination leg dialled' });
    // No events WebSocket for 3 s: the destination's answer is never
    // delivered (REST keeps working).
    const reconnects = await metric('callsvc_ari_reconnects_total');
    const caught = await metric('callsvc_calls_caught_up_total');
    await sim.control('POST', '/_sim/faults/drop_websockets', { down_ms: 3000 });
    // the metrics show the link down while it is
    await waitFor(async () => (await metric('callsvc_ari_connected')) === 0, { what: 'metrics: ARI down' });
    await waitFor(async () => (await dest())?.state === 'Up', { what: 'the destination answered' });
    assert.equal((await call(c.id, { token: users.a.token })).status, 'CALL_STATUS_RINGING',
      'callsvc cannot have seen the answer yet');
    // The reconnect's reconciliation finds the leg Up and answers the call.
    const up = await waitStatus(c.id, 'CALL_STATUS_IN_PROGRESS', users.a.token, 15000);
    assert.ok(up.answered_at);
    await waitSimBridged(sim, c.id);
    assert.equal(await metric('callsvc_ari_connected'), 1);
    assert.ok(await metric('callsvc_ari_reconnects_total') > reconnects, 'one more reconnect counted');
    assert.equal(await metric('callsvc_calls_caught_up_total'), caught + 1, 'the unseen answer counted');
    await waitFor(async () => (await metric('callsvc_calls_flow_queued')) === 0, { what: 'the flow queues empty' });
    const done = await api.calls.HangupCall({ call_id: c.id }, { token: users.a.token });
    assert.equal(done.status, 'CALL_STATUS_COMPLETED');
    assert.equal(done.hangup_cause, 'normal');
  } finally {
    await sim.control('DELETE', '/_sim/faults').catch(() => {});
    await sim.control('DELETE', `/_sim/endpoints/PJSIP/${n}@trunk`).catch(() => {});
  }
});

test('ARI WebSocket down while the caller\'s own phone answers: the destination is dialled once it is back', async () => {
  const { a } = users;
  const n = nextNumber();
  await far(`PJSIP/${a.ext}`, { mode: 'answer', answer_after_ms: 1800 });
  try {
    const c = await api.calls.MakeCall({ to: n }, { token: a.token });
    const mine = async () => (await sim.control('GET', '/_sim/state')).channels
      .find((x) => x.id === `${c.id}.a`);
    await sim.control('POST', '/_sim/faults/drop_websockets', { down_ms: 3000 });
    await waitFor(async () => (await mine())?.state === 'Up', { what: 'the caller\'s phone answered' });
    assert.equal((await call(c.id, { token: a.token })).callee_channel_id, '',
      'callsvc cannot have seen the answer yet');
    // The reconnect's reconciliation applies the answer: the destination
    // is dialled, answers (default far end) and the call is up.
    const up = await waitStatus(c.id, 'CALL_STATUS_IN_PROGRESS', a.token, 15000);
    assert.equal(up.callee_channel_id, `${c.id}.b`);
    const done = await api.calls.HangupCall({ call_id: c.id }, { token: a.token });
    assert.equal(done.status, 'CALL_STATUS_COMPLETED');
  } finally {
    await sim.control('DELETE', '/_sim/faults').catch(() => {});
    await sim.control('DELETE', `/_sim/endpoints/PJSIP/${a.ext}`).catch(() => {});
  }
});

test('simulator restart mid-call: the call ends failed with cause lost (a hold in progress ends with it)', async () => {
  const c = await api.calls.MakeCall({ to: nextNumber() }, { token: users.a.token });
  await waitStatus(c.id, 'CALL_STATUS_IN_PROGRESS', users.a.token);
  await waitSimBridged(sim, c.id);
  await api.calls.HoldCall({ call_id: c.id }, { token: users.a.token });
  await sleep(1100);
  await sim.control('POST', '/_sim/restart', { down_ms: 300 });
  const done = await waitStatus(c.id, 'CALL_STATUS_FAILED', users.a.token, 15000);
  assert.equal(done.hangup_cause, 'lost');
  assert.equal(done.callee.on_hold, false);
  assert.equal(done.held_at, null);
  assert.ok(done.hold_seconds >= 1, `hold_seconds ${done.hold_seconds}`);
  await sim.control('POST', '/_sim/default', { mode: 'answer', answer_after_ms: 50 });
});

test('callsvc asks Asterisk for the event types it acts on, again after every reconnect', async () => {
  const wanted = ['StasisStart', 'StasisEnd', 'ChannelStateChange', 'ChannelDestroyed',
    'ChannelHangupRequest', 'Dial'];
  const auth = { authorization: 'Basic ' + Buffer.from('admin:admin').toString('base64') };
  const allowed = async () => {
    const res = await fetch(`${sim.url}/ari/applications/call-service`, { headers: auth });
    return res.status === 200 ? (await res.json()).events_allowed.map((e) => e.type).sort() : [];
  };
  await waitFor(async () => (await allowed()).length > 0, { what: 'event filter' });
  assert.deepEqual(await allowed(), [...wanted].sort());
  // the simulator forgets it with the application when the WebSocket drops
  await sim.control('POST', '/_sim/faults/drop_websockets');
  await waitFor(async () => (await allowed()).length === wanted.length, { what: 'filter set again' });
  // and calls work as before on the filtered stream
  const c = await api.calls.MakeCall({ to: nextNumber() }, { token: users.a.token });
  await waitStatus(c.id, 'CALL_STATUS_IN_PROGRESS', users.a.token);
  const done = await api.calls.HangupCall({ call_id: c.id }, { token: users.a.token });
  assert.equal(done.status, 'CALL_STATUS_COMPLETED');
});

test('100 concurrent calls, every final status and duration right', async () => {
  const { a } = users;
  const plan = [];
  for (let i = 0; i < 100; i++) {
    const n = nextNumber();
    const kind = ['answer', 'busy', 'answer', 'hangup'][i % 4];
    if (kind === 'busy') await far(`PJSIP/${n}@trunk`, { mode: 'busy' });
    if (kind === 'hangup') await far(`PJSIP/${n}@trunk`, { mode: 'answer', answer_after_ms: 50, hangup_after_ms: 3000 });
    plan.push({ n, kind });
  }
  await waitFor(async () => (await sim.control('GET', '/_sim/state')) && true);
  const calls = await Promise.all(plan.map((p) => api.calls.MakeCall({ to: p.n }, { token: a.token, deadlineMs: 30000 })));
  // the answered ones are hung up by us after ~1 s
  await Promise.all(calls.map(async (c, i) => {
    if (plan[i].kind !== 'answer') return;
    await waitStatus(c.id, 'CALL_STATUS_IN_PROGRESS', a.token, 20000);
    await sleep(1000);
    await api.calls.HangupCall({ call_id: c.id }, { token: a.token, deadlineMs: 20000 });
  }));
  const expect = { answer: 'CALL_STATUS_COMPLETED', hangup: 'CALL_STATUS_COMPLETED', busy: 'CALL_STATUS_BUSY' };
  const finals = await Promise.all(calls.map((c, i) => waitStatus(c.id, expect[plan[i].kind], a.token, 20000)));
  // Durations: consistent with the call's own timestamps, and as long as the
  // plan made them (we hang up >= 1 s after seeing the answer; the far end
  // hangs up 3 s after answering). No upper bound from wall time: on a loaded
  // machine (ASan) a hang-up may be handled late, which is not an error.
  const secs = (t) => Number(t.seconds) + t.nanos / 1e9;
  for (let i = 0; i < finals.length; i++) {
    const f = finals[i];
    assert.ok(f.ended_at, 'ended');
    if (plan[i].kind === 'busy') { assert.equal(f.answered_at, null); continue; }
    const span = secs(f.ended_at) - secs(f.answered_at);
    assert.ok(Math.abs(f.duration_seconds - span) <= 1, `duration ${f.duration_seconds} vs ${span}`);
    const min = plan[i].kind === 'answer' ? 1 : 2;
    assert.ok(f.duration_seconds >= min, `${plan[i].kind}: duration ${f.duration_seconds}`);
  }
  const act = await api.calls.ListActiveCalls({}, { token: a.token });
  assert.equal(act.calls.filter((x) => calls.some((c) => c.id === x.id)).length, 0);
});

test('two hang-ups of each of many calls at once: one ends it, the other gets FAILED_PRECONDITION', async () => {
  // Fired together, commands and ARI events of several calls queue on the
  // same flow workers and share transactions (calls__steps): the losing
  // hang-up of each pair fails after its row was read, inside such a batch,
  // and must be rolled back to its savepoint alone.
  const { a } = users;
  const calls = await Promise.all(Array.from({ length: 16 },
    () => api.calls.MakeCall({ to: nextNumber() }, { token: a.token, deadlineMs: 20000 })));
  await Promise.all(calls.map((c) => waitStatus(c.id, 'CALL_STATUS_IN_PROGRESS', a.token, 20000)));
  const results = await Promise.all(calls.map((c) => Promise.allSettled([0, 1].map(
    () => api.calls.HangupCall({ call_id: c.id }, { token: a.token, deadlineMs: 20000 })))));
  for (let i = 0; i < calls.length; i++) {
    const won = results[i].filter((r) => r.status === 'fulfilled');
    const lost = results[i].filter((r) => r.status === 'rejected');
    assert.equal(won.length, 1, `call ${i}: one hang-up ends it`);
    assert.equal(won[0].value.status, 'CALL_STATUS_COMPLETED');
    assert.equal(lost.length, 1, `call ${i}: the other is refused`);
    assert.equal(lost[0].reason.code, grpc.status.FAILED_PRECONDITION, String(lost[0].reason));
    const ended = pg.psql(`SELECT count(*) FROM call_events WHERE call_id = '${calls[i].id}' AND type = 4`);
    assert.equal(ended, '1', `call ${i}: one call_ended event`);
    const row = await api.calls.GetCall({ call_id: calls[i].id }, { token: a.token });
    assert.equal(row.status, 'CALL_STATUS_COMPLETED');
  }
});

// Events of real calls: callsvc + the ARI simulator + PostgreSQL, two
// callsvc instances on one database. A call made through instance A is
// watched on A and on B; its events arrive in order with the call as it is
// after each change; an agent outside the call sees none of it; a watcher
// that drops mid-call resumes without loss or repeat.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  grpcApi, makeUser as makeUserOn, sleep, startCallsvc, startPostgres, startSim, waitFor,
} from './lib/stack.mjs';

let pg; let sim; let svcA; let svcB; let apiA; let apiB;
const users = {};
const open = new Set();

const makeUser = (name, role) => makeUserOn(apiA, name, role);

function watch(api, token, req = {}) {
  const w = { events: [], error: null, ended: false };
  w.stream = api.events.WatchEvents(req, { token });
  open.add(w);
  w.stream.on('data', (ev) => w.events.push(ev));
  w.stream.on('error', (e) => { w.error = e; w.ended = true; open.delete(w); });
  w.stream.on('end', () => { w.ended = true; open.delete(w); });
  w.forCall = (id) => w.events.filter((e) => e.call_id === id);
  w.cancel = () => { w.stream.cancel(); open.delete(w); };
  return w;
}

const headSeq = () => Number(pg.psql('SELECT coalesce(max(seq), 0) FROM call_events'));
const STATUS_OF = {
  EVENT_TYPE_CALL_INITIATED: 'CALL_STATUS_INITIATED',
  EVENT_TYPE_CALL_RINGING: 'CALL_STATUS_RINGING',
  EVENT_TYPE_CALL_ANSWERED: 'CALL_STATUS_IN_PROGRESS',
};

before(async () => {
  pg = await startPostgres();
  sim = await startSim();
  svcA = await startCallsvc({ pg, sim, name: 'callsvc-a', env: { RING_TIMEOUT_S: '5' } });
  svcB = await startCallsvc({ pg, sim, migrate: false, seed: false, name: 'callsvc-b' });
  apiA = grpcApi(svcA.addr);
  apiB = grpcApi(svcB.addr);
  await sim.control('POST', '/_sim/default', { mode: 'answer', answer_after_ms: 100 });
  users.a = await makeUser('ann', 'ROLE_AGENT');
  users.b = await makeUser('bob', 'ROLE_AGENT');
  users.c = await makeUser('cid', 'ROLE_AGENT');
  users.s = await makeUser('sue', 'ROLE_SUPERVISOR');
  // something in the log, so that after_seq = head is a replay point
  await apiA.users.SetStatus({ status: 'PRESENCE_STATUS_BUSY' }, { token: users.s.token });
  await waitFor(() => headSeq() > 0, { what: 'a first event' });
});

after(async () => {
  for (const w of open) w.stream.cancel();
  apiA?.close();
  apiB?.close();
  await svcA?.stop();
  await svcB?.stop();
  await sim?.stop();
  await pg?.destroy();
});

test('an internal call: both parties and supervisors on both instances see it in order; others nothing', async () => {
  const { a, b, c, s } = users;
  const head = String(headSeq());
  const wa = watch(apiA, a.token, { after_seq: head });
  const wb = watch(apiB, b.token, { after_seq: head }); // the other instance
  const wc = watch(apiA, c.token, { after_seq: head });
  const ws = watch(apiB, s.token, { after_seq: head });
  const call = await apiA.calls.MakeCall({ to: b.ext }, { token: a.token });
  await waitFor(async () => (await apiA.calls.GetCall({ call_id: call.id }, { token: a.token }))
    .status === 'CALL_STATUS_IN_PROGRESS', { what: 'the call to be answered' });
  const note = await apiA.calls.AddCallNote({ call_id: call.id, text: 'hello' }, { token: a.token });
  const done = await apiA.calls.HangupCall({ call_id: call.id }, { token: b.token });
  for (const w of [wa, wb, ws]) {
    await waitFor(() => w.forCall(call.id).some((e) => e.type === 'EVENT_TYPE_CALL_ENDED'),
      { what: 'the call_ended event' });
  }
  const evs = wa.forCall(call.id);
  const types = evs.map((e) => e.type);
  assert.equal(types[0], 'EVENT_TYPE_CALL_INITIATED');
  assert.ok(types.includes('EVENT_TYPE_CALL_ANSWERED'));
  assert.equal(types.at(-1), 'EVENT_TYPE_CALL_ENDED');
  assert.ok(types.indexOf('EVENT_TYPE_CALL_NOTE_ADDED') > types.indexOf('EVENT_TYPE_CALL_ANSWERED'));
  // seqs grow, versions grow, each call event carries the call after the change
  let lastVersion = 0;
  evs.forEach((e, i) => {
    if (i > 0) assert.ok(Number(e.seq) > Number(evs[i - 1].seq));
    if (e.payload === 'call') {
      assert.equal(e.call.id, call.id);
      assert.ok(Number(e.call.version) > lastVersion, 'version grows');
      lastVersion = Number(e.call.version);
      if (STATUS_OF[e.type]) assert.equal(e.call.status, STATUS_OF[e.type]);
    }
  });
  const ended = evs.at(-1);
  assert.equal(ended.call.status, done.status);
  assert.equal(ended.call.status, 'CALL_STATUS_COMPLETED');
  assert.equal(ended.call.hangup_cause, done.hangup_cause);
  assert.deepEqual(ended.call.notes.map((x) => x.id), [note.id]); // the call after the change
  // the event's call is the stored row to the microsecond: times, duration, wait and version
  // (callsvc fills them in itself and sends the UPDATE with the COMMIT without reading it back)
  const stored = await apiA.calls.GetCall({ call_id: call.id }, { token: a.token });
  assert.deepEqual(ended.call, stored);
  assert.deepEqual(done, stored);
  // an internal call without transfers: visible to exactly its two parties
  assert.equal(pg.psql(`SELECT count(*) FROM call_events WHERE call_id = '${call.id}'
    AND visible_to <> (SELECT array_agg(u ORDER BY u) FROM unnest(ARRAY['${a.id}',
    '${b.id}']::uuid[]) u)`), '0');
  const n = evs.find((e) => e.type === 'EVENT_TYPE_CALL_NOTE_ADDED');
  assert.equal(n.payload, 'note');
  assert.equal(n.note.id, note.id);
  assert.equal(n.note.text, 'hello');
  // the callee on B and the supervisor on B saw the same events
  assert.deepEqual(wb.forCall(call.id).map((e) => e.seq), evs.map((e) => e.seq));
  assert.deepEqual(ws.forCall(call.id).map((e) => e.seq), evs.map((e) => e.seq));
  // an agent outside the call: nothing at all of it
  await sleep(300);
  assert.equal(wc.forCall(call.id).length, 0);
  for (const w of [wa, wb, wc, ws]) w.cancel();
});

test('a watcher dropped mid-call resumes with nothing lost and nothing repeated', async () => {
  const { a } = users;
  const head = String(headSeq());
  const w1 = watch(apiA, a.token, { after_seq: head });
  const call = await apiA.calls.MakeCall({ to: '5551000' }, { token: a.token });
  await waitFor(() => w1.forCall(call.id).some((e) => e.type === 'EVENT_TYPE_CALL_ANSWERED'),
    { what: 'answered' });
  w1.cancel();
  const got1 = w1.events.map((e) => Number(e.seq));
  await apiA.calls.AddCallNote({ call_id: call.id, text: 'while away' }, { token: a.token });
  await apiA.calls.HangupCall({ call_id: call.id }, { token: a.token });
  // resume on the other instance from the last event received
  const w2 = watch(apiB, a.token, { after_seq: String(got1.at(-1)) });
  await waitFor(() => w2.forCall(call.id).some((e) => e.type === 'EVENT_TYPE_CALL_ENDED'),
    { what: 'the rest of the call' });
  const all = [...got1, ...w2.events.map((e) => Number(e.seq))];
  const truth = pg.psql(`SELECT string_agg(seq::text, ',' ORDER BY seq) FROM call_events
    WHERE seq > ${head} AND '${a.id}' = ANY(visible_to)`).split(',').map(Number);
  assert.deepEqual(all.filter((x) => x <= truth.at(-1)), truth);
  w2.cancel();
});

test('typing in a call reaches the other party on the other instance', async () => {
  const { a, b } = users;
  await sim.control('POST', `/_sim/endpoints/PJSIP/${b.ext}`, { mode: 'ring_forever' });
  const call = await apiA.calls.MakeCall({ to: b.ext }, { token: a.token });
  const wb = watch(apiB, b.token, { call_id: call.id });
  await waitFor(async () => {
    await apiA.events.PublishTyping({ call_id: call.id, typing: true }, { token: a.token });
    await sleep(100);
    return wb.events.some((e) => e.type === 'EVENT_TYPE_TYPING');
  }, { what: 'typing on B' });
  const t = wb.events.find((e) => e.type === 'EVENT_TYPE_TYPING');
  assert.equal(t.typing.user_id, a.id);
  assert.equal(t.typing.call_id, call.id);
  assert.equal(t.stored, false);
  await apiA.calls.HangupCall({ call_id: call.id }, { token: a.token });
  await sim.control('DELETE', `/_sim/endpoints/PJSIP/${b.ext}`).catch(() => {});
  wb.cancel();
});

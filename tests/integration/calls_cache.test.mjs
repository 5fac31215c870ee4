// The calls cache (src/calls/listcache.h) end to end: two callsvc instances
// on one PostgreSQL, A with the ARI simulator (makes the calls), B without
// Asterisk (reads only). Both keep cached call lists for ten minutes
// (CALLS_CACHE_TTL_MS), so only the events hub's generations can make them
// see a change: a call made through A shows at once to A's own client and
// promptly in B's active list, history and statistics; a note shows; a row
// changed by SQL without an event is not seen until the next event for that
// user; a rename reaches the supervisor's per-user statistics; a live
// duration still ticks; the database down still gives UNAVAILABLE.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startPostgres, startSim, startCallsvc, grpcApi, waitFor, sleep, expectGrpcError,
  makeUser as makeUserOn, waitCallStatus,
} from './lib/stack.mjs';

const CACHE_ENV = { CALLS_CACHE_TTL_MS: '600000' };
let pg; let sim; let svcA; let svcB; let apiA; let apiB;
const users = {};
let numberSeq = 5560000;
const nextNumber = () => String(++numberSeq);

before(async () => {
  pg = await startPostgres();
  sim = await startSim();
  svcA = await startCallsvc({ pg, sim, env: { ...CACHE_ENV, RING_TIMEOUT_S: '5' } });
  svcB = await startCallsvc({ pg, migrate: false, seed: false, name: 'callsvc-b',
    env: { ...CACHE_ENV, ARI_URL: '', WORKERS: '2' } });
  apiA = grpcApi(svcA.addr);
  apiB = grpcApi(svcB.addr);
  await sim.control('POST', '/_sim/default', { mode: 'answer', answer_after_ms: 50 });
  users.a = await makeUserOn(apiA, 'cache-agent', 'ROLE_AGENT');
  users.s = await makeUserOn(apiA, 'cache-super', 'ROLE_SUPERVISOR');
});

after(async () => {
  apiA?.close();
  apiB?.close();
  await svcA?.stop();
  await svcB?.stop();
  await sim?.stop();
  await pg?.destroy();
});

const active = async (api, u) => (await api.calls.ListActiveCalls({}, { token: u.token })).calls;
const history = async (api, u) =>
  (await api.calls.ListCallHistory({ page: 1, limit: 20 }, { token: u.token })).calls;
const statsTotal = async (api, u) => Number((await api.calls.GetCallStatistics({}, { token: u.token })).total);
const ids = (calls) => calls.map((c) => c.id);

test('a call made through A: at once for A\'s client, promptly on B (active, history, statistics)', async () => {
  const { a, s } = users;
  // warm every list on both instances, twice (the second read is a hit)
  const before = {};
  for (const api of [apiA, apiB]) {
    for (let i = 0; i < 2; i++) {
      await active(api, a); await history(api, a); await active(api, s);
      before.agentTotal = await statsTotal(api, a);
      before.superTotal = await statsTotal(api, s);
    }
  }
  const c = await apiA.calls.MakeCall({ to: nextNumber() }, { token: a.token });
  // A's own client reads its write at once: no waiting
  assert.ok(ids(await active(apiA, a)).includes(c.id), 'A: own active list');
  assert.ok(ids(await history(apiA, a)).includes(c.id), 'A: own history');
  assert.ok(ids(await active(apiA, s)).includes(c.id), 'A: supervisor active list');
  assert.equal(await statsTotal(apiA, a), before.agentTotal + 1);
  // B through the hub, within a second
  const opts = { timeoutMs: 1000, intervalMs: 10 };
  await waitFor(async () => ids(await active(apiB, a)).includes(c.id), { ...opts, what: 'B agent active' });
  await waitFor(async () => ids(await history(apiB, a)).includes(c.id), { ...opts, what: 'B agent history' });
  await waitFor(async () => ids(await active(apiB, s)).includes(c.id), { ...opts, what: 'B supervisor active' });
  await waitFor(async () => (await statsTotal(apiB, a)) === before.agentTotal + 1, { ...opts, what: 'B agent stats' });
  await waitFor(async () => (await statsTotal(apiB, s)) === before.superTotal + 1, { ...opts, what: 'B supervisor stats' });
  // answered: the duration is live and still ticks on a cached list
  await waitCallStatus(apiA, c.id, 'CALL_STATUS_IN_PROGRESS', a.token);
  await waitFor(async () => (await active(apiB, a)).find((x) => x.id === c.id)?.status === 'CALL_STATUS_IN_PROGRESS',
    { ...opts, what: 'B to see it answered' });
  const d0 = (await active(apiB, a)).find((x) => x.id === c.id).duration_seconds;
  await sleep(1200);
  const d1 = (await active(apiB, a)).find((x) => x.id === c.id).duration_seconds;
  assert.ok(d1 >= d0 + 1, `duration ${d0} then ${d1}`);
  // a note: the history on B carries it
  await apiA.calls.AddCallNote({ call_id: c.id, text: 'cached note' }, { token: a.token });
  await waitFor(async () => (await history(apiB, a)).find((x) => x.id === c.id)?.notes?.some((n) => n.text === 'cached note'),
    { ...opts, what: 'B to show the note' });
  // hung up: gone from the active lists at once on A, promptly on B
  await apiA.calls.HangupCall({ call_id: c.id }, { token: a.token });
  assert.ok(!ids(await active(apiA, a)).includes(c.id));
  await waitFor(async () => !ids(await active(apiB, a)).includes(c.id), { ...opts, what: 'B agent active without it' });
  await waitFor(async () => !ids(await active(apiB, s)).includes(c.id), { ...opts, what: 'B supervisor active without it' });
  await waitFor(async () => (await history(apiB, a)).find((x) => x.id === c.id)?.status === 'CALL_STATUS_COMPLETED',
    { ...opts, what: 'B history completed' });
});

test('the cache is used: a row changed by SQL without an event is seen only after the next event', async () => {
  const { a, s } = users;
  const c = await apiA.calls.MakeCall({ to: nextNumber() }, { token: a.token });
  await apiA.calls.HangupCall({ call_id: c.id }, { token: a.token });
  const number = (calls) => calls.find((x) => x.id === c.id)?.callee?.number;
  await waitFor(async () => (await history(apiB, a)).find((x) => x.id === c.id)?.ended_at,
    { what: 'B history ended' });
  const original = number(await history(apiB, a));
  assert.ok(original);
  await history(apiB, s); // cached for the supervisor too, and on A
  await waitFor(async () => number(await history(apiA, a)) === original, { what: 'A history' });
  pg.psql(`UPDATE calls SET callee_number = '999000' WHERE id = '${c.id}'`);
  await sleep(300);
  assert.equal(number(await history(apiB, a)), original, 'B agent: still the cached answer');
  assert.equal(number(await history(apiB, s)), original, 'B supervisor: still the cached answer');
  assert.equal(number(await history(apiA, a)), original, 'A agent: still the cached answer');
  // the next event about that user's calls (a note) refreshes every instance
  await apiA.calls.AddCallNote({ call_id: c.id, text: 'wake up' }, { token: a.token });
  assert.equal(number(await history(apiA, a)), '999000', 'A: at once');
  await waitFor(async () => number(await history(apiB, a)) === '999000', { timeoutMs: 1000, what: 'B agent refreshed' });
  await waitFor(async () => number(await history(apiB, s)) === '999000', { timeoutMs: 1000, what: 'B supervisor refreshed' });
});

test('a renamed user shows in the supervisor\'s per-user statistics (cs_users)', async () => {
  const { a, s } = users;
  const nameIn = async (api) => (await api.calls.GetCallStatistics({}, { token: s.token })).per_user
    .find((u) => u.user_id === a.id)?.name;
  assert.equal(await nameIn(apiB), a.name);
  assert.equal(await nameIn(apiB), a.name); // a hit
  pg.psql(`UPDATE users SET name = 'cache-agent-renamed' WHERE id = '${a.id}'`);
  await waitFor(async () => (await nameIn(apiB)) === 'cache-agent-renamed', { timeoutMs: 1000, what: 'B rename' });
  await waitFor(async () => (await nameIn(apiA)) === 'cache-agent-renamed', { timeoutMs: 1000, what: 'A rename' });
});

test('database down: the cached lists answer UNAVAILABLE; back: served again', async () => {
  const { a, s } = users;
  for (const api of [apiA, apiB]) { await active(api, a); await active(api, s); await history(api, a); }
  await pg.stop(); // the harness stops the postmaster itself (its pid file)
  assert.throws(() => pg.psql('SELECT 1'));
  for (const api of [apiA, apiB]) {
    await expectGrpcError(api.calls.ListActiveCalls({}, { token: a.token }), 'UNAVAILABLE', /database unavailable/);
    await expectGrpcError(api.calls.ListActiveCalls({}, { token: s.token }), 'UNAVAILABLE', /database unavailable/);
    await expectGrpcError(api.calls.ListCallHistory({ page: 1, limit: 20 }, { token: a.token }), 'UNAVAILABLE');
    await expectGrpcError(api.calls.GetCallStatistics({}, { token: a.token }), 'UNAVAILABLE');
  }
  await pg.start();
  for (const api of [apiA, apiB]) {
    await waitFor(async () => { try { await active(api, a); return true; } catch { return false; } },
      { timeoutMs: 15000, what: 'lists back' });
  }
});

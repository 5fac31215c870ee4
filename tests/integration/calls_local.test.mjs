// callsvc against an Asterisk with no SIP stack at all: devices and outside
// numbers are Local channels into dialplan contexts (DEVICE_ENDPOINT_TEMPLATE
// and OUTBOUND_ENDPOINT_TEMPLATE), as issue 3 requires. The simulator models
// the contexts the traces were recorded with (ring-answer, busy, ...).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startPostgres, startSim, startCallsvc, grpcApi, waitFor, makeUser as makeUserOn, waitCallStatus,
} from './lib/stack.mjs';

let pg; let sim; let svc; let api;

const makeUser = (name) => makeUserOn(api, name);
const waitStatus = (id, status, token) => waitCallStatus(api, id, status, token, 15000);

before(async () => {
  pg = await startPostgres();
  sim = await startSim();
  svc = await startCallsvc({
    pg, sim,
    env: {
      DEVICE_ENDPOINT_TEMPLATE: 'Local/{ext}@answer-wait',
      OUTBOUND_ENDPOINT_TEMPLATE: 'Local/{number}@busy',
      RING_TIMEOUT_S: '5',
    },
  });
  api = grpcApi(svc.addr);
});

after(async () => {
  api?.close();
  await svc?.stop();
  await sim?.stop();
  await pg?.destroy();
});

test('Local device endpoints: an internal call is answered, bridged and hung up', async () => {
  const a = await makeUser('local-a');
  const b = await makeUser('local-b');
  const c = await api.calls.MakeCall({ to: b.ext }, { token: a.token });
  assert.equal(c.direction, 'CALL_DIRECTION_INTERNAL');
  const up = await waitStatus(c.id, 'CALL_STATUS_IN_PROGRESS', a.token);
  assert.ok(up.bridge_id, 'bridged');
  const state = await sim.control('GET', '/_sim/state');
  const legs = state.channels.filter((x) => x.id.startsWith(`${c.id}.`) && x.bridge === up.bridge_id);
  assert.equal(legs.length, 2, `both Local halves of ours in the bridge: ${JSON.stringify(legs)}`);
  const done = await api.calls.HangupCall({ call_id: c.id }, { token: b.token });
  assert.equal(done.status, 'CALL_STATUS_COMPLETED');
  await waitFor(async () => {
    const st = await sim.control('GET', '/_sim/state');
    return !st.channels.some((x) => x.id.startsWith(`${c.id}.`));
  }, { what: 'every leg gone' });
});

test('Local outside numbers: a busy context ends the call busy', async () => {
  const a = await makeUser('local-c');
  const c = await api.calls.MakeCall({ to: '5551234' }, { token: a.token });
  assert.equal(c.direction, 'CALL_DIRECTION_OUTBOUND');
  const done = await waitStatus(c.id, 'CALL_STATUS_BUSY', a.token);
  assert.ok(done.ended_at);
});

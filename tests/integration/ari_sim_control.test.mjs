// The ARI simulator's control API and faults (tests/ari-sim/README.md):
// far-end modes, inbound calls, far-end hangup, WebSocket drop, refused
// connections, delayed and failed requests, restart; bad input; throughput.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startSim, sleep, waitFor } from './lib/stack.mjs';

let sim;
const auth = { authorization: 'Basic ' + Buffer.from('admin:admin').toString('base64') };

before(async () => { sim = await startSim(); });
after(async () => {
  if (!sim) return;
  const code = await sim.stop();
  // ASan builds report leaks at exit with a non-zero status
  assert.equal(code, 0, `ari-sim exit status ${code}:\n${sim.proc.tail()}`);
});

async function ari(method, p, body) {
  const res = await fetch(`${sim.url}/ari${p}`, {
    method, headers: body ? { ...auth, 'content-type': 'application/json' } : auth,
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

function events(app = 'call-service') {
  const ws = new WebSocket(`ws://${sim.addr}/ari/events?app=${app}&api_key=admin:admin`);
  const list = [];
  ws.on('message', (d) => list.push(JSON.parse(d.toString())));
  const closed = new Promise((r) => ws.on('close', r));
  const opened = new Promise((res, rej) => { ws.on('open', res); ws.on('error', rej); });
  const of = (id) => list.filter((e) => (e.channel || e.peer || {}).id === id).map((e) => e.type + (e.dialstatus !== undefined ? ':' + e.dialstatus : '') + (e.cause !== undefined ? ':' + e.cause : ''));
  return { ws, list, opened, closed, of, close: () => ws.close() };
}

async function fresh() {
  await sim.control('POST', '/_sim/restart');
  await sim.control('POST', '/_sim/reset');
}

test('default device rings 1 s then answers; busy, no_answer, unavailable modes', async () => {
  await fresh();
  const ev = events();
  await ev.opened;
  await sim.control('POST', '/_sim/endpoints/PJSIP/3002', { mode: 'busy' });
  await sim.control('POST', '/_sim/endpoints/PJSIP/3003', { mode: 'no_answer', answer_after_ms: 100 });
  await sim.control('POST', '/_sim/endpoints/PJSIP/3004', { mode: 'unavailable' });
  const ids = {};
  for (const ext of ['3001', '3002', '3003', '3004']) {
    const r = await ari('POST', `/channels/create?endpoint=PJSIP/${ext}&app=call-service`);
    assert.equal(r.status, 200);
    assert.match(r.body.name, new RegExp(`^PJSIP/${ext}-[0-9a-f]{8}$`));
    ids[ext] = r.body.id;
    assert.equal((await ari('POST', `/channels/${r.body.id}/dial?timeout=30`)).status, 204);
  }
  await waitFor(() => ev.of(ids['3001']).includes('Dial:ANSWER'), { timeoutMs: 5000 });
  assert.deepEqual(ev.of(ids['3001']).slice(2), ['StasisStart', 'Dial:', 'ChannelStateChange', 'Dial:RINGING', 'ChannelStateChange', 'Dial:ANSWER']);
  assert.deepEqual(ev.of(ids['3002']).slice(-2), ['Dial:', 'Dial:BUSY']);
  assert.deepEqual(ev.of(ids['3003']).slice(-3), ['ChannelStateChange', 'Dial:RINGING', 'Dial:NOANSWER']);
  assert.deepEqual(ev.of(ids['3004']).slice(-1), ['Dial:CHANUNAVAIL']);
  // still in Stasis after a failed dial, until the app hangs up
  assert.equal((await ari('GET', `/channels/${ids['3002']}`)).status, 200);
  assert.equal((await ari('DELETE', `/channels/${ids['3002']}?reason=busy`)).status, 204);
  await waitFor(() => ev.of(ids['3002']).includes('ChannelDestroyed:17'));
  ev.close();
});

test('application event filter: allowed and disallowed lists, as Asterisk applies them', async () => {
  await fresh();
  const ev = events();
  await ev.opened;
  // unknown application, malformed bodies
  assert.equal((await ari('PUT', '/applications/nobody/eventFilter', { allowed: [] })).status, 404);
  assert.equal((await ari('PUT', '/applications/call-service/eventFilter', { allowed: 'Dial' })).status, 400);
  assert.equal((await ari('PUT', '/applications/call-service/eventFilter', { allowed: [{ name: 'Dial' }] })).status, 400);
  // only Dial and ChannelDestroyed, then ChannelDestroyed disallowed too
  let r = await ari('PUT', '/applications/call-service/eventFilter',
    { allowed: [{ type: 'Dial' }, { type: 'ChannelDestroyed' }] });
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.events_allowed, [{ type: 'Dial' }, { type: 'ChannelDestroyed' }]);
  assert.deepEqual(r.body.events_disallowed, []);
  r = await ari('PUT', '/applications/call-service/eventFilter', { disallowed: [{ type: 'ChannelDestroyed' }] });
  assert.equal(r.status, 200);
  assert.equal(r.body.events_allowed.length, 2, 'a list not given is left as it was');
  assert.deepEqual((await ari('GET', '/applications/call-service')).body.events_disallowed, [{ type: 'ChannelDestroyed' }]);
  const a = await ari('POST', '/channels/create?endpoint=PJSIP/3001&app=call-service');
  assert.equal((await ari('POST', `/channels/${a.body.id}/dial?timeout=30`)).status, 204);
  await waitFor(() => ev.of(a.body.id).includes('Dial:ANSWER'), { timeoutMs: 5000 });
  assert.equal((await ari('DELETE', `/channels/${a.body.id}`)).status, 204);
  await sleep(200);
  assert.deepEqual(ev.of(a.body.id), ['Dial:', 'Dial:RINGING', 'Dial:ANSWER']);
  // an empty body clears both lists: everything comes again
  r = await ari('PUT', '/applications/call-service/eventFilter', {});
  assert.deepEqual([r.body.events_allowed, r.body.events_disallowed], [[], []]);
  const b = await ari('POST', '/channels/create?endpoint=PJSIP/3001&app=call-service');
  await waitFor(() => ev.of(b.body.id).includes('StasisStart'));
  assert.equal((await ari('DELETE', `/channels/${b.body.id}`)).status, 204);
  await waitFor(() => ev.of(b.body.id).some((e) => e.startsWith('ChannelDestroyed')));
  ev.close();
  await ev.closed;
  // the application is gone with its last WebSocket, and its filter with it
  const again = events();
  await again.opened;
  r = await ari('GET', '/applications/call-service');
  assert.deepEqual([r.body.events_allowed, r.body.events_disallowed], [[], []]);
  again.close();
});

test('inbound call enters the app with the extension, far end hangs up on demand', async () => {
  await fresh();
  const ev = events();
  await ev.opened;
  const r = await sim.control('POST', '/_sim/inbound', { extension: '3001', caller: { name: 'Ext', number: '5551234' } });
  await waitFor(() => ev.list.some((e) => e.type === 'StasisStart'));
  const start = ev.list.find((e) => e.type === 'StasisStart');
  assert.deepEqual(start.args, ['3001']);
  assert.equal(start.channel.state, 'Ring');
  assert.equal(start.channel.caller.number, '5551234');
  assert.equal(start.channel.id, r.id);
  assert.equal((await ari('POST', `/channels/${r.id}/answer`)).status, 204);
  await sim.control('POST', `/_sim/channels/${r.id}/hangup`, { cause: 16 });
  await waitFor(() => ev.of(r.id).includes('StasisEnd'));
  assert.deepEqual(ev.of(r.id), ['StasisStart', 'ChannelStateChange', 'ChannelHangupRequest:16', 'StasisEnd']);
  assert.equal((await ari('GET', `/channels/${r.id}`)).status, 404);
  ev.close();
});

test('drop WebSockets, restart with a new entity id, refuse connections', async () => {
  await fresh();
  const ev = events();
  await ev.opened;
  const before = (await ari('GET', '/asterisk/info')).body.system.entity_id;
  const ch = await ari('POST', '/channels?endpoint=PJSIP/3001&app=call-service');
  assert.equal(ch.status, 200);
  await sim.control('POST', '/_sim/faults/drop_websockets');
  await ev.closed;
  const r = await sim.control('POST', '/_sim/restart', { down_ms: 400 });
  assert.notEqual(r.asterisk_id, before);
  await assert.rejects(fetch(`${sim.url}/ari/channels`, { headers: auth }));
  await sleep(500);
  const list = await ari('GET', '/channels');
  assert.deepEqual(list.body, []);
  assert.equal((await ari('GET', '/asterisk/info')).body.system.entity_id, r.asterisk_id);
});

test('drop WebSockets for a while: upgrades refused, REST and control still answer', async () => {
  await fresh();
  const ev = events();
  await ev.opened;
  const refusedBefore = (await sim.control('GET', '/_sim/state')).server.refused;
  await sim.control('POST', '/_sim/faults/drop_websockets', { down_ms: 1500 });
  await ev.closed;
  const refused = events();
  await assert.rejects(refused.opened);
  assert.equal((await ari('GET', '/channels')).status, 200);
  assert.equal((await sim.control('GET', '/_sim/state')).server.refused, refusedBefore + 1);
  await sleep(1600);
  const again = events();
  await again.opened;
  again.close();
});

test('delay and fail the next REST requests', async () => {
  await fresh();
  await sim.control('POST', '/_sim/faults/fail', { count: 2, status: 503 });
  assert.equal((await ari('GET', '/channels')).status, 503);
  assert.equal((await ari('GET', '/channels')).status, 503);
  assert.equal((await ari('GET', '/channels')).status, 200);
  await sim.control('POST', '/_sim/faults/delay', { count: 1, ms: 300 });
  const t0 = Date.now();
  assert.equal((await ari('GET', '/asterisk/ping')).status, 200);
  assert.ok(Date.now() - t0 >= 280, 'delayed');
  const t1 = Date.now();
  await ari('GET', '/asterisk/ping');
  assert.ok(Date.now() - t1 < 250, 'only the next one');
});

test('bad input gets clear errors and the simulator lives on', async () => {
  await fresh();
  const long = 'x'.repeat(5000);
  assert.equal((await ari('POST', `/channels?endpoint=PJSIP/${long}&app=a`)).status, 500);
  assert.equal((await ari('POST', `/channels?endpoint=Local/1@answer-wait&app=a&channelId=${long}`)).status, 400);
  assert.equal((await ari('POST', `/bridges/x/addChannel?channel=${'a,'.repeat(200)}`)).status, 404);
  let res = await fetch(`${sim.url}/ari/channels`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"endpoint":' });
  assert.equal(res.status, 400);
  res = await fetch(`${sim.url}/_sim/endpoints/PJSIP/1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"mode":"dance"}' });
  assert.equal(res.status, 400);
  res = await fetch(`${sim.url}/_sim/inbound`, { method: 'POST', body: '[]' });
  assert.equal(res.status, 400);
  res = await fetch(`${sim.url}/ari/channels`, { method: 'POST', headers: auth, body: 'x'.repeat(70000) });
  assert.equal(res.status, 413);
  assert.equal((await ari('GET', '/asterisk/ping')).status, 200);
});

test('throughput: create+dial two legs, bridge, hang up', async () => {
  await fresh();
  await sim.control('POST', '/_sim/default', { mode: 'answer', answer_after_ms: 0 });
  const ev = events();
  await ev.opened;
  const cycles = Number(process.env.ARI_SIM_CYCLES || 300);
  const concurrency = 20;
  let done = 0, started = 0;
  const t0 = Date.now();
  async function cycle() {
    const a = (await ari('POST', '/channels/create?endpoint=PJSIP/1001&app=call-service')).body.id;
    const b = (await ari('POST', '/channels/create?endpoint=PJSIP/1002&app=call-service')).body.id;
    await ari('POST', `/channels/${a}/dial`);
    await ari('POST', `/channels/${b}/dial`);
    const br = (await ari('POST', '/bridges?type=mixing')).body.id;
    assert.equal((await ari('POST', `/bridges/${br}/addChannel?channel=${a},${b}`)).status, 204);
    await ari('DELETE', `/channels/${a}`);
    await ari('DELETE', `/channels/${b}`);
    await ari('DELETE', `/bridges/${br}`);
    done++;
  }
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (started < cycles) { started++; await cycle(); }
  }));
  const secs = (Date.now() - t0) / 1000;
  const state = await sim.control('GET', '/_sim/state');
  assert.equal(state.counters.channels_live, 0);
  assert.equal(state.counters.bridges_live, 0);
  // the client (this Node process, one core) is the bottleneck here; report it
  process.stderr.write(`# ari-sim: ${done} cycles in ${secs.toFixed(2)} s = ${(done / secs).toFixed(0)} cycles/s, ${ev.list.length} events\n`);
  ev.close();
});

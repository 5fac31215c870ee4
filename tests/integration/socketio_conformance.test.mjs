// callgw's Socket.IO server in protocol-conformance mode, checked with the
// official socket.io-client and with raw HTTP requests: default options
// (polling, then the upgrade to WebSocket), a polling-only client, emit and
// ack, binary in both directions, namespaces, the raw Engine.IO echo at
// /engine.io/, and protocol abuse that must leave the gateway serving.
// Conformance mode needs no callsvc. The flag is CALLGW_CONFORMANCE_ARGS
// (space-separated), default "--sio-conformance".
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { startCallgw, repoRoot } from './lib/stack.mjs';

const require = createRequire(path.join(repoRoot, 'tests/package.json'));
const { io } = require('socket.io-client');

const args = (process.env.CALLGW_CONFORMANCE_ARGS ?? '--sio-conformance').split(' ').filter(Boolean);
let gw;

before(async () => { gw = await startCallgw({ args }); });
after(async () => { if (gw) await gw.stop(); });

function once(emitter, ev, ms = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timeout waiting for ${ev}`)), ms);
    emitter.once(ev, (...a) => { clearTimeout(t); resolve(a); });
  });
}

function client(nsp = '', opts = {}) {
  return io(gw.url + nsp, { reconnection: false, ...opts });
}

test('default options: connect, auth echo, upgrade to WebSocket', async () => {
  const s = client('', { auth: { token: 'abc', n: 1 } });
  try {
    const [auth] = await once(s, 'auth');
    assert.deepEqual(auth, { token: 'abc', n: 1 });
    if (s.io.engine.transport.name !== 'websocket') await once(s.io.engine, 'upgrade');
    assert.equal(s.io.engine.transport.name, 'websocket');
    assert.ok(s.connected);
    const ack = await s.timeout(3000).emitWithAck('message-with-ack', 1, '2', { 3: [true] });
    assert.equal(ack, 1);
    s.emit('message', 1, '2', { 3: [true] });
    const back = await once(s, 'message-back');
    assert.deepEqual(back, [1, '2', { 3: [true] }]);
  } finally { s.close(); }
});

test('polling-only client: events, acks, no upgrade', async () => {
  const s = client('', { transports: ['polling'] });
  try {
    const [auth] = await once(s, 'auth');
    assert.deepEqual(auth, {});
    s.emit('message', 'a', { b: [1, 2] });
    assert.deepEqual(await once(s, 'message-back'), ['a', { b: [1, 2] }]);
    // Several emits in a row arrive in order.
    const got = [];
    s.on('message-back', (n) => got.push(n));
    for (let i = 0; i < 20; i++) s.emit('message', i);
    const t0 = Date.now();
    while (got.length < 20 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(got, [...Array(20).keys()]);
    assert.equal(s.io.engine.transport.name, 'polling');
  } finally { s.close(); }
});

for (const transports of [['polling'], ['websocket'], ['polling', 'websocket']]) {
  test(`binary echo and binary ack over ${transports.join('+')}`, async () => {
    const s = client('', { transports });
    try {
      await once(s, 'auth');
      const buf = Buffer.from([0, 1, 2, 254, 255]);
      s.emit('message', buf, { nested: Buffer.from('xyz') });
      const [b1, o] = await once(s, 'message-back');
      assert.deepEqual(Buffer.from(b1), buf);
      assert.deepEqual(Buffer.from(o.nested), Buffer.from('xyz'));
      const ack = await s.timeout(3000).emitWithAck('message-with-ack', Buffer.from([7, 7]));
      assert.deepEqual(Buffer.from(ack), Buffer.from([7, 7]));
    } finally { s.close(); }
  });
}

test('namespaces: /custom works, others get "Invalid namespace"', async () => {
  const c = client('/custom', { auth: { x: 'y' } });
  const r = client('/random');
  const refused = once(r, 'connect_error'); // may fire before /custom's auth
  try {
    const [auth] = await once(c, 'auth');
    assert.deepEqual(auth, { x: 'y' });
    c.emit('message', 'hi');
    assert.deepEqual(await once(c, 'message-back'), ['hi']);
    const [err] = await refused;
    assert.equal(err.message, 'Invalid namespace');
  } finally { c.close(); r.close(); }
});

// --- raw Engine.IO ------------------------------------------------------------

async function handshake(base) {
  const res = await fetch(`${gw.url}${base}?EIO=4&transport=polling`);
  assert.equal(res.status, 200);
  const body = await res.text();
  assert.equal(body[0], '0');
  const open = JSON.parse(body.slice(1));
  assert.deepEqual(open.upgrades, ['websocket']);
  assert.equal(typeof open.pingInterval, 'number');
  assert.equal(typeof open.maxPayload, 'number');
  return open;
}

const poll = (base, sid, init) => fetch(`${gw.url}${base}?EIO=4&transport=polling&sid=${sid}`, init);

test('raw Engine.IO echo at /engine.io/ (text and binary)', async () => {
  const { sid } = await handshake('/engine.io/');
  const post = await poll('/engine.io/', sid, { method: 'POST', body: '4hello\x1ebAQID' });
  assert.equal(post.status, 200);
  assert.equal(await post.text(), 'ok');
  const get = await poll('/engine.io/', sid);
  assert.equal(get.status, 200);
  assert.equal(await get.text(), '4hello\x1ebAQID');
  await poll('/engine.io/', sid, { method: 'POST', body: '1' });
});

test('protocol abuse leaves the gateway serving', async () => {
  const base = '/socket.io/';
  // Unknown sid, unknown transport, bad version, POST handshake.
  let r = await poll(base, 'AAAAAAAAAAAAAAAAAAAA');
  assert.equal(r.status, 400);
  assert.deepEqual(await r.json(), { code: 1, message: 'Session ID unknown' });
  r = await fetch(`${gw.url}${base}?EIO=4&transport=carrier-pigeon`);
  assert.deepEqual(await r.json(), { code: 0, message: 'Transport unknown' });
  r = await fetch(`${gw.url}${base}?EIO=3&transport=polling`);
  assert.deepEqual(await r.json(), { code: 5, message: 'Unsupported protocol version' });
  r = await fetch(`${gw.url}${base}?EIO=4&transport=polling`, { method: 'POST', body: '40' });
  assert.deepEqual(await r.json(), { code: 2, message: 'Bad handshake method' });

  // A malformed packet closes the session.
  let { sid } = await handshake(base);
  r = await poll(base, sid, { method: 'POST', body: 'abc' });
  assert.equal(r.status, 400);
  assert.equal((await poll(base, sid)).status, 400);

  // Two concurrent polls: the second is refused, the first gets a close.
  ({ sid } = await handshake(base));
  const first = poll(base, sid);
  await new Promise((res) => setTimeout(res, 50));
  const second = await poll(base, sid);
  assert.equal(second.status, 400);
  const f = await first;
  assert.equal(f.status, 200);
  assert.equal(await f.text(), '1');

  // Over maxPayload: 413, and the session lives on.
  const open = await handshake(base);
  r = await poll(base, open.sid, { method: 'POST', body: '4' + 'x'.repeat(open.maxPayload + 10) });
  assert.equal(r.status, 413);
  r = await poll(base, open.sid, { method: 'POST', body: '40' });
  assert.equal(r.status, 200);
  const g = await poll(base, open.sid);
  assert.match(await g.text(), /^40\{"sid":"[\w-]{20}"\}/);

  // Socket.IO-level garbage closes that connection only.
  ({ sid } = await handshake(base));
  await poll(base, sid, { method: 'POST', body: '40' });
  await poll(base, sid); // the CONNECT answer
  await poll(base, sid, { method: 'POST', body: '42{}' });
  assert.equal((await poll(base, sid)).status, 200); // the close packet
  assert.equal((await poll(base, sid)).status, 400);

  // Meanwhile a well-behaved client is served.
  const s = client();
  try {
    await once(s, 'auth');
    assert.equal(await s.timeout(3000).emitWithAck('message-with-ack', 'still-alive'), 'still-alive');
  } finally { s.close(); }
});

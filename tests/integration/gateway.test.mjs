// callgw over real HTTP: the HTTP layer's own answers (404, 405, 413, 431,
// 400, CORS, request ids, health, metrics, OpenAPI) with callsvc down; slow
// and half-open clients timing out while others are served; every users
// endpoint against callsvc + PostgreSQL, and callsvc restarted under the
// gateway; every calls endpoint against callsvc + PostgreSQL + the ARI
// simulator, with the proto3 JSON shape of the answers; graceful shutdown
// finishing a request in flight.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { spawnSync } from 'node:child_process';
import {
  startPostgres, startSim, startCallsvc, startCallgw, bins, ADMIN, waitFor, sleep,
} from './lib/stack.mjs';

async function call(gw, method, path, { body, headers = {}, raw } = {}) {
  const init = { method, headers: { ...headers } };
  if (raw !== undefined) init.body = raw;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['content-type'] = 'application/json';
  }
  const res = await fetch(gw.url + path, init);
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, json };
}

// Prometheus's own linter (promtool, Debian package prometheus) accepts a
// whole scrape without a remark.
function assertPromtool(text) {
  const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(lint.error, undefined, 'promtool is missing (Debian package prometheus)');
  assert.equal(lint.status, 0, `${lint.stdout}${lint.stderr}`);
  assert.equal(`${lint.stdout}${lint.stderr}`.trim(), '', 'promtool has remarks');
}

function assertError(r, status, code, msgPattern) {
  assert.equal(r.status, status, r.text);
  assert.equal(r.headers.get('content-type'), 'application/json');
  assert.equal(r.json.error.code, code, r.text);
  assert.ok(Array.isArray(r.json.error.details));
  if (msgPattern) assert.match(r.json.error.message, msgPattern);
}

describe('callgw without callsvc', () => {
  let gw;
  before(async () => {
    gw = await startCallgw({ env: { CORS_ORIGINS: 'http://app.example, http://other.example' } });
  });
  after(async () => { if (gw) assert.equal(await gw.stop(), 0, gw.proc.tail()); });

  test('healthz answers, readyz says 503', async () => {
    const h = await call(gw, 'GET', '/healthz');
    assert.equal(h.status, 200);
    assert.deepEqual(h.json, { status: 'ok' });
    assertError(await call(gw, 'GET', '/readyz'), 503, 'UNAVAILABLE');
  });

  test('a REST call with callsvc down is 503 UNAVAILABLE', async () => {
    assertError(await call(gw, 'POST', '/api/users/login', { body: { email: 'a@b.c', password: 'x' } }),
      503, 'UNAVAILABLE');
  });

  test('unknown path 404, wrong method 405 with Allow', async () => {
    assertError(await call(gw, 'GET', '/api/nothing'), 404, 'NOT_FOUND');
    assertError(await call(gw, 'GET', '/nope'), 404, 'NOT_FOUND');
    const r = await call(gw, 'DELETE', '/api/users/profile');
    assertError(r, 405, 'METHOD_NOT_ALLOWED');
    assert.equal(r.headers.get('allow'), 'GET, PUT, OPTIONS');
    const p = await call(gw, 'GET', '/api/calls/abc/hangup');
    assert.equal(p.status, 405);
    assert.equal(p.headers.get('allow'), 'POST, OPTIONS');
  });

  test('bad JSON, wrong types, unknown fields, deep nesting: 400 naming the field', async () => {
    assertError(await call(gw, 'POST', '/api/users/login', { raw: '{"email":' }), 400,
      'INVALID_ARGUMENT', /invalid JSON/);
    assertError(await call(gw, 'POST', '/api/users/login', { body: { email: 5 } }), 400,
      'INVALID_ARGUMENT', /^email: expected string/);
    assertError(await call(gw, 'POST', '/api/users/login', { body: { emial: 'x' } }), 400,
      'INVALID_ARGUMENT', /^emial: unknown field/);
    assertError(await call(gw, 'POST', '/api/users/login', { raw: '['.repeat(40) + ']'.repeat(40) }),
      400, 'INVALID_ARGUMENT', /deeper than 32/);
    assertError(await call(gw, 'PUT', '/api/users/status', { body: { status: 'sleepy' } }), 400,
      'INVALID_ARGUMENT', /^status: unknown value/);
    assertError(await call(gw, 'GET', '/api/calls/history?limit=lots'), 400, 'INVALID_ARGUMENT',
      /^limit: expected an integer/);
    assertError(await call(gw, 'GET', '/api/calls/history?sort=asc'), 400, 'INVALID_ARGUMENT',
      /^sort: unknown query parameter/);
  });

  test('body over 1 MiB is 413, headers over 16 KiB are 431, and the server lives on', async () => {
    const big = JSON.stringify({ email: 'x'.repeat(1024 * 1024 + 10), password: 'p' });
    assertError(await call(gw, 'POST', '/api/users/login', { raw: big }), 413, 'PAYLOAD_TOO_LARGE');
    assertError(await call(gw, 'GET', '/healthz', { headers: { cookie: 'c'.repeat(17 * 1024) } }),
      431, 'HEADERS_TOO_LARGE');
    assertError(await call(gw, 'GET', '/api/users/profile',
      { headers: { authorization: 'Bearer ' + 'a'.repeat(17 * 1024) } }), 431, 'HEADERS_TOO_LARGE');
    assert.equal((await call(gw, 'GET', '/healthz')).status, 200);
  });

  test('X-Request-Id is kept when given and generated otherwise', async () => {
    const a = await call(gw, 'GET', '/healthz', { headers: { 'x-request-id': 'req-abc.123' } });
    assert.equal(a.headers.get('x-request-id'), 'req-abc.123');
    const b = await call(gw, 'GET', '/healthz');
    const c = await call(gw, 'GET', '/healthz');
    assert.ok(b.headers.get('x-request-id'));
    assert.notEqual(b.headers.get('x-request-id'), c.headers.get('x-request-id'));
    const bad = await call(gw, 'GET', '/healthz', { headers: { 'x-request-id': 'has spaces<>' } });
    assert.notEqual(bad.headers.get('x-request-id'), 'has spaces<>');
  });

  test('CORS: allowed origins are reflected, preflight is 204, others get nothing', async () => {
    const pre = await call(gw, 'OPTIONS', '/api/users/u1', {
      headers: {
        origin: 'http://app.example', 'access-control-request-method': 'PUT',
        'access-control-request-headers': 'authorization, content-type, x-request-id',
      },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), 'http://app.example');
    assert.equal(pre.headers.get('access-control-allow-methods'), 'GET, PUT, DELETE, OPTIONS');
    assert.equal(pre.headers.get('access-control-allow-headers'), 'authorization, content-type, x-request-id');
    assert.match(pre.headers.get('vary'), /Origin/);
    const ok = await call(gw, 'GET', '/healthz', { headers: { origin: 'http://other.example' } });
    assert.equal(ok.headers.get('access-control-allow-origin'), 'http://other.example');
    assert.equal(ok.headers.get('access-control-expose-headers'), 'X-Request-Id');
    const no = await call(gw, 'GET', '/healthz', { headers: { origin: 'http://evil.example' } });
    assert.equal(no.headers.get('access-control-allow-origin'), null);
    const np = await call(gw, 'OPTIONS', '/api/users', { headers: { origin: 'http://evil.example' } });
    assert.equal(np.status, 204);
    assert.equal(np.headers.get('access-control-allow-origin'), null);
  });

  test('OpenAPI document lists every route with its schemas', async () => {
    const r = await call(gw, 'GET', '/api/openapi.json');
    assert.equal(r.status, 200);
    assert.equal(r.json.openapi, '3.0.3');
    const expect = {
      '/api/users/login': ['post'], '/api/users/register': ['post'],
      '/api/users/profile': ['get', 'put'], '/api/users/status': ['put'],
      '/api/users': ['get', 'post'], '/api/users/{id}': ['delete', 'get', 'put'],
      '/api/calls/make': ['post'], '/api/calls/{id}/answer': ['post'],
      '/api/calls/{id}/hangup': ['post'], '/api/calls/{id}/transfer': ['post'],
      '/api/calls/{id}/hold': ['post'], '/api/calls/{id}/resume': ['post'],
      '/api/calls/{id}/dtmf': ['post'], '/api/calls/{id}/events': ['get'],
      '/api/calls/{id}/notes': ['post'], '/api/calls/history': ['get'],
      '/api/calls/active': ['get'], '/api/calls/statistics': ['get'], '/api/calls/{id}': ['get'],
    };
    for (const [p, methods] of Object.entries(expect)) {
      assert.deepEqual(Object.keys(r.json.paths[p]).sort(), methods, p);
    }
    const user = r.json.components.schemas['callservice.v1.User'];
    assert.deepEqual(user.properties.role.enum, ['unspecified', 'admin', 'supervisor', 'agent']);
    assert.equal(user.properties.createdAt.format, 'date-time');
    const hist = r.json.paths['/api/calls/history'].get.parameters.map((p) => p.name);
    for (const q of ['userId', 'status', 'direction', 'from', 'to', 'page', 'limit', 'cursor']) {
      assert.ok(hist.includes(q), q);
    }
  });

  test('metrics count requests by route and status', async () => {
    await call(gw, 'GET', '/api/nope');
    const r = await call(gw, 'GET', '/metrics');
    assert.equal(r.status, 200);
    assert.match(r.text, /callgw_http_requests_total\{method="GET",route="\/healthz",status="200"\} \d+/);
    assert.match(r.text, /callgw_http_requests_total\{method="ANY",route="unmatched",status="404"\} \d+/);
    assert.match(r.text, /callgw_http_request_duration_seconds_bucket\{method="GET",route="\/healthz",le="\+Inf"\}/);
    assert.match(r.text, /callgw_grpc_errors_total\{code="UNAVAILABLE"\} \d+/);
    assert.match(r.text, /callgw_http_in_flight 1/);
    // callsvc's part is missing, and the scrape says so rather than failing
    assert.match(r.text, /\ncallgw_callsvc_metrics_up 0\n/);
    assert.doesNotMatch(r.text, /^callsvc_/m);
    assertPromtool(r.text);
  });
});

const haveCallsvc = fs.existsSync(bins.callsvc);

describe('callgw in front of callsvc', { skip: haveCallsvc ? false : `no callsvc at ${bins.callsvc}` }, () => {
  let pg, svc, gw, adminToken;
  before(async () => {
    pg = await startPostgres();
    svc = await startCallsvc({ pg });
    gw = await startCallgw({ svc });
  });
  after(async () => {
    const code = gw ? await gw.stop() : 0;
    if (svc) await svc.stop();
    if (pg) await pg.destroy();
    assert.equal(code, 0, `callgw exit code (sanitizers report through it):\n${gw?.proc.tail()}`);
  });

  test('readyz is 200 once callsvc serves', async () => {
    const r = await call(gw, 'GET', '/readyz');
    assert.equal(r.status, 200, r.text);
  });

  test('login, profile, status, register, and the admin user endpoints', async () => {
    const login = await call(gw, 'POST', '/api/users/login', { body: ADMIN, headers: { 'x-request-id': 'it-login-1' } });
    assert.equal(login.status, 200, login.text);
    assert.equal(login.headers.get('x-request-id'), 'it-login-1');
    assert.ok(login.json.token);
    assert.equal(login.json.user.role, 'admin');
    adminToken = login.json.token;
    const auth = { authorization: `Bearer ${adminToken}` };

    assertError(await call(gw, 'POST', '/api/users/login', { body: { email: ADMIN.email, password: 'wrong' } }),
      401, 'UNAUTHENTICATED');
    assertError(await call(gw, 'GET', '/api/users/profile'), 401, 'UNAUTHENTICATED');

    const me = await call(gw, 'GET', '/api/users/profile', { headers: auth });
    assert.equal(me.status, 200, me.text);
    assert.equal(me.json.email, ADMIN.email);
    assert.match(me.json.createdAt, /^\d{4}-\d\d-\d\dT/);

    const st = await call(gw, 'PUT', '/api/users/status', { headers: auth, body: { status: 'away' } });
    assert.equal(st.status, 200, st.text);
    assert.equal(st.json.status, 'away');

    const reg = await call(gw, 'POST', '/api/users/register',
      { body: { name: 'Agent One', email: 'agent1@example.com', password: 'agentpass1' } });
    assert.equal(reg.status, 201, reg.text);
    assert.equal(reg.json.user.role, 'agent');
    assert.ok(reg.json.user.sipDevice.extension);
    const agentAuth = { authorization: `Bearer ${reg.json.token}` };
    assertError(await call(gw, 'POST', '/api/users/register',
      { body: { name: 'Again', email: 'agent1@example.com', password: 'agentpass1' } }), 409, 'ALREADY_EXISTS');

    const created = await call(gw, 'POST', '/api/users', { headers: auth,
      body: { name: 'Sup', email: 'sup@example.com', password: 'suppass12', role: 'supervisor' } });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.json.role, 'supervisor');
    const id = created.json.id;

    const list = await call(gw, 'GET', '/api/users?page=1&limit=2', { headers: auth });
    assert.equal(list.status, 200, list.text);
    assert.equal(list.json.users.length, 2);
    assert.equal(list.json.pageInfo.limit, 2);
    assert.ok(list.json.pageInfo.total >= 3);
    // An agent's list holds only itself (no directory of others' devices).
    const own = await call(gw, 'GET', '/api/users', { headers: agentAuth });
    assert.equal(own.status, 200, own.text);
    assert.deepEqual(own.json.users.map((u) => u.id), [reg.json.user.id]);
    assertError(await call(gw, 'POST', '/api/users', { headers: agentAuth,
      body: { name: 'X', email: 'x@example.com', password: 'xpass1234' } }), 403, 'PERMISSION_DENIED');

    const got = await call(gw, 'GET', `/api/users/${id}`, { headers: auth });
    assert.equal(got.status, 200, got.text);
    assert.equal(got.json.email, 'sup@example.com');

    const upd = await call(gw, 'PUT', `/api/users/${id}`, { headers: auth, body: { name: 'Supervisor Two' } });
    assert.equal(upd.status, 200, upd.text);
    assert.equal(upd.json.name, 'Supervisor Two');
    assert.equal(upd.json.role, 'supervisor');

    const prof = await call(gw, 'PUT', '/api/users/profile', { headers: agentAuth, body: { name: 'Agent Uno' } });
    assert.equal(prof.status, 200, prof.text);
    assert.equal(prof.json.name, 'Agent Uno');

    const del = await call(gw, 'DELETE', `/api/users/${id}`, { headers: auth });
    assert.equal(del.status, 200, del.text);
    assertError(await call(gw, 'GET', `/api/users/${id}`, { headers: auth }), 404, 'NOT_FOUND');
  });

  test('metrics: callsvc\'s own, fetched for each scrape, after callgw\'s', async () => {
    const r = await call(gw, 'GET', '/metrics');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    assert.match(r.text, /\ncallgw_callsvc_metrics_up 1\n/);
    assert.match(r.text, /\ncallsvc_start_time_seconds \d{10}\n/);
    assert.match(r.text, /\ncallsvc_ready 1\n/);
    assert.match(r.text, new RegExp(`\\ncallsvc_info\\{hostname="[^"]*",grpc_addr="${svc.addr}"\\} 1\\n`));
    for (const s of ['callservice.v1.UserService', 'callservice.v1.CallService', 'callservice.v1.EventService']) {
      assert.match(r.text, new RegExp(`\\ncallsvc_serving\\{service="${s.replace(/\./g, '\\.')}"\\} 1\\n`), s);
    }
    assert.match(r.text, /\n# TYPE callsvc_events_last_seq gauge\ncallsvc_events_last_seq \d+\n/);
    // no Asterisk configured here (ARI_URL empty): no ARI metrics, not zeros
    assert.doesNotMatch(r.text, /callsvc_ari_/);
    assertPromtool(r.text);
    // every sample follows its TYPE line
    const typed = new Set();
    for (const line of r.text.split('\n').filter(Boolean)) {
      if (line.startsWith('# TYPE ')) typed.add(line.split(' ')[2]);
      else if (!line.startsWith('#')) {
        const name = line.split(/[{ ]/)[0];
        assert.ok(typed.has(name) || typed.has(name.replace(/_(bucket|sum|count)$/, '')), line);
      }
    }
  });

  test('a chunked request body: 411 with the reason, and the connection closed (not read as a next request)', async () => {
    const body = JSON.stringify(ADMIN);
    const chunked = `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
    const r = await rawClient(gw.port, [
      'POST /api/users/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
      `Transfer-Encoding: chunked\r\n\r\n${chunked}GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n`]);
    assert.match(r.got, /^HTTP\/1\.1 411 /);
    assert.match(r.got, /"code":"LENGTH_REQUIRED"/);
    assert.match(r.got, /Content-Length/);
    assert.equal(r.got.match(/HTTP\/1\.1 /g).length, 1, r.got);
    // the same body with its length goes through
    const ok = await call(gw, 'POST', '/api/users/login', { body: ADMIN });
    assert.equal(ok.status, 200, ok.text);
  });

  test('Expect: 100-continue: the interim 100 comes before the body is sent, then the answer', async () => {
    const body = JSON.stringify(ADMIN);
    const s = net.connect(gw.port, '127.0.0.1');
    let got = '';
    s.on('data', (d) => { got += d; });
    await new Promise((resolve) => s.on('connect', resolve));
    s.write('POST /api/users/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
      `Content-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`);
    await waitFor(() => got.includes('\r\n\r\n'), { what: 'an interim answer', timeoutMs: 3000 });
    assert.equal(got, 'HTTP/1.1 100 Continue\r\n\r\n');
    s.write(body);
    await waitFor(() => /\r\n\r\n\{.*\}$/s.test(got.slice(25)), { what: 'the final answer' });
    assert.match(got.slice(25), /^HTTP\/1\.1 200 /);
    assert.match(got, /"token":"/);
    s.destroy();
    // refused on its headers: no 100, the answer at once
    const s2 = net.connect(gw.port, '127.0.0.1');
    let got2 = '';
    s2.on('data', (d) => { got2 += d; });
    await new Promise((resolve) => s2.on('connect', resolve));
    s2.write('POST /api/nothing HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n');
    await waitFor(() => /\}$/.test(got2), { what: 'the 404', timeoutMs: 3000 });
    assert.match(got2, /^HTTP\/1\.1 404 /);
    s2.destroy();
    // a body over the limit is refused before it is sent: 413 and closed, no 100
    const big = await rawClient(gw.port, ['POST /api/users/login HTTP/1.1\r\nHost: x\r\n' +
      `Content-Length: ${2 * 1024 * 1024}\r\nExpect: 100-continue\r\n\r\n`]);
    assert.match(big.got, /^HTTP\/1\.1 413 /);
    assert.ok(big.ms < 3000, `closed after ${big.ms} ms`);
    // an HTTP/1.0 client's Expect is ignored: no 100
    const old = net.connect(gw.port, '127.0.0.1');
    let got3 = '';
    old.on('data', (d) => { got3 += d; });
    await new Promise((resolve) => old.on('connect', resolve));
    old.write(`POST /api/users/login HTTP/1.0\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`);
    await sleep(300);
    assert.equal(got3, '');
    old.write(body);
    await waitFor(() => /"token":"/.test(got3), { what: 'the HTTP/1.0 answer' });
    assert.match(got3, /^HTTP\/1\.0 200 /);
    old.destroy();
  });

  test('callsvc restarted under the gateway: 503 while down, then it recovers', async () => {
    await svc.stop();
    const m = await call(gw, 'GET', '/metrics');
    assert.equal(m.status, 200, m.text);
    assert.match(m.text, /\ncallgw_callsvc_metrics_up 0\n/);
    assertError(await call(gw, 'GET', '/readyz'), 503, 'UNAVAILABLE');
    assertError(await call(gw, 'POST', '/api/users/login', { body: ADMIN }), 503, 'UNAVAILABLE');
    await svc.restart();
    await waitFor(async () => (await call(gw, 'POST', '/api/users/login', { body: ADMIN })).status === 200,
      { timeoutMs: 10000, what: 'the gateway to reach callsvc again' });
    assert.equal((await call(gw, 'GET', '/readyz')).status, 200);
    assert.match((await call(gw, 'GET', '/metrics')).text, /\ncallgw_callsvc_metrics_up 1\n/);
  });
});

// A raw TCP client: sends `chunks` (strings, or numbers = pause in ms), and
// resolves when the server closes the connection, with what it got and when.
function rawClient(port, chunks) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    let got = '';
    let closed = false;
    const s = net.connect(port, '127.0.0.1', async () => {
      for (const c of chunks) {
        if (closed) return;
        if (typeof c === 'number') await sleep(c);
        else s.write(c);
      }
    });
    s.on('data', (d) => { got += d; });
    s.on('error', () => {});
    s.on('close', () => { closed = true; resolve({ ms: Date.now() - t0, got }); });
  });
}

describe('callgw connection timeouts', () => {
  let gw;
  const T = 2; // HTTP_CLIENT_TIMEOUT_S
  const K = 3; // HTTP_KEEPALIVE_TIMEOUT_S
  before(async () => {
    gw = await startCallgw({ env: { HTTP_CLIENT_TIMEOUT_S: String(T), HTTP_KEEPALIVE_TIMEOUT_S: String(K) } });
  });
  after(async () => { if (gw) assert.equal(await gw.stop(), 0, gw.proc.tail()); });

  test('half-open and slow clients are closed after the timeout while others are served', async () => {
    const trickle = ['POST /api/users/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
      'Content-Length: 200\r\n\r\n'];
    for (let i = 0; i < 40; i++) trickle.push(250, ' ');
    const stalled = {
      silent: rawClient(gw.port, [60000]),
      halfHeaders: rawClient(gw.port, ['GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n', 60000]),
      halfBody: rawClient(gw.port, ['POST /api/users/login HTTP/1.1\r\nHost: x\r\n' +
        'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"em', 60000]),
      trickleBody: rawClient(gw.port, trickle),
      idleKeepAlive: rawClient(gw.port, ['GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', 60000]),
    };
    // Twenty more silent sockets: the header pool must not starve the others.
    const crowd = Array.from({ length: 20 }, () => rawClient(gw.port, [60000]));
    // Everyone else is served promptly the whole time.
    const served = [];
    const end = Date.now() + (T + 1) * 1000;
    while (Date.now() < end) {
      const t0 = Date.now();
      const r = await call(gw, 'GET', '/healthz');
      served.push({ status: r.status, ms: Date.now() - t0 });
      await sleep(100);
    }
    assert.ok(served.length >= 10, `served ${served.length}`);
    for (const s of served) {
      assert.equal(s.status, 200);
      assert.ok(s.ms < 1000, `a request took ${s.ms} ms`);
    }
    const res = Object.fromEntries(await Promise.all(
      Object.entries(stalled).map(async ([k, p]) => [k, await p])));
    for (const k of ['silent', 'halfHeaders', 'halfBody', 'trickleBody']) {
      assert.ok(res[k].ms >= T * 1000 - 300 && res[k].ms < T * 1000 + 3000, `${k} closed after ${res[k].ms} ms`);
      assert.doesNotMatch(res[k].got, /HTTP\/1\.1 200/, k);
    }
    // The keep-alive one got its answer, then was closed after K idle seconds.
    assert.match(res.idleKeepAlive.got, /^HTTP\/1\.1 200/);
    assert.ok(res.idleKeepAlive.ms >= K * 1000 - 300 && res.idleKeepAlive.ms < K * 1000 + 3000,
      `idle keep-alive closed after ${res.idleKeepAlive.ms} ms`);
    for (const c of await Promise.all(crowd)) assert.ok(c.ms < T * 1000 + 3000, `crowd socket: ${c.ms} ms`);
    assert.equal((await call(gw, 'GET', '/healthz')).status, 200);
  });

  test('keep-alive: several requests on one connection', async () => {
    const r = await rawClient(gw.port, [
      'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: ka-1\r\n\r\n', 100,
      'GET /api/nothing HTTP/1.1\r\nHost: x\r\nX-Request-Id: ka-2\r\n\r\n', 100,
      'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: ka-3\r\nConnection: close\r\n\r\n', 60000,
    ]);
    const statuses = [...r.got.matchAll(/HTTP\/1\.1 (\d+)/g)].map((m) => Number(m[1]));
    assert.deepEqual(statuses, [200, 404, 200]);
    assert.deepEqual([...r.got.matchAll(/^x-request-id: (\S+)/gim)].map((m) => m[1]), ['ka-1', 'ka-2', 'ka-3']);
    assert.ok(r.ms < 2000, `Connection: close honoured after ${r.ms} ms`);
  });
});

// ---- calls over REST ---------------------------------------------------------

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6}|\.\d{9})?Z$/;
const INT64 = /^-?\d+$/;
const CALL_STATUSES = ['initiated', 'ringing', 'in_progress', 'completed', 'busy', 'no_answer',
  'failed', 'canceled'];
const CALL_KEYS = ['id', 'status', 'direction', 'caller', 'callee', 'hangupCause', 'createdAt',
  'ringingAt', 'answeredAt', 'endedAt', 'durationSeconds', 'waitSeconds', 'callerChannelId',
  'calleeChannelId', 'bridgeId', 'transfers', 'notes', 'version', 'requestId', 'holdSeconds',
  'heldAt'];

// Every key of a proto3 JSON answer is lowerCamelCase, at any depth.
function assertCamelKeys(v, where = '$') {
  if (Array.isArray(v)) { v.forEach((x, i) => assertCamelKeys(x, `${where}[${i}]`)); return; }
  if (v === null || typeof v !== 'object') return;
  for (const [k, x] of Object.entries(v)) {
    assert.match(k, /^[a-z][a-zA-Z0-9]*$/, `${where}.${k} is not lowerCamelCase`);
    assertCamelKeys(x, `${where}.${k}`);
  }
}
const assertTime = (v, what, nullable = true) => {
  if (nullable && v === null) return;
  assert.equal(typeof v, 'string', `${what}: ${v}`);
  assert.match(v, RFC3339, what);
  assert.ok(!Number.isNaN(Date.parse(v)), what);
};
const assertInt = (v, what) => assert.ok(Number.isInteger(v), `${what}: ${JSON.stringify(v)} is not a number`);
const assertInt64 = (v, what) => {
  assert.equal(typeof v, 'string', `${what}: int64 must be a string, got ${JSON.stringify(v)}`);
  assert.match(v, INT64, what);
};

function assertParty(p, what) {
  assert.deepEqual(Object.keys(p).sort(), ['extension', 'name', 'number', 'onHold', 'userId'], what);
  for (const k of Object.keys(p)) {
    assert.equal(typeof p[k], k === 'onHold' ? 'boolean' : 'string', `${what}.${k}`);
  }
}

function assertCall(c) {
  assertCamelKeys(c);
  assert.deepEqual(Object.keys(c).sort(), [...CALL_KEYS].sort());
  assert.match(c.id, /^[0-9a-f-]{36}$/);
  assert.ok(CALL_STATUSES.includes(c.status), `status ${c.status}`);
  assert.ok(['outbound', 'inbound', 'internal'].includes(c.direction), `direction ${c.direction}`);
  assertParty(c.caller, 'caller');
  assertParty(c.callee, 'callee');
  assertTime(c.createdAt, 'createdAt', false);
  for (const k of ['ringingAt', 'answeredAt', 'endedAt', 'heldAt']) assertTime(c[k], k);
  assertInt(c.durationSeconds, 'durationSeconds');
  assertInt(c.holdSeconds, 'holdSeconds');
  assertInt(c.waitSeconds, 'waitSeconds');
  assertInt64(c.version, 'version');
  for (const t of c.transfers) {
    assert.deepEqual(Object.keys(t).sort(), ['at', 'byName', 'byUserId', 'to', 'toUserId']);
    assertTime(t.at, 'transfer.at', false);
  }
  for (const n of c.notes) assertNote(n);
}

function assertNote(n) {
  assertCamelKeys(n);
  assert.deepEqual(Object.keys(n).sort(), ['authorId', 'authorName', 'callId', 'createdAt', 'id', 'text']);
  assertTime(n.createdAt, 'note.createdAt', false);
}

describe('callgw calls endpoints (callsvc + PostgreSQL + ARI simulator)',
  { skip: haveCallsvc && fs.existsSync(bins.sim) ? false : 'no callsvc or ari-sim' }, () => {
    let pg, sim, svc, gw;
    const u = {};
    let numberSeq = 5560000;
    const nextNumber = () => String(++numberSeq);
    const far = (endpoint, body) => sim.control('POST', `/_sim/endpoints/${endpoint}`, body);
    const farClear = (endpoint) => sim.control('DELETE', `/_sim/endpoints/${endpoint}`).catch(() => {});
    const as = (who) => ({ authorization: `Bearer ${u[who].token}` });
    const get = (who, path) => call(gw, 'GET', path, { headers: as(who) });
    const post = (who, path, body = {}) => call(gw, 'POST', path, { headers: as(who), body });
    async function waitCall(id, status, who, timeoutMs = 10000) {
      return waitFor(async () => {
        const r = await get(who, `/api/calls/${id}`);
        assert.equal(r.status, 200, r.text);
        return r.json.status === status ? r.json : null;
      }, { timeoutMs, what: `call ${id} to be ${status}` });
    }

    before(async () => {
      pg = await startPostgres();
      sim = await startSim();
      svc = await startCallsvc({ pg, sim, env: { RING_TIMEOUT_S: '2' } });
      gw = await startCallgw({ svc });
      await sim.control('POST', '/_sim/default', { mode: 'answer', answer_after_ms: 50 });
      const admin = await call(gw, 'POST', '/api/users/login', { body: ADMIN });
      assert.equal(admin.status, 200, admin.text);
      u.admin = { token: admin.json.token, id: admin.json.user.id };
      for (const [k, role] of [['a', 'agent'], ['b', 'agent'], ['s', 'supervisor']]) {
        const email = `gw-${k}-${Date.now()}@example.com`;
        const c = await call(gw, 'POST', '/api/users', { headers: as('admin'),
          body: { name: `gw-${k}`, email, password: 'password123', role } });
        assert.equal(c.status, 201, c.text);
        const l = await call(gw, 'POST', '/api/users/login', { body: { email, password: 'password123' } });
        assert.equal(l.status, 200, l.text);
        u[k] = { id: c.json.id, token: l.json.token, ext: c.json.sipDevice.extension, name: `gw-${k}` };
      }
    });
    after(async () => {
      const code = gw ? await gw.stop() : 0;
      if (svc) await svc.stop();
      if (sim) await sim.stop();
      if (pg) await pg.destroy();
      assert.equal(code, 0, `callgw exit code (sanitizers report through it):\n${gw?.proc.tail()}`);
    });

    test('make, get, active, notes, transfer, hangup: status codes and proto3 JSON shapes', async () => {
      const to = nextNumber();
      const mk = await call(gw, 'POST', '/api/calls/make',
        { headers: { ...as('a'), 'x-request-id': 'gw-make-1' }, body: { to, requestId: 'idem-1' } });
      assert.equal(mk.status, 201, mk.text);
      assert.equal(mk.headers.get('x-request-id'), 'gw-make-1');
      assert.equal(mk.headers.get('content-type'), 'application/json');
      assertCall(mk.json);
      assert.equal(mk.json.direction, 'outbound');
      assert.equal(mk.json.requestId, 'idem-1');
      assert.equal(mk.json.caller.userId, u.a.id);
      assert.ok(['initiated', 'ringing'].includes(mk.json.status));
      assert.equal(mk.json.answeredAt, null);
      assert.equal(mk.json.endedAt, null);
      // the same request id returns the same call (idempotent retry)
      const again = await post('a', '/api/calls/make', { to, request_id: 'idem-1' });
      assert.equal(again.status, 201, again.text);
      assert.equal(again.json.id, mk.json.id);
      const id = mk.json.id;

      const up = await waitCall(id, 'in_progress', 'a');
      assertCall(up);
      assertTime(up.answeredAt, 'answeredAt', false);
      assert.ok(BigInt(up.version) > BigInt(mk.json.version), 'version grows');

      const act = await get('a', '/api/calls/active');
      assert.equal(act.status, 200, act.text);
      assert.deepEqual(Object.keys(act.json), ['calls']);
      const mine = act.json.calls.find((c) => c.id === id);
      assert.ok(mine, 'the call is active');
      assertCall(mine);
      assert.ok(!(await get('b', '/api/calls/active')).json.calls.some((c) => c.id === id),
        'not among another agent\'s active calls');

      const note = await post('a', `/api/calls/${id}/notes`, { text: 'refund asked ü' });
      assert.equal(note.status, 201, note.text);
      assertNote(note.json);
      assert.equal(note.json.callId, id);
      assert.equal(note.json.authorId, u.a.id);
      assert.equal(note.json.text, 'refund asked ü');
      assertError(await post('a', `/api/calls/${id}/notes`, { text: '' }), 400, 'INVALID_ARGUMENT');
      assertError(await post('a', `/api/calls/${id}/notes`, { text: 5 }), 400, 'INVALID_ARGUMENT', /^text: expected string/);
      assertError(await post('b', `/api/calls/${id}/notes`, { text: 'hi' }), 404, 'NOT_FOUND');

      // DTMF, hold and resume over REST
      assertError(await post('a', `/api/calls/${id}/dtmf`, { digits: '12x' }), 400, 'INVALID_ARGUMENT', /digits/);
      assertError(await post('a', `/api/calls/${id}/dtmf`, { digits: 12 }), 400, 'INVALID_ARGUMENT',
        /^digits: expected string/);
      const dt = await post('a', `/api/calls/${id}/dtmf`, { digits: '9#' });
      assert.equal(dt.status, 200, dt.text);
      assertCall(dt.json);
      const ho = await post('a', `/api/calls/${id}/hold`);
      assert.equal(ho.status, 200, ho.text);
      assertCall(ho.json);
      assert.equal(ho.json.callee.onHold, true);
      assert.equal(ho.json.caller.onHold, false);
      assertTime(ho.json.heldAt, 'heldAt', false);
      assertError(await post('a', `/api/calls/${id}/hold`), 409, 'FAILED_PRECONDITION', /on hold already/);
      assertError(await post('b', `/api/calls/${id}/hold`), 404, 'NOT_FOUND');
      const re = await post('a', `/api/calls/${id}/resume`, {});
      assert.equal(re.status, 200, re.text);
      assertCall(re.json);
      assert.equal(re.json.callee.onHold, false);
      assert.equal(re.json.heldAt, null);
      assertError(await post('a', `/api/calls/${id}/resume`), 409, 'FAILED_PRECONDITION', /not on hold/);
      // the call's timeline so far, oldest first
      const tl = await get('a', `/api/calls/${id}/events?limit=100`);
      assert.equal(tl.status, 200, tl.text);
      assert.deepEqual(Object.keys(tl.json).sort(), ['events', 'nextAfterSeq']);
      assert.equal(tl.json.nextAfterSeq, '0');
      const types = tl.json.events.map((e) => e.type);
      assert.equal(types[0], 'call_initiated');
      assert.deepEqual(types.slice(-2), ['call_held', 'call_resumed']);
      assert.ok(types.includes('call_note_added'));
      for (const e of tl.json.events) {
        assertCamelKeys(e);
        assertInt64(e.seq, 'seq');
        assertTime(e.time, 'time', false);
        if (e.type === 'call_note_added') assertNote(e.note); else assertCall(e.call);
      }
      assertError(await get('b', `/api/calls/${id}/events`), 404, 'NOT_FOUND');
      assertError(await get('a', `/api/calls/${id}/events?limit=x`), 400, 'INVALID_ARGUMENT');

      assertError(await post('a', `/api/calls/${id}/transfer`, { to: 'x' }), 400, 'INVALID_ARGUMENT');
      const tr = await post('a', `/api/calls/${id}/transfer`, { to: u.b.ext });
      assert.equal(tr.status, 200, tr.text);
      assertCall(tr.json);
      assert.equal(tr.json.transfers.length, 1);
      assert.equal(tr.json.transfers[0].byUserId, u.a.id);
      assert.equal(tr.json.transfers[0].to, u.b.ext);
      assert.equal(tr.json.transfers[0].toUserId, u.b.id);
      const joined = await waitFor(async () => {
        const r = await get('b', `/api/calls/${id}`);
        return r.status === 200 && r.json.status === 'in_progress' && r.json.caller.userId === u.b.id ? r.json : null;
      }, { what: 'the transfer target to join' });
      assert.equal(joined.notes.length, 1);
      assertNote(joined.notes[0]);

      const hu = await post('b', `/api/calls/${id}/hangup`);
      assert.equal(hu.status, 200, hu.text);
      assertCall(hu.json);
      assert.equal(hu.json.status, 'completed');
      assert.equal(hu.json.hangupCause, 'normal');
      assertTime(hu.json.endedAt, 'endedAt', false);
      assertError(await post('b', `/api/calls/${id}/hangup`), 409, 'FAILED_PRECONDITION');
      assert.ok(!(await get('a', '/api/calls/active')).json.calls.some((c) => c.id === id));
      // a body on hangup is optional; an unknown field in it is still refused
      assertError(await post('a', `/api/calls/${id}/hangup`, { force: true }), 400, 'INVALID_ARGUMENT',
        /^force: unknown field/);
    });

    test('callsvc errors on call endpoints map to HTTP', async () => {
      assertError(await call(gw, 'POST', '/api/calls/make', { body: { to: '5551234' } }), 401, 'UNAUTHENTICATED');
      assertError(await post('a', '/api/calls/make', { to: 'abc' }), 400, 'INVALID_ARGUMENT');
      assertError(await post('a', '/api/calls/make', {}), 400, 'INVALID_ARGUMENT');
      assertError(await post('a', '/api/calls/make', { to: 5551234 }), 400, 'INVALID_ARGUMENT', /^to: expected string/);
      assertError(await get('a', '/api/calls/nope'), 400, 'INVALID_ARGUMENT');
      const none = '00000000-0000-4000-8000-000000000000';
      for (const p of [`/api/calls/${none}/answer`, `/api/calls/${none}/hangup`, `/api/calls/${none}/transfer`,
        `/api/calls/${none}/hold`, `/api/calls/${none}/resume`, `/api/calls/${none}/dtmf`]) {
        const body = p.endsWith('transfer') ? { to: u.b.ext } : p.endsWith('dtmf') ? { digits: '1' } : {};
        assertError(await post('a', p, body), 404, 'NOT_FOUND');
      }
      assertError(await get('a', `/api/calls/${none}`), 404, 'NOT_FOUND');
      // Asterisk refuses: 503, nothing written
      await sim.control('POST', '/_sim/faults/fail', { count: 1, status: 503 });
      assertError(await post('a', '/api/calls/make', { to: nextNumber() }), 503, 'UNAVAILABLE');
      await sim.control('DELETE', '/_sim/faults');
    });

    test('inbound call answered over REST', async () => {
      await far(`PJSIP/${u.a.ext}`, { mode: 'ring_forever' });
      const ch = await sim.control('POST', '/_sim/inbound',
        { extension: u.a.ext, caller: { name: 'Outside', number: '5551212' } });
      const ring = await waitFor(async () => {
        const r = await get('a', '/api/calls/active');
        return r.json.calls.find((c) => c.direction === 'inbound' && c.status === 'ringing');
      }, { what: 'the inbound call to ring' });
      assertCall(ring);
      assert.equal(ring.callee.userId, u.a.id);
      assert.equal(ring.caller.number, '5551212');
      assertError(await post('b', `/api/calls/${ring.id}/answer`), 404, 'NOT_FOUND');
      // an answer with an empty body (no Content-Type) is fine too
      const ans = await call(gw, 'POST', `/api/calls/${ring.id}/answer`, { headers: as('a') });
      assert.equal(ans.status, 200, ans.text);
      assertCall(ans.json);
      assert.equal(ans.json.status, 'in_progress');
      assertTime(ans.json.answeredAt, 'answeredAt', false);
      assertError(await post('a', `/api/calls/${ring.id}/answer`), 409, 'FAILED_PRECONDITION');
      const chId = ch.id || ch.channel?.id || ring.callerChannelId;
      await sim.control('POST', `/_sim/channels/${encodeURIComponent(chId)}/hangup`, { cause: 16 });
      const done = await waitCall(ring.id, 'completed', 'a');
      assert.equal(done.hangupCause, 'normal');
      await farClear(`PJSIP/${u.a.ext}`);
    });

    test('more calls for history: busy, no answer, internal', async () => {
      const busy = nextNumber();
      await far(`PJSIP/${busy}@trunk`, { mode: 'busy' });
      const c1 = await post('a', '/api/calls/make', { to: busy });
      assert.equal(c1.status, 201, c1.text);
      await waitCall(c1.json.id, 'busy', 'a');
      const silent = nextNumber();
      await far(`PJSIP/${silent}@trunk`, { mode: 'ring_forever' });
      const c2 = await post('a', '/api/calls/make', { to: silent });
      await waitCall(c2.json.id, 'no_answer', 'a', 10000);
      const c3 = await post('a', '/api/calls/make', { to: u.b.ext });
      assert.equal(c3.json.direction, 'internal');
      await waitCall(c3.json.id, 'in_progress', 'b');
      assert.equal((await post('a', `/api/calls/${c3.json.id}/hangup`)).status, 200);
    });

    test('history: filters and pagination from the query string', async () => {
      const all = await get('s', `/api/calls/history?userId=${u.a.id}&limit=100`);
      assert.equal(all.status, 200, all.text);
      assertCamelKeys(all.json);
      assert.deepEqual(Object.keys(all.json).sort(), ['calls', 'nextCursor', 'pageInfo']);
      const n = all.json.calls.length;
      assert.ok(n >= 4, `a made ${n} calls`);
      all.json.calls.forEach(assertCall);
      for (let i = 1; i < n; i++) {
        assert.ok(Date.parse(all.json.calls[i - 1].createdAt) >= Date.parse(all.json.calls[i].createdAt), 'newest first');
      }
      assert.deepEqual(all.json.pageInfo, { page: 1, limit: 100, total: n, pages: 1 });
      // the agent's own history is the same list; user_id (snake_case) is accepted too and ignored for agents
      const own = await get('a', `/api/calls/history?user_id=${u.b.id}&limit=100`);
      assert.deepEqual(own.json.calls.map((c) => c.id), all.json.calls.map((c) => c.id));

      // page and limit
      const p2 = await get('s', `/api/calls/history?userId=${u.a.id}&page=2&limit=2`);
      assert.equal(p2.status, 200, p2.text);
      assert.deepEqual(p2.json.calls.map((c) => c.id), all.json.calls.slice(2, 4).map((c) => c.id));
      assert.deepEqual(p2.json.pageInfo, { page: 2, limit: 2, total: n, pages: Math.ceil(n / 2) });
      // cursor pages reproduce the whole list
      const ids = [];
      let cursor = '';
      for (let guard = 0; guard < 50; guard++) {
        const r = await get('s', `/api/calls/history?userId=${u.a.id}&limit=3` +
          (cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''));
        assert.equal(r.status, 200, r.text);
        ids.push(...r.json.calls.map((c) => c.id));
        if (!r.json.nextCursor) break;
        cursor = r.json.nextCursor;
      }
      assert.deepEqual(ids, all.json.calls.map((c) => c.id));

      // filters: enums by short or full name, timestamps in RFC 3339
      const busy = await get('s', `/api/calls/history?userId=${u.a.id}&status=busy`);
      assert.equal(busy.status, 200, busy.text);
      assert.ok(busy.json.calls.length >= 1 && busy.json.calls.every((c) => c.status === 'busy'));
      const na = await get('s', `/api/calls/history?userId=${u.a.id}&status=CALL_STATUS_NO_ANSWER`);
      assert.ok(na.json.calls.length >= 1 && na.json.calls.every((c) => c.status === 'no_answer'));
      const inb = await get('s', '/api/calls/history?direction=inbound');
      assert.ok(inb.json.calls.length >= 1 && inb.json.calls.every((c) => c.direction === 'inbound'));
      const internal = await get('b', '/api/calls/history?direction=internal&status=completed');
      assert.ok(internal.json.calls.length >= 1 &&
        internal.json.calls.every((c) => c.direction === 'internal' && c.status === 'completed'));
      const future = new Date(Date.now() + 3600e3).toISOString();
      const none = await get('s', `/api/calls/history?from=${encodeURIComponent(future)}`);
      assert.equal(none.status, 200, none.text);
      assert.deepEqual(none.json.calls, []);
      assert.equal(none.json.pageInfo.total, 0);
      const past = '2000-01-01T00:00:00+02:00';
      const upTo = await get('s', `/api/calls/history?userId=${u.a.id}&from=${encodeURIComponent(past)}` +
        `&to=${encodeURIComponent(future)}&limit=100`);
      assert.equal(upTo.json.calls.length, n);

      // bad query values name the parameter
      assertError(await get('s', '/api/calls/history?status=sleeping'), 400, 'INVALID_ARGUMENT', /^status: /);
      assertError(await get('s', '/api/calls/history?from=yesterday'), 400, 'INVALID_ARGUMENT', /^from: /);
      assertError(await get('s', '/api/calls/history?page=2.5'), 400, 'INVALID_ARGUMENT', /^page: /);
      assertError(await get('s', '/api/calls/history?cursor=garbage'), 400, 'INVALID_ARGUMENT');
      assertError(await get('s', '/api/calls/active?limit=1'), 400, 'INVALID_ARGUMENT', /^limit: unknown query parameter/);
    });

    test('statistics: int64 as strings, doubles as numbers, buckets with RFC 3339 starts', async () => {
      const h = await get('s', `/api/calls/history?userId=${u.a.id}&limit=100`);
      const st = await get('s', `/api/calls/statistics?userId=${u.a.id}`);
      assert.equal(st.status, 200, st.text);
      const s = st.json;
      assertCamelKeys(s);
      assert.deepEqual(Object.keys(s).sort(), ['answerRate', 'averageDurationSeconds', 'averageWaitSeconds',
        'byStatus', 'from', 'maxDurationSeconds', 'perDay', 'perHour', 'perUser', 'to', 'total', 'held',
        'averageHoldSeconds'].sort());
      assertTime(s.from, 'from', false);
      assertTime(s.to, 'to', false);
      assertInt64(s.total, 'total');
      assertInt64(s.maxDurationSeconds, 'maxDurationSeconds');
      assertInt64(s.held, 'held');
      assert.equal(Number(s.total), h.json.calls.length);
      // the calls with a finished hold, however short (the call above held for less than a second)
      const held = Number(pg.psql(`SELECT count(*) FROM call_parties p JOIN calls c ON c.id = p.call_id
        WHERE p.user_id = '${u.a.id}' AND c.hold_us > 0`));
      assert.ok(held >= 1);
      assert.equal(Number(s.held), held);
      assert.ok(s.averageHoldSeconds > 0);
      for (const k of ['answerRate', 'averageDurationSeconds', 'averageWaitSeconds', 'averageHoldSeconds']) {
        assert.equal(typeof s[k], 'number', k);
      }
      for (const b of s.byStatus) {
        assert.ok(CALL_STATUSES.includes(b.status), b.status);
        assertInt64(b.count, 'byStatus.count');
        assert.equal(Number(b.count), h.json.calls.filter((c) => c.status === b.status).length, b.status);
      }
      for (const b of [...s.perHour, ...s.perDay]) {
        assertTime(b.start, 'bucket.start', false);
        assertInt64(b.total, 'bucket.total');
        assertInt64(b.answered, 'bucket.answered');
      }
      assert.equal(s.perHour.reduce((t, b) => t + Number(b.total), 0), Number(s.total));
      const pu = s.perUser.find((x) => x.userId === u.a.id);
      assert.ok(pu, 'per-user row for a');
      assertInt64(pu.total, 'perUser.total');
      assert.equal(typeof pu.answerRate, 'number');
      // a period with nothing in it
      const empty = await get('s', '/api/calls/statistics?from=2001-01-01T00:00:00Z&to=2001-01-02T00:00:00Z');
      assert.equal(empty.status, 200, empty.text);
      assert.equal(empty.json.total, '0');
      assert.equal(empty.json.from, '2001-01-01T00:00:00Z');
      // an agent gets their own figures and no per-user rows
      const mine = await get('a', '/api/calls/statistics');
      assert.equal(mine.status, 200, mine.text);
      assert.equal(mine.json.total, s.total);
      assert.deepEqual(mine.json.perUser, []);
      assertError(await get('a', '/api/calls/statistics?to=soon'), 400, 'INVALID_ARGUMENT', /^to: /);
    });

    test('PUT /api/users/status: every presence value, short and full names', async () => {
      for (const [sent, got] of [['busy', 'busy'], ['PRESENCE_STATUS_AWAY', 'away'], ['offline', 'offline'],
        ['available', 'available']]) {
        const r = await call(gw, 'PUT', '/api/users/status', { headers: as('a'), body: { status: sent } });
        assert.equal(r.status, 200, r.text);
        assertCamelKeys(r.json);
        assert.equal(r.json.status, got);
        assert.equal(r.json.id, u.a.id);
        assert.equal(r.json.role, 'agent');
        assertTime(r.json.createdAt, 'createdAt', false);
        assertTime(r.json.updatedAt, 'updatedAt');
        assert.deepEqual(Object.keys(r.json.sipDevice).sort(), ['context', 'endpoint', 'extension', 'secret', 'username']);
      }
      const prof = await get('a', '/api/users/profile');
      assert.equal(prof.json.status, 'available');
      assertError(await call(gw, 'PUT', '/api/users/status', { body: { status: 'away' } }), 401, 'UNAUTHENTICATED');
      // the enum's number is accepted on input; the answer uses the name
      const num = await call(gw, 'PUT', '/api/users/status', { headers: as('a'), body: { status: 3 } });
      assert.equal(num.status, 200, num.text);
      assert.equal(num.json.status, 'away');
      assertError(await call(gw, 'PUT', '/api/users/status', { headers: as('a'), body: { status: 'sleepy' } }),
        400, 'INVALID_ARGUMENT', /^status: unknown value/);
      assertError(await call(gw, 'PUT', '/api/users/status', { headers: as('a'), body: { status: true } }),
        400, 'INVALID_ARGUMENT', /^status: /);
    });

    test('many requests in flight at once, on many connections', async () => {
      const paths = ['/api/calls/active', '/api/calls/history?limit=5', '/api/calls/statistics',
        '/api/users/profile'];
      const rs = await Promise.all(Array.from({ length: 200 }, (_, i) =>
        call(gw, 'GET', paths[i % paths.length], { headers: { ...as('s'), 'x-request-id': `many-${i}` } })));
      rs.forEach((r, i) => {
        assert.equal(r.status, 200, r.text);
        assert.equal(r.headers.get('x-request-id'), `many-${i}`);
      });
      const m = await call(gw, 'GET', '/metrics');
      assert.match(m.text, /callgw_http_requests_total\{method="GET",route="\/api\/calls\/active",status="200"\} \d+/);
      assert.match(m.text, /callgw_http_in_flight 1\n/);
      // with the simulator as Asterisk: the link is up and the calls made above went through it
      assert.match(m.text, /\ncallsvc_ari_connected 1\n/);
      assert.match(m.text, /\ncallsvc_ari_connects_total [1-9]\d*\n/);
      assert.match(m.text, /\ncallsvc_ari_events_total [1-9]\d*\n/);
      assert.match(m.text, /\ncallsvc_ari_requests_total [1-9]\d*\n/);
      assert.match(m.text, /\ncallsvc_ari_events_invalid_total 0\n/);
      assertPromtool(m.text);
    });

    test('SIGTERM: a request in flight is finished before callgw exits', async () => {
      const gw2 = await startCallgw({ svc, name: 'callgw-drain' });
      // Asterisk answers the next originate late: MakeCall is in flight for a while.
      await sim.control('POST', '/_sim/faults/delay', { count: 1, ms: 2000 });
      const t0 = Date.now();
      const pending = call(gw2, 'POST', '/api/calls/make', { headers: as('b'), body: { to: nextNumber() } });
      await waitFor(async () => {
        const m = await call(gw2, 'GET', '/metrics');
        return /callgw_http_in_flight 2/.test(m.text);
      }, { what: 'the MakeCall to be in flight' });
      const exited = gw2.stop('SIGTERM', 15000);
      const r = await pending;
      const ms = Date.now() - t0;
      assert.equal(r.status, 201, r.text);
      assertCall(r.json);
      assert.ok(ms >= 1500, `answered after ${ms} ms: was it in flight?`);
      assert.equal(await exited, 0);
      assert.match(gw2.proc.log(), /shutting down: 1 request\(s\) in flight/);
      await sim.control('DELETE', '/_sim/faults');
      await waitCall(r.json.id, 'in_progress', 'b');
      assert.equal((await post('b', `/api/calls/${r.json.id}/hangup`)).status, 200);
    });
  });

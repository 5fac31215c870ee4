// callgw over real HTTP: the HTTP layer's own answers (404, 405, 413, 431,
// 400, CORS, request ids, health, metrics, OpenAPI) with callsvc down, then
// every users endpoint against callsvc + PostgreSQL, and callsvc restarted
// under the gateway.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {
  startPostgres, startCallsvc, startCallgw, bins, ADMIN, waitFor,
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
  after(async () => { if (gw) assert.equal(await gw.stop(), 0); });

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
    if (gw) await gw.stop();
    if (svc) await svc.stop();
    if (pg) await pg.stop();
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

  test('callsvc restarted under the gateway: 503 while down, then it recovers', async () => {
    await svc.stop();
    assertError(await call(gw, 'GET', '/readyz'), 503, 'UNAVAILABLE');
    assertError(await call(gw, 'POST', '/api/users/login', { body: ADMIN }), 503, 'UNAVAILABLE');
    await svc.restart();
    await waitFor(async () => (await call(gw, 'POST', '/api/users/login', { body: ADMIN })).status === 200,
      { timeoutMs: 10000, what: 'the gateway to reach callsvc again' });
    assert.equal((await call(gw, 'GET', '/readyz')).status, 200);
  });
});

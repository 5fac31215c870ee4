// UserService end to end: a private PostgreSQL, the real callsvc (migrated
// and seeded), a real gRPC client. Every method and every error of issue 2,
// including the database going away mid-run and coming back without a
// callsvc restart.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import {
  startPostgres, startCallsvc, grpcApi, expectGrpcError, waitFor, sleep, ADMIN, JWT_SECRET, grpc,
} from './lib/stack.mjs';

const EXT_MIN = 3000;
const EXT_MAX = 3019;
const WINDOW = 3; // LOGIN_FAILURE_WINDOW, seconds

let pg;
let svc;
let api;
let admin; // { token, user }
let agent; // registered in the first test

const uid = () => crypto.randomBytes(4).toString('hex');
const b64url = (buf) => Buffer.from(buf).toString('base64url');

// A JWT made here, with any header, claims, algorithm and key.
function makeJwt(claims, { alg = 'HS256', key = JWT_SECRET, header = {} } = {}) {
  const h = b64url(JSON.stringify({ alg, typ: 'JWT', ...header }));
  const p = b64url(JSON.stringify(claims));
  const hashes = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' };
  let sig = '';
  if (hashes[alg]) sig = crypto.createHmac(hashes[alg], key).update(`${h}.${p}`).digest('base64url');
  else if (alg !== 'none') sig = b64url('not-a-real-signature');
  return `${h}.${p}.${sig}`;
}

function claimsFor(user, extra = {}) {
  const now = Math.floor(Date.now() / 1000);
  return { sub: user.id, role: user.role, email: user.email, iat: now, exp: now + 600, ...extra };
}

// Stops the cluster with pg_ctl (fast mode: clients are disconnected), then
// lets the harness forget its process. Signalling the harness's `runuser`
// wrapper does not always reach the postmaster (seen here: the wrapper was
// SIGKILLed after 10 s and PostgreSQL kept serving).
async function stopPostgres() {
  const pgctl = [path.join(process.env.PG_BIN || '/usr/lib/postgresql/15/bin', 'pg_ctl'),
    '-D', path.join(pg.dir, 'data'), 'stop', '-m', 'fast', '-w', '-t', '30'];
  const isRoot = process.getuid && process.getuid() === 0;
  const [cmd, ...args] = isRoot ? ['runuser', '-u', 'postgres', '--', ...pgctl] : pgctl;
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`pg_ctl stop failed: ${r.stderr}`);
  await pg.stop();
}

const inRange = (ext) => Number(ext) >= EXT_MIN && Number(ext) <= EXT_MAX;

before(async () => {
  pg = await startPostgres();
  svc = await startCallsvc({
    pg,
    env: {
      EXTENSION_MIN: String(EXT_MIN), EXTENSION_MAX: String(EXT_MAX),
      LOGIN_FAILURE_WINDOW: String(WINDOW), HEALTH_INTERVAL_MS: '200', WORKERS: '4',
      ARI_URL: '', // no Asterisk: readiness then depends on the database only
    },
  });
  api = grpcApi(svc.addr);
  admin = await api.users.Login(ADMIN);
});

after(async () => {
  api?.close();
  await svc?.stop();
  await pg?.destroy();
});

test('health answers SERVING', async () => {
  const r = await api.health.Check({ service: '' });
  assert.equal(r.status, 'SERVING');
  const u = await api.health.Check({ service: 'callservice.v1.UserService' });
  assert.equal(u.status, 'SERVING');
});

test('seed created the admin with a device', async () => {
  assert.ok(admin.token.split('.').length === 3);
  assert.equal(admin.user.role, 'ROLE_ADMIN');
  assert.equal(admin.user.email, ADMIN.email);
  assert.ok(inRange(admin.user.sip_device.extension));
  assert.ok(admin.user.sip_device.secret.length >= 16);
  assert.ok(Number(admin.expires_at.seconds) > Date.now() / 1000);
});

test('Register creates an agent with a SIP device and a token', async () => {
  const email = `agent-${uid()}@example.com`;
  const r = await api.users.Register({ name: 'New Agent', email, password: 'password123' });
  assert.ok(r.token);
  assert.equal(r.user.role, 'ROLE_AGENT');
  assert.equal(r.user.email, email);
  assert.equal(r.user.name, 'New Agent');
  assert.equal(r.user.status, 'PRESENCE_STATUS_OFFLINE');
  const d = r.user.sip_device;
  assert.ok(inRange(d.extension), `extension ${d.extension}`);
  assert.equal(d.username, d.extension);
  assert.match(d.secret, /^[A-Za-z0-9]{24}$/);
  assert.equal(d.context, 'default');
  assert.equal(d.endpoint, `PJSIP/${d.extension}`);
  assert.match(r.user.id, /^[0-9a-f-]{36}$/);
  assert.ok(Number(r.user.created_at.seconds) > 0);
  // Asterisk's realtime rows follow the device.
  assert.equal(pg.psql(`SELECT aors || '/' || auth || '/' || context FROM ps_endpoints WHERE id = '${d.extension}'`),
    `${d.extension}/${d.extension}/default`);
  assert.equal(pg.psql(`SELECT password FROM ps_auths WHERE id = '${d.extension}'`), d.secret);
  assert.equal(pg.psql(`SELECT max_contacts FROM ps_aors WHERE id = '${d.extension}'`), '1');
  agent = { ...r, password: 'password123' };
});

test('Register: duplicate email (any case) is ALREADY_EXISTS', async () => {
  await expectGrpcError(api.users.Register({
    name: 'Dup', email: agent.user.email.toUpperCase(), password: 'password123',
  }), 'ALREADY_EXISTS', /email already registered/);
});

test('Register: every field is validated, the message names the field', async () => {
  const ok = { name: 'Val Idation', email: `v-${uid()}@example.com`, password: 'password123' };
  const cases = [
    [{ email: 'not-an-email' }, /^email: /],
    [{ email: '' }, /^email: is required/],
    [{ email: 'a@b' }, /^email: /],
    [{ password: 'short' }, /^password: must be 8/],
    [{ password: '' }, /^password: is required/],
    [{ name: '' }, /^name: is required/],
    [{ name: 'x'.repeat(101) }, /^name: must be 1 to 100/],
    [{ name: 'tab\there' }, /^name: /],
  ];
  for (const [patch, re] of cases) {
    await expectGrpcError(api.users.Register({ ...ok, ...patch }), 'INVALID_ARGUMENT', re);
  }
});

test('Register: concurrent registrations get distinct extensions', async () => {
  const rs = await Promise.all([0, 1, 2, 3].map((i) => api.users.Register({
    name: `Racer ${i}`, email: `racer${i}-${uid()}@example.com`, password: 'password123',
  })));
  const exts = rs.map((r) => r.user.sip_device.extension);
  assert.equal(new Set(exts).size, exts.length, `duplicates in ${exts}`);
  for (const r of rs) await api.users.DeleteUser({ user_id: r.user.id }, { token: admin.token });
});

test('Login: wrong password and unknown email give the same answer', async () => {
  const a = await expectGrpcError(api.users.Login({ email: agent.user.email, password: 'wrong-password' }),
    'UNAUTHENTICATED');
  const b = await expectGrpcError(api.users.Login({ email: `nobody-${uid()}@example.com`, password: 'wrong-password' }),
    'UNAUTHENTICATED');
  assert.equal(a.details, b.details);
  assert.equal(a.details, 'invalid email or password');
  // Case-insensitive email.
  const r = await api.users.Login({ email: agent.user.email.toUpperCase(), password: agent.password });
  assert.equal(r.user.id, agent.user.id);
  await expectGrpcError(api.users.Login({ email: '', password: 'x' }), 'INVALID_ARGUMENT', /^email: /);
});

test('Login: repeated failures for one email are throttled, then allowed again', async () => {
  const email = `throttle-${uid()}@example.com`;
  await api.users.Register({ name: 'Throttled', email, password: 'password123' });
  for (let i = 0; i < 5; i++) {
    await expectGrpcError(api.users.Login({ email, password: 'wrong-password' }), 'UNAUTHENTICATED');
  }
  // Even the right password is refused while throttled; other emails are not.
  await expectGrpcError(api.users.Login({ email, password: 'password123' }), 'RESOURCE_EXHAUSTED',
    /too many failed logins/);
  await api.users.Login({ email: agent.user.email, password: agent.password });
  // Unknown emails are throttled too (no way to tell them apart).
  const ghost = `ghost-${uid()}@example.com`;
  for (let i = 0; i < 5; i++) {
    await expectGrpcError(api.users.Login({ email: ghost, password: 'wrong-password' }), 'UNAUTHENTICATED');
  }
  await expectGrpcError(api.users.Login({ email: ghost, password: 'x' }), 'RESOURCE_EXHAUSTED');
  await sleep((WINDOW + 1) * 1000);
  const r = await api.users.Login({ email, password: 'password123' });
  assert.equal(r.user.email, email);
});

test('GetProfile: the caller, with its SIP secret', async () => {
  const me = await api.users.GetProfile({}, { token: agent.token });
  assert.equal(me.id, agent.user.id);
  assert.equal(me.sip_device.secret, agent.user.sip_device.secret);
});

test('tokens: missing, malformed, expired, forged and foreign ones are UNAUTHENTICATED', async () => {
  const u = agent.user;
  const now = Math.floor(Date.now() / 1000);
  await expectGrpcError(api.users.GetProfile({}), 'UNAUTHENTICATED', /missing bearer token/);
  await expectGrpcError(api.users.GetProfile({}, { meta: { authorization: 'Basic abc' } }),
    'UNAUTHENTICATED', /Bearer/);
  const bad = {
    garbage: 'garbage',
    'two parts': 'abc.def',
    expired: makeJwt(claimsFor(u, { exp: now - 5 })),
    'nbf in the future': makeJwt(claimsFor(u, { nbf: now + 300 })),
    'alg none': makeJwt(claimsFor(u), { alg: 'none' }),
    'alg none with signature': makeJwt(claimsFor(u), { alg: 'none' }) + 'c2ln',
    HS384: makeJwt(claimsFor(u), { alg: 'HS384' }),
    HS512: makeJwt(claimsFor(u), { alg: 'HS512' }),
    RS256: makeJwt(claimsFor(u), { alg: 'RS256' }),
    'another key': makeJwt(claimsFor(u), { key: 'another-secret-another-secret-another' }),
    'admin role forged': makeJwt(claimsFor(u, { role: 'admin' }), { key: 'wrong-key-wrong-key-wrong-key-wrong' }),
    'no exp': makeJwt({ sub: u.id, role: u.role, email: u.email }),
    'unknown role': makeJwt(claimsFor(u, { role: 'root' })),
  };
  for (const [what, token] of Object.entries(bad)) {
    try {
      await expectGrpcError(api.users.GetProfile({}, { token }), 'UNAUTHENTICATED');
    } catch (e) { throw new Error(`${what}: ${e.message}`); }
  }
  // The same claims, correctly signed, pass: the cases above fail for the
  // reason they test.
  const good = makeJwt({ ...claimsFor(u), role: 'agent' });
  const me = await api.users.GetProfile({}, { token: good });
  assert.equal(me.id, u.id);
});

test('UpdateProfile: name, email, password (with current_password)', async () => {
  const t = { token: agent.token };
  let me = await api.users.UpdateProfile({ name: 'Renamed Agent' }, t);
  assert.equal(me.name, 'Renamed Agent');
  assert.equal(me.email, agent.user.email); // unset fields unchanged
  await expectGrpcError(api.users.UpdateProfile({ email: ADMIN.email.toUpperCase() }, t), 'ALREADY_EXISTS');
  await expectGrpcError(api.users.UpdateProfile({ email: 'bad' }, t), 'INVALID_ARGUMENT', /^email: /);
  await expectGrpcError(api.users.UpdateProfile({ name: '' }, t), 'INVALID_ARGUMENT', /^name: /);
  await expectGrpcError(api.users.UpdateProfile({ password: 'newpassword1' }, t), 'INVALID_ARGUMENT',
    /^current_password: is required/);
  await expectGrpcError(api.users.UpdateProfile({ password: 'newpassword1', current_password: 'nope-nope' }, t),
    'INVALID_ARGUMENT', /^current_password: does not match/);
  await expectGrpcError(api.users.UpdateProfile({ password: 'short', current_password: agent.password }, t),
    'INVALID_ARGUMENT', /^password: /);
  const newEmail = `moved-${uid()}@example.com`;
  me = await api.users.UpdateProfile({ email: newEmail, password: 'newpassword1', current_password: agent.password }, t);
  assert.equal(me.email, newEmail);
  await expectGrpcError(api.users.Login({ email: newEmail, password: agent.password }), 'UNAUTHENTICATED');
  const r = await api.users.Login({ email: newEmail, password: 'newpassword1' });
  agent = { ...r, password: 'newpassword1' };
  await expectGrpcError(api.users.UpdateProfile({ name: 'x' }), 'UNAUTHENTICATED');
});

test('ListUsers: admin and supervisor see everyone, agents themselves; paging and filters', async () => {
  const all = await api.users.ListUsers({}, { token: admin.token });
  assert.ok(all.users.length >= 6);
  assert.equal(all.page_info.page, 1);
  assert.equal(all.page_info.limit, 20);
  assert.equal(all.page_info.total, all.users.length);
  // admins see every secret
  assert.ok(all.users.every((u) => u.sip_device.secret.length > 0));

  const p1 = await api.users.ListUsers({ page: 1, limit: 2 }, { token: admin.token });
  const p2 = await api.users.ListUsers({ page: 2, limit: 2 }, { token: admin.token });
  assert.equal(p1.users.length, 2);
  assert.equal(p1.page_info.pages, Math.ceil(all.page_info.total / 2));
  assert.notEqual(p1.users[0].id, p2.users[0].id);
  const far = await api.users.ListUsers({ page: 999, limit: 2 }, { token: admin.token });
  assert.equal(far.users.length, 0);
  assert.equal(far.page_info.total, all.page_info.total);

  const sups = await api.users.ListUsers({ role: 'ROLE_SUPERVISOR' }, { token: admin.token });
  assert.ok(sups.users.length >= 1 && sups.users.every((u) => u.role === 'ROLE_SUPERVISOR'));
  const q = await api.users.ListUsers({ query: 'ALICE' }, { token: admin.token });
  assert.deepEqual(q.users.map((u) => u.email), ['alice@example.com']);
  const pct = await api.users.ListUsers({ query: '%' }, { token: admin.token });
  assert.equal(pct.users.length, 0); // not a LIKE pattern

  const sup = await api.users.Login({ email: 'supervisor@example.com', password: 'supervisor123' });
  const seen = await api.users.ListUsers({}, { token: sup.token });
  assert.equal(seen.page_info.total, all.page_info.total);
  for (const u of seen.users) {
    if (u.id === sup.user.id) assert.ok(u.sip_device.secret.length > 0);
    else assert.equal(u.sip_device.secret, '', `supervisor sees ${u.email}'s secret`);
  }

  const mine = await api.users.ListUsers({}, { token: agent.token });
  assert.deepEqual(mine.users.map((u) => u.id), [agent.user.id]);
  assert.equal(mine.page_info.total, 1);

  await expectGrpcError(api.users.ListUsers({ limit: 101 }, { token: admin.token }), 'INVALID_ARGUMENT', /^limit: /);
  await expectGrpcError(api.users.ListUsers({ page: -1 }, { token: admin.token }), 'INVALID_ARGUMENT', /^page: /);
  await expectGrpcError(api.users.ListUsers({ role: 9 }, { token: admin.token }), 'INVALID_ARGUMENT', /^role: /);
  await expectGrpcError(api.users.ListUsers({}), 'UNAUTHENTICATED');
});

test('CreateUser: admin only; role defaults to agent', async () => {
  const sup = await api.users.Login({ email: 'supervisor@example.com', password: 'supervisor123' });
  const req = { name: 'Created', email: `created-${uid()}@example.com`, password: 'password123', role: 'ROLE_SUPERVISOR' };
  await expectGrpcError(api.users.CreateUser(req, { token: agent.token }), 'PERMISSION_DENIED', /requires role admin/);
  await expectGrpcError(api.users.CreateUser(req, { token: sup.token }), 'PERMISSION_DENIED');
  await expectGrpcError(api.users.CreateUser(req), 'UNAUTHENTICATED');
  const u = await api.users.CreateUser(req, { token: admin.token });
  assert.equal(u.role, 'ROLE_SUPERVISOR');
  assert.ok(inRange(u.sip_device.extension));
  await expectGrpcError(api.users.CreateUser(req, { token: admin.token }), 'ALREADY_EXISTS');
  const d = await api.users.CreateUser({ ...req, email: `def-${uid()}@example.com`, role: 'ROLE_UNSPECIFIED' },
    { token: admin.token });
  assert.equal(d.role, 'ROLE_AGENT');
  await expectGrpcError(api.users.CreateUser({ ...req, email: 'x' }, { token: admin.token }), 'INVALID_ARGUMENT', /^email/);
  await expectGrpcError(api.users.CreateUser({ ...req, email: `r-${uid()}@example.com`, role: 7 }, { token: admin.token }),
    'INVALID_ARGUMENT', /^role: /);
  for (const x of [u, d]) await api.users.DeleteUser({ user_id: x.id }, { token: admin.token });
});

test('GetUser: any user for admin and supervisor, only self for agents', async () => {
  const sup = await api.users.Login({ email: 'supervisor@example.com', password: 'supervisor123' });
  const byAdmin = await api.users.GetUser({ user_id: agent.user.id }, { token: admin.token });
  assert.equal(byAdmin.sip_device.secret, agent.user.sip_device.secret);
  const bySup = await api.users.GetUser({ user_id: agent.user.id }, { token: sup.token });
  assert.equal(bySup.email, agent.user.email);
  assert.equal(bySup.sip_device.secret, '');
  const self = await api.users.GetUser({ user_id: agent.user.id }, { token: agent.token });
  assert.equal(self.sip_device.secret, agent.user.sip_device.secret);
  await expectGrpcError(api.users.GetUser({ user_id: admin.user.id }, { token: agent.token }), 'PERMISSION_DENIED');
  await expectGrpcError(api.users.GetUser({ user_id: crypto.randomUUID() }, { token: admin.token }), 'NOT_FOUND');
  await expectGrpcError(api.users.GetUser({ user_id: 'not-a-uuid' }, { token: admin.token }), 'INVALID_ARGUMENT', /^user_id: /);
  await expectGrpcError(api.users.GetUser({ user_id: "'; DROP TABLE users; --" }, { token: admin.token }), 'INVALID_ARGUMENT');
});

test('UpdateUser: admin only; role changes; the last admin stays', async () => {
  const t = { token: admin.token };
  await expectGrpcError(api.users.UpdateUser({ user_id: agent.user.id, name: 'x' }, { token: agent.token }), 'PERMISSION_DENIED');
  let u = await api.users.UpdateUser({ user_id: agent.user.id, role: 'ROLE_SUPERVISOR', name: 'Promoted' }, t);
  assert.equal(u.role, 'ROLE_SUPERVISOR');
  assert.equal(u.name, 'Promoted');
  u = await api.users.UpdateUser({ user_id: agent.user.id, role: 'ROLE_AGENT' }, t);
  assert.equal(u.role, 'ROLE_AGENT');
  assert.equal(u.name, 'Promoted');
  u = await api.users.UpdateUser({ user_id: agent.user.id, password: 'resetpassword' }, t);
  await api.users.Login({ email: agent.user.email, password: 'resetpassword' });
  agent.password = 'resetpassword';
  await expectGrpcError(api.users.UpdateUser({ user_id: crypto.randomUUID(), name: 'x' }, t), 'NOT_FOUND');
  await expectGrpcError(api.users.UpdateUser({ user_id: agent.user.id, email: ADMIN.email }, t), 'ALREADY_EXISTS');
  await expectGrpcError(api.users.UpdateUser({ user_id: agent.user.id, role: 'ROLE_UNSPECIFIED' }, t), 'INVALID_ARGUMENT', /^role: /);
  await expectGrpcError(api.users.UpdateUser({ user_id: agent.user.id, name: '' }, t), 'INVALID_ARGUMENT', /^name: /);
  await expectGrpcError(api.users.UpdateUser({ user_id: admin.user.id, role: 'ROLE_AGENT' }, t), 'FAILED_PRECONDITION', /last admin/);
});

test('SetStatus: presence of the caller', async () => {
  const t = { token: agent.token };
  for (const s of ['PRESENCE_STATUS_AVAILABLE', 'PRESENCE_STATUS_BUSY', 'PRESENCE_STATUS_AWAY', 'PRESENCE_STATUS_OFFLINE']) {
    const u = await api.users.SetStatus({ status: s }, t);
    assert.equal(u.status, s);
    assert.equal(u.id, agent.user.id);
  }
  await api.users.SetStatus({ status: 'PRESENCE_STATUS_BUSY' }, t);
  const me = await api.users.GetProfile({}, t);
  assert.equal(me.status, 'PRESENCE_STATUS_BUSY');
  await expectGrpcError(api.users.SetStatus({ status: 'PRESENCE_STATUS_UNSPECIFIED' }, t), 'INVALID_ARGUMENT', /^status: /);
  await expectGrpcError(api.users.SetStatus({ status: 42 }, t), 'INVALID_ARGUMENT');
  await expectGrpcError(api.users.SetStatus({ status: 'PRESENCE_STATUS_AWAY' }), 'UNAUTHENTICATED');
});

test('malformed protobuf is INVALID_ARGUMENT', async () => {
  const client = api.users.client;
  const raw = (bytes) => new Promise((resolve, reject) => {
    client.makeUnaryRequest('/callservice.v1.UserService/Login', (b) => b, (b) => b, bytes,
      new grpc.Metadata(), { deadline: Date.now() + 5000 }, (err, res) => (err ? reject(err) : resolve(res)));
  });
  // field 1 (string) claims 100 bytes but there are 3; then a bad wire type
  await expectGrpcError(raw(Buffer.from([0x0a, 100, 0x61, 0x62, 0x63])), 'INVALID_ARGUMENT');
  await expectGrpcError(raw(Buffer.from([0x0f, 0xff, 0xff, 0xff])), 'INVALID_ARGUMENT');
});

test('DeleteUser: admin only; frees the extension; the token then finds nobody', async () => {
  const email = `doomed-${uid()}@example.com`;
  const r = await api.users.Register({ name: 'Doomed', email, password: 'password123' });
  const ext = r.user.sip_device.extension;
  await expectGrpcError(api.users.DeleteUser({ user_id: r.user.id }, { token: r.token }), 'PERMISSION_DENIED');
  const out = await api.users.DeleteUser({ user_id: r.user.id }, { token: admin.token });
  assert.deepEqual(out, {});
  assert.equal(pg.psql(`SELECT count(*) FROM sip_devices WHERE extension = '${ext}'`), '0');
  assert.equal(pg.psql(`SELECT count(*) FROM ps_endpoints WHERE id = '${ext}'`), '0');
  assert.equal(pg.psql(`SELECT count(*) FROM ps_auths WHERE id = '${ext}'`), '0');
  await expectGrpcError(api.users.DeleteUser({ user_id: r.user.id }, { token: admin.token }), 'NOT_FOUND');
  await expectGrpcError(api.users.GetProfile({}, { token: r.token }), 'NOT_FOUND');
  await expectGrpcError(api.users.DeleteUser({ user_id: 'zzz' }, { token: admin.token }), 'INVALID_ARGUMENT');
  await expectGrpcError(api.users.DeleteUser({ user_id: admin.user.id }, { token: admin.token }), 'FAILED_PRECONDITION', /last admin/);
  // The freed extension is the lowest free one again.
  const again = await api.users.Register({ name: 'Reuse', email: `reuse-${uid()}@example.com`, password: 'password123' });
  assert.equal(again.user.sip_device.extension, ext);
  await api.users.DeleteUser({ user_id: again.user.id }, { token: admin.token });
});

test('cached users: own writes at once, other instances and plain SQL through NOTIFY', async () => {
  // A second instance whose entries would live for ten minutes: only the
  // cs_users notification can make it see a change made elsewhere.
  const svc2 = await startCallsvc({ pg, migrate: false, seed: false,
    env: { ARI_URL: '', WORKERS: '2', USERS_CACHE_TTL_MS: '600000' } });
  const api2 = grpcApi(svc2.addr);
  try {
    const r = await api.users.Register({ name: 'Cached', email: `cached-${uid()}@example.com`, password: 'password123' });
    const t = { token: r.token };
    const name2 = async () => (await api2.users.GetProfile({}, t)).name;
    for (let i = 0; i < 3; i++) assert.equal(await name2(), 'Cached'); // now cached on svc2
    assert.equal((await api.users.GetProfile({}, t)).name, 'Cached'); // and on svc
    // Read-your-writes on the instance that made the change, at once.
    await api.users.UpdateProfile({ name: 'Renamed once' }, t);
    assert.equal((await api.users.GetProfile({}, t)).name, 'Renamed once');
    // The other instance, through the notification.
    await waitFor(async () => (await name2()) === 'Renamed once', { what: 'svc2 to see the rename', timeoutMs: 5000 });
    // Presence and an admin's change the same way; GetUser shares the cache.
    await api.users.SetStatus({ status: 'PRESENCE_STATUS_BUSY' }, t);
    assert.equal((await api.users.GetProfile({}, t)).status, 'PRESENCE_STATUS_BUSY');
    await waitFor(async () => (await api2.users.GetUser({ user_id: r.user.id }, { token: admin.token })).status
      === 'PRESENCE_STATUS_BUSY', { what: 'svc2 to see the status', timeoutMs: 5000 });
    // An operator's SQL, on users and on sip_devices.
    pg.psql(`UPDATE users SET name = 'Renamed by SQL' WHERE id = '${r.user.id}'`);
    await waitFor(async () => (await name2()) === 'Renamed by SQL', { what: 'svc2 to see the SQL rename', timeoutMs: 5000 });
    // It is a cache: a change that sends no notification is not seen...
    pg.psql(`ALTER TABLE users DISABLE TRIGGER users_notify_change;
      UPDATE users SET name = 'Silent' WHERE id = '${r.user.id}';
      ALTER TABLE users ENABLE TRIGGER users_notify_change`);
    await sleep(300);
    assert.equal(await name2(), 'Renamed by SQL');
    // ... until the next notification about that user.
    pg.psql(`UPDATE sip_devices SET secret = 'rotated-by-sql' WHERE user_id = '${r.user.id}'`);
    await waitFor(async () => (await api2.users.GetProfile({}, t)).sip_device.secret === 'rotated-by-sql',
      { what: 'svc2 to see the new secret', timeoutMs: 5000 });
    assert.equal(await name2(), 'Silent');
    // Deleted elsewhere: gone here too.
    await api.users.DeleteUser({ user_id: r.user.id }, { token: admin.token });
    await waitFor(async () => {
      try { await api2.users.GetProfile({}, t); return false; } catch (e) { return e.code === grpc.status.NOT_FOUND; }
    }, { what: 'svc2 to find the user gone', timeoutMs: 5000 });
  } finally {
    api2.close();
    await svc2.stop();
  }
});

test('extension range exhausted is RESOURCE_EXHAUSTED with a clear message', async () => {
  const made = [];
  let err = null;
  for (let i = 0; i <= EXT_MAX - EXT_MIN + 1 && !err; i++) {
    try {
      made.push(await api.users.CreateUser({ name: `Filler ${i}`, email: `fill${i}-${uid()}@example.com`,
        password: 'password123' }, { token: admin.token }));
    } catch (e) { err = e; }
  }
  assert.ok(err, 'the range never ran out');
  assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.equal(err.details, `no free extension in ${EXT_MIN}-${EXT_MAX}`);
  // Nothing half-created: the user without a device was rolled back.
  assert.equal(pg.psql("SELECT count(*) FROM users u WHERE NOT EXISTS (SELECT 1 FROM sip_devices d WHERE d.user_id = u.id)"), '0');
  for (const u of made) await api.users.DeleteUser({ user_id: u.id }, { token: admin.token });
});

test('database down: UNAVAILABLE and NOT_SERVING; back: recovers without a restart', async () => {
  const pid = svc.proc.pid;
  await stopPostgres();
  assert.throws(() => pg.psql('SELECT 1'));
  await expectGrpcError(api.users.GetProfile({}, { token: agent.token }), 'UNAVAILABLE', /database unavailable/);
  await expectGrpcError(api.users.Login({ email: agent.user.email, password: agent.password }), 'UNAVAILABLE', /database unavailable/);
  await expectGrpcError(api.users.Register({ name: 'Down', email: `down-${uid()}@example.com`, password: 'password123' }),
    'UNAVAILABLE', /database unavailable/);
  await expectGrpcError(api.users.SetStatus({ status: 'PRESENCE_STATUS_AWAY' }, { token: agent.token }), 'UNAVAILABLE');
  await waitFor(async () => (await api.health.Check({ service: '' })).status === 'NOT_SERVING',
    { what: 'health NOT_SERVING' });
  assert.equal((await api.health.Check({ service: 'callservice.v1.UserService' })).status, 'NOT_SERVING');
  // Auth still answers without the database: a forged token is still refused.
  await expectGrpcError(api.users.GetProfile({}, { token: 'garbage' }), 'UNAUTHENTICATED');

  await pg.start();
  // Every worker's connection is broken: each must recover on its own.
  await waitFor(async () => {
    const rs = await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map(() => api.users.GetProfile({}, { token: agent.token })
      .then(() => true, () => false)));
    return rs.every(Boolean);
  }, { what: 'GetProfile to work again', timeoutMs: 20000 });
  for (let i = 0; i < 16; i++) await api.users.GetProfile({}, { token: agent.token });
  const r = await api.users.Login({ email: agent.user.email, password: agent.password });
  assert.equal(r.user.id, agent.user.id);
  await waitFor(async () => (await api.health.Check({ service: '' })).status === 'SERVING',
    { what: 'health SERVING' });
  assert.equal((await api.health.Check({ service: 'callservice.v1.UserService' })).status, 'SERVING');
  assert.equal(svc.proc.pid, pid);
  assert.equal(svc.proc.exitCode, null);
});

test('SIGTERM stops callsvc cleanly', async () => {
  const code = await svc.stop('SIGTERM', 10000);
  assert.equal(code, 0);
  svc = null;
});

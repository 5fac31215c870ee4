// The integration-test harness: starts the real pieces on free loopback
// ports and stops them by pid. Every test file builds the stack it needs:
//
//   const pg = await startPostgres();              // private cluster, own database
//   const sim = await startSim();                  // the ARI simulator
//   const svc = await startCallsvc({ pg, sim });   // migrates, seeds, serves
//   const gw = await startCallgw({ svc });         // the REST/Socket.IO gateway
//   const api = grpcApi(svc.addr);                 // promisified gRPC client
//   const { token } = await api.users.Login({ email, password });
//   const me = await api.users.GetProfile({}, { token });
//
// Binaries come from CS_BUILD_DIR (default build/debug), or CALLSVC_BIN,
// CALLGW_BIN, ARI_SIM_BIN. Each child's output goes to
// test-output/<build>/<file>/<name>.log (<build>: debug, asan: each pass of
// scripts/test keeps its own), and its last lines are printed if it dies.
// PostgreSQL refuses to run as root, so as root it runs as the `postgres`
// user (runuser) in a temp folder that user owns.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const buildDir = path.resolve(repoRoot, process.env.CS_BUILD_DIR || 'build/debug');
export const protoDir = path.join(repoRoot, 'proto');
export const tracesDir = process.env.ARI_TRACES_DIR || path.resolve(repoRoot, '../shared/ari/traces');
const PG_BIN = process.env.PG_BIN || '/usr/lib/postgresql/15/bin';
const isRoot = process.getuid && process.getuid() === 0;
const outDir = path.join(repoRoot, 'test-output', path.basename(buildDir),
  path.basename(process.argv[1] || 'adhoc').replace(/\.test\.mjs$/, ''));

export const bins = {
  callsvc: process.env.CALLSVC_BIN || path.join(buildDir, 'src/callsvc'),
  callgw: process.env.CALLGW_BIN || path.join(buildDir, 'gateway/callgw'),
  sim: process.env.ARI_SIM_BIN || path.join(buildDir, 'tests/ari-sim/ari-sim'),
  callctl: process.env.CALLCTL_BIN || path.join(buildDir, 'clients/cli/callctl'),
};

export const JWT_SECRET = 'integration-test-secret-0123456789abcdef';
export const ADMIN = { email: 'admin@example.com', password: 'admin123' };

const children = new Set();
function killAll() {
  for (const c of children) {
    try { process.kill(c.pid, 'SIGKILL'); } catch { /* gone */ }
  }
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { killAll(); process.exit(130); });

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls fn until it returns a truthy value (returned) or timeoutMs passes.
export async function waitFor(fn, { timeoutMs = 10000, intervalMs = 25, what = 'condition' } = {}) {
  const end = Date.now() + timeoutMs;
  let lastErr;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) { lastErr = e; }
    if (Date.now() > end) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}` +
        (lastErr ? `: ${lastErr.message}` : ''));
    }
    await sleep(intervalMs);
  }
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function portOpen(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const s = net.connect({ port, host });
    s.on('connect', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

// Starts a child process whose output goes to a log file. Returns a handle
// with stop(signal) -> exit code, and `exited` (a promise).
export function startProcess(name, cmd, args, { env = {}, cwd = repoRoot } = {}) {
  fs.mkdirSync(outDir, { recursive: true });
  const logPath = path.join(outDir, `${name}.log`);
  const log = fs.openSync(logPath, 'a');
  const child = spawn(cmd, args, {
    cwd, env: { ...process.env, ...env }, stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  children.add(child);
  let exitCode = null;
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      children.delete(child);
      exitCode = code === null ? 128 + (os.constants.signals[signal] || 0) : code;
      resolve(exitCode);
    });
  });
  return {
    name, child, pid: child.pid, logPath, exited,
    get exitCode() { return exitCode; },
    log() { try { return fs.readFileSync(logPath, 'utf8'); } catch { return ''; } },
    tail(n = 40) { return this.log().split('\n').slice(-n).join('\n'); },
    async stop(signal = 'SIGTERM', timeoutMs = 10000) {
      if (exitCode !== null) return exitCode;
      try { process.kill(child.pid, signal); } catch { /* gone */ }
      const t = setTimeout(() => { try { process.kill(child.pid, 'SIGKILL'); } catch { } }, timeoutMs);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

function asPostgres(args, opts = {}) {
  const [cmd, ...rest] = isRoot ? ['runuser', '-u', 'postgres', '--', ...args] : args;
  return { cmd, args: rest, opts };
}

function runSync(args, what) {
  const { cmd, args: a } = asPostgres(args);
  const r = spawnSync(cmd, a, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${what} failed (${r.status}): ${r.stderr || r.stdout}`);
  return r.stdout;
}

// A private PostgreSQL cluster on a free port with one fresh database.
// Returns { url, port, stop(), start() } — stop()/start() keep the data, for
// "database goes away" tests.
export async function startPostgres({ database = 'callsvc' } = {}) {
  if (process.env.TEST_DATABASE_URL) {
    return { url: process.env.TEST_DATABASE_URL, external: true, async stop() {}, async start() {} };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-pg-'));
  fs.chmodSync(dir, 0o755);
  const data = path.join(dir, 'data');
  const sock = path.join(dir, 'sock');
  fs.mkdirSync(sock);
  if (isRoot) spawnSync('chown', ['-R', 'postgres:postgres', dir]);
  runSync([path.join(PG_BIN, 'initdb'), '-D', data, '-A', 'trust', '-U', 'postgres',
    '--no-sync', '-E', 'UTF8', '--locale=C'], 'initdb');
  const port = await freePort();
  const pg = {
    port, dir, url: `postgresql://postgres@127.0.0.1:${port}/${database}`,
    proc: null,
    async start() {
      const { cmd, args } = asPostgres([path.join(PG_BIN, 'postgres'), '-D', data, '-p', String(port),
        '-k', sock, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off',
        '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=300']);
      this.proc = startProcess(`postgres-${port}`, cmd, args);
      await waitFor(() => portOpen(port), { timeoutMs: 20000, what: 'postgres to listen' });
      await waitFor(() => {
        const r = spawnSync(path.join(PG_BIN, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port)]);
        return r.status === 0;
      }, { timeoutMs: 20000, what: 'postgres to accept connections' });
    },
    async stop() {
      if (!this.proc) return;
      // SIGINT: "fast" shutdown — disconnects clients, like a database going away.
      // Sent to the postmaster itself (its pid file): as root the child is
      // runuser, which does not pass SIGINT on, and PostgreSQL was orphaned.
      try {
        const pid = Number(fs.readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
        if (pid > 0) process.kill(pid, 'SIGINT');
      } catch { /* not started or already gone */ }
      await this.proc.stop('SIGINT');
      this.proc = null;
    },
    async destroy() {
      await this.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
    psql(sql) {
      const r = spawnSync(path.join(PG_BIN, 'psql'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres',
        '-d', database, '-v', 'ON_ERROR_STOP=1', '-At', '-c', sql], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`psql failed: ${r.stderr}`);
      return r.stdout.trim();
    },
  };
  await pg.start();
  const r = spawnSync(path.join(PG_BIN, 'createdb'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', database],
    { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`createdb failed: ${r.stderr}`);
  return pg;
}

// The ARI simulator. Returns { url, port, stop(), control(method, path, body) }.
export async function startSim({ env = {}, args = [] } = {}) {
  const port = await freePort();
  const addr = `127.0.0.1:${port}`;
  const proc = startProcess(`ari-sim-${port}`, bins.sim, ['--addr', addr, ...args],
    { env: { ARI_SIM_ADDR: addr, ...env } });
  await waitFor(async () => {
    if (proc.exitCode !== null) throw new Error(`ari-sim exited ${proc.exitCode}:\n${proc.tail()}`);
    return portOpen(port);
  }, { what: 'ari-sim to listen' });
  return {
    port, addr, url: `http://${addr}`, proc,
    stop: (sig) => proc.stop(sig),
    async control(method, p, body) {
      const res = await fetch(`http://${addr}${p}`, {
        method, headers: body ? { 'content-type': 'application/json' } : {},
        body: body ? JSON.stringify(body) : undefined,
      });
      const text = await res.text();
      let json = null;
      try { json = text ? JSON.parse(text) : null; } catch { json = text; }
      if (!res.ok) throw new Error(`sim ${method} ${p}: ${res.status} ${text}`);
      return json;
    },
  };
}

// Runs `callsvc <sub>` to completion (migrate, seed); throws on failure.
export function callsvcRun(sub, env) {
  const r = spawnSync(bins.callsvc, [sub], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60000 });
  if (r.status !== 0) throw new Error(`callsvc ${sub} failed (${r.status}):\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

// callsvc against the given database (and simulator, if any). Migrates and
// seeds first unless told not to. Waits for the gRPC health Check to answer.
export async function startCallsvc({ pg, sim = null, env = {}, migrate = true, seed = true, name } = {}) {
  // A restart passes the address it had (env.GRPC_ADDR); a first start takes a free port.
  const addr = env.GRPC_ADDR || `127.0.0.1:${await freePort()}`;
  const port = Number(addr.slice(addr.lastIndexOf(':') + 1));
  const fullEnv = {
    DATABASE_URL: pg.url,
    JWT_SECRET,
    GRPC_ADDR: addr,
    LOG_LEVEL: process.env.CS_LOG_LEVEL || 'info',
    LOG_DIR: '',
    ADMIN_EMAIL: ADMIN.email,
    ADMIN_PASSWORD: ADMIN.password,
    // No simulator: no Asterisk at all (readiness then needs the database only).
    ...(sim ? { ARI_URL: sim.url, ARI_USER: 'admin', ARI_PASSWORD: 'admin' } : { ARI_URL: '' }),
    ...env,
  };
  if (migrate) callsvcRun('migrate', fullEnv);
  if (seed) callsvcRun('seed', fullEnv);
  const proc = startProcess(name || `callsvc-${port}`, bins.callsvc, ['serve'], { env: fullEnv });
  const svc = {
    port, addr, proc, env: fullEnv,
    stop: (sig, t) => proc.stop(sig, t),
    async restart() {
      await proc.stop();
      const again = await startCallsvc({ pg, sim, env: { ...env, GRPC_ADDR: addr }, migrate: false, seed: false, name });
      Object.assign(svc, { proc: again.proc, stop: again.stop });
      return svc;
    },
  };
  // A fresh channel for every probe: grpc-js shares subchannels between
  // clients, and one left in reconnect backoff by the previous process at this
  // address would keep failing the probes long after the new one serves.
  await waitFor(async () => {
    if (proc.exitCode !== null) throw new Error(`callsvc exited ${proc.exitCode}:\n${proc.tail()}`);
    const probe = grpcApi(addr, { 'grpc.use_local_subchannel_pool': 1 });
    try { await probe.health.Check({ service: "" }, { deadlineMs: 1000 }); return true; } catch { return false; }
    finally { probe.close(); }
  }, { timeoutMs: 20000, what: 'callsvc to answer health checks' });
  return svc;
}

// callgw in front of the given callsvc. Returns { url, port, stop() }.
export async function startCallgw({ svc, env = {}, args = [], name } = {}) {
  const port = await freePort();
  const addr = `127.0.0.1:${port}`;
  const proc = startProcess(name || `callgw-${port}`, bins.callgw, args, {
    env: {
      HTTP_ADDR: addr, CALLSVC_ADDR: svc ? svc.addr : '127.0.0.1:1',
      LOG_LEVEL: process.env.CS_LOG_LEVEL || 'info', LOG_DIR: '', ...env,
    },
  });
  await waitFor(async () => {
    if (proc.exitCode !== null) throw new Error(`callgw exited ${proc.exitCode}:\n${proc.tail()}`);
    return portOpen(port);
  }, { what: 'callgw to listen' });
  return { port, addr, url: `http://${addr}`, proc, stop: (sig, t) => proc.stop(sig, t) };
}

// --- gRPC client -------------------------------------------------------------

let pkgCache = null;
export function protoPackage() {
  if (!pkgCache) {
    const def = protoLoader.loadSync([
      'callservice/v1/users.proto', 'callservice/v1/calls.proto', 'callservice/v1/events.proto',
      'callservice/v1/ops.proto', 'grpc/health/v1/health.proto',
    ], { includeDirs: [protoDir, '/usr/include'], keepCase: true, longs: String, enums: String,
      defaults: true, oneofs: true });
    pkgCache = grpc.loadPackageDefinition(def);
  }
  return pkgCache;
}

export function metadataFor({ token, requestId, meta } = {}) {
  const md = new grpc.Metadata();
  if (token) md.set('authorization', `Bearer ${token}`);
  if (requestId) md.set('x-request-id', requestId);
  for (const [k, v] of Object.entries(meta || {})) md.set(k, v);
  return md;
}

function promisify(client) {
  const api = {};
  for (const name of Object.keys(Object.getPrototypeOf(client))) {
    const fn = client[name];
    if (typeof fn !== 'function' || fn.requestStream || name[0] !== name[0].toUpperCase()) continue;
    if (fn.responseStream) {
      // Server streaming: returns the grpc-js stream (events 'data', 'error', 'end').
      api[name] = (req, opts = {}) => client[name](req, metadataFor(opts),
        opts.deadlineMs ? { deadline: Date.now() + opts.deadlineMs } : {});
    } else {
      api[name] = (req, opts = {}) => new Promise((resolve, reject) => {
        client[name](req, metadataFor(opts), { deadline: Date.now() + (opts.deadlineMs || 10000) },
          (err, res) => (err ? reject(err) : resolve(res)));
      });
    }
  }
  api.client = client;
  return api;
}

// { users, calls, events, ops, health, close() } with promise-returning methods:
// api.users.Login(req, { token, requestId, deadlineMs, meta }).
export function grpcApi(addr, channelOptions = {}) {
  const pkg = protoPackage();
  const creds = grpc.credentials.createInsecure();
  const v1 = pkg.callservice.v1;
  const o = channelOptions;
  const users = promisify(new v1.UserService(addr, creds, o));
  const calls = promisify(new v1.CallService(addr, creds, o));
  const events = promisify(new v1.EventService(addr, creds, o));
  const ops = promisify(new v1.OpsService(addr, creds, o));
  const health = promisify(new pkg.grpc.health.v1.Health(addr, creds, o));
  return {
    users, calls, events, ops, health,
    close() { for (const s of [users, calls, events, ops, health]) s.client.close(); },
  };
}

// Asserts a promise rejects with the given gRPC status name.
export async function expectGrpcError(promise, codeName, msgPattern) {
  try {
    await promise;
  } catch (e) {
    const got = Object.keys(grpc.status).find((k) => grpc.status[k] === e.code);
    if (got !== codeName) throw new Error(`expected ${codeName}, got ${got}: ${e.details}`);
    if (msgPattern && !msgPattern.test(e.details)) {
      throw new Error(`${codeName} message "${e.details}" does not match ${msgPattern}`);
    }
    return e;
  }
  throw new Error(`expected ${codeName}, but the call succeeded`);
}

export { grpc };

// A user the seeded admin creates over gRPC (api: grpcApi), then logged in:
// { id, token, ext, name }. The email is unique per call.
export async function makeUser(api, name, role = 'ROLE_AGENT') {
  const admin = await api.users.Login(ADMIN);
  const email = `${name}-${Date.now()}-${Math.random().toString(36).slice(2, 6)}@example.com`;
  const u = await api.users.CreateUser({ name, email, password: 'password123', role },
    { token: admin.token });
  const { token } = await api.users.Login({ email, password: 'password123' });
  return { id: u.id, token, ext: u.sip_device.extension, name };
}

// Polls GetCall until the call has status; resolves with the call.
export function waitCallStatus(api, id, status, token, timeoutMs = 10000) {
  return waitFor(async () => {
    const c = await api.calls.GetCall({ call_id: id }, { token });
    return c.status === status ? c : null;
  }, { timeoutMs, what: `call ${id} to be ${status}` });
}

// The simulator's channels of call id (its legs are named <id>.a, <id>.b...).
export async function simLegsOf(sim, id) {
  return (await sim.control('GET', '/_sim/state')).channels.filter((x) => x.id.startsWith(`${id}.`));
}

// Waits until both legs of call id are up in the call's bridge (its id).
export function waitSimBridged(sim, id) {
  return waitFor(async () => {
    const legs = await simLegsOf(sim, id);
    return legs.length === 2 && legs.every((x) => x.bridge === id);
  }, { what: `both legs of ${id} in its bridge` });
}

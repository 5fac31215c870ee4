// Events benchmark: N concurrent WatchEvents subscribers on one callsvc,
// call transitions committed through the real producer path (events_append,
// via events_bench emit) at a fixed rate; measures commit-to-delivery
// latency (p50/p99/max over every delivery), deliveries and events per
// second, and callsvc memory per idle subscriber.
//
//   node bench/events_bench.mjs [--subs 1000] [--supervisors 10] [--rate 200]
//                              [--seconds 20] [--channels 10]
//
// Binaries from CS_BUILD_DIR (default build/debug) as in the tests. The
// subscribers are agents (each sees its own calls) plus a few supervisors
// (who see everything), which is what a contact centre looks like; calls
// are between pairs of the agents. Tokens are minted with the test secret
// (the service does not look users up to authenticate a stream).
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import {
  JWT_SECRET, buildDir, grpc, protoPackage, sleep, startCallsvc, startPostgres, waitFor,
} from '../tests/integration/lib/stack.mjs';

const opt = { subs: 1000, supervisors: 10, rate: 200, seconds: 20, channels: 10 };
for (let i = 2; i + 1 < process.argv.length; i += 2) opt[process.argv[i].replace(/^--/, '')] = Number(process.argv[i + 1]);
const EMIT_BIN = process.env.EVENTS_BENCH_BIN || path.join(buildDir, 'bench/events_bench');

const b64u = (b) => Buffer.from(b).toString('base64url');
function mint(sub, role) {
  const now = Math.floor(Date.now() / 1000);
  const h = b64u(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const p = b64u(JSON.stringify({ sub, role, email: `${sub}@bench`, iat: now, exp: now + 3600 }));
  const s = crypto.createHmac('sha256', JWT_SECRET).update(`${h}.${p}`).digest('base64url');
  return `${h}.${p}.${s}`;
}

const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
// utime+stime in clock ticks (USER_HZ, 100 on Linux)
const cpuTicks = (pid) => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const v = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(v[11]) + Number(v[12]);
};
// wall clock in microseconds with sub-millisecond resolution (same clock as
// the emitter's CLOCK_REALTIME commit stamps)
const nowUs = () => (performance.timeOrigin + performance.now()) * 1000;
const pct = (a, p) => a[Math.min(a.length - 1, Math.floor(a.length * p))];

const pg = await startPostgres();
const svc = await startCallsvc({ pg, seed: false, env: { LOG_LEVEL: 'warn', EVENTS_SUBSCRIBER_QUEUE: '10000' } });
const v1 = protoPackage().callservice.v1;
const clients = [];
for (let i = 0; i < opt.channels; i++) {
  // distinct channels: separate HTTP/2 connections
  clients.push(new v1.EventService(svc.addr, grpc.credentials.createInsecure(), { 'grpc.channel_id': i }));
}

const agents = Array.from({ length: opt.subs - opt.supervisors }, () => crypto.randomUUID());
const sups = Array.from({ length: opt.supervisors }, () => crypto.randomUUID());
await sleep(500);
const rss0 = rssKb(svc.proc.pid);

const deliveries = []; // [seq, recvUs]
const streams = [];
let errors = 0;
let stopping = false;
const subscribe = (id, role, i) => {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${mint(id, role)}`);
  const s = clients[i % clients.length].WatchEvents({}, md);
  s.on('data', (ev) => { deliveries.push([Number(ev.seq), nowUs()]); });
  s.on('error', (e) => {
    if (stopping || e.code === grpc.status.CANCELLED) return;
    errors++;
    console.error('stream error', e.details);
  });
  streams.push(s);
};
agents.forEach((id, i) => subscribe(id, 'agent', i));
sups.forEach((id, i) => subscribe(id, 'supervisor', i));

// idle memory: let every stream register, then measure
await sleep(3000);
const rss1 = rssKb(svc.proc.pid);
const perSubKb = (rss1 - rss0) / opt.subs;

// load: rate transitions/s for seconds, 4 transitions per call
const calls = Math.max(1, Math.round((opt.rate * opt.seconds) / 4));
const concurrent = Math.max(1, Math.min(calls, Math.round(opt.rate / 4 * 5)));
const t0 = Date.now();
const load0 = os.loadavg();
const cpu0 = cpuTicks(svc.proc.pid);
const self0 = process.cpuUsage();
const emitted = await new Promise((resolve, reject) => {
  const child = spawn(EMIT_BIN, ['emit', '--users', agents.join(','), '--calls', String(calls),
    '--concurrent', String(concurrent), '--rate', String(opt.rate)], { env: { ...process.env, DATABASE_URL: pg.url } });
  let out = ''; let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  child.on('exit', (code) => (code === 0 ? resolve(out.trim().split('\n').map((l) => l.split(' ').map(Number)))
    : reject(new Error(err))));
});
const emitSecs = (Date.now() - t0) / 1000;
const cpu1 = cpuTicks(svc.proc.pid);
const self1 = process.cpuUsage(self0);
const expected = emitted.length * (2 + opt.supervisors);
await waitFor(() => deliveries.length >= expected, { timeoutMs: 30000, what: `${expected} deliveries` })
  .catch(() => {});
const commitAt = new Map(emitted.map((e) => [e[0], e[5]]));
const lat = deliveries.filter(([s]) => commitAt.has(s)).map(([s, r]) => (r - commitAt.get(s)) / 1000).sort((a, b) => a - b);
const rss2 = rssKb(svc.proc.pid);

const res = {
  subscribers: opt.subs, supervisors: opt.supervisors, channels: opt.channels,
  target_rate: opt.rate, events_committed: emitted.length, emit_seconds: +emitSecs.toFixed(2),
  events_per_s: +(emitted.length / emitSecs).toFixed(1),
  deliveries: lat.length, deliveries_expected: expected,
  deliveries_per_s: +(lat.length / emitSecs).toFixed(1),
  latency_ms: { p50: +pct(lat, 0.5).toFixed(2), p90: +pct(lat, 0.9).toFixed(2), p99: +pct(lat, 0.99).toFixed(2), max: +lat.at(-1).toFixed(2) },
  rss_kb: { before: rss0, idle_subscribed: rss1, after_load: rss2 },
  idle_kb_per_subscriber: +perSubKb.toFixed(2),
  callsvc_cpu_pct_of_one_core: +((cpu1 - cpu0) / emitSecs).toFixed(1),
  client_cpu_pct_of_one_core: +((self1.user + self1.system) / 1e4 / emitSecs).toFixed(1),
  stream_errors: errors,
  load_avg_before: load0.map((x) => +x.toFixed(2)),
};
console.log(JSON.stringify(res, null, 2));
// The server ends the streams: grpc-js's call.cancel() can spin (docs/rpc.md).
stopping = true;
await svc.stop();
for (const c of clients) c.close();
await pg.destroy();
process.exit(0);

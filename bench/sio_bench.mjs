// Socket.IO fan-out benchmark: N concurrent official socket.io-client 4.x
// clients (default transports: polling, then the upgrade to WebSocket) on
// one callgw, in front of callsvc + PostgreSQL. Measures
//   - callgw memory per idle socket: (RSS with N idle sockets - RSS before
//     the first socket) / N;
//   - the time for one event to reach every socket: each client notes when
//     a user_status_changed event arrives; the gap to the event's own time
//     (when callsvc stored it) is reported as p50, p99 and last, per round,
//     over several rounds; also the spread first->last arrival.
//
//   CS_BUILD_DIR=build/release node bench/sio_bench.mjs [--clients 2000,5000]
//       [--users 20] [--rounds 5] [--workers 2] [--batch 100]
//
// Build first: cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release && cmake --build build/release -j2
// The sockets belong to --users supervisors (a supervisor sees every event,
// so one presence change of an agent reaches all sockets; each supervisor has
// its own WatchEvents stream in the gateway, the event is encoded once per
// supervisor and queued to that user's sockets as one shared buffer). The
// clients run in --workers worker threads so that the receiving side is not
// one event loop. The open-files limit is raised for this process and its
// children (re-exec under `ulimit -n`) when it is too low for N.
// SIO_BENCH_PAUSE_FILE=/path: after the sockets are idle, write the
// gateway's pid to /path.pid and wait for /path to exist (to attach perf).
// The binaries come from CS_BUILD_DIR (CALLGW_BIN overrides the gateway).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(import.meta.url);

// ---- worker: a share of the clients ------------------------------------------
if (!isMainThread) {
  const require = createRequire(path.join(path.dirname(here), '../tests/package.json'));
  const { io } = require('socket.io-client');
  const { url, tokens, n, batch, offset } = workerData;
  const socks = [];
  const now = () => performance.timeOrigin + performance.now();
  let arrivals = [];
  const connectOne = (i) => new Promise((resolve, reject) => {
    const s = io(url, { auth: { token: tokens[(offset + i) % tokens.length] }, reconnection: false });
    const t = setTimeout(() => reject(new Error('connect+upgrade timeout')), 60000);
    const done = () => { clearTimeout(t); resolve(s); };
    s.once('connect_error', (e) => { clearTimeout(t); reject(e); });
    s.once('connect', () => {
      if (s.io.engine.transport.name === 'websocket') done();
      else s.io.engine.once('upgrade', done);
    });
    const user = (offset + i) % tokens.length;
    s.on('user_status_changed', (ev) => arrivals.push([now(), ev.seq, user]));
    socks.push(s);
  });
  parentPort.on('message', async (m) => {
    if (m.cmd === 'connect') {
      try {
        for (let i = 0; i < n; i += batch) {
          const p = [];
          for (let j = i; j < Math.min(n, i + batch); j++) p.push(connectOne(j));
          await Promise.all(p);
        }
        const ws = socks.filter((s) => s.connected && s.io.engine.transport.name === 'websocket').length;
        parentPort.postMessage({ cmd: 'connected', ws });
      } catch (e) {
        parentPort.postMessage({ cmd: 'error', message: e.message });
      }
    } else if (m.cmd === 'take') {
      parentPort.postMessage({ cmd: 'arrivals', arrivals });
      arrivals = [];
    } else if (m.cmd === 'close') {
      for (const s of socks) s.close();
      parentPort.postMessage({ cmd: 'closed' });
    }
  });
} else {
  await main();
}

async function main() {
  const opt = { clients: '2000,5000', users: 20, rounds: 5, workers: 2, batch: 100 };
  for (let i = 2; i + 1 < process.argv.length; i += 2) opt[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
  const sizes = String(opt.clients).split(',').map(Number);
  const maxN = Math.max(...sizes);

  // Enough file descriptors for N clients here and N connections in callgw.
  const need = maxN * 2 + 2000;
  const soft = Number(spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim());
  if (soft < need && !process.env.SIO_BENCH_REEXEC) {
    const args = process.argv.slice(1).map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
    const r = spawnSync('sh', ['-c', `ulimit -n ${need} 2>/dev/null || ulimit -n $(ulimit -Hn); exec '${process.execPath}' ${args}`],
      { stdio: 'inherit', env: { ...process.env, SIO_BENCH_REEXEC: '1' } });
    process.exit(r.status ?? 1);
  }

  const {
    ADMIN, buildDir, grpcApi, sleep, startCallgw, startCallsvc, startPostgres, waitFor,
  } = await import('../tests/integration/lib/stack.mjs');
  const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
  const pct = (a, p) => a[Math.min(a.length - 1, Math.max(0, Math.ceil(a.length * p) - 1))];
  const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const f1 = (x) => x.toFixed(1);
  // "2024-05-01T10:20:30.123456Z" -> epoch ms with the fraction
  const tsMs = (t) => {
    const m = /^(.*T\d\d:\d\d:\d\d)(\.\d+)?Z$/.exec(t);
    return Date.parse(`${m[1]}Z`) + (m[2] ? Number(m[2]) * 1000 : 0);
  };

  const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');
  console.log(`# sio_bench: binaries ${buildDir}; open files ${spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim()}; load before ${load()}`);
  const cache = fs.readFileSync(path.join(buildDir, 'CMakeCache.txt'), 'utf8');
  const btype = (/CMAKE_BUILD_TYPE:STRING=(.*)/.exec(cache) || [])[1] || '(none)';
  const sanit = (/CS_SANITIZE:BOOL=(.*)/.exec(cache) || [])[1] || 'OFF';
  console.log(`# build type ${btype}, CS_SANITIZE=${sanit}`);

  const cleanup = [];
  try {
    await run();
  } finally {
    // stop what was started even when a step failed (no orphaned PostgreSQL)
    for (const f of cleanup.reverse()) await f().catch(() => {});
  }

  async function run() {
    const pg = await startPostgres();
    // As root the harness runs PostgreSQL under runuser, which does not pass
    // the stop signal on: stop the postmaster itself (our child's child, by pid).
    const postmaster = (() => {
      if (!process.getuid || process.getuid() !== 0) return 0; // then pg.proc is the postmaster
      try {
        return Number(fs.readFileSync(`/proc/${pg.proc.pid}/task/${pg.proc.pid}/children`, 'utf8').trim().split(' ')[0]) || 0;
      } catch { return 0; }
    })();
    cleanup.push(async () => {
      if (postmaster && postmaster !== pg.proc.pid) {
        try { process.kill(postmaster, 'SIGINT'); } catch { /* gone */ }
      }
      await pg.destroy();
    });
    const svc = await startCallsvc({ pg, env: { LOG_LEVEL: 'warn' } });
    cleanup.push(() => svc.stop());
    const api = grpcApi(svc.addr);
    cleanup.push(async () => api.close());
    const admin = await api.users.Login(ADMIN);
    const tokens = [];
    for (let i = 0; i < Number(opt.users); i++) {
      const email = `sup${i}-${Date.now()}@bench.example.com`;
      await api.users.CreateUser({ name: `sup${i}`, email, password: 'password123', role: 'ROLE_SUPERVISOR' },
        { token: admin.token });
      tokens.push((await api.users.Login({ email, password: 'password123' })).token);
    }
    const agentEmail = `agent-${Date.now()}@bench.example.com`;
    await api.users.CreateUser({ name: 'agent', email: agentEmail, password: 'password123', role: 'ROLE_AGENT' },
      { token: admin.token });
    const agent = (await api.users.Login({ email: agentEmail, password: 'password123' })).token;

    const results = [];
    for (const N of sizes) {
      const gw = await startCallgw({
        svc, name: `callgw-bench-${N}`,
        env: { LOG_LEVEL: 'warn', SIO_MAX_SOCKETS_PER_USER: String(N) },
      });
      cleanup.push(() => gw.stop());
      await sleep(500);
      const rss0 = rssKb(gw.proc.pid);
      const W = Math.max(1, Math.min(Number(opt.workers), N));
      const workers = [];
      for (let w = 0, offset = 0; w < W; w++) {
        const n = Math.floor(N / W) + (w < N % W ? 1 : 0);
        // socket k of all (k = offset + i) belongs to supervisor k mod users
        const wk = new Worker(here, { workerData: { url: gw.url, tokens, n, offset, batch: Number(opt.batch) } });
        workers.push(wk);
        cleanup.push(() => wk.terminate());
        offset += n;
      }
      const ask = (w, cmd, reply) => new Promise((resolve, reject) => {
        const on = (m) => {
          if (m.cmd === 'error') { w.off('message', on); reject(new Error(m.message)); }
          if (m.cmd === reply) { w.off('message', on); resolve(m); }
        };
        w.on('message', on);
        w.postMessage({ cmd });
      });
      const t0 = Date.now();
      const conn = await Promise.all(workers.map((w) => ask(w, 'connect', 'connected')));
      const upgraded = conn.reduce((a, m) => a + m.ws, 0);
      const connectS = (Date.now() - t0) / 1000;
      console.log(`# ${N} clients connected in ${connectS.toFixed(1)} s, ${upgraded} on WebSocket`);
      if (upgraded !== N) throw new Error(`only ${upgraded} of ${N} upgraded`);
      await sleep(3000); // idle
      const rss1 = rssKb(gw.proc.pid);
      const perSock = ((rss1 - rss0) * 1024) / N;
      console.log(`# callgw RSS ${rss0} KB before, ${rss1} KB with ${N} idle sockets: ${(perSock / 1024).toFixed(2)} KB per socket`);

      if (process.env.SIO_BENCH_PAUSE_FILE) {
        // diagnostics: wait for the file to exist before the rounds (attach a profiler)
        fs.writeFileSync(`${process.env.SIO_BENCH_PAUSE_FILE}.pid`, String(gw.proc.pid));
        await waitFor(() => fs.existsSync(process.env.SIO_BENCH_PAUSE_FILE), { timeoutMs: 600000, intervalMs: 200, what: 'the pause file' });
      }
      const rounds = [];
      const statuses = ['away', 'busy', 'available'];
      const loadDuring = load();
      for (let r = 0; r < Number(opt.rounds); r++) {
        await api.users.SetStatus({ status: `PRESENCE_STATUS_${statuses[r % 3].toUpperCase()}` }, { token: agent });
        const row = pg.psql('SELECT seq, (extract(epoch from created_at) * 1000)::float8 FROM call_events ORDER BY seq DESC LIMIT 1').split('|');
        const seq = row[0];
        const evMs = Number(row[1]);
        const got = [];
        await sleep(300);
        await waitFor(async () => {
          const parts = await Promise.all(workers.map((w) => ask(w, 'take', 'arrivals')));
          for (const p of parts) got.push(...p.arrivals.filter(([, s]) => s === seq));
          return got.length >= N;
        }, { timeoutMs: 20000, intervalMs: 200, what: `round ${r}: ${N} arrivals (have ${got.length})` });
        const lat = got.map(([t]) => t - evMs).sort((a, b) => a - b);
        // per supervisor: when its first socket got the event, and its own spread
        const byUser = new Map();
        for (const [t, , u] of got) {
          const x = byUser.get(u) || { min: Infinity, max: -Infinity };
          x.min = Math.min(x.min, t - evMs);
          x.max = Math.max(x.max, t - evMs);
          byUser.set(u, x);
        }
        const firsts = [...byUser.values()].map((x) => x.min).sort((a, b) => a - b);
        const spreads = [...byUser.values()].map((x) => x.max - x.min).sort((a, b) => a - b);
        rounds.push({ p50: pct(lat, 0.5), p99: pct(lat, 0.99), last: lat.at(-1), first: lat[0], spread: lat.at(-1) - lat[0] });
        console.log(`# round ${r}: seq ${seq}: first ${f1(lat[0])} ms, p50 ${f1(pct(lat, 0.5))}, p99 ${f1(pct(lat, 0.99))}, last ${f1(lat.at(-1))} ms (first->last ${f1(lat.at(-1) - lat[0])} ms); users' first sockets ${f1(firsts[0])}..${f1(firsts.at(-1))} ms, spread within a user median ${f1(median(spreads))} max ${f1(spreads.at(-1))} ms`);
        await sleep(1000);
      }
      const res = {
        N, users: tokens.length, workers: W, connectS, rss0, rss1, kbPerSocket: perSock / 1024,
        p50: median(rounds.map((x) => x.p50)), p99: median(rounds.map((x) => x.p99)),
        last: median(rounds.map((x) => x.last)), worstLast: Math.max(...rounds.map((x) => x.last)),
        spread: median(rounds.map((x) => x.spread)), loadDuring,
      };
      results.push(res);
      await Promise.all(workers.map((w) => ask(w, 'close', 'closed')));
      await Promise.all(workers.map((w) => w.terminate()));
      await gw.stop();
    }

    console.log('\n| clients | KB RSS per idle socket | event to all: p50 | p99 | last (median of rounds) | worst last | first->last | load avg |');
    console.log('|---|---|---|---|---|---|---|---|');
    for (const r of results) {
      console.log(`| ${r.N} | ${r.kbPerSocket.toFixed(2)} (${r.rss0} -> ${r.rss1} KB) | ${f1(r.p50)} ms | ${f1(r.p99)} ms | ${f1(r.last)} ms | ${f1(r.worstLast)} ms | ${f1(r.spread)} ms | ${r.loadDuring} |`);
    }
  }
}

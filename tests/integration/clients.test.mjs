// callctl and the examples against the real stack: every subcommand, exit
// codes on errors, `watch` resuming after a callsvc restart, and the Python
// and Node examples.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ADMIN, bins, grpcApi, repoRoot, startCallsvc, startPostgres, startSim, waitFor,
} from './lib/stack.mjs';

let pg, sim, svc, api, configDir;
const PY = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

function ctl(args, { env = {}, input } = {}) {
  const r = spawnSync(bins.callctl, ['--addr', svc.addr, ...args], {
    encoding: 'utf8', timeout: 30000, input,
    env: { ...process.env, CALLCTL_CONFIG_DIR: configDir, CALLCTL_TOKEN: '', ...env },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
const ctlJson = (args, opts) => {
  const r = ctl(['--json', ...args], opts);
  assert.equal(r.code, 0, `callctl ${args.join(' ')} failed: ${r.err}`);
  return JSON.parse(r.out);
};

before(async () => {
  pg = await startPostgres();
  sim = await startSim();
  svc = await startCallsvc({ pg, sim });
  api = grpcApi(svc.addr);
  configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'callctl-'));
});

after(async () => {
  api?.close();
  await svc?.stop();
  await sim?.stop();
  await pg?.destroy();
  fs.rmSync(configDir, { recursive: true, force: true });
});

describe('callctl', () => {
  test('help and usage errors', () => {
    const h = ctl(['--help']);
    assert.equal(h.code, 0);
    assert.match(h.out, /call make TO/);
    assert.equal(ctl(['no-such-command']).code, 2);
    assert.equal(ctl(['users', 'get', '--bogus-option', 'x']).code, 2);
  });

  test('not logged in, then login keeps a 0600 token', () => {
    assert.equal(ctl(['whoami']).code, 4);
    const bad = ctl(['login', ADMIN.email], { env: { CALLCTL_PASSWORD: 'wrong-password' } });
    assert.equal(bad.code, 4, bad.err);
    const ok = ctl(['login', ADMIN.email], { env: { CALLCTL_PASSWORD: ADMIN.password } });
    assert.equal(ok.code, 0, ok.err);
    const st = fs.statSync(path.join(configDir, 'token'));
    assert.equal(st.mode & 0o777, 0o600);
    const me = ctl(['whoami']);
    assert.equal(me.code, 0);
    assert.match(me.out, new RegExp(ADMIN.email));
  });

  test('users list|create|get|update|delete with exit codes', () => {
    const list = ctl(['users', 'list']);
    assert.equal(list.code, 0);
    assert.match(list.out, /admin@example.com/);
    const u = ctlJson(['users', 'create', '--name', 'Cli User', '--email', 'cli@example.com',
      '--password', 'cli-pass-123', '--role', 'agent']);
    assert.equal(u.role, 'agent');
    assert.match(u.sipDevice.extension, /^\d+$/);
    assert.equal(ctl(['users', 'create', '--name', 'Dup', '--email', 'cli@example.com',
      '--password', 'cli-pass-123']).code, 7);
    assert.equal(ctl(['users', 'create', '--name', 'Bad', '--email', 'not-an-email',
      '--password', 'cli-pass-123']).code, 3);
    assert.equal(ctlJson(['users', 'get', u.id]).email, 'cli@example.com');
    assert.equal(ctlJson(['users', 'update', u.id, '--name', 'Cli Renamed']).name, 'Cli Renamed');
    assert.equal(ctl(['users', 'delete', u.id]).code, 0);
    assert.equal(ctl(['users', 'get', u.id]).code, 6);
  });

  test('status set, and an agent may not manage users', () => {
    assert.equal(ctlJson(['status', 'set', 'away']).status, 'away');
    assert.equal(ctl(['status', 'set', 'sleeping']).code, 3);
    ctlJson(['users', 'create', '--name', 'Agent Cli', '--email', 'agentcli@example.com',
      '--password', 'agent-pass-1']);
    const dir2 = fs.mkdtempSync(path.join(os.tmpdir(), 'callctl-agent-'));
    const env = { CALLCTL_CONFIG_DIR: dir2, CALLCTL_PASSWORD: 'agent-pass-1' };
    assert.equal(ctl(['login', 'agentcli@example.com'], { env }).code, 0);
    assert.equal(ctl(['users', 'list'], { env }).code, 5);
    fs.rmSync(dir2, { recursive: true, force: true });
  });

  test('call make|get|note|hangup and calls active|history|stats', async () => {
    const target = ctlJson(['users', 'create', '--name', 'Callee', '--email', 'callee@example.com',
      '--password', 'callee-pass-1']);
    const call = ctlJson(['call', 'make', target.sipDevice.extension, '--request-id', 'cli-req-1']);
    assert.ok(call.id);
    const again = ctlJson(['call', 'make', target.sipDevice.extension, '--request-id', 'cli-req-1']);
    assert.equal(again.id, call.id, 'a retried request id returns the same call');
    assert.equal(ctlJson(['call', 'get', call.id]).id, call.id);
    const active = ctlJson(['calls', 'active']);
    assert.ok(active.calls.some((c) => c.id === call.id));
    const note = ctlJson(['call', 'note', call.id, 'customer asked for a callback']);
    assert.equal(note.text, 'customer asked for a callback');
    await waitFor(() => ['ringing', 'in_progress'].includes(ctlJson(['call', 'get', call.id]).status),
      { what: 'the call to ring' });
    const ended = ctlJson(['call', 'hangup', call.id]);
    assert.ok(['completed', 'canceled'].includes(ended.status), ended.status);
    assert.equal(ctl(['call', 'hangup', call.id]).code, 8, 'hanging up an ended call is a wrong state');
    assert.equal(ctl(['call', 'get', '00000000-0000-0000-0000-000000000000']).code, 6);
    assert.equal(ctl(['call', 'make', 'not a number!']).code, 3);
    const hist = ctlJson(['calls', 'history', '--limit', '5']);
    assert.ok(hist.calls.some((c) => c.id === call.id));
    const human = ctl(['calls', 'history']);
    assert.equal(human.code, 0);
    assert.match(human.out, /page 1 of/);
    const stats = ctlJson(['calls', 'stats']);
    assert.ok(Number(stats.total) >= 1);
  });

  test('watch prints events and resumes after a callsvc restart', async () => {
    fs.rmSync(path.join(configDir, 'last_seq'), { force: true });
    const first = ctl(['watch', '--count', '2', '--after-seq', '0']);
    assert.equal(first.code, 0, first.err);
    const lines = first.out.trim().split('\n');
    assert.equal(lines.length, 2);
    const lastSeq = Number(fs.readFileSync(path.join(configDir, 'last_seq'), 'utf8'));
    assert.ok(lastSeq > 0);

    // A live watch across a restart: it must resume from the last sequence
    // it printed, so events made after the restart arrive exactly once.
    const child = spawn(bins.callctl, ['--addr', svc.addr, '--json', 'watch', '--count', '2'], {
      env: { ...process.env, CALLCTL_CONFIG_DIR: configDir, CALLCTL_TOKEN: '' },
    });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    const exited = new Promise((r) => child.on('exit', r));
    await svc.restart();
    const admin = await api.users.Login(ADMIN);
    const fresh = grpcApi(svc.addr);
    await fresh.users.SetStatus({ status: 'PRESENCE_STATUS_BUSY' }, { token: admin.token });
    await fresh.users.SetStatus({ status: 'PRESENCE_STATUS_AVAILABLE' }, { token: admin.token });
    const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 20000))]);
    if (code === 'timeout') child.kill('SIGKILL');
    fresh.close();
    assert.equal(code, 0, `watch did not finish: ${out}`);
    const evs = out.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(evs.length, 2);
    assert.ok(Number(evs[0].seq) > lastSeq, 'nothing repeated');
    assert.equal(new Set(evs.map((e) => e.seq)).size, 2);
  });

  test('unreachable server', () => {
    const r = spawnSync(bins.callctl, ['--addr', '127.0.0.1:1', '--timeout', '2000', 'login', ADMIN.email],
      { encoding: 'utf8', env: { ...process.env, CALLCTL_CONFIG_DIR: configDir, CALLCTL_PASSWORD: 'x' } });
    assert.equal(r.status, 10, r.stderr);
  });
});

describe('examples', () => {
  test('make_call.mjs places a call and follows it to the end; watch_events.py streams it', async () => {
    const { token } = await api.users.Login(ADMIN);
    const a = await api.users.CreateUser({ name: 'Ex A', email: 'exa@example.com', password: 'example-pass-1' }, { token });
    const b = await api.users.CreateUser({ name: 'Ex B', email: 'exb@example.com', password: 'example-pass-1' }, { token });

    const py = spawn(PY, [path.join(repoRoot, 'clients/examples/watch_events.py'), '--addr', svc.addr,
      '--email', 'exa@example.com', '--password', 'example-pass-1', '--count', '3', '--timeout', '40'],
    { encoding: 'utf8' });
    let pyOut = '', pyErr = '';
    py.stdout.on('data', (d) => { pyOut += d; });
    py.stderr.on('data', (d) => { pyErr += d; });
    const pyExit = new Promise((r) => py.on('exit', r));
    await new Promise((r) => setTimeout(r, 1500)); // let it subscribe

    const node = spawnSync('node', [path.join(repoRoot, 'clients/examples/make_call.mjs'), '--addr', svc.addr,
      '--email', 'exa@example.com', '--password', 'example-pass-1', '--to', b.sipDevice.extension,
      '--hangup-after', '2', '--timeout', '40'], { encoding: 'utf8', timeout: 60000 });
    assert.equal(node.status, 0, `make_call.mjs: ${node.stderr}\n${node.stdout}`);
    assert.match(node.stdout, /EVENT_TYPE_CALL_ENDED/);
    assert.equal(await pyExit, 0, `watch_events.py: ${pyErr}`);
    const evs = pyOut.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(evs.length, 3);
    assert.ok(evs.every((e) => e.call && e.call.caller.userId === a.id));
  });
});

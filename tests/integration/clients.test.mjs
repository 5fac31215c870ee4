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
  ADMIN, bins, grpcApi, repoRoot, simLegsOf, sleep, startCallsvc, startPostgres, startSim, waitFor,
  waitSimBridged,
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
// node with the examples' own node_modules (clients/examples/package.json).
function runNode(args, timeoutMs = 60000) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: path.join(repoRoot, 'clients/examples') });
    let out = '', err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => { clearTimeout(t); resolve({ code, out, err }); });
  });
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

// A config directory of its own for another user (its own token).
function userEnv(email, password) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'callctl-user-'));
  const env = { CALLCTL_CONFIG_DIR: dir };
  const r = ctl(['login', email, password], { env });
  assert.equal(r.code, 0, `login ${email}: ${r.err}`);
  return env;
}
const ctlJsonAs = (env, args) => ctlJson(args, { env });
// Sequence numbers of the stored events (a bigserial: gaps are possible).
const storedSeqs = () => pg.psql('SELECT seq FROM call_events ORDER BY seq').split('\n').map(Number);
const callGet = (id, env) => ctlJson(['call', 'get', id], { env });

describe('callctl', () => {
  test('--help everywhere, usage errors exit 2', () => {
    const h = ctl(['--help']);
    assert.equal(h.code, 0);
    assert.match(h.out, /call make TO/);
    assert.match(h.out, /exit codes:/);
    // Every subcommand answers --help with its own usage line.
    const subs = [...h.out.matchAll(/^ {2}([a-z]+(?: [a-z]+)?)(?= |$)/gm)].map((m) => m[1].split(' '))
      .map((w) => (['users', 'call', 'calls', 'status', 'profile'].includes(w[0]) ? w : [w[0]]));
    assert.ok(subs.length >= 20, `subcommands in --help: ${subs.length}`);
    for (const words of subs) {
      const r = ctl([...words, '--help']);
      assert.equal(r.code, 0, `${words.join(' ')} --help`);
      assert.match(r.out, new RegExp(`usage: callctl ${words.join(' ')}`), words.join(' '));
    }
    assert.equal(ctl([]).code, 2);
    assert.equal(ctl(['no-such-command']).code, 2);
    assert.equal(ctl(['users', 'frobnicate']).code, 2);
    assert.equal(ctl(['users', 'get', '--bogus-option', 'x']).code, 2);
    assert.equal(ctl(['users', 'list', '--limit']).code, 2, 'an option without its value');
    assert.equal(ctl(['call', 'get', 'a', 'b']).code, 2, 'one positional too many');
    assert.equal(ctl(['call', 'hold', 'a', 'b']).code, 2, 'hold: one positional too many');
    assert.equal(ctl(['call', 'resume', 'a', 'b']).code, 2, 'resume: one positional too many');
    assert.equal(ctl(['call', 'dtmf', 'a', '1', '2']).code, 2, 'dtmf: one positional too many');
    assert.equal(ctl(['call', 'dtmf', 'a', '--tones', '1']).code, 2, 'dtmf: an unknown option');
    assert.equal(ctl(['call', 'hold', '--call-id']).code, 2, 'hold: an option without its value');
    assert.equal(ctl(['watch', '--bogus']).code, 2);
    assert.equal(ctl(['--bogus-global', 'whoami']).code, 2);
  });

  test('not logged in, then login keeps a 0600 token', () => {
    assert.equal(ctl(['whoami']).code, 4);
    const bad = ctl(['login', ADMIN.email], { env: { CALLCTL_PASSWORD: 'wrong-password' } });
    assert.equal(bad.code, 4, bad.err);
    assert.ok(!fs.existsSync(path.join(configDir, 'token')), 'no token kept after a failed login');
    // The password from stdin (not a terminal), as a script would pipe it.
    const ok = ctl(['login', ADMIN.email], { input: `${ADMIN.password}\n` });
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.out, /user\.role\s+admin/);
    const st = fs.statSync(path.join(configDir, 'token'));
    assert.equal(st.mode & 0o777, 0o600);
    const me = ctl(['whoami']);
    assert.equal(me.code, 0);
    assert.match(me.out, new RegExp(ADMIN.email));
    // CALLCTL_TOKEN wins over the kept token.
    assert.equal(ctl(['whoami'], { env: { CALLCTL_TOKEN: 'not-a-token' } }).code, 4);
  });

  test('register, profile update, logout', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'callctl-reg-'));
    const env = { CALLCTL_CONFIG_DIR: path.join(dir, 'nested', 'callctl') };
    const reg = ctlJson(['register', 'Reg User', 'reg@example.com', 'reg-pass-123'], { env });
    assert.equal(reg.user.role, 'agent');
    assert.ok(reg.token);
    assert.equal(ctl(['register', 'Reg Again', 'reg@example.com', 'reg-pass-123'], { env }).code, 7);
    assert.equal(ctlJson(['whoami'], { env }).email, 'reg@example.com');
    assert.equal(ctlJson(['profile', 'update', '--name', 'Reg Renamed'], { env }).name, 'Reg Renamed');
    assert.equal(ctl(['profile', 'update', '--password', 'new-pass-456', '--current-password', 'wrong-one'],
      { env }).code, 3);
    assert.equal(ctl(['profile', 'update', '--password', 'new-pass-456', '--current-password', 'reg-pass-123'],
      { env }).code, 0);
    assert.equal(ctl(['logout'], { env }).code, 0);
    assert.ok(!fs.existsSync(path.join(env.CALLCTL_CONFIG_DIR, 'token')));
    assert.equal(ctl(['whoami'], { env }).code, 4);
    assert.equal(ctl(['login', 'reg@example.com', 'new-pass-456'], { env }).code, 0);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('users list|create|get|update|delete with exit codes', () => {
    const list = ctl(['users', 'list']);
    assert.equal(list.code, 0);
    assert.match(list.out, /admin@example.com/);
    assert.match(list.out, /^id\s+name\s+email\s+role\s+status/m, 'a table with a header');
    assert.match(list.out, /page 1 of 1, \d+ in all/);
    const u = ctlJson(['users', 'create', '--name', 'Cli User', '--email', 'cli@example.com',
      '--password', 'cli-pass-123', '--role', 'agent']);
    assert.equal(u.role, 'agent');
    assert.match(u.sipDevice.extension, /^\d+$/);
    assert.equal(ctl(['users', 'create', '--name', 'Dup', '--email', 'cli@example.com',
      '--password', 'cli-pass-123']).code, 7);
    assert.equal(ctl(['users', 'create', '--name', 'Bad', '--email', 'not-an-email',
      '--password', 'cli-pass-123']).code, 3);
    assert.equal(ctl(['users', 'create', '--name', 'Bad', '--email', 'bad@example.com',
      '--password', 'cli-pass-123', '--role', 'emperor']).code, 3);
    const found = ctlJson(['users', 'list', '--query', 'cli@', '--role', 'agent']);
    assert.deepEqual(found.users.map((x) => x.email), ['cli@example.com']);
    assert.equal(ctlJson(['users', 'get', u.id]).email, 'cli@example.com');
    assert.equal(ctlJson(['users', 'update', u.id, '--name', 'Cli Renamed']).name, 'Cli Renamed');
    assert.equal(ctlJson(['users', 'update', u.id, '--role', 'supervisor']).role, 'supervisor');
    assert.equal(ctl(['users', 'get', 'not-a-uuid']).code, 3);
    assert.equal(ctl(['users', 'delete', u.id]).code, 0);
    assert.equal(ctl(['users', 'get', u.id]).code, 6);
    assert.equal(ctl(['users', 'delete', u.id]).code, 6);
  });

  test('status set, and an agent sees only itself and may not manage users', () => {
    assert.equal(ctlJson(['status', 'set', 'away']).status, 'away');
    assert.match(ctl(['status', 'set', 'available']).out, /status\s+available/);
    assert.equal(ctl(['status', 'set', 'sleeping']).code, 3);
    const agent = ctlJson(['users', 'create', '--name', 'Agent Cli', '--email', 'agentcli@example.com',
      '--password', 'agent-pass-1']);
    const admin = ctlJson(['whoami']);
    const env = userEnv('agentcli@example.com', 'agent-pass-1');
    assert.deepEqual(ctlJsonAs(env, ['users', 'list']).users.map((x) => x.id), [agent.id]);
    assert.equal(ctl(['users', 'get', admin.id], { env }).code, 5);
    assert.equal(ctl(['users', 'create', '--name', 'X', '--email', 'x@example.com',
      '--password', 'x-pass-1234'], { env }).code, 5);
    assert.equal(ctl(['users', 'delete', admin.id], { env }).code, 5);
    fs.rmSync(env.CALLCTL_CONFIG_DIR, { recursive: true, force: true });
  });

  test('call make|get|note|hangup and calls active|history|stats', async () => {
    const target = ctlJson(['users', 'create', '--name', 'Callee', '--email', 'callee@example.com',
      '--password', 'callee-pass-1']);
    // The callee's device rings until told otherwise: the call stays live.
    await sim.control('POST', `/_sim/endpoints/PJSIP/${target.sipDevice.extension}`, { mode: 'ring_forever' });
    const call = ctlJson(['call', 'make', target.sipDevice.extension, '--request-id', 'cli-req-1']);
    assert.ok(call.id);
    assert.equal(call.direction, 'internal');
    const again = ctlJson(['call', 'make', target.sipDevice.extension, '--request-id', 'cli-req-1']);
    assert.equal(again.id, call.id, 'a retried request id returns the same call');
    assert.equal(ctlJson(['call', 'get', call.id]).id, call.id);
    const active = ctlJson(['calls', 'active']);
    assert.ok(active.calls.some((c) => c.id === call.id));
    const humanActive = ctl(['calls', 'active']);
    assert.match(humanActive.out, new RegExp(`^${call.id}\\s+(initiated|ringing)\\s+internal`, 'm'));
    const note = ctlJson(['call', 'note', call.id, 'customer asked for a callback']);
    assert.equal(note.text, 'customer asked for a callback');
    assert.equal(ctl(['call', 'note', call.id, '']).code, 3);
    await waitFor(() => ctlJson(['call', 'get', call.id]).status === 'ringing', { what: 'the call to ring' });
    const ended = ctlJson(['call', 'hangup', call.id]);
    assert.equal(ended.status, 'canceled');
    assert.equal(ctl(['call', 'hangup', call.id]).code, 8, 'hanging up an ended call is a wrong state');
    assert.equal(ctl(['call', 'get', '00000000-0000-0000-0000-000000000000']).code, 6);
    assert.equal(ctl(['call', 'make', 'not a number!']).code, 3);
    const hist = ctlJson(['calls', 'history', '--limit', '5']);
    assert.ok(hist.calls.some((c) => c.id === call.id));
    assert.ok(ctlJson(['calls', 'history', '--status', 'canceled', '--direction', 'internal'])
      .calls.some((c) => c.id === call.id));
    assert.equal(ctlJson(['calls', 'history', '--status', 'completed']).calls
      .filter((c) => c.id === call.id).length, 0);
    const human = ctl(['calls', 'history']);
    assert.equal(human.code, 0);
    assert.match(human.out, /page 1 of/);
    const stats = ctlJson(['calls', 'stats']);
    assert.ok(Number(stats.total) >= 1);
    const from = new Date(Date.now() - 3600e3).toISOString();
    assert.match(ctl(['calls', 'stats', '--from', from]).out, /^total\s+\d+/m);
    assert.equal(ctl(['calls', 'stats', '--from', 'yesterday']).code, 3);
    await sim.control('DELETE', `/_sim/endpoints/PJSIP/${target.sipDevice.extension}`);
  });

  test('call answer (an inbound call) and call transfer', async () => {
    const a = ctlJson(['users', 'create', '--name', 'Ann Answer', '--email', 'ann@example.com',
      '--password', 'ann-pass-123']);
    const b = ctlJson(['users', 'create', '--name', 'Ben Target', '--email', 'ben@example.com',
      '--password', 'ben-pass-123']);
    const envA = userEnv('ann@example.com', 'ann-pass-123');
    const envB = userEnv('ben@example.com', 'ben-pass-123');
    await sim.control('POST', `/_sim/endpoints/PJSIP/${a.sipDevice.extension}`, { mode: 'ring_forever' });
    await sim.control('POST', `/_sim/endpoints/PJSIP/${b.sipDevice.extension}`, { mode: 'answer', answer_after_ms: 200 });
    await sim.control('POST', '/_sim/inbound',
      { extension: a.sipDevice.extension, caller: { name: 'Customer', number: '5550142' } });
    const ringing = await waitFor(() => ctlJsonAs(envA, ['calls', 'active']).calls
      .find((c) => c.direction === 'inbound' && c.status === 'ringing'), { what: 'the inbound call to ring' });
    assert.equal(ringing.caller.number, '5550142');
    assert.equal(ctl(['call', 'answer', ringing.id], { env: envB }).code, 6, 'not B\'s call');
    const answered = ctlJsonAs(envA, ['call', 'answer', ringing.id]);
    assert.equal(answered.status, 'in_progress');
    assert.equal(ctl(['call', 'answer', ringing.id], { env: envA }).code, 8, 'answered twice');
    assert.equal(ctl(['call', 'transfer', ringing.id, 'x!'], { env: envA }).code, 3);
    const moved = ctlJsonAs(envA, ['call', 'transfer', ringing.id, b.sipDevice.extension]);
    assert.equal(moved.transfers.length, 1);
    assert.equal(moved.transfers[0].toUserId, b.id);
    await waitFor(() => {
      const c = callGet(ringing.id, envB);
      return c.status === 'in_progress' && c.callee.userId === b.id;
    }, { what: 'the transfer target to take the call' });
    assert.equal(ctlJsonAs(envB, ['call', 'hangup', ringing.id]).status, 'completed');
    for (const u of [a, b]) await sim.control('DELETE', `/_sim/endpoints/PJSIP/${u.sipDevice.extension}`);
    for (const e of [envA, envB]) fs.rmSync(e.CALLCTL_CONFIG_DIR, { recursive: true, force: true });
  });

  test('call hold|resume|dtmf: the other party held and let go, digits to it, wrong states', async () => {
    const a = ctlJson(['users', 'create', '--name', 'Hal Holder', '--email', 'hal@example.com',
      '--password', 'hal-pass-123']);
    const b = ctlJson(['users', 'create', '--name', 'Hedy Held', '--email', 'hedy@example.com',
      '--password', 'hedy-pass-123']);
    const envA = userEnv('hal@example.com', 'hal-pass-123');
    ctlJson(['users', 'create', '--name', 'Hank Other', '--email', 'hank@example.com',
      '--password', 'hank-pass-123']);
    const envB = userEnv('hedy@example.com', 'hedy-pass-123');
    await sim.control('POST', `/_sim/endpoints/PJSIP/${b.sipDevice.extension}`, { mode: 'answer', answer_after_ms: 1500 });
    const call = ctlJsonAs(envA, ['call', 'make', b.sipDevice.extension]);
    await waitFor(() => callGet(call.id, envA).status === 'ringing', { what: 'the call to ring' });
    // Not yet in progress: nothing to hold, no one to send tones to.
    assert.equal(ctl(['call', 'hold', call.id], { env: envA }).code, 8, 'hold while ringing');
    assert.equal(ctl(['call', 'dtmf', call.id, '1'], { env: envA }).code, 8, 'dtmf while ringing');
    await waitFor(() => callGet(call.id, envA).status === 'in_progress', { what: 'the call to be answered' });
    await waitSimBridged(sim, call.id);
    const leg = async (suffix) => (await simLegsOf(sim, call.id)).find((x) => x.id === `${call.id}.${suffix}`);
    // Argument errors the server finds: exit 3.
    assert.equal(ctl(['call', 'hold', 'not-a-uuid'], { env: envA }).code, 3);
    assert.equal(ctl(['call', 'hold'], { env: envA }).code, 3, 'no call id');
    assert.equal(ctl(['call', 'dtmf', call.id], { env: envA }).code, 3, 'no digits');
    assert.equal(ctl(['call', 'dtmf', call.id, ''], { env: envA }).code, 3, 'empty digits');
    assert.equal(ctl(['call', 'dtmf', call.id, '12x'], { env: envA }).code, 3, 'a letter beyond D');
    assert.equal(ctl(['call', 'dtmf', call.id, '1'.repeat(33)], { env: envA }).code, 3, '33 digits');
    // Someone else's call is not there for an agent.
    const other = userEnv('hank@example.com', 'hank-pass-123');
    assert.equal(ctl(['call', 'hold', call.id], { env: other }).code, 6);
    assert.equal(ctl(['call', 'dtmf', call.id, '1'], { env: other }).code, 6);
    assert.equal(ctl(['call', 'resume', call.id], { env: envA }).code, 8, 'resume: not on hold');

    const seqBefore = storedSeqs().at(-1);
    // The caller asks: the callee is held (its channel, the call's .b leg).
    const held = ctlJsonAs(envA, ['call', 'hold', call.id]);
    assert.equal(held.status, 'in_progress');
    assert.equal(held.callee.onHold, true);
    assert.ok(!held.caller.onHold);
    assert.ok(held.heldAt && !Number.isNaN(Date.parse(held.heldAt)), `heldAt: ${held.heldAt}`);
    assert.equal((await leg('b')).on_hold, true);
    assert.equal((await leg('a')).on_hold, false);
    assert.equal(ctl(['call', 'hold', call.id], { env: envA }).code, 8, 'on hold already');
    assert.equal(callGet(call.id, envB).callee.onHold, true, 'the held user sees it too');
    await sleep(1100); // a hold time of a second at least
    const resumed = ctl(['call', 'resume', call.id], { env: envA });
    assert.equal(resumed.code, 0, resumed.err);
    // The human view says who is held and for how long.
    assert.match(resumed.out, /^callee\.onHold\s+false$/m);
    assert.match(resumed.out, /^caller\.onHold\s+false$/m);
    assert.match(resumed.out, /^heldAt\s*$/m);
    assert.match(resumed.out, /^holdSeconds\s+[1-9]\d*$/m);
    assert.equal((await leg('b')).on_hold, false);
    assert.equal(ctl(['call', 'resume', call.id], { env: envA }).code, 8, 'resumed twice');
    const humanHold = ctl(['call', 'hold', call.id], { env: envA });
    assert.match(humanHold.out, /^callee\.onHold\s+true$/m);
    assert.match(humanHold.out, /^heldAt\s+\d{4}-\d\d-\d\dT/m);
    assert.equal(ctlJsonAs(envA, ['call', 'resume', call.id]).callee.onHold, false);

    // DTMF to the other party; the call itself does not change.
    const sent = ctlJsonAs(envA, ['call', 'dtmf', call.id, '12*#']);
    assert.equal(sent.status, 'in_progress');
    await waitFor(async () => (await leg('b')).dtmf_sent === '12*#', { what: 'the digits at the callee' });
    assert.equal((await leg('a')).dtmf_sent, '');

    // watch shows the hold and the resume, the held party in the line.
    const w = ctl(['watch', '--call-id', call.id, '--after-seq', String(seqBefore), '--count', '2'], { env: envA });
    assert.equal(w.code, 0, w.err);
    const lines = w.out.trim().split('\n');
    assert.match(lines[0], new RegExp(`call_held\\s+call ${call.id} in_progress \\(callee on hold\\)$`));
    assert.match(lines[1], new RegExp(`call_resumed\\s+call ${call.id} in_progress$`));

    assert.equal(ctlJsonAs(envA, ['call', 'hangup', call.id]).status, 'completed');
    assert.equal(ctl(['call', 'hold', call.id], { env: envA }).code, 8, 'hold an ended call');
    assert.equal(ctl(['call', 'dtmf', call.id, '1'], { env: envA }).code, 8, 'dtmf to an ended call');
    assert.ok(Number(callGet(call.id, envA).holdSeconds) >= 1, 'the hold time is kept');

    // the call's timeline, oldest first; in pages with --after-seq and --limit
    const tl = ctlJsonAs(envA, ['call', 'events', call.id]);
    const types = tl.events.map((e) => e.type);
    assert.equal(types[0], 'call_initiated');
    assert.equal(types.at(-1), 'call_ended');
    assert.deepEqual(types.filter((t) => t === 'call_held' || t === 'call_resumed'),
      ['call_held', 'call_resumed', 'call_held', 'call_resumed']);
    const page = ctlJsonAs(envA, ['call', 'events', call.id, '--after-seq', tl.events[0].seq, '--limit', '1']);
    assert.deepEqual(page.events.map((e) => e.seq), [tl.events[1].seq]);
    assert.equal(page.nextAfterSeq, tl.events[1].seq);
    const table = ctl(['call', 'events', call.id], { env: envA });
    assert.equal(table.code, 0, table.err);
    assert.match(table.out, /^seq\s+type\s+time\s+userId\s+call\.status/m);
    assert.match(table.out, /\bcall_held\b.*\bin_progress\b/);
    assert.equal(ctl(['call', 'events', call.id], { env: other }).code, 6, 'another agent\'s call');
    await sim.control('DELETE', `/_sim/endpoints/PJSIP/${b.sipDevice.extension}`);
    for (const e of [envA, envB, other]) fs.rmSync(e.CALLCTL_CONFIG_DIR, { recursive: true, force: true });
  });

  test('watch prints events and resumes after a callsvc restart', async () => {
    fs.rmSync(path.join(configDir, 'last_seq'), { force: true });
    const stored = storedSeqs(); // the admin sees every stored event
    assert.ok(stored.length > 10, `events so far: ${stored.length}`);
    // --after-seq N replays what came after N (0 would mean live only).
    const first = ctl(['watch', '--count', '2', '--after-seq', String(stored[0])]);
    assert.equal(first.code, 0, first.err);
    const lines = first.out.trim().split('\n');
    assert.equal(lines.length, 2);
    assert.match(lines[0], new RegExp(`^${stored[1]}\\s+\\d\\d:\\d\\d:\\d\\d\\s+[a-z_]+`));
    assert.match(lines[1], new RegExp(`^${stored[2]}\\s`));
    const lastSeq = Number(fs.readFileSync(path.join(configDir, 'last_seq'), 'utf8'));
    assert.equal(lastSeq, stored[2]);
    assert.equal(fs.statSync(path.join(configDir, 'last_seq')).mode & 0o777, 0o600);
    // Without --after-seq it resumes after the last sequence printed.
    const second = ctlJson(['watch', '--count', '1']);
    assert.equal(Number(second.seq), stored[3]);
    assert.equal(Number(fs.readFileSync(path.join(configDir, 'last_seq'), 'utf8')), stored[3]);

    // A live watch across a restart: it must resume from the last sequence
    // it printed, so nothing is lost or repeated: it first catches up on
    // everything after seq 4, then gets the events made after the restart.
    const admin = grpcApi(svc.addr, { 'grpc.use_local_subchannel_pool': 1 });
    const { token } = await admin.users.Login(ADMIN);
    const prof = await admin.users.GetProfile({}, { token });
    admin.close();
    const backlog = storedSeqs().filter((q) => q > stored[3]);
    const child = spawn(bins.callctl, ['--addr', svc.addr, '--json', 'watch', '--count', String(backlog.length + 2)], {
      env: { ...process.env, CALLCTL_CONFIG_DIR: configDir, CALLCTL_TOKEN: '' },
    });
    let out = '', err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const exited = new Promise((r) => child.on('exit', r));
    await waitFor(() => out.split('\n').length > backlog.length, { what: 'the catch-up', timeoutMs: 15000 });
    await svc.restart();
    const fresh = grpcApi(svc.addr, { 'grpc.use_local_subchannel_pool': 1 });
    await fresh.users.SetStatus({ status: 'PRESENCE_STATUS_BUSY' }, { token });
    await fresh.users.SetStatus({ status: 'PRESENCE_STATUS_AVAILABLE' }, { token });
    const code = await Promise.race([exited, sleep(20000).then(() => 'timeout')]);
    if (code === 'timeout') child.kill('SIGKILL');
    fresh.close();
    assert.equal(code, 0, `watch did not finish: ${out}\n${err}`);
    assert.match(err, /resuming after seq \d+/);
    const evs = out.trim().split('\n').map((l) => JSON.parse(l));
    const seqs = evs.map((e) => Number(e.seq));
    assert.deepEqual(seqs.slice(0, -2), backlog, 'the backlog once, in order');
    assert.deepEqual(seqs.slice(-2), storedSeqs().slice(-2), 'then the two new events, once');
    const last2 = evs.slice(-2);
    // --json is the gateway's JSON: enums as short names.
    assert.deepEqual(last2.map((e) => e.type), ['user_status_changed', 'user_status_changed']);
    assert.deepEqual(last2.map((e) => e.user.status), ['busy', 'available']);
    assert.ok(last2.every((e) => e.user.id === prof.id));
    assert.equal(Number(fs.readFileSync(path.join(configDir, 'last_seq'), 'utf8')), seqs.at(-1));
    // A kept sequence beyond the database's last event: exit 3 and a hint.
    fs.writeFileSync(path.join(configDir, 'last_seq'), '999999\n');
    const beyond = ctl(['watch', '--count', '1']);
    assert.equal(beyond.code, 3, beyond.err);
    assert.match(beyond.err, /--from-now/);
    fs.writeFileSync(path.join(configDir, 'last_seq'), `${seqs.at(-1)}\n`);
  });

  test('metrics: callsvc\'s Prometheus text as it is, no login needed', () => {
    const r = ctl(['metrics'], { env: { CALLCTL_CONFIG_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'callctl-none-')) } });
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^# HELP callsvc_info /);
    assert.match(r.out, new RegExp(`\\ncallsvc_info\\{hostname="[^"]*",grpc_addr="${svc.addr}"\\} 1\\n`));
    assert.match(r.out, /\ncallsvc_serving\{service="callservice\.v1\.CallService"\} 1\n/);
    assert.match(r.out, /\ncallsvc_ari_connected 1\n/);
    assert.ok(r.out.endsWith('\n'));
    assert.match(ctlJson(['metrics']).text, /callsvc_events_last_seq \d+/);
  });

  test('unreachable server: exit 10', () => {
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
    await sim.control('POST', `/_sim/endpoints/PJSIP/${b.sip_device.extension}`, { mode: 'answer', answer_after_ms: 300 });

    // watch_events.py, as A: A's own call's events only (agents see their own).
    const py = spawn(PY, [path.join(repoRoot, 'clients/examples/watch_events.py'), '--addr', svc.addr,
      '--email', 'exa@example.com', '--password', 'example-pass-1', '--count', '4', '--timeout', '40']);
    let pyOut = '', pyErr = '';
    py.stdout.on('data', (d) => { pyOut += d; });
    py.stderr.on('data', (d) => { pyErr += d; });
    const pyExit = new Promise((r) => py.on('exit', r));
    await waitFor(() => svc.proc.log().split('\n').filter((l) => /events: watching/.test(l) &&
      l.includes(a.id)).length >= 1, { what: 'watch_events.py to subscribe', timeoutMs: 20000 });

    const node = await runNode([path.join(repoRoot, 'clients/examples/make_call.mjs'), '--addr', svc.addr,
      '--email', 'exa@example.com', '--password', 'example-pass-1', '--to', b.sip_device.extension,
      '--hangup-after', '2', '--timeout', '40']);
    assert.equal(node.code, 0, `make_call.mjs: ${node.err}\n${node.out}`);
    assert.match(node.out, /^call [0-9a-f-]{36} to \d+: CALL_STATUS_(INITIATED|RINGING)$/m);
    assert.match(node.out, /EVENT_TYPE_CALL_RINGING/);
    assert.match(node.out, /EVENT_TYPE_CALL_ANSWERED/);
    assert.match(node.out, /EVENT_TYPE_CALL_ENDED\tCALL_STATUS_COMPLETED/);
    const code = await Promise.race([pyExit, sleep(30000).then(() => 'timeout')]);
    if (code === 'timeout') py.kill('SIGKILL');
    assert.equal(code, 0, `watch_events.py: ${pyErr}\n${pyOut}`);
    const evs = pyOut.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(evs.map((e) => e.type), ['EVENT_TYPE_CALL_INITIATED', 'EVENT_TYPE_CALL_RINGING',
      'EVENT_TYPE_CALL_ANSWERED', 'EVENT_TYPE_CALL_ENDED']);
    assert.ok(evs.every((e) => e.call && e.call.caller.userId === a.id));
    await sim.control('DELETE', `/_sim/endpoints/PJSIP/${b.sip_device.extension}`);
  });

  test('watch_events.py --after-seq resumes without gap; bad login exits 1', async () => {
    const stored = storedSeqs();
    const r = spawnSync(PY, [path.join(repoRoot, 'clients/examples/watch_events.py'), '--addr', svc.addr,
      '--email', ADMIN.email, '--password', ADMIN.password, '--after-seq', String(stored[1]), '--count', '3',
      '--timeout', '20'], { encoding: 'utf8', timeout: 30000 });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n').map((l) => Number(JSON.parse(l).seq)), stored.slice(2, 5));
    const bad = spawnSync(PY, [path.join(repoRoot, 'clients/examples/watch_events.py'), '--addr', svc.addr,
      '--email', ADMIN.email, '--password', 'wrong-password', '--count', '1', '--timeout', '10'],
    { encoding: 'utf8', timeout: 30000 });
    assert.equal(bad.status, 1, bad.stderr);
    assert.match(bad.stderr, /UNAUTHENTICATED/);
  });
});

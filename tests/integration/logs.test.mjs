// Log files and logrotate: after the files are moved away, SIGHUP makes
// callsvc and callgw write to new files at the same paths (the moved ones
// get nothing more), and the processes keep serving.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startPostgres, startCallsvc, startCallgw, waitFor } from './lib/stack.mjs';

let pg; let svc; let gw; let dir;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-logs-'));
  pg = await startPostgres();
  svc = await startCallsvc({ pg, env: { LOG_DIR: path.join(dir, 'callsvc') } });
  gw = await startCallgw({ svc, env: { LOG_DIR: path.join(dir, 'callgw') } });
});

after(async () => {
  await gw?.stop();
  await svc?.stop();
  await pg?.destroy();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const lines = (f) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8').split('\n').filter(Boolean) : []);

for (const [who, proc] of [['callsvc', () => svc.proc], ['callgw', () => gw.proc]]) {
  test(`${who}: SIGHUP opens the log files again after they were moved`, async () => {
    const d = path.join(dir, who);
    const combined = path.join(d, 'combined.log');
    const errors = path.join(d, 'error.log');
    assert.ok(lines(combined).length > 0, 'something was logged at start');
    for (const f of [combined, errors]) fs.renameSync(f, `${f}.1`);
    process.kill(proc().pid, 'SIGHUP');
    await waitFor(() => lines(combined).some((l) => JSON.parse(l).msg === 'SIGHUP: log files opened again'),
      { what: `${who} to log into a new combined.log` });
    assert.ok(fs.existsSync(errors), 'a new error.log');
    assert.ok(!lines(`${combined}.1`).some((l) => l.includes('SIGHUP')), 'nothing more in the moved file');
    for (const l of lines(combined)) assert.equal(JSON.parse(l).service, who);
    assert.equal(proc().exitCode, null, `${who} still runs`);
  });
}

test('callgw still answers, and still reaches callsvc, after both reopened their logs', async () => {
  const r = await fetch(`${gw.url}/readyz`);
  assert.equal(r.status, 200);
});

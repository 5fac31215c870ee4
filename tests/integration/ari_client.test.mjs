// The ARI client (src/ari) against the ARI simulator, through the C driver
// tests/integration/ari_client_test.c (target ari_client_test), which starts
// the simulator itself on a free loopback port and runs every scenario:
// originate, create+dial, bridge, hang up with events decoded in order; REST
// errors and timeouts mapped; the WebSocket dropped mid-call and restored
// within the backoff; simulator restarts seen as reconnect + new asterisk id.
// Under a CS_SANITIZE build LeakSanitizer makes any leak fail the run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { bins, buildDir } from './lib/stack.mjs';

const driver = process.env.ARI_CLIENT_TEST_BIN || path.join(buildDir, 'src/ari/ari_client_test');

test('ARI client against the simulator', { timeout: 180000 }, (t) => {
  for (const bin of [driver, bins.sim]) {
    if (!fs.existsSync(bin)) assert.fail(`missing ${bin}: build targets ari_client_test and ari-sim`);
  }
  const r = spawnSync(driver, [bins.sim], { encoding: 'utf8', timeout: 170000 });
  const out = `${r.stdout}${r.stderr}`;
  if (r.status !== 0) t.diagnostic(out.split('\n').filter((l) => !l.includes('"level":"warn"')).join('\n'));
  assert.equal(r.status, 0, `ari_client_test exited ${r.status ?? r.signal}`);
  assert.match(out, /all scenarios passed/);
});

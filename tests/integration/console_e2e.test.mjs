// The web console in headless Chromium (Debian's chromium driven by
// playwright-core): log in, place a call, see it ring, get answered and end
// on the board without a reload, add a note, see the statistics charts.
// Screenshots go to test-output/console_e2e/.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import {
  ADMIN, grpcApi, repoRoot, startCallgw, startCallsvc, startPostgres, startSim,
} from './lib/stack.mjs';

const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const shots = path.join(repoRoot, 'test-output', 'console_e2e');
let pg, sim, svc, gw, api, browser;

before(async () => {
  fs.mkdirSync(shots, { recursive: true });
  pg = await startPostgres();
  sim = await startSim();
  svc = await startCallsvc({ pg, sim });
  gw = await startCallgw({ svc, env: { STATIC_DIR: path.join(repoRoot, 'clients/web') } });
  api = grpcApi(svc.addr);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  api?.close();
  await gw?.stop();
  await svc?.stop();
  await sim?.stop();
  await pg?.destroy();
});

test('log in, place a call, watch it live, add a note, see statistics', async () => {
  const { token } = await api.users.Login(ADMIN);
  const agent = await api.users.CreateUser({ name: 'Alice Agent', email: 'alice@example.com',
    password: 'alice-pass-1', role: 'ROLE_SUPERVISOR' }, { token });
  const callee = await api.users.CreateUser({ name: 'Bob Callee', email: 'bob@example.com',
    password: 'bob-pass-12' }, { token });
  // Bob's device rings for 1.5 s, then answers.
  const ext = callee.sip_device.extension;
  await sim.control('POST', `/_sim/endpoints/PJSIP/${ext}`, { mode: 'answer', answer_after_ms: 1500 });

  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(gw.url + '/');
  await page.fill('input[name=email]', 'alice@example.com');
  await page.fill('input[name=password]', 'alice-pass-1');
  await page.screenshot({ path: path.join(shots, '01-login.png') });
  await page.click('button[type=submit]');
  await page.waitForSelector('#app-view:not([hidden])');
  await page.waitForSelector('#conn.live', { timeout: 10000 });

  await page.fill('#make-form input[name=to]', ext);
  await page.click('#make-form button[type=submit]');
  const row = page.locator('#board-body tr').first();
  await row.waitFor({ timeout: 10000 });
  // The call moves through its states on the board, pushed over Socket.IO.
  await page.waitForSelector('#board-body tr[data-status=ringing]', { timeout: 10000 });
  await page.screenshot({ path: path.join(shots, '02-ringing.png') });
  await page.waitForSelector('#board-body tr[data-status=in_progress]', { timeout: 15000 });
  await page.screenshot({ path: path.join(shots, '03-answered.png') });
  const callId = await page.locator('#board-body tr').first().getAttribute('data-call');

  await page.locator('#board-body tr').first().getByRole('button', { name: /hang up/i }).click();
  await page.waitForSelector('#board-body tr[data-status=completed]', { timeout: 10000 });
  await page.screenshot({ path: path.join(shots, '04-ended.png') });

  await page.goto(`${gw.url}/#call/${callId}`);
  await page.waitForSelector('#view-call:not([hidden])');
  await page.fill('#note-text', 'Customer wants a call back tomorrow');
  await page.click('#note-form button[type=submit]');
  await page.waitForSelector('#notes li', { timeout: 10000 });
  assert.match(await page.textContent('#notes'), /call back tomorrow/);
  await page.screenshot({ path: path.join(shots, '05-call-detail.png') });

  await page.click('nav a[data-view=stats]');
  await page.waitForSelector('#chart-hourly rect', { timeout: 10000 });
  await page.waitForSelector('#chart-outcomes rect', { timeout: 10000 });
  assert.match(await page.textContent('#kpis'), /Calls\s*1/);
  await page.screenshot({ path: path.join(shots, '06-statistics.png'), fullPage: true });

  assert.deepEqual(errors, [], 'no script errors in the page');
  void agent;
});

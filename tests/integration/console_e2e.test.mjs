// The web console in headless Chromium (Debian's chromium driven by
// playwright-core), logged in with the seed's demo logins: log in, place a
// call, see it ring, get answered and end on the board without a reload, add
// a note, see the statistics charts; two users on one call (typing
// indicator, live notes); an inbound call answered and transferred from the
// board; hold / resume and DTMF on a call in progress; history filters,
// presence, and user management for admins.
// Screenshots go to test-output/console_e2e/; with CONSOLE_SCREENSHOT=path
// the live board is also saved there (README's docs/console.png).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import {
  ADMIN, grpcApi, repoRoot, simLegsOf, startCallgw, startCallsvc, startPostgres, startSim, waitFor,
  waitSimBridged,
} from './lib/stack.mjs';

const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const shots = path.join(repoRoot, 'test-output', 'console_e2e');
const shot = (page, name, opts = {}) => page.screenshot({ path: path.join(shots, name), ...opts });
// The seed's demo users (src/users/seed.c).
const DEMO = {
  supervisor: { email: 'supervisor@example.com', password: 'supervisor123', name: 'Sam Supervisor' },
  alice: { email: 'alice@example.com', password: 'agent123', name: 'Alice Agent' },
  bob: { email: 'bob@example.com', password: 'agent123', name: 'Bob Agent' },
  carol: { email: 'carol@example.com', password: 'agent123', name: 'Carol Agent' },
};
let pg, sim, svc, gw, api, browser, adminToken;
const ext = {};
const pages = [];

before(async () => {
  fs.mkdirSync(shots, { recursive: true });
  pg = await startPostgres();
  sim = await startSim();
  // A short ARI backoff: the service-status test waits for the reconnect.
  svc = await startCallsvc({ pg, sim, env: { ARI_BACKOFF_MAX_MS: '1000' } });
  gw = await startCallgw({ svc, env: { STATIC_DIR: path.join(repoRoot, 'clients/web') } });
  api = grpcApi(svc.addr);
  // The gateway answers once its channel to callsvc is up (as a load
  // balancer would wait for it).
  await waitFor(async () => (await fetch(`${gw.url}/readyz`)).ok, { timeoutMs: 20000, what: 'callgw /readyz' });
  assert.ok(fs.existsSync(path.join(repoRoot, 'clients/web/vendor/socket.io.min.js')),
    'clients/web/vendor/socket.io.min.js: run scripts/test (or cs_web_build in scripts/lib.sh) first');
  adminToken = (await api.users.Login(ADMIN)).token;
  const { users } = await api.users.ListUsers({ limit: 100 }, { token: adminToken });
  for (const [k, d] of Object.entries(DEMO)) {
    const u = users.find((x) => x.email === d.email);
    assert.ok(u, `seeded ${d.email}`);
    ext[k] = u.sip_device.extension;
    d.id = u.id;
  }
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

const far = (e, body) => sim.control('POST', `/_sim/endpoints/PJSIP/${e}`, body);

// A fresh browser context (own localStorage) logged in as user.
async function loginPage(user) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  pages.push({ page, errors });
  await page.goto(gw.url + '/');
  await page.fill('input[name=email]', user.email);
  await page.fill('input[name=password]', user.password);
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#app-view:not([hidden])');
  await page.waitForSelector('#login-view', { state: 'hidden' });
  await page.waitForSelector('#conn.live', { timeout: 10000 });
  // Set once; a reload would lose it.
  await page.evaluate(() => { window.noReload = true; });
  return { page, errors };
}
// Waits until the call details' timeline has rows of these types, in this
// order (others may come between).
const waitTimeline = (page, types) => page.waitForFunction((want) => {
  let i = 0;
  for (const r of document.querySelectorAll('#timeline .tl-row')) if (r.dataset.type === want[i]) i++;
  return i === want.length;
}, types, { timeout: 10000 }).catch(async (e) => {
  const got = await page.$$eval('#timeline .tl-row', (rs) => rs.map((r) => r.dataset.type));
  throw new Error(`timeline ${JSON.stringify(got)}, wanted ${JSON.stringify(types)} in order: ${e.message}`);
});
const row = (page, callId, status) =>
  `#board-body tr[data-call="${callId}"]${status ? `[data-status=${status}]` : ''}`;

test('log in, place a call, watch it live, add a note, see statistics', async () => {
  await far(ext.bob, { mode: 'answer', answer_after_ms: 1500 }); // rings 1.5 s, then answers
  const { page, errors } = await loginPage(DEMO.supervisor);
  await shot(page, '01-board-empty.png');
  assert.match(await page.textContent('#me-name'), /Sam Supervisor \(supervisor, ext \d+\)/);
  assert.equal(await page.inputValue('#presence'), 'available', 'logging in puts an offline user on duty');
  assert.equal(await page.isHidden('nav a[data-view=users]'), true, 'users: admins only');
  assert.equal(await page.isVisible('nav a[data-view=stats]'), true);

  await page.fill('#make-form input[name=to]', ext.bob);
  await page.click('#make-form button[type=submit]');
  const first = page.locator('#board-body tr').first();
  await first.waitFor({ timeout: 10000 });
  const callId = await first.getAttribute('data-call');
  // The call moves through its states on the board, pushed over Socket.IO.
  await page.waitForSelector(row(page, callId, 'ringing'), { timeout: 10000 });
  assert.match(await page.textContent(row(page, callId)), /Bob Agent · \d+/);
  await shot(page, '02-ringing.png');
  await page.waitForSelector(row(page, callId, 'in_progress'), { timeout: 15000 });
  await shot(page, '03-answered.png');

  await page.locator(row(page, callId)).getByRole('button', { name: /hang up/i }).click();
  await page.waitForSelector(row(page, callId, 'completed'), { timeout: 10000 });
  await shot(page, '04-ended.png');
  // An ended call leaves the board after a moment.
  await page.waitForSelector(row(page, callId), { state: 'detached', timeout: 10000 });
  assert.equal(await page.isVisible('#board-empty'), true);

  await page.locator('a[data-view=history]').click();
  await page.waitForSelector(`#history-body a[href="#call/${callId}"]`);
  await page.click(`#history-body a[href="#call/${callId}"]`);
  await page.waitForSelector('#view-call:not([hidden])');
  await page.waitForSelector('#call-facts dd .badge.completed');
  await page.fill('#note-text', 'Customer wants a call back tomorrow');
  await page.click('#note-form button[type=submit]');
  await page.waitForSelector('#notes li', { timeout: 10000 });
  assert.match(await page.textContent('#notes'), /Sam Supervisor.*call back tomorrow/s);
  await shot(page, '05-call-detail.png');

  await page.click('nav a[data-view=stats]');
  // Every chart drew its bars; the ones with calls in them are not flat.
  for (const id of ['chart-hourly', 'chart-outcomes', 'chart-rate', 'chart-duration']) {
    await page.waitForSelector(`#${id} rect.bar`, { state: 'attached', timeout: 10000 });
  }
  for (const id of ['chart-hourly', 'chart-outcomes', 'chart-rate']) {
    assert.ok(await page.$$eval(`#${id} rect.bar`, (rs) => rs.some((r) => Number(r.getAttribute('height')) > 0)), id);
  }
  assert.match(await page.textContent('#kpis'), /Calls\s*1(?!\d)/);
  assert.match(await page.textContent('#kpis'), /Answer rate\s*100%/);
  assert.equal(await page.getAttribute('#chart-hourly', 'data-bars'), '24', 'every hour of the last day');
  assert.equal(await page.getAttribute('#chart-outcomes', 'data-bars'), '5');
  assert.match(await page.textContent('#per-user'), /Sam Supervisor/);
  await shot(page, '06-statistics.png', { fullPage: true });
  await page.selectOption('#stats-period', '720');
  await page.waitForFunction(() => document.querySelector('#chart-hourly').dataset.bars === '30');
  assert.equal(await page.textContent('#chart-hourly-title'), 'Calls per day');

  assert.equal(await page.evaluate(() => window.noReload), true, 'no reload');
  assert.deepEqual(errors, [], 'no script errors in the page');
});

test('two users on one call: typing indicator and notes arrive live', async () => {
  await far(ext.alice, { mode: 'answer', answer_after_ms: 300 });
  const sup = await loginPage(DEMO.supervisor);
  const alice = await loginPage(DEMO.alice);
  assert.equal(await alice.page.isHidden('nav a[data-view=stats]'), true, 'statistics: supervisors only');

  await sup.page.fill('#make-form input[name=to]', ext.alice);
  await sup.page.click('#make-form button[type=submit]');
  // Alice sees the call she is part of on her own board, live.
  const aRow = alice.page.locator('#board-body tr').first();
  await aRow.waitFor({ timeout: 10000 });
  const callId = await aRow.getAttribute('data-call');
  await alice.page.waitForSelector(row(alice.page, callId, 'in_progress'), { timeout: 15000 });

  await sup.page.goto(`${gw.url}/#call/${callId}`);
  await sup.page.waitForSelector('#view-call:not([hidden])');
  await alice.page.locator(row(alice.page, callId)).getByRole('button', { name: /details/i }).click();
  await alice.page.waitForSelector('#view-call:not([hidden])');
  await alice.page.waitForSelector('#call-facts dd .badge.in_progress');
  await sup.page.waitForTimeout(500); // both joined the call's room

  await alice.page.type('#note-text', 'Checking the order', { delay: 20 });
  await sup.page.waitForFunction(() => /Alice Agent is typing/.test(document.querySelector('#typing').textContent),
    null, { timeout: 10000 });
  await shot(sup.page, '07-typing.png');
  await alice.page.click('#note-form button[type=submit]');
  await sup.page.waitForFunction(() => /Checking the order/.test(document.querySelector('#notes').textContent),
    null, { timeout: 10000 });
  // typing stops 2 s after the last key
  await sup.page.waitForFunction(() => document.querySelector('#typing').textContent === '', null, { timeout: 10000 });

  // Hang up from the detail page; both see it end.
  await sup.page.locator('#call-actions').getByRole('button', { name: /hang up/i }).click();
  await alice.page.waitForSelector('#call-facts dd .badge.completed', { timeout: 10000 });
  await sup.page.waitForSelector('#call-facts dd .badge.completed', { timeout: 10000 });
  for (const p of [sup, alice]) {
    assert.equal(await p.page.evaluate(() => window.noReload), true);
    assert.deepEqual(p.errors, []);
  }
  await sup.page.context().close();
  await alice.page.context().close();
});

test('inbound call: answered and transferred from the board; the live board for README', async () => {
  await far(ext.carol, { mode: 'ring_forever' });
  await far(ext.bob, { mode: 'answer', answer_after_ms: 300 });
  await far(ext.alice, { mode: 'answer', answer_after_ms: 300 });
  const sup = await loginPage(DEMO.supervisor);
  const carol = await loginPage(DEMO.carol);
  const bob = await loginPage(DEMO.bob);

  // A customer calls Carol (the simulator's control API, as scripts/call-in does).
  await sim.control('POST', '/_sim/inbound',
    { extension: ext.carol, caller: { name: 'Customer', number: '+15550100' } });
  const cRow = carol.page.locator('#board-body tr[data-status=ringing]').first();
  await cRow.waitFor({ timeout: 10000 });
  const callId = await cRow.getAttribute('data-call');
  assert.match(await cRow.textContent(), /inbound.*Customer · \+15550100.*Carol Agent/s);

  // Meanwhile Alice calls Bob: the supervisor sees both calls at once.
  const { token: aliceToken } = await api.users.Login(DEMO.alice);
  const internal = await api.calls.MakeCall({ to: ext.bob }, { token: aliceToken });
  await sup.page.waitForSelector(row(sup.page, internal.id, 'in_progress'), { timeout: 15000 });
  await sup.page.waitForSelector(row(sup.page, callId, 'ringing'));
  await shot(sup.page, '08-board-live.png');
  if (process.env.CONSOLE_SCREENSHOT) {
    const box = await sup.page.locator('#view-board').boundingBox();
    await sup.page.screenshot({ path: path.resolve(process.env.CONSOLE_SCREENSHOT),
      clip: { x: 0, y: 0, width: 1280, height: Math.ceil(box.y + box.height + 16) } });
  }
  await api.calls.HangupCall({ call_id: internal.id }, { token: aliceToken });

  await carol.page.locator(row(carol.page, callId)).getByRole('button', { name: /^answer/i }).click();
  await carol.page.waitForSelector(row(carol.page, callId, 'in_progress'), { timeout: 10000 });
  await sup.page.waitForSelector(row(sup.page, callId, 'in_progress'), { timeout: 10000 });
  carol.page.once('dialog', (d) => d.accept(ext.bob));
  await carol.page.locator(row(carol.page, callId)).getByRole('button', { name: /transfer/i }).click();
  // Bob's device answers; the call shows up on his board, in progress.
  await bob.page.waitForSelector(row(bob.page, callId, 'in_progress'), { timeout: 15000 });
  assert.match(await bob.page.textContent(row(bob.page, callId)), /Bob Agent/);
  await bob.page.locator(row(bob.page, callId)).getByRole('button', { name: /hang up/i }).click();
  await bob.page.waitForSelector(row(bob.page, callId, 'completed'), { timeout: 10000 });
  await sup.page.waitForSelector(row(sup.page, callId, 'completed'), { timeout: 10000 });
  const done = await api.calls.GetCall({ call_id: callId }, { token: adminToken });
  assert.equal(done.transfers.length, 1);
  assert.equal(done.transfers[0].to_user_id, DEMO.bob.id);
  for (const p of [sup, carol, bob]) {
    assert.equal(await p.page.evaluate(() => window.noReload), true);
    assert.deepEqual(p.errors, []);
    await p.page.context().close();
  }
  await sim.control('DELETE', `/_sim/endpoints/PJSIP/${ext.carol}`);
});

test('hold and resume from the board and the details, the held party live on both sides, DTMF keypad', async () => {
  await far(ext.bob, { mode: 'answer', answer_after_ms: 300 });
  const sup = await loginPage(DEMO.supervisor);
  const bob = await loginPage(DEMO.bob);
  await sup.page.fill('#make-form input[name=to]', ext.bob);
  await sup.page.click('#make-form button[type=submit]');
  const first = sup.page.locator('#board-body tr').first();
  await first.waitFor({ timeout: 10000 });
  const callId = await first.getAttribute('data-call');
  await sup.page.waitForSelector(row(sup.page, callId, 'in_progress'), { timeout: 15000 });
  await bob.page.waitForSelector(row(bob.page, callId, 'in_progress'), { timeout: 10000 });
  // The supervisor's own call: the other party, Bob (the call's .b leg), is held.
  const leg = async (s) => (await simLegsOf(sim, callId)).find((x) => x.id === `${callId}.${s}`);
  await waitSimBridged(sim, callId);
  assert.equal((await leg('b')).on_hold, false);
  const supRow = sup.page.locator(row(sup.page, callId));
  assert.equal(await supRow.locator('.badge.on-hold').count(), 0);

  await supRow.getByRole('button', { name: /^hold/i }).click();
  await sup.page.waitForSelector(`${row(sup.page, callId)}[data-held] td:nth-child(4) .badge.on-hold`, { timeout: 10000 });
  assert.equal(await supRow.locator('td:nth-child(3) .badge.on-hold').count(), 0, 'the caller is not held');
  assert.match(await supRow.locator('.badge.on-hold').textContent(), /^on hold \d+:\d\d$/);
  await supRow.getByRole('button', { name: /^resume/i }).waitFor();
  assert.equal(await supRow.getByRole('button', { name: /^hold/i }).count(), 0, 'the toggle shows Resume only');
  await waitFor(async () => (await leg('b')).on_hold === true, { what: 'the sim to hold Bob\'s channel' });
  assert.equal((await leg('a')).on_hold, false);
  // Bob's board follows through call_held: he sees himself held, with the timer.
  await bob.page.waitForSelector(`${row(bob.page, callId)} td:nth-child(4) .badge.on-hold`, { timeout: 10000 });
  // The timer runs from heldAt without a new event.
  await sup.page.waitForFunction((id) => {
    const t = document.querySelector(`#board-body tr[data-call="${id}"] .hold-timer`);
    return t && t.textContent !== '0:00';
  }, callId, { timeout: 5000 });
  await shot(sup.page, '12-on-hold.png');

  // The details: the badge by Bob's name, Resume there too.
  await supRow.getByRole('button', { name: /details/i }).click();
  await sup.page.waitForSelector('#view-call:not([hidden])');
  await sup.page.waitForSelector('#call-facts dd .badge.on-hold .hold-timer');
  assert.match(await sup.page.textContent('#call-facts'), /Bob Agent · \d+ on hold \d+:\d\d/);
  await sup.page.locator('#call-actions').getByRole('button', { name: /^resume/i }).click();
  await sup.page.waitForSelector('#call-facts dd .badge.on-hold', { state: 'detached', timeout: 10000 });
  await sup.page.locator('#call-actions').getByRole('button', { name: /^hold/i }).waitFor({ timeout: 10000 });
  // The hold lasted a second at least: its time is kept and shown.
  assert.match(await sup.page.textContent('#hold-time'), /^\d+:\d\d$/);
  await waitFor(async () => (await leg('b')).on_hold === false, { what: 'the sim to let Bob\'s channel go' });
  await bob.page.waitForSelector(`${row(bob.page, callId)} .badge.on-hold`, { state: 'detached', timeout: 10000 });

  // The timeline: the call's events loaded with the details (oldest first),
  // then call_resumed added live; in order, each at most once.
  await waitTimeline(sup.page, ['call_initiated', 'call_held', 'call_resumed']);
  const tl = await sup.page.$$eval('#timeline .tl-row', (rs) => rs.map((r) => ({
    type: r.dataset.type, seq: r.dataset.seq, text: r.textContent })));
  const seqs = tl.map((r) => BigInt(r.seq));
  assert.ok(seqs.every((q, i) => i === 0 || q > seqs[i - 1]), `timeline seqs in order, no duplicates: ${seqs}`);
  assert.match(tl.find((r) => r.type === 'call_initiated').text, /Call placed/);
  assert.match(tl.find((r) => r.type === 'call_held').text, /\d:\d\d:\d\d.*On hold by you$/);
  assert.match(tl.find((r) => r.type === 'call_resumed').text, /Resumed by you$/);

  // DTMF: keys go out as pressed, the form sends a string; the page lists what went out.
  assert.equal(await sup.page.isVisible('#call-dtmf'), true, 'the keypad on a call in progress');
  for (const k of ['1', '2', '3']) await sup.page.getByRole('button', { name: `Send DTMF ${k}` }).click();
  await sup.page.fill('#dtmf-form input[name=digits]', '4#');
  await sup.page.click('#dtmf-form button[type=submit]');
  await sup.page.waitForFunction(() => document.querySelector('#dtmf-sent').textContent === '1234#', null,
    { timeout: 10000 });
  await waitFor(async () => (await leg('b')).dtmf_sent === '1234#', { what: 'the digits at Bob\'s phone' });
  assert.equal((await leg('a')).dtmf_sent, '');
  assert.equal(await sup.page.inputValue('#dtmf-form input[name=digits]'), '', 'the form is cleared once sent');
  // A refused string is said, and nothing goes out.
  await sup.page.fill('#dtmf-form input[name=digits]', '9x');
  await sup.page.click('#dtmf-form button[type=submit]');
  assert.equal(await sup.page.$eval('#dtmf-form input[name=digits]', (i) => i.validity.valid), false);
  assert.equal(await sup.page.textContent('#dtmf-sent'), '1234#');
  await shot(sup.page, '13-keypad.png');

  // Hang up: the keypad goes; the history shows the hold time.
  await sup.page.locator('#call-actions').getByRole('button', { name: /hang up/i }).click();
  await sup.page.waitForSelector('#call-facts dd .badge.completed', { timeout: 10000 });
  assert.equal(await sup.page.isHidden('#call-dtmf'), true);
  // call_ended joins the timeline live, after the resume
  await waitTimeline(sup.page, ['call_initiated', 'call_held', 'call_resumed', 'call_ended']);
  assert.equal(await sup.page.locator('#timeline .tl-row[data-type=call_ended]').count(), 1);
  assert.match(await sup.page.textContent('#timeline .tl-row[data-type=call_ended]'), /Ended/);
  await shot(sup.page, '14-timeline.png', { fullPage: true });
  await sup.page.click('nav a[data-view=history]');
  const hRow = sup.page.locator('#history-body tr', { has: sup.page.locator(`a[href="#call/${callId}"]`) });
  await hRow.waitFor({ timeout: 10000 });
  assert.match(await hRow.locator('td.hold-time').textContent(), /^\d+:\d\d$/);
  const done = await api.calls.GetCall({ call_id: callId }, { token: adminToken });
  assert.ok(done.hold_seconds >= 1, `hold_seconds ${done.hold_seconds}`);
  assert.equal(await hRow.locator('td.hold-time').textContent(), `0:${String(done.hold_seconds).padStart(2, '0')}`);
  for (const p of [sup, bob]) {
    assert.equal(await p.page.evaluate(() => window.noReload), true);
    assert.deepEqual(p.errors, []);
    await p.page.context().close();
  }
});

test('history filters, presence, user management for admins', async () => {
  const { page, errors } = await loginPage({ ...ADMIN });
  // presence: the select sets it, and the server agrees
  await page.selectOption('#presence', 'away');
  await waitFor(async () => (await api.users.GetProfile({}, { token: adminToken })).status === 'PRESENCE_STATUS_AWAY',
    { what: 'presence away' });
  // set elsewhere (another client): the select follows, live
  await api.users.SetStatus({ status: 'PRESENCE_STATUS_BUSY' }, { token: adminToken });
  await page.waitForFunction(() => document.querySelector('#presence').value === 'busy', null, { timeout: 10000 });

  // history: filters by status
  await page.click('nav a[data-view=history]');
  await page.waitForSelector('#history-body tr');
  const all = await page.locator('#history-body tr').count();
  assert.ok(all >= 3, `history rows: ${all}`);
  assert.match(await page.textContent('#page-info'), /page 1 of 1 \(\d+ calls\)/);
  const filter = async (status, direction, check) => {
    await page.selectOption('#history-form select[name=status]', status);
    await page.selectOption('#history-form select[name=direction]', direction);
    await page.click('#history-form button[type=submit]');
    await page.waitForFunction(check, null, { timeout: 10000 });
  };
  await filter('busy', '', () => document.querySelectorAll('#history-body tr').length === 0);
  await filter('', 'inbound', () => document.querySelectorAll('#history-body tr').length === 1);
  assert.match(await page.textContent('#history-body'), /Customer · \+15550100/);
  await page.selectOption('#history-form select[name=status]', 'completed');
  await page.selectOption('#history-form select[name=direction]', '');
  await page.click('#history-form button[type=submit]');
  await page.waitForFunction(() => {
    const b = [...document.querySelectorAll('#history-body .badge')].map((x) => x.textContent);
    return b.length > 0 && b.every((x) => x === 'completed');
  }, null, { timeout: 10000 });
  await shot(page, '09-history.png');

  // users: create, edit, delete
  await page.click('nav a[data-view=users]');
  await page.waitForSelector('#users-body tr');
  await page.fill('#user-form input[name=name]', 'Dana Console');
  await page.fill('#user-form input[name=email]', 'dana@example.com');
  await page.fill('#user-form input[name=password]', 'dana-pass-1');
  await page.selectOption('#user-form select[name=role]', 'supervisor');
  await page.click('#user-submit');
  const dana = page.locator('#users-body tr', { hasText: 'dana@example.com' });
  await dana.waitFor({ timeout: 10000 });
  assert.match(await dana.textContent(), /Dana Console.*supervisor.*\d{4}/s);
  await dana.getByRole('button', { name: 'Edit' }).click();
  await page.fill('#user-form input[name=name]', 'Dana Renamed');
  await page.click('#user-submit');
  await page.locator('#users-body tr', { hasText: 'Dana Renamed' }).waitFor({ timeout: 10000 });
  // a duplicate email is refused, with the server's message
  await page.fill('#user-form input[name=name]', 'Dup');
  await page.fill('#user-form input[name=email]', 'dana@example.com');
  await page.fill('#user-form input[name=password]', 'dup-pass-12');
  await page.click('#user-submit');
  await page.waitForFunction(() => document.querySelector('#users-error').textContent !== '');
  await shot(page, '10-users.png');
  page.once('dialog', (d) => d.accept());
  await page.locator('#users-body tr', { hasText: 'Dana Renamed' }).getByRole('button', { name: 'Delete' }).click();
  await page.locator('#users-body tr', { hasText: 'dana@example.com' }).waitFor({ state: 'detached', timeout: 10000 });

  // log out: back to the login form, presence offline
  await page.click('#logout');
  await page.waitForSelector('#login-view:not([hidden])');
  assert.equal(await page.isHidden('#app-view'), true);
  await waitFor(async () => (await api.users.GetProfile({}, { token: adminToken })).status === 'PRESENCE_STATUS_OFFLINE',
    { what: 'presence offline after logout' });
  assert.equal(await page.evaluate(() => localStorage.getItem('cs.token')), null);
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('a banner while calls cannot be placed (Asterisk unreachable), gone when it is back', async () => {
  const { page, errors } = await loginPage({ ...ADMIN });
  assert.equal(await page.isHidden('#service-down'), true);
  // No ARI WebSocket for 10 s: callsvc is NOT_SERVING (health every 2 s),
  // /readyz 503, and the console (asking every 5 s) says so.
  await sim.control('POST', '/_sim/faults/drop_websockets', { down_ms: 10000 });
  await page.waitForSelector('#service-down', { state: 'visible', timeout: 10000 });
  assert.match(await page.textContent('#service-down'), /Calls are unavailable/);
  await shot(page, '11-service-down.png');
  await page.waitForSelector('#service-down', { state: 'hidden', timeout: 20000 });
  assert.deepEqual(errors, []);
  await page.context().close();
});

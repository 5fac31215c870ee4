#!/usr/bin/env node
// Place a call over gRPC and follow it to the end (@grpc/grpc-js).
//
//   (cd clients/examples && npm ci)
//   node clients/examples/make_call.mjs --email alice@example.com --password agent123 --to 3003
//
// It logs in, opens the event stream first and waits for its headers (so no
// transition is missed), places the call with an idempotency key, prints
// every transition of that call, and exits 0 once the call has ended (1 on
// error or timeout, 2 on bad arguments). Run `npm ci` in this folder first.
//
// It never calls stream.cancel(): grpc-js 1.14 can spin inside http2's
// RST_STREAM on a cancel (docs/rpc.md); exiting the process ends the stream.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values: opt } = parseArgs({
  options: {
    addr: { type: 'string', default: process.env.GRPC_ADDR || '127.0.0.1:50051' },
    email: { type: 'string' }, password: { type: 'string' },
    to: { type: 'string' }, 'hangup-after': { type: 'string', default: '0' },
    timeout: { type: 'string', default: '60' },
  },
});
if (!opt.email || !opt.password || !opt.to) {
  console.error('usage: make_call.mjs --email E --password P --to EXT_OR_NUMBER [--hangup-after SECONDS] [--addr HOST:PORT]');
  process.exit(2);
}

const def = protoLoader.loadSync(['callservice/v1/users.proto', 'callservice/v1/calls.proto', 'callservice/v1/events.proto'],
  { includeDirs: [path.join(here, '../../proto'), '/usr/include'], keepCase: false, longs: String, enums: String, oneofs: true });
const v1 = grpc.loadPackageDefinition(def).callservice.v1;
const creds = grpc.credentials.createInsecure();
const users = new v1.UserService(opt.addr, creds);
const calls = new v1.CallService(opt.addr, creds);
const events = new v1.EventService(opt.addr, creds);
const unary = (client, method, req, md = new grpc.Metadata()) => new Promise((resolve, reject) =>
  client[method](req, md, { deadline: Date.now() + 10000 }, (err, res) => (err ? reject(err) : resolve(res))));

const fail = (msg) => { console.error(msg); process.exit(1); };
setTimeout(() => fail(`timed out after ${opt.timeout} s`), Number(opt.timeout) * 1000).unref();

const { token } = await unary(users, 'Login', { email: opt.email, password: opt.password }).catch((e) => fail(`login: ${e.details}`));
const md = new grpc.Metadata();
md.set('authorization', `Bearer ${token}`);

let callId = null;
const early = []; // events that arrive before MakeCall answers
const stream = events.WatchEvents({}, md);
const onEvent = (ev) => {
  const call = ev.call;
  if (!call || call.id !== callId) return;
  console.log(`${ev.seq}\t${ev.type}\t${call.status}${call.hangupCause ? ` (${call.hangupCause})` : ''}`);
  if (ev.type === 'EVENT_TYPE_CALL_ENDED') process.exit(0);
};
stream.on('data', (ev) => (callId ? onEvent(ev) : early.push(ev)));
stream.on('error', (e) => fail(`event stream: ${e.code} ${e.details}`));
// The server sends the stream's headers as soon as it has accepted the stream.
await new Promise((resolve) => stream.once('metadata', resolve));

const call = await unary(calls, 'MakeCall', { to: opt.to, requestId: randomUUID() }, md).catch((e) => fail(`make call: ${e.details}`));
callId = call.id;
console.log(`call ${call.id} to ${opt.to}: ${call.status}`);
early.forEach(onEvent);
const after = Number(opt['hangup-after']);
if (after > 0) {
  setTimeout(() => unary(calls, 'HangupCall', { callId }, md).catch((e) => fail(`hangup: ${e.details}`)), after * 1000);
}

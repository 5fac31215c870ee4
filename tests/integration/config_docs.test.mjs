// The configuration's documentation and the programs agree: every variable
// `callsvc help` and `callgw --help` print (from the tables the programs
// load their settings with) is in .env.example with the same default, and
// .env.example has no variable that neither they nor callctl read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bins } from './lib/stack.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

// "  NAME   text (default: value)" lines of a program's help.
function helpVars(bin, arg) {
  let out;
  try {
    out = execFileSync(bin, [arg], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    out = `${e.stdout || ''}${e.stderr || ''}`; // callgw --help may exit non-zero
  }
  const vars = new Map();
  for (const m of out.matchAll(/^ {2}([A-Z][A-Z0-9_]+) +(.*)$/gm)) {
    const d = m[2].match(/\(default: ([^)]*)\)$/);
    vars.set(m[1], d ? d[1] : null); // null: no default (JWT_SECRET)
  }
  return vars;
}

// callctl names its variables in one "environment:" paragraph.
function callctlVars() {
  let out;
  try {
    out = execFileSync(bins.callctl, ['--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    out = `${e.stdout || ''}${e.stderr || ''}`;
  }
  const para = out.slice(out.indexOf('environment:'));
  return new Map([...para.matchAll(/\b(CALL[A-Z_]+)\b/g)].map((m) => [m[1], null]));
}

test('.env.example lists exactly the variables the programs read, with their defaults', () => {
  const svcVars = helpVars(bins.callsvc, 'help');
  const gwVars = helpVars(bins.callgw, '--help');
  const vars = new Map([...svcVars, ...gwVars]);
  const clientVars = callctlVars();
  assert.ok(clientVars.has('CALLCTL_TOKEN'), 'callctl --help names its variables');
  assert.ok(vars.size > 40, `parsed ${vars.size} variables from the programs' help`);
  const doc = new Map();
  for (const m of fs.readFileSync(path.join(root, '.env.example'), 'utf8')
    .matchAll(/^#?([A-Z][A-Z0-9_]+)=(.*)$/gm)) doc.set(m[1], m[2]);
  const missing = [...vars.keys()].filter((k) => !doc.has(k));
  const unknown = [...doc.keys()].filter((k) => !vars.has(k) && !clientVars.has(k));
  assert.deepEqual(missing, [], 'read by a program, not in .env.example');
  assert.deepEqual(unknown, [], 'in .env.example, read by no program');
  // the values are the defaults, except the few .env.example sets for a reason
  const chosen = new Set(['DATABASE_URL', 'JWT_SECRET', 'SQL_DIR', 'ARI_URL', 'LOG_DIR']);
  // each program's own default (LOG_LEVEL, say, is read by both)
  for (const [prog, m] of [['callsvc', svcVars], ['callgw', gwVars]]) {
    for (const [k, v] of m) {
      if (!chosen.has(k) && v !== null) {
        assert.equal(doc.get(k), v, `${k}: .env.example ${doc.get(k)}, ${prog}'s default ${v}`);
      }
    }
  }
});

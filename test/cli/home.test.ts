// The CLI run outside the checkout finds the node's `.env` (cli/home.ts): BITWEEN_HOME, else ./.env, else the
// checkout's; with none and no BITWEEN_* variable it says in one line that it uses the defaults.
// The CLI runs as a user runs it: from a temp folder, with no BITWEEN_* in its environment.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { newNamespace, REDIS_URL } from '../helpers/bus.js';
import { CLI, runNode } from '../helpers/cli.js';
import { ROOT } from '../helpers/process.js';

let dir: string;
let nodeHome: string;
let elsewhere: string;
const ns = newNamespace('home');

/** `bitween args…` from `cwd` with only PATH, HOME and `env`: nothing of the test's own environment. */
const bitween = (args: string[], cwd: string, env: Record<string, string> = {}) =>
  runNode(CLI, args, { cwd, env: { PATH: process.env.PATH ?? '', HOME: dir, ...env } });

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bitween-home-'));
  nodeHome = join(dir, 'node');
  elsewhere = join(dir, 'elsewhere');
  await mkdir(nodeHome);
  await mkdir(elsewhere);
  await writeFile(join(nodeHome, '.env'), `BITWEEN_NAMESPACE=${ns}\nBITWEEN_REDIS_URL=${REDIS_URL}\nBITWEEN_DATABASE_URL=postgres://root@127.0.0.1:5432/bitween_home_none\n`);
});

after(() => rm(dir, { recursive: true, force: true }));

test('BITWEEN_HOME: the node\'s .env there is used from any folder, silently', async () => {
  const r = await bitween(['status', '--json'], elsewhere, { BITWEEN_HOME: nodeHome });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.equal((JSON.parse(r.stdout) as { namespace: string }).namespace, ns);
});

test('./.env in the current folder is used when BITWEEN_HOME is not set', async () => {
  const r = await bitween(['status', '--json'], nodeHome);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.equal((JSON.parse(r.stdout) as { namespace: string }).namespace, ns);
});

test('BITWEEN_HOME without a .env: one line, exit 78', async () => {
  const r = await bitween(['status'], elsewhere, { BITWEEN_HOME: elsewhere });
  assert.equal(r.code, 78);
  assert.equal(r.stderr, `bitween: BITWEEN_HOME=${JSON.stringify(elsewhere)} holds no .env with BITWEEN_* settings (${join(elsewhere, '.env')}): copy .env.example there, or unset BITWEEN_HOME\n`);
});

test('no .env anywhere and no BITWEEN_* variable: one line on stderr says the defaults are used', async (t) => {
  if (existsSync(join(ROOT, '.env'))) return t.skip(`the checkout has a .env (${join(ROOT, '.env')}), which the CLI rightly uses`);
  // A .env that sets nothing of bitween's (another project's) is passed over.
  await writeFile(join(elsewhere, '.env'), 'DATABASE_URL=postgres://elsewhere/app\n');
  const r = await bitween(['status', '--json'], elsewhere);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^bitween: no \.env with BITWEEN_\* settings in \S+ or \S+, and none in the environment: using the defaults \(namespace bitween; set BITWEEN_HOME to the node's folder\)$/);
  assert.equal((JSON.parse(r.stdout) as { namespace: string }).namespace, 'bitween');
});

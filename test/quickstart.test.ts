// The README's quick start, its exact commands, from a fresh clone: the test reads the code block under
// "## Quick start" and runs each line as written, in a shell, except where this machine cannot or must not:
// - `apt-get install …`: CI installs the system packages (.ci/run); the test checks the line is there.
// - `git clone <this repository> …`: cloned from this checkout instead of a URL.
// - `npm ci`: the clone shares this checkout's node_modules instead of downloading the same packages again.
// `$EDITOR .env` is an editor that writes the test's settings (private namespace, database, ports, no router),
// and `npm link` links into a private npm prefix instead of the machine's global one. Then the CLI runs from
// another folder with no BITWEEN_* variable, as a person would: it must find the node's .env, show its logs,
// and a start hint it prints must work as printed. Private PM2_HOME.
import assert from 'node:assert/strict';
import { exec, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { after, before, test } from 'node:test';
import { newNamespace, REDIS_URL } from './helpers/bus.js';
import { ADMIN_URL } from './helpers/db.js';
import { freePort } from './helpers/ports.js';
import { ROOT } from './helpers/process.js';

const run = promisify(execFile);
const sh = promisify(exec);
const SERVICES = ['torrent', 'nat', 'xmpp', 'web'];
let dir: string;
let checkout: string;
let elsewhere: string;
let env: Record<string, string>;
let namespace: string;
const database = `bitween_qs_${randomBytes(4).toString('hex')}`;

/** The command lines of the README's quick start block, comments and continuation comments left out. */
async function quickStartCommands(): Promise<string[]> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const section = readme.split(/^## Quick start$/m)[1]!.split(/^## /m)[0]!;
  const block = /```sh\n([\s\S]*?)```/.exec(section)![1]!;
  return block
    .split('\n')
    .map((line) => line.replace(/\s+#.*$/, '').replace(/^\s*#.*$/, '').trim())
    .filter(Boolean);
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bitween-quickstart-'));
  checkout = join(dir, 'bitween');
  elsewhere = join(dir, 'elsewhere');
  await mkdir(elsewhere);
  namespace = newNamespace('qs');
  const url = new URL(ADMIN_URL);
  url.pathname = `/${database}`;
  // The "editor": appends the test's settings to the file it is given (later lines win in .env).
  const editor = join(dir, 'editor.sh');
  const settings = [
    `BITWEEN_NAMESPACE=${namespace}`,
    `BITWEEN_REDIS_URL=${REDIS_URL}`,
    `BITWEEN_DATABASE_URL=${url.toString()}`,
    `BITWEEN_SAVE_PATH=${join(dir, 'downloads')}`,
    'BITWEEN_TORRENT_PORT=0',
    'BITWEEN_UPNP=false', // tests never talk to a real router
    'BITWEEN_NATPMP=false',
    `BITWEEN_WEB_PORT=${await freePort()}`,
  ];
  await writeFile(editor, `#!/bin/sh\ncat >> "$1" <<'EOF'\n${settings.join('\n')}\nEOF\n`);
  await chmod(editor, 0o755);
  // No BITWEEN_* here: the node is configured by its .env only.
  env = {
    PATH: `${join(dir, 'npm-global', 'bin')}:${process.env.PATH ?? ''}`,
    HOME: process.env.HOME ?? '/root',
    PM2_HOME: join(dir, 'pm2'),
    EDITOR: editor,
    NPM_CONFIG_PREFIX: join(dir, 'npm-global'), // `npm link` links here, not into the machine's global folder
  };
});

after(async () => {
  // This test's pm2 daemon only (its own PM2_HOME), then its database and folder.
  await run(join(ROOT, 'node_modules', '.bin', 'pm2'), ['kill'], { env, cwd: dir }).catch(() => undefined);
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).finally(() => admin.end());
  await rm(dir, { recursive: true, force: true });
});

/** `bitween status --json` from another folder, until every service is `up` (or the deadline). */
async function waitForUp(services: string[], timeoutMs = 60000): Promise<Record<string, boolean | undefined>> {
  let seen: Record<string, boolean | undefined> = {};
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { stdout } = await sh('bitween status --json', { env, cwd: elsewhere });
    const status = JSON.parse(stdout) as { namespace: string; services: Record<string, { up: boolean }> };
    assert.equal(status.namespace, namespace, 'the CLI read the node\'s .env');
    seen = Object.fromEntries(services.map((s) => [s, status.services[s]?.up]));
    if (services.every((s) => seen[s])) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  return seen;
}

test('the quick start, as written: a running node and a `bitween` that works from any folder', { timeout: 300000 }, async () => {
  const commands = await quickStartCommands();
  assert.match(commands[0]!, /^apt-get install -y redis-server postgresql git$/);
  assert.match(commands[1]!, /^git clone <this repository> bitween && cd bitween$/);
  await run('git', ['clone', '-q', ROOT, checkout]);
  assert.equal(commands[2], 'npm ci');
  await symlink(join(ROOT, 'node_modules'), join(checkout, 'node_modules'));

  const rest = commands.slice(3);
  assert.deepEqual(rest, ['cp .env.example .env && $EDITOR .env', 'npm start', 'npm link', 'bitween status'], 'the test runs these lines as they are');
  await sh(rest[0]!, { env, cwd: checkout });
  const started = await sh(rest[1]!, { env, cwd: checkout, timeout: 200000 });
  assert.match(started.stdout, new RegExp(`created database ${database}`));
  assert.match(started.stdout, /applied \d+ migrations?/);
  await sh(rest[2]!, { env, cwd: checkout, timeout: 60000 });

  // Up means each service's heartbeat is there, as `bitween status` shows it, run from another folder.
  assert.deepEqual(await waitForUp(SERVICES), { torrent: true, nat: true, xmpp: true, web: true });
  const status = await sh(rest[3]!, { env, cwd: elsewhere });
  assert.equal(status.stderr, '', 'no word about defaults: the node\'s .env was found');
  for (const s of SERVICES) assert.match(status.stdout, new RegExp(`^${s} `, 'm'));

  // The services run on the Node that npm ci installed (every dependency's engines hold), whatever runs pm2.
  const pm2 = join(checkout, 'node_modules', '.bin', 'pm2');
  const { stdout: jlist } = await run(pm2, ['jlist'], { env, cwd: checkout });
  for (const app of JSON.parse(jlist) as { name: string; pm2_env: { exec_interpreter: string } }[]) {
    assert.equal(app.pm2_env.exec_interpreter, join(checkout, 'node_modules', 'node', 'bin', 'node'), app.name);
  }

  // Their logs, readable, from any folder.
  const logs = await sh('bitween logs torrent --lines 50', { env, cwd: elsewhere });
  assert.match(logs.stdout, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} INFO  torrent bitween-torrent ready /m);
  assert.doesNotMatch(logs.stdout, /"level":/);

  const stopped = await sh('npm stop', { env, cwd: checkout, timeout: 60000 });
  assert.match(stopped.stdout, /stopped bitween-web\nstopped bitween-xmpp\nstopped bitween-torrent\nstopped bitween-nat\n/);
  const { stdout } = await sh('bitween status --json', { env, cwd: elsewhere });
  const down = JSON.parse(stdout) as { services: Record<string, { up: boolean }> };
  for (const s of SERVICES) assert.equal(down.services[s]?.up, false, `${s} down after npm stop`);

  // A hint the CLI prints works as printed, from any folder.
  const share = await sh(`bitween share ${join(checkout, 'README.md')}`, { env, cwd: elsewhere }).then(
    () => assert.fail('share succeeded with the torrent service stopped'),
    (err: { code: number; stderr: string }) => err,
  );
  assert.equal(share.code, 69);
  const hint = /start it with `([^`]+)`/.exec(share.stderr)?.[1];
  assert.ok(hint, share.stderr);
  await sh(hint, { env, cwd: elsewhere, timeout: 60000 });
  assert.deepEqual(await waitForUp(['torrent']), { torrent: true });
});

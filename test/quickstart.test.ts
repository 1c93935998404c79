// The README's quick start, as written, from a fresh clone: `npm start` creates and migrates the database,
// builds and brings the node up under pm2; `npm stop` brings it down in order. Private PM2_HOME.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { symlink, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { after, before, test } from 'node:test';
import { newNamespace, REDIS_URL } from './helpers/bus.js';
import { ADMIN_URL } from './helpers/db.js';
import { freePort } from './helpers/ports.js';
import { ROOT } from './helpers/process.js';
import { migrationNames } from '../lib/store/pool.js';

const run = promisify(execFile);
let dir: string;
let env: Record<string, string>;
const database = `bitween_qs_${randomBytes(4).toString('hex')}`;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bitween-quickstart-'));
  await run('git', ['clone', '-q', ROOT, join(dir, 'bitween')]);
  // `npm ci` is the README's install step; the test shares the checkout's node_modules instead of
  // downloading the same packages again.
  await symlink(join(ROOT, 'node_modules'), join(dir, 'bitween', 'node_modules'));
  const url = new URL(ADMIN_URL);
  url.pathname = `/${database}`;
  env = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/root',
    PM2_HOME: join(dir, 'pm2'),
    BITWEEN_NAMESPACE: newNamespace('qs'),
    BITWEEN_REDIS_URL: REDIS_URL,
    BITWEEN_DATABASE_URL: url.toString(),
    BITWEEN_SAVE_PATH: join(dir, 'downloads'),
    BITWEEN_UPNP: 'false', // tests never talk to a real router
    BITWEEN_NATPMP: 'false',
    BITWEEN_WEB_PORT: String(await freePort()),
  };
});

after(async () => {
  // This test's pm2 daemon only (its own PM2_HOME), then its database and folder.
  await run(join(ROOT, 'node_modules', '.bin', 'pm2'), ['kill'], { env, cwd: join(dir, 'bitween') }).catch(() => undefined);
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).finally(() => admin.end());
  await rm(dir, { recursive: true, force: true });
});

test('npm start brings the node up under pm2; npm stop brings it down in order', { timeout: 180000 }, async () => {
  const cwd = join(dir, 'bitween');
  const started = await run('npm', ['start'], { env, cwd, timeout: 150000 });
  assert.match(started.stdout, new RegExp(`created database ${database}`));
  assert.match(started.stdout, new RegExp(`applied ${migrationNames().length} migration`));

  // Up means each service's heartbeat is there, as `bitween status` shows it.
  let status: { services: Record<string, { up: boolean }> } = { services: {} };
  const deadline = Date.now() + 30000;
  while (Date.now() < deadline) {
    const { stdout } = await run(process.execPath, ['dist/cli/index.js', 'status', '--json'], { env, cwd });
    status = JSON.parse(stdout);
    if (['torrent', 'nat', 'xmpp', 'web'].every((s) => status.services[s]?.up)) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.deepEqual(
    Object.fromEntries(['torrent', 'nat', 'xmpp', 'web'].map((s) => [s, status.services[s]?.up])),
    { torrent: true, nat: true, xmpp: true, web: true },
  );

  const stopped = await run('npm', ['stop'], { env, cwd, timeout: 60000 });
  assert.match(stopped.stdout, /stopped bitween-web\nstopped bitween-xmpp\nstopped bitween-torrent\nstopped bitween-nat\n/);
  const { stdout } = await run(process.execPath, ['dist/cli/index.js', 'status', '--json'], { env, cwd });
  const after = JSON.parse(stdout) as { services: Record<string, { up: boolean }> };
  for (const s of ['torrent', 'nat', 'xmpp', 'web']) assert.equal(after.services[s]?.up, false, `${s} down after npm stop`);
});

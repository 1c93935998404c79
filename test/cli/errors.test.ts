// Every failure is one line on stderr that says what to do, nothing on stdout, and a stable exit code —
// and it comes fast: the CLI must not queue for ever when Redis or Postgres is down.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { newNamespace, REDIS_URL } from '../helpers/bus.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { freePort } from '../helpers/ports.js';
import { migrationNames } from '../../lib/store/pool.js';

const HASH = 'c0ffee'.repeat(6) + 'c0ff';

let db: TestDatabase;
let bare: TestDatabase;
let dir: string;
let env: Record<string, string>;
let closed: number;

before(async () => {
  [db, bare] = await Promise.all([createTestDatabase(), createTestDatabase({ migrate: false })]);
  dir = await mkdtemp(join(tmpdir(), 'bitween-cli-'));
  await writeFile(join(dir, 'f'), 'a file, not a folder');
  closed = await freePort(); // nothing listens there once freePort has closed it
  env = { BITWEEN_NAMESPACE: newNamespace('clierr'), BITWEEN_DATABASE_URL: db.url, BITWEEN_REDIS_URL: REDIS_URL };
});
after(async () => {
  await Promise.all([db?.drop(), bare?.drop()]);
  await rm(dir, { recursive: true, force: true });
});

/** Runs the CLI, expects `code`, an empty stdout and exactly one stderr line matching `line`; returns ms taken. */
async function fails(args: string[], extraEnv: Record<string, string>, code: number, line: RegExp): Promise<number> {
  const started = Date.now();
  const r = await runCli(args, { ...env, ...extraEnv });
  const ms = Date.now() - started;
  assert.equal(r.code, code, `bitween ${args.join(' ')}: exit ${r.code}, stderr: ${r.stderr}`);
  assert.equal(r.stdout, '', `bitween ${args.join(' ')} printed on stdout`);
  assert.equal(r.stderr.split('\n').length, 2, `one line, got: ${r.stderr}`);
  assert.match(r.stderr.trimEnd(), line);
  return ms;
}

test('Redis down: every command that needs it says so in one line, at once', async () => {
  const redisDown = { BITWEEN_REDIS_URL: `redis://127.0.0.1:${closed}` };
  const line = new RegExp(`^bitween: cannot reach Redis at redis://127\\.0\\.0\\.1:${closed} \\(connect ECONNREFUSED 127\\.0\\.0\\.1:${closed}\\): is redis-server running\\?$`);
  for (const args of [['status'], ['status', '--json'], ['share', dir], ['get', HASH], ['contacts', 'add', 'friend@example.test']]) {
    const ms = await fails(args, redisDown, 69, line);
    assert.ok(ms < 5000, `bitween ${args.join(' ')} took ${ms} ms to fail`);
  }
});

test('Redis down: ls still lists what the store holds, and says why peers are unknown', async () => {
  const r = await runCli(['ls'], { ...env, BITWEEN_REDIS_URL: `redis://127.0.0.1:${closed}` });
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^no torrents yet/);
});

test('Postgres down: commands that read the store fail in one line; status shows it as down', async () => {
  const url = `postgres://root@127.0.0.1:${closed}/bitween`;
  const line = new RegExp(`^bitween: cannot reach Postgres at postgres://root@127\\.0\\.0\\.1:${closed}/bitween: connect ECONNREFUSED .*\\(is PostgreSQL running and the database created\\?\\)$`);
  for (const args of [['ls'], ['ls', '--json'], ['browse'], ['contacts'], ['rm', HASH], ['get', HASH], ['contacts', 'remove', 'a@b.c']]) {
    const ms = await fails(args, { BITWEEN_DATABASE_URL: url }, 69, line);
    assert.ok(ms < 5000, `bitween ${args.join(' ')} took ${ms} ms to fail`);
  }
  const r = await runCli(['status', '--json'], { ...env, BITWEEN_DATABASE_URL: url });
  assert.equal(r.code, 0, r.stderr);
  const status = JSON.parse(r.stdout);
  assert.equal(status.store.up, false);
  assert.match(status.store.error, /ECONNREFUSED/);
  const human = await runCli(['status'], { ...env, BITWEEN_DATABASE_URL: url });
  assert.match(human.stdout, /^postgres   down  cannot reach Postgres/m);
});

test('a database whose schema is behind: run the migrations, says the line', async () => {
  await fails(['ls'], { BITWEEN_DATABASE_URL: bare.url }, 78, new RegExp(`^bitween: database schema is behind \\(${pending(migrationNames().length)}, first \\d+_initial\\): run \`cd \\S+ && npm run migrate\`$`));
});

test('a malformed setting names the variable; .env in the working folder is read like the services do', async () => {
  await fails(['status'], { BITWEEN_REDIS_URL: 'http://127.0.0.1:6379' }, 78, /^bitween: BITWEEN_REDIS_URL="http:\/\/127\.0\.0\.1:6379" must start with redis: or rediss:\/\/$/);
  const cwd = join(dir, 'with-env');
  await mkdir(cwd, { recursive: true });
  await writeFile(join(cwd, '.env'), `BITWEEN_REDIS_URL=redis://127.0.0.1:${closed}\n`);
  const { BITWEEN_REDIS_URL: _, ...withoutRedis } = env;
  const r = await runCli(['status'], withoutRedis, { cwd });
  assert.equal(r.code, 69);
  assert.match(r.stderr, new RegExp(`cannot reach Redis at redis://127\\.0\\.0\\.1:${closed}`));
});

test('usage errors: one line pointing at the help, exit 2; --help and --version exit 0', async () => {
  await fails(['frobnicate'], {}, 2, /^bitween: unknown command 'frobnicate' \(see `bitween --help`\)$/);
  await fails(['share'], {}, 2, /^bitween: missing required argument 'path' \(see `bitween share --help`\)$/);
  await fails(['get', HASH, '--bogus'], {}, 2, /^bitween: unknown option '--bogus' \(see `bitween get --help`\)$/);
  await fails(['rm', HASH, '--timeout', 'soon'], {}, 2, /^bitween: option '--timeout <seconds>' argument 'soon' is invalid\. give a number of seconds/);
  const help = await runCli(['--help'], env);
  assert.equal(help.code, 0);
  for (const cmd of ['share', 'get', 'rm', 'ls', 'browse', 'contacts', 'status', 'stop']) assert.match(help.stdout, new RegExp(`^  ${cmd} `, 'm'));
  const version = await runCli(['--version'], env);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
});

test('bad input is refused before anything is sent', async () => {
  await fails(['share', join(dir, 'no-such-file')], {}, 1, new RegExp(`^bitween: no such file or folder: ${join(dir, 'no-such-file')}$`));
  await fails(['share', 'relative/missing'], {}, 1, /^bitween: no such file or folder: \/.*\/relative\/missing$/);
  await fails(['get', 'xyz'], {}, 1, /^bitween: "xyz" is not an info-hash/);
  await fails(['get', HASH, '--to', join(dir, 'f')], {}, 1, /is not a folder: --to takes the folder to download into$/);
  await fails(['contacts', 'add', 'not a jid'], {}, 1, /^bitween: "not a jid" is not a JID like friend@example\.org$/);
  await fails(['contacts', 'remove', 'nobody@example.test'], {}, 1, /^bitween: nobody@example\.test is not in your contacts: `bitween contacts` lists them$/);
});

test('a service that is down: commands that need it say how to start it', async () => {
  const ns = env.BITWEEN_NAMESPACE;
  await fails(['share', dir], {}, 69, new RegExp(`^bitween: the torrent service is not running \\(no heartbeat at ${ns}:heartbeat:torrent\\): start it with \`cd \\S+ && npx pm2 start ecosystem.config.js --only bitween-torrent\`$`));
  await fails(['get', HASH], {}, 69, /^bitween: the torrent service is not running .*`cd \S+ && npx pm2 start ecosystem.config.js --only bitween-torrent`$/);
  await fails(['contacts', 'add', 'friend@example.test'], {}, 69, /^bitween: the xmpp service is not running .*`cd \S+ && npx pm2 start ecosystem.config.js --only bitween-xmpp`$/);
});

/** "1 migration pending" / "3 migrations pending", as lib/store/pool.ts words it. */
function pending(n: number): string {
  return `${n} migration${n > 1 ? 's' : ''} pending`;
}

// The node under a real pm2 daemon with a private PM2_HOME: `pm2 start ecosystem.config.js` brings the apps
// online in order, `npm stop` (dist/cli/stop.js) takes them down in order with every torrent still stored and
// every process exiting 0, and an `exit` topic stops the services for good (pm2 does not restart them).
// Crashes and their restarts: test/faults/pm2-crash.test.ts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { EXIT_CONFIG, EXIT_STOPPED, STOP_EXIT_CODES } from '../lib/shutdown.js';
import { REDIS_URL, TestBus, newNamespace } from './helpers/bus.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { writeRandomFile, writeRandomFolder } from './helpers/files.js';
import { waitForHeartbeat } from './helpers/heartbeat.js';
import { freePort } from './helpers/ports.js';
import { runNode } from './helpers/cli.js';
import { TestPm2, type Pm2App } from './helpers/pm2.js';
import { ROOT } from './helpers/process.js';

const STOP = fileURLToPath(new URL('../cli/stop.js', import.meta.url));
/** Start order (ecosystem.config.js) and stop order (cli/stop.ts, INTERFACE.md §1). */
const START_ORDER = ['bitween-torrent', 'bitween-nat', 'bitween-xmpp', 'bitween-web'];
const STOP_ORDER = ['bitween-web', 'bitween-xmpp', 'bitween-torrent', 'bitween-nat'];

describe('pm2', () => {
  let home: string;
  let pm2Home: string;
  let db: TestDatabase;
  let tb: TestBus;
  let env: Record<string, string>;
  let pm2: TestPm2;

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'bitween-pm2-'));
    pm2Home = join(home, 'pm2');
    db = await createTestDatabase();
    const namespace = newNamespace('pm2');
    tb = await TestBus.open(namespace);
    env = {
      // The whole environment: nothing leaks in from the test runner's own.
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/root',
      PM2_HOME: pm2Home,
      // One app at a time, so that wait_ready orders the start (pm2 starts two at once by default).
      PM2_CONCURRENT_ACTIONS: '1',
      BITWEEN_NAMESPACE: namespace,
      BITWEEN_REDIS_URL: REDIS_URL,
      BITWEEN_DATABASE_URL: db.url,
      BITWEEN_SAVE_PATH: join(home, 'downloads'),
      BITWEEN_SHARE_ROOTS: home, // the files shared below lie in it
      BITWEEN_UPNP: 'false',
      BITWEEN_NATPMP: 'false',
      BITWEEN_WEB_PORT: String(await freePort()),
    };
    pm2 = new TestPm2(env);
  });

  after(async () => {
    await pm2?.close();
    await tb?.close();
    await db?.drop();
    await rm(home, { recursive: true, force: true });
  });

  /** pino's `time` of the first line of `app`'s log whose msg matches (pm2 prefixes each line with a date). */
  function logTime(app: string, msg: RegExp, since = 0): number {
    const text = readFileSync(join(pm2Home, 'logs', `${app}-out.log`), 'utf8');
    for (const line of text.split('\n')) {
      const json = line.indexOf('{');
      if (json < 0) continue;
      try {
        const entry = JSON.parse(line.slice(json)) as { msg?: string; time?: number };
        if (entry.msg && msg.test(entry.msg) && entry.time! >= since) return entry.time!;
      } catch {
        // a line of pm2's own
      }
    }
    throw new Error(`${app} logged no line matching ${msg}:\n${text.slice(-2000)}`);
  }

  /** The `App [name:id] exited with code [N]` lines of pm2's daemon log, in order, as [name, code]. */
  function exits(): [string, number][] {
    const text = readFileSync(join(pm2Home, 'pm2.log'), 'utf8');
    return [...text.matchAll(/App \[([\w-]+):\d+\] exited with code \[(-?\d+)\]/g)].map((m) => [m[1]!, Number(m[2])]);
  }

  async function waitForStatus(names: string[], status: string, timeoutMs: number): Promise<Map<string, Pm2App>> {
    return pm2.waitFor(`${names.join(', ')} ${status}`, (apps) => names.every((n) => apps.get(n)?.pm2_env.status === status), timeoutMs);
  }

  const hashes: string[] = [];
  let stored: unknown[] = [];

  test('pm2 start ecosystem.config.js brings every app online, each one ready before the next starts', async () => {
    await pm2.cli(['start', 'ecosystem.config.js']);
    await pm2.connect();
    const apps = await pm2.list();
    assert.deepEqual([...apps.keys()].sort(), [...START_ORDER].sort());
    for (const name of START_ORDER) {
      const app = apps.get(name)!;
      assert.equal(app.pm2_env.status, 'online', name);
      assert.equal(app.pm2_env.restart_time, 0, `${name} restarted`);
      assert.equal(app.pm2_env.wait_ready, true);
      assert.equal(app.pm2_env.kill_timeout, 10000);
      assert.deepEqual(app.pm2_env.stop_exit_codes, STOP_EXIT_CODES);
    }
    // wait_ready: each app started after the previous one said it was ready (not after listen_timeout).
    for (let i = 0; i + 1 < START_ORDER.length; i++) {
      const ready = logTime(START_ORDER[i]!, /^bitween-\w+ ready$/);
      const next = apps.get(START_ORDER[i + 1]!)!.pm2_env.pm_uptime;
      assert.ok(ready <= next, `${START_ORDER[i + 1]} started at ${next}, before ${START_ORDER[i]} was ready at ${ready}`);
    }
  });

  test('the ordered stop leaves every torrent stored and each process exits 0', async () => {
    // A shared file, a shared folder and an unfinished download (nobody has it: it waits for metadata).
    await writeRandomFile(join(home, 'share', 'file.bin'), 300_000);
    await writeRandomFolder(join(home, 'share', 'folder'));
    for (const path of [join(home, 'share', 'file.bin'), join(home, 'share', 'folder')]) {
      const since = tb.mark();
      await tb.publish('generate_torrent', [path]);
      const added = await tb.waitFor('torrent_added', (m) => m.kwargs.path === path, 15000, since);
      hashes.push(added.args[0] as string);
    }
    const wanted = 'c0ffee'.padEnd(40, '0');
    await mkdir(join(home, 'downloads'), { recursive: true });
    const since = tb.mark();
    await tb.publish('add_hash', [wanted]);
    await tb.waitFor('torrent_added', (m) => m.args[0] === wanted, 15000, since);
    hashes.push(wanted);
    stored = (await db.pool.query(`SELECT info_hash, name, status, origin, save_path, total_size, torrent_file IS NOT NULL AS has_file FROM torrents ORDER BY info_hash`)).rows;
    assert.deepEqual(stored.map((r) => (r as { info_hash: string }).info_hash), [...hashes].sort());

    const exitsBefore = exits().length;
    const stop = await runNode(STOP, [], { env, cwd: ROOT, timeoutMs: 60000 });
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal(stop.stdout, STOP_ORDER.map((n) => `stopped ${n}\n`).join(''));

    const apps = await pm2.list();
    for (const name of START_ORDER) {
      assert.equal(apps.get(name)!.pm2_env.status, 'stopped', name);
      assert.equal(apps.get(name)!.pm2_env.restart_time, 0, `${name} was restarted`);
    }
    // In order, each one exiting 0 (a shutdown past its 8 s deadline exits 1; pm2's SIGKILL shows as a signal).
    assert.deepEqual(exits().slice(exitsBefore), STOP_ORDER.map((n) => [n, 0]));
    for (const name of START_ORDER) logTime(name, /^stopped$/);

    const after = (await db.pool.query(`SELECT info_hash, name, status, origin, save_path, total_size, torrent_file IS NOT NULL AS has_file FROM torrents ORDER BY info_hash`)).rows;
    assert.deepEqual(after, stored);
  });

  test('started again, the torrent service restores them; the exit topic then stops every service for good', async () => {
    await pm2.cli(['start', 'ecosystem.config.js']);
    const online = await waitForStatus(START_ORDER, 'online', 30000);
    // The heartbeat starts once the service is ready, after the stored torrents are back in the session.
    const hb = await waitForHeartbeat(tb.pub, tb.namespace, 'torrent', (h) => h.pid === online.get('bitween-torrent')!.pid, 10000);
    assert.equal(hb.facts.torrents, hashes.length);

    const exitsBefore = exits().length;
    await tb.publish('exit');
    const apps = await waitForStatus(START_ORDER, 'stopped', 20000);
    for (const name of START_ORDER) {
      // The service asked pm2 to stop it, as `pm2 stop` does, and ended with EXIT_STOPPED.
      assert.equal(apps.get(name)!.pm2_env.exit_code, EXIT_STOPPED, name);
      assert.equal(apps.get(name)!.pm2_env.restart_time, 0, `${name} was restarted after exit`);
    }
    assert.deepEqual(exits().slice(exitsBefore).map(([, code]) => code), START_ORDER.map(() => EXIT_STOPPED));
    const rows = (await db.pool.query(`SELECT info_hash, name, status, origin, save_path, total_size, torrent_file IS NOT NULL AS has_file FROM torrents ORDER BY info_hash`)).rows;
    assert.deepEqual(rows, stored);
  });
  test('a configuration error under pm2: exit 78, one line in the error log, not restarted', async () => {
    const exitsBefore = exits().length;
    // --update-env: pm2 would otherwise start the app with the environment it stored at the first start.
    await pm2.cli(['start', 'ecosystem.config.js', '--only', 'bitween-nat', '--update-env'], { BITWEEN_TORRENT_PORT: 'sixty' });
    const nat = (await waitForStatus(['bitween-nat'], 'stopped', 10000)).get('bitween-nat')!;
    assert.equal(nat.pm2_env.exit_code, EXIT_CONFIG);
    assert.equal(nat.pm2_env.restart_time, 0, 'pm2 restarted a service with a configuration error');
    assert.deepEqual(exits().slice(exitsBefore), [['bitween-nat', EXIT_CONFIG]]);
    const errLog = readFileSync(join(pm2Home, 'logs', 'bitween-nat-error.log'), 'utf8').trimEnd().split('\n');
    assert.match(errLog.at(-1)!, /bitween-nat: BITWEEN_TORRENT_PORT="sixty" must be an integer from 0 to 65535$/);
  });
});


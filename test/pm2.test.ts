// The node under a real pm2 daemon with a private PM2_HOME: `pm2 start ecosystem.config.js` brings the apps
// online in order, `npm stop` (dist/cli/stop.js) takes them down in order with every torrent still stored and
// every process exiting 0, and an `exit` topic stops the services for good (pm2 does not restart them).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { REDIS_URL, TestBus, newNamespace } from './helpers/bus.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { writeRandomFile, writeRandomFolder } from './helpers/files.js';
import { freePort } from './helpers/ports.js';
import { runNode } from './helpers/cli.js';
import { ROOT } from './helpers/process.js';

const run = promisify(execFile);
const PM2 = join(ROOT, 'node_modules', '.bin', 'pm2');
const STOP = fileURLToPath(new URL('../cli/stop.js', import.meta.url));
/** Start order (ecosystem.config.js) and stop order (cli/stop.ts, INTERFACE.md §1). */
const START_ORDER = ['bitween-torrent', 'bitween-nat', 'bitween-xmpp', 'bitween-web'];
const STOP_ORDER = ['bitween-web', 'bitween-xmpp', 'bitween-torrent', 'bitween-nat'];

interface Pm2App {
  name: string;
  pid: number;
  pm2_env: {
    status: string;
    pm_uptime: number;
    restart_time: number;
    unstable_restarts: number;
    exit_code?: number;
    kill_timeout?: number;
    wait_ready?: boolean;
    stop_exit_codes?: number[];
  };
}

describe('pm2', () => {
  let home: string;
  let pm2Home: string;
  let db: TestDatabase;
  let tb: TestBus;
  let env: Record<string, string>;
  /** Every pid pm2 reported for an app, to make sure none outlives the test. */
  const appPids = new Set<number>();

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
      BITWEEN_UPNP: 'false',
      BITWEEN_NATPMP: 'false',
      BITWEEN_WEB_PORT: String(await freePort()),
    };
  });

  after(async () => {
    const daemonPid = readPid(join(pm2Home, 'pm2.pid'));
    // `pm2 kill` with this PM2_HOME ends this test's daemon and its apps only.
    if (daemonPid !== undefined) await run(PM2, ['kill'], { env, cwd: ROOT }).catch(() => undefined);
    for (const pid of [...(daemonPid ? [daemonPid] : []), ...appPids]) await waitGone(pid, pm2Home, 10000);
    await tb?.close();
    await db?.drop();
    await rm(home, { recursive: true, force: true });
  });

  async function pm2(...args: string[]): Promise<string> {
    const { stdout } = await run(PM2, args, { env, cwd: ROOT });
    return stdout;
  }

  async function pm2WithEnv(extra: Record<string, string>, ...args: string[]): Promise<string> {
    const { stdout } = await run(PM2, args, { env: { ...env, ...extra }, cwd: ROOT });
    return stdout;
  }

  async function jlist(): Promise<Map<string, Pm2App>> {
    const out = await pm2('jlist');
    const apps = JSON.parse(out.slice(out.indexOf('['))) as Pm2App[];
    for (const a of apps) if (a.pid) appPids.add(a.pid);
    return new Map(apps.map((a) => [a.name, a]));
  }

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
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const apps = await jlist();
      if (names.every((n) => apps.get(n)?.pm2_env.status === status)) return apps;
      if (Date.now() > deadline) {
        throw new Error(`not all ${status} after ${timeoutMs} ms: ${[...apps.values()].map((a) => `${a.name} ${a.pm2_env.status}`).join(', ')}`);
      }
    }
  }

  const hashes: string[] = [];
  let stored: unknown[] = [];

  test('pm2 start ecosystem.config.js brings every app online, each one ready before the next starts', async () => {
    await pm2('start', 'ecosystem.config.js');
    const apps = await jlist();
    assert.deepEqual([...apps.keys()].sort(), [...START_ORDER].sort());
    for (const name of START_ORDER) {
      const app = apps.get(name)!;
      assert.equal(app.pm2_env.status, 'online', name);
      assert.equal(app.pm2_env.restart_time, 0, `${name} restarted`);
      assert.equal(app.pm2_env.wait_ready, true);
      assert.equal(app.pm2_env.kill_timeout, 10000);
      assert.deepEqual(app.pm2_env.stop_exit_codes, [0, 78]);
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

    const apps = await jlist();
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
    const restartAt = Date.now();
    await pm2('start', 'ecosystem.config.js');
    await waitForStatus(START_ORDER, 'online', 30000);
    // 'listening for peers' is logged once the stored torrents are back in the session.
    const text = readFileSync(join(pm2Home, 'logs', 'bitween-torrent-out.log'), 'utf8');
    const restored = text.split('\n').map((l) => l.slice(Math.max(0, l.indexOf('{')))).filter((l) => l.includes('"listening for peers"')).map((l) => JSON.parse(l) as { restored: number; time: number });
    assert.equal(restored.filter((r) => r.time >= restartAt).at(-1)?.restored, hashes.length);

    const exitsBefore = exits().length;
    await tb.publish('exit');
    const apps = await waitForStatus(START_ORDER, 'stopped', 20000);
    for (const name of START_ORDER) {
      // 0 is in stop_exit_codes: pm2 keeps it stopped instead of restarting it.
      assert.equal(apps.get(name)!.pm2_env.exit_code, 0, name);
      assert.equal(apps.get(name)!.pm2_env.restart_time, 0, `${name} was restarted after exit`);
    }
    assert.deepEqual(exits().slice(exitsBefore).map(([, code]) => code), START_ORDER.map(() => 0));
    const rows = (await db.pool.query(`SELECT info_hash, name, status, origin, save_path, total_size, torrent_file IS NOT NULL AS has_file FROM torrents ORDER BY info_hash`)).rows;
    assert.deepEqual(rows, stored);
  });
  test('a configuration error under pm2: exit 78, one line in the error log, not restarted', async () => {
    const exitsBefore = exits().length;
    // --update-env: pm2 would otherwise start the app with the environment it stored at the first start.
    await pm2WithEnv({ BITWEEN_TORRENT_PORT: 'sixty' }, 'start', 'ecosystem.config.js', '--only', 'bitween-nat', '--update-env');
    const nat = (await waitForStatus(['bitween-nat'], 'stopped', 10000)).get('bitween-nat')!;
    assert.equal(nat.pm2_env.exit_code, 78);
    assert.equal(nat.pm2_env.restart_time, 0, 'pm2 restarted a service with a configuration error');
    assert.deepEqual(exits().slice(exitsBefore), [['bitween-nat', 78]]);
    const errLog = readFileSync(join(pm2Home, 'logs', 'bitween-nat-error.log'), 'utf8').trimEnd().split('\n');
    assert.match(errLog.at(-1)!, /bitween-nat: BITWEEN_TORRENT_PORT="sixty" must be an integer from 0 to 65535$/);
  });
});

function readPid(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** Alive and ours: a pid may be reused once its process is gone, so check it still runs with this PM2_HOME. */
function oursAlive(pid: number, pm2Home: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(`PM2_HOME=${pm2Home}`);
  } catch {
    return false;
  }
}

/** Waits for a process this test started (by pid) to be gone; SIGKILL when it outlives timeoutMs. */
async function waitGone(pid: number, pm2Home: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (oursAlive(pid, pm2Home)) {
    if (Date.now() > deadline) {
      process.kill(pid, 'SIGKILL');
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

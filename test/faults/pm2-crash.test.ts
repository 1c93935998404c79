// Crash recovery under a real pm2 with a private PM2_HOME (issue 11): an app that dies by a signal (kill -9,
// SIGSEGV, SIGABRT) is restarted and its service comes back; an uncaught exception or unhandled rejection runs
// the service's one shutdown path and exits 70, then is restarted; a crash loop backs off with growing delays;
// the `exit` topic stops every app for good. pm2's settings come from ecosystem.config.js itself.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test, type TestContext } from 'node:test';
import type { Heartbeat } from '../../lib/heartbeat.js';
import { EXIT_SOFTWARE, EXIT_STOPPED, STOP_EXIT_CODES } from '../../lib/shutdown.js';
import { REDIS_URL, TestBus, newNamespace } from '../helpers/bus.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { runNode } from '../helpers/cli.js';
import { waitForHeartbeat } from '../helpers/heartbeat.js';
import { freePort } from '../helpers/ports.js';
import { ROOT } from '../helpers/process.js';
import { TestPm2, type Pm2App } from '../helpers/pm2.js';

/** pm2 app name → the service name its heartbeat carries. */
const APPS: [string, string][] = [
  ['bitween-torrent', 'torrent'],
  ['bitween-nat', 'nat'],
  ['bitween-xmpp', 'xmpp'],
  ['bitween-web', 'web'],
];
const FAULTY = 'bitween-faulty';
const CRASH_LOOP = 'bitween-crashloop';
const FIXTURE = join(ROOT, 'dist', 'test', 'fixtures', 'faulty-service.js');
/** How long a stopped app is watched for a restart that must not come. */
const STAYS_STOPPED_MS = 3000;

describe('pm2 crash recovery', () => {
  let home: string;
  let db: TestDatabase;
  let tb: TestBus;
  let pm2: TestPm2;
  let closedFile: string;

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'bitween-pm2crash-'));
    closedFile = join(home, 'closed.txt');
    db = await createTestDatabase();
    const namespace = newNamespace('crash');
    tb = await TestBus.open(namespace);
    pm2 = new TestPm2({
      // The whole environment: nothing leaks in from the test runner's own.
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/root',
      PM2_HOME: join(home, 'pm2'),
      PM2_CONCURRENT_ACTIONS: '1',
      BITWEEN_NAMESPACE: namespace,
      BITWEEN_REDIS_URL: REDIS_URL,
      BITWEEN_DATABASE_URL: db.url,
      BITWEEN_SAVE_PATH: join(home, 'downloads'),
      BITWEEN_UPNP: 'false',
      BITWEEN_NATPMP: 'false',
      BITWEEN_WEB_PORT: String(await freePort()),
    });
    await pm2.cli(['start', 'ecosystem.config.js']);
    await pm2.connect();
    for (const [app, service] of APPS) {
      const { pid } = (await pm2.list()).get(app)!;
      await heartbeat(service, (hb) => hb.pid === pid, 30000);
    }
  });

  after(async () => {
    await pm2?.close();
    await tb?.close();
    await db?.drop();
    await rm(home, { recursive: true, force: true });
  });

  /** The service's heartbeat (written once it is ready) once `ok` holds for it. */
  function heartbeat(service: string, ok: (hb: Heartbeat) => boolean, timeoutMs: number): Promise<Heartbeat> {
    return waitForHeartbeat(tb.pub, tb.namespace, service, ok, timeoutMs);
  }

  /** Starts `name` running the fixture under pm2 with the bitween apps' own settings (ecosystem.config.js). */
  async function startFixture(name: string, mode: 'serve' | 'crash-at-start'): Promise<void> {
    const ecosystem = (await import(pathToFileURL(join(ROOT, 'ecosystem.config.js')).href)) as { apps: Record<string, unknown>[] };
    const app = { ...ecosystem.apps[0], name, script: FIXTURE, env: { FAULTY_MODE: mode, FAULTY_CLOSED_FILE: closedFile } };
    const file = join(home, `${name}.json`);
    await writeFile(file, JSON.stringify({ apps: [app] }));
    await pm2.cli(['start', file]);
  }

  function closedPids(): string[] {
    try {
      return readFileSync(closedFile, 'utf8').split('\n').filter(Boolean);
    } catch {
      return [];
    }
  }

  test('ecosystem.config.js: 0 is not a stop code (pm2 reports a death by signal as 0), restarts back off', async () => {
    for (const [app] of APPS) {
      const env = (await pm2.list()).get(app)!.pm2_env;
      assert.deepEqual(env.stop_exit_codes, STOP_EXIT_CODES, app);
      assert.ok(!env.stop_exit_codes!.includes(0), app);
      assert.equal(env.exp_backoff_restart_delay, 100, app);
    }
  });

  for (const signal of ['SIGKILL', 'SIGSEGV', 'SIGABRT'] as const) {
    test(`${signal}: pm2 restarts each app and its service is back`, async (t: TestContext) => {
      for (const [app, service] of APPS) {
        const old = (await pm2.list()).get(app)!;
        const since = pm2.events.length;
        const busMark = tb.mark();
        const killedAt = Date.now();
        process.kill(old.pid, signal);

        const exit = await pm2.waitForEvent(`${app} exited`, (e) => e.name === app && e.event === 'exit', 20000, since);
        // The trap ecosystem.config.js works around: pm2 7 reports a death by signal as exit code 0.
        assert.equal(exit.exitCode, 0, `${app} killed by ${signal}`);
        const online = await pm2.waitForEvent(`${app} online`, (e) => e.name === app && e.event === 'online', 20000, since);
        const hb = await heartbeat(service, (h) => h.pid !== old.pid, 30000);
        const readyAt = Date.now();
        if (service === 'torrent') await tb.waitFor('bt_ready', () => true, 30000, busMark);

        const now: Pm2App = (await pm2.list()).get(app)!;
        assert.equal(now.pm2_env.status, 'online', app);
        assert.equal(now.pid, hb.pid, `${app}: the heartbeat is the new process's`);
        assert.notEqual(now.pid, old.pid, app);
        assert.equal(now.pm2_env.restart_time, old.pm2_env.restart_time + 1, app);
        t.diagnostic(`${signal} ${app}: started again after ${online.pmUptime - killedAt} ms (pm2 delay ${online.prevRestartDelay} ms), ready (heartbeat) after ${readyAt - killedAt} ms`);
      }
    });
  }

  test('an uncaught exception or unhandled rejection runs the shutdown path, exits 70 and is restarted', async (t: TestContext) => {
    await startFixture(FAULTY, 'serve');
    for (const topic of ['throw_later', 'reject_later']) {
      const old = (await pm2.list()).get(FAULTY)!;
      await heartbeat('faulty', (hb) => hb.pid === old.pid, 30000);
      const since = pm2.events.length;
      const sentAt = Date.now();
      await tb.publish(topic);
      const exit = await pm2.waitForEvent(`${FAULTY} exited`, (e) => e.name === FAULTY && e.event === 'exit', 20000, since);
      assert.equal(exit.exitCode, EXIT_SOFTWARE, topic);
      assert.ok(closedPids().includes(String(old.pid)), `${topic}: close() did not run to its end before the exit`);
      const hb = await heartbeat('faulty', (h) => h.pid !== old.pid, 30000);
      const now = (await pm2.list()).get(FAULTY)!;
      assert.equal(now.pid, hb.pid);
      assert.equal(now.pm2_env.restart_time, old.pm2_env.restart_time + 1);
      t.diagnostic(`${topic}: exit ${exit.exitCode} after ${exit.at - sentAt} ms (shutdown path incl. 500 ms close), ready again after ${Date.now() - sentAt} ms`);
    }
  });

  test('a second fatal error during the shutdown exits at once, with 70, and is restarted', async () => {
    const old = (await pm2.list()).get(FAULTY)!;
    await heartbeat('faulty', (hb) => hb.pid === old.pid, 30000);
    const since = pm2.events.length;
    await tb.publish('throw_twice');
    const exit = await pm2.waitForEvent(`${FAULTY} exited`, (e) => e.name === FAULTY && e.event === 'exit', 20000, since);
    assert.equal(exit.exitCode, EXIT_SOFTWARE);
    // The second error came 40 ms after the first, while close() still had 500 ms to go: it never finished.
    assert.ok(!closedPids().includes(String(old.pid)), 'close() ran to its end: the second error did not exit at once');
    await heartbeat('faulty', (h) => h.pid !== old.pid, 30000);
    await pm2.cli(['delete', FAULTY]);
  });

  test('a crash loop backs off: each restart waits 1.5 times longer', async (t: TestContext) => {
    const since = pm2.events.length;
    await startFixture(CRASH_LOOP, 'crash-at-start');
    const RESTARTS = 6;
    await pm2.waitForEvent(`restart ${RESTARTS} of ${CRASH_LOOP}`, (e) => e.name === CRASH_LOOP && e.event === 'online' && e.restartTime === RESTARTS, 30000, since);
    // `pm2 delete` ends the loop; nothing is left to restart.
    await pm2.cli(['delete', CRASH_LOOP]);
    assert.equal((await pm2.list()).has(CRASH_LOOP), false);

    const events = pm2.events.slice(since).filter((e) => e.name === CRASH_LOOP);
    assert.ok(!events.some((e) => e.event === 'restart overlimit'), 'pm2 gave up on the app (errored)');
    const exits = events.filter((e) => e.event === 'exit');
    const onlines = events.filter((e) => e.event === 'online');
    const delays: number[] = [];
    const waits: number[] = [];
    for (let k = 1; k <= RESTARTS; k++) {
      const online = onlines.find((e) => e.restartTime === k)!;
      // The previous process's exit. ('online' comes when a wait_ready app exits before it was ready.)
      const exit = exits.filter((e) => e.at <= online.pmUptime).at(-1)!;
      assert.equal(exit.exitCode, 1, `exit before restart ${k}`);
      delays.push(online.prevRestartDelay!);
      waits.push(online.pmUptime - exit.at);
    }
    // pm2's own record: 100 ms, then 1.5 times the previous (capped at 15 s).
    assert.deepEqual(delays, [100, 150, 225, 337, 505, 757]);
    for (let k = 0; k < RESTARTS; k++) assert.ok(waits[k]! >= delays[k]! - 2, `restart ${k + 1} came after ${waits[k]} ms, before its ${delays[k]} ms delay`);
    assert.ok(waits.at(-1)! > waits[0]! + 500, `waits did not grow: ${waits.join(', ')}`);
    t.diagnostic(`crash loop: exit → next start ${waits.join(', ')} ms (pm2 delays ${delays.join(', ')})`);
  });

  test('with no pm2 to ask, the exit topic still ends the service by itself with 64, a stop code', async () => {
    // The fixture believes it runs under pm2 (pm_id set) but its PM2_HOME has no daemon: asking pm2 fails.
    const namespace = newNamespace('nopm2');
    const env = { ...pm2.env, PM2_HOME: join(home, 'no-pm2'), pm_id: '0', BITWEEN_NAMESPACE: namespace, FAULTY_MODE: 'serve', FAULTY_CLOSED_FILE: closedFile };
    const run = runNode(FIXTURE, [], { env, cwd: ROOT, timeoutMs: 30000 });
    const hb = await waitForHeartbeat(tb.pub, namespace, 'faulty', () => true, 20000);
    await tb.pub.publish(`${namespace}:exit`, '');
    const result = await run;
    assert.equal(result.code, EXIT_STOPPED, result.stderr);
    assert.ok(closedPids().includes(String(hb.pid)), 'the shutdown path did not run to its end');
  });

  test('the exit topic stops every app for good: stopped, exit code 64, no restart', async (t: TestContext) => {
    const before = await pm2.list();
    const since = pm2.events.length;
    const sentAt = Date.now();
    await tb.publish('exit');
    const names = APPS.map(([app]) => app);
    const stopped = await pm2.waitFor('every app stopped', (apps) => names.every((n) => apps.get(n)?.pm2_env.status === 'stopped'), 20000);
    const stoppedAt = Date.now();
    for (const name of names) {
      assert.equal(stopped.get(name)!.pm2_env.exit_code, EXIT_STOPPED, name);
    }
    // Watched for a while: a restart (even a delayed one) would show as 'online' or a new restart_time.
    while (Date.now() - stoppedAt < STAYS_STOPPED_MS) {
      const apps = await pm2.list();
      for (const name of names) {
        assert.equal(apps.get(name)!.pm2_env.status, 'stopped', `${name} after the exit topic`);
        assert.equal(apps.get(name)!.pm2_env.restart_time, before.get(name)!.pm2_env.restart_time, `${name} was restarted`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.deepEqual(pm2.events.slice(since).filter((e) => e.event === 'online'), []);
    t.diagnostic(`exit topic: all four stopped within ${stoppedAt - sentAt} ms, none restarted in ${STAYS_STOPPED_MS} ms`);
  });
});

// `npm stop` (node dist/cli/stop.js) and `bitween stop`: with a private PM2_HOME, the real services run
// under a real pm2 daemon; stop takes them down one after the other, xmpp → torrent → nat, each one gone
// before the next is asked. Without a daemon it says so and starts none.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { newNamespace, REDIS_URL } from '../helpers/bus.js';
import { runCli, runNode, type CliResult } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { ROOT, serviceEntry } from '../helpers/process.js';

const run = promisify(execFile);
const PM2 = join(ROOT, 'node_modules', '.bin', 'pm2');
const STOP = fileURLToPath(new URL('../../cli/stop.js', import.meta.url));

let home: string;
let db: TestDatabase;
let env: Record<string, string>;

before(async () => {
  home = await mkdtemp(join(tmpdir(), 'bitween-pm2-'));
  db = await createTestDatabase();
  env = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/root',
    PM2_HOME: join(home, 'pm2'),
    BITWEEN_NAMESPACE: newNamespace('stop'),
    BITWEEN_DATABASE_URL: db.url,
    BITWEEN_REDIS_URL: REDIS_URL,
    BITWEEN_SAVE_PATH: join(home, 'downloads'),
    BITWEEN_UPNP: 'false',
    BITWEEN_NATPMP: 'false',
  };
});
after(async () => {
  // The daemon this test started, through its own PM2_HOME (pm2 kill ends that daemon and its apps only).
  if (existsSync(join(home, 'pm2', 'pm2.pid'))) await run(PM2, ['kill'], { env }).catch(() => undefined);
  await db?.drop();
  await rm(home, { recursive: true, force: true });
});

function npmStop(): Promise<CliResult> {
  return runNode(STOP, [], { env, cwd: ROOT, timeoutMs: 60000 });
}

/** pino's `time` of the first log line of `app` whose msg matches. */
async function logTime(app: string, msg: RegExp): Promise<number> {
  const text = await readFile(join(home, 'pm2', 'logs', `${app}-out.log`), 'utf8');
  for (const line of text.split('\n')) {
    try {
      const entry = JSON.parse(line) as { msg?: string; time?: number };
      if (entry.msg && msg.test(entry.msg)) return entry.time!;
    } catch {
      // pm2 may add lines of its own
    }
  }
  throw new Error(`${app} logged no line matching ${msg}:\n${text.slice(-2000)}`);
}

test('without a pm2 daemon: nothing to stop, exit 0, and no daemon is started', async () => {
  const r = await npmStop();
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'pm2 is not running: nothing to stop\n');
  assert.equal(existsSync(join(home, 'pm2', 'pm2.pid')), false, 'stop launched a pm2 daemon');
});

test('npm stop takes the services down in order xmpp, torrent, nat, one after the other', async () => {
  for (const name of ['torrent', 'nat', 'xmpp']) {
    await run(PM2, ['start', serviceEntry(name), '--name', `bitween-${name}`, '--kill-timeout', '10000'], { env, cwd: ROOT });
  }
  // Up means each one's heartbeat is there (`bitween status`), not merely that pm2 spawned it.
  for (let i = 0; ; i++) {
    const s = JSON.parse((await runCli(['status', '--json'], env)).stdout);
    if (['torrent', 'nat', 'xmpp'].every((n) => s.services[n].up)) break;
    assert.ok(i < 100, `services did not come up: ${JSON.stringify(s.services)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const r = await npmStop();
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'stopped bitween-xmpp\nstopped bitween-torrent\nstopped bitween-nat\n');
  const s = JSON.parse((await runCli(['status', '--json'], env)).stdout);
  for (const n of ['torrent', 'nat', 'xmpp']) assert.equal(s.services[n].up, false, `${n} still up`);
  // Each service finished its shutdown before the next one began its own.
  const order = ['bitween-xmpp', 'bitween-torrent', 'bitween-nat'];
  for (let i = 0; i + 1 < order.length; i++) {
    const stopped = await logTime(order[i]!, /^stopped$/);
    const next = await logTime(order[i + 1]!, /^shutting down$/);
    assert.ok(stopped <= next, `${order[i]} stopped at ${stopped}, after ${order[i + 1]} began at ${next}`);
  }
  // Stopped apps stay in pm2's list, stopped; a second stop says so.
  const again = await runCli(['stop'], env);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout, 'bitween-xmpp already stopped\nbitween-torrent already stopped\nbitween-nat already stopped\n');
});

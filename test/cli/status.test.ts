// `bitween status` reads each service's heartbeat key: up or degraded (the `health` it says of itself) with
// pid, since, version and its own facts, or down when the key is gone; `--check` gives the exit code a probe
// acts on. The heartbeats here are written by lib/heartbeat.ts itself (the code every service runs), from the
// test process, so the facts are known exactly; test/status/health.test.ts checks each service's health from
// the real processes, test/cli/torrent.test.ts and two-nodes.test.ts status against the real services.
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { after, before, test } from 'node:test';
import { heartbeatKey, startHeartbeat, VERSION } from '../../lib/heartbeat.js';
import { degraded, healthy, type Health } from '../../lib/status.js';
import { createLogger } from '../../lib/log.js';
import { newNamespace, REDIS_URL } from '../helpers/bus.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

let db: TestDatabase;
let redis: Redis;
let env: Record<string, string>;
let ns: string;
const beats: { stop(): Promise<void> }[] = [];
const log = createLogger('test', 'silent');

before(async () => {
  db = await createTestDatabase();
  redis = new Redis(REDIS_URL);
  ns = newNamespace('clist');
  env = { BITWEEN_NAMESPACE: ns, BITWEEN_DATABASE_URL: db.url, BITWEEN_REDIS_URL: REDIS_URL };
});
after(async () => {
  for (const b of beats) await b.stop();
  redis?.disconnect();
  await db?.drop();
});

/** Waits until every named service has a heartbeat key (startHeartbeat writes its first beat asynchronously). */
async function beating(...services: string[]): Promise<void> {
  for (const s of services) {
    for (let i = 0; !(await redis.exists(heartbeatKey(ns, s))); i++) {
      assert.ok(i < 100, `no heartbeat for ${s}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

const why = (service: string) => `no heartbeat (stopped, crashed, or cut off from Redis): \`bitween logs ${service} --lines 50\` says why`;

test('nothing running: every service down with why, the store and Redis up, exit 0 (1 with --check)', async () => {
  const r = await runCli(['status'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, [
    'SERVICE  STATE  PID  SINCE  VERSION',
    'torrent  down     -  -      -',
    `  not running: ${why('torrent')}`,
    'nat      down     -  -      -',
    `  not running: ${why('nat')}`,
    'xmpp     down     -  -      -',
    `  not running: ${why('xmpp')}`,
    'web      down     -  -      -',
    `  not running: ${why('web')}`,
    '',
    `redis      up    ${REDIS_URL}  namespace ${ns}`,
    `postgres   up    ${db.url}`,
    '',
  ].join('\n'));
  const j = JSON.parse((await runCli(['status', '--json'], env)).stdout);
  assert.deepEqual(j.services.xmpp, {
    up: false, state: 'down', summary: 'not running', reason: why('xmpp'), pid: null, version: null, startedAt: null, updatedAt: null, facts: {},
  });
  assert.deepEqual(j.store, { url: db.url, up: true, error: null });
  assert.equal(j.problems.length, 4);

  const check = await runCli(['status', '--check'], env);
  assert.equal(check.code, 1);
  assert.equal(check.stdout, ['torrent', 'nat', 'xmpp', 'web'].map((s) => `${s} down (not running): ${why(s)}\n`).join(''));
  assert.equal(check.stderr, '');
});

test('services with heartbeats are up with pid, since, version and facts; the rest down; others listed too', async () => {
  beats.push(startHeartbeat(redis, ns, 'nat', () => ({
    status: 'mapped', externalPort: 51413, internalPort: 6881, protocol: 'natpmp', externalIp: '203.0.113.7',
    expiresAt: '2026-11-24T15:00:00.000Z', lastError: null, protocols: ['upnp', 'natpmp'], addresses: ['192.168.1.20', '203.0.113.7'],
  }), log));
  beats.push(startHeartbeat(redis, ns, 'torrent', () => ({ port: 6881, torrents: 3, downloading: 1, peers: 2, downloadSpeed: 1572864, uploadSpeed: 0 }), log));
  beats.push(startHeartbeat(redis, ns, 'web', () => ({ url: 'http://127.0.0.1:8737/', token: false, viewers: 0 }), log));
  beats.push(startHeartbeat(redis, ns, 'archive', () => ({}), log)); // a service status does not know by name
  await beating('nat', 'torrent', 'web', 'archive');
  const j = JSON.parse((await runCli(['status', '--json'], env)).stdout);
  assert.deepEqual(Object.keys(j.services), ['torrent', 'nat', 'xmpp', 'web', 'archive']);
  assert.equal(j.services.torrent.up, true);
  assert.equal(j.services.torrent.pid, process.pid);
  assert.equal(j.services.torrent.version, VERSION);
  assert.deepEqual(j.services.torrent.facts, { port: 6881, torrents: 3, downloading: 1, peers: 2, downloadSpeed: 1572864, uploadSpeed: 0 });
  assert.equal(j.services.nat.facts.lastError, null, '--json keeps every fact, null included');
  assert.equal(j.services.xmpp.up, false);
  // Services that say nothing of their health (these heartbeats, an older bitween) are up: running is all they say.
  assert.deepEqual([j.services.torrent.state, j.services.torrent.summary, j.services.torrent.reason], ['up', 'running', null]);

  const r = await runCli(['status'], { ...env, COLUMNS: '80' });
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.match(lines[0]!, /^SERVICE  STATE +PID  SINCE +VERSION$/);
  assert.match(lines[1]!, new RegExp(`^torrent  up +${process.pid}  \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d \\(\\d+s\\)  ${VERSION.replace(/\./g, '\\.')}$`));
  assert.equal(lines[2], '  port 6881  torrents 3  downloading 1  peers 2  download speed 1.50 MiB/s');
  assert.equal(lines[3], '  upload speed 0 B/s');
  assert.match(lines[4]!, /^nat +up /);
  assert.match(lines[5]!, /^  status mapped  external port 51413  internal port 6881  protocol natpmp$/);
  assert.match(lines[6]!, /^  external ip 203\.0\.113\.7  expires at 2026-11-2\d \d\d:00  protocols upnp, natpmp$/);
  assert.equal(lines[7], '  addresses 192.168.1.20, 203.0.113.7');
  assert.match(lines[8]!, /^xmpp +down +- +- +-$/);
  assert.equal(lines[9], '  not running: no heartbeat (stopped, crashed, or cut off from Redis): `bitween');
  assert.equal(lines[10], '  logs xmpp --lines 50` says why');
  assert.match(lines[11]!, /^web +up /);
  assert.equal(lines[12], '  url http://127.0.0.1:8737/  token no  viewers 0');
  assert.match(lines[13]!, /^archive +up /);
  for (const line of lines) assert.ok(line.length <= 80, `wider than the terminal: ${line}`);
});

test('a service that stops is shown down at once (its heartbeat key is deleted on stop)', async () => {
  await beats.shift()!.stop(); // nat
  const j = JSON.parse((await runCli(['status', '--json'], env)).stdout);
  assert.equal(j.services.nat.up, false);
  assert.equal(j.services.torrent.up, true);
  const r = await runCli(['status'], env);
  assert.match(r.stdout, /^nat +down +- +- +-$/m);
});

test('--check: silent and 0 when every service is up; one line per problem and 1 otherwise; 69 without Redis', async () => {
  const health: Record<string, Health> = {
    torrent: healthy('listening on port 6881, 1 torrent (1 seeding)'),
    nat: healthy('mapped 203.0.113.7:51413 via NAT-PMP'),
    xmpp: healthy('online as alice@example.org/laptop'),
    web: healthy('dashboard at http://127.0.0.1:8737/'),
  };
  const own = ['torrent', 'nat', 'xmpp', 'web'].map((s) => startHeartbeat(redis, ns, s, () => ({ port: 6881, health: health[s] }), log));
  try {
    await beating('torrent', 'nat', 'xmpp', 'web');
    const ok = await runCli(['status', '--check'], env);
    assert.deepEqual([ok.code, ok.stdout, ok.stderr], [0, '', '']);
    const human = await runCli(['status'], { ...env, COLUMNS: '80' });
    assert.match(human.stdout, /^xmpp +up +\d+ .*\n {2}online as alice@example\.org\/laptop\n {2}port 6881$/m);
    assert.equal((await runCli(['status', '--json', '--check'], env)).code, 0);

    // One degraded: the state column says so, its reason under it (wrapped at the terminal width), one line from --check.
    health.nat = degraded('no router', 'no router maps ports for this node: NAT-PMP: no answer from 192.168.1.1; UPnP: no answer to the search (turn on UPnP or NAT-PMP in the router)');
    const line = `nat degraded (no router): ${health.nat.reason}`;
    const check = await waitForCheck(line);
    assert.equal(check.code, 1);
    assert.equal(check.stdout, `${line}\n`, 'only what is not up');
    const wrapped = await runCli(['status'], { ...env, COLUMNS: '80' });
    assert.match(wrapped.stdout, /^nat +degraded +\d+ /m);
    assert.match(wrapped.stdout, /^ {2}no router: no router maps ports for this node: NAT-PMP: no answer from$/m);
    for (const l of wrapped.stdout.split('\n')) assert.ok(l.length <= 80, `wider than the terminal: ${l}`);
    const j = await runCli(['status', '--json', '--check'], env);
    assert.equal(j.code, 1, '--json prints everything, the exit code is the same');
    assert.deepEqual(JSON.parse(j.stdout).problems, [line]);
    assert.deepEqual([JSON.parse(j.stdout).services.nat.state, JSON.parse(j.stdout).services.nat.summary], ['degraded', 'no router']);

    // The store down is a problem too (the services may run on); Redis down leaves nothing to read: 69.
    health.nat = healthy('port mapping off');
    await waitForCheck(undefined);
    const pg = await runCli(['status', '--check'], { ...env, BITWEEN_DATABASE_URL: 'postgres://root@127.0.0.1:1/bitween' });
    assert.equal(pg.code, 1);
    assert.match(pg.stdout, /^postgres down: cannot reach Postgres at postgres:\/\/root@127\.0\.0\.1:1\/bitween/);
    assert.equal(pg.stdout.split('\n').length, 2, pg.stdout);
    const noRedis = await runCli(['status', '--check'], { ...env, BITWEEN_REDIS_URL: 'redis://127.0.0.1:1' });
    assert.equal(noRedis.code, 69);
    assert.match(noRedis.stderr, /^bitween: cannot reach Redis at redis:\/\/127\.0\.0\.1:1 /);
  } finally {
    for (const b of own) await b.stop();
  }
});

/** Runs `status --check` until its output is `line` (or empty for undefined): heartbeats are rewritten every 2 s. */
async function waitForCheck(line: string | undefined) {
  const deadline = Date.now() + 20000;
  for (;;) {
    const r = await runCli(['status', '--check'], env);
    if (r.stdout === (line === undefined ? '' : `${line}\n`)) return r;
    assert.ok(Date.now() < deadline, `status --check never said ${line ?? 'nothing'}; last:\n${r.stdout}`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

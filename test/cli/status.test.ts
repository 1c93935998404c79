// `bitween status` reads each service's heartbeat key: up with pid, since, version and its own facts, or
// down when the key is gone. The heartbeats here are written by lib/heartbeat.ts itself (the code every
// service runs), from the test process, so the facts are known exactly; test/cli/torrent.test.ts and
// two-nodes.test.ts check status against the real services.
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { after, before, test } from 'node:test';
import { heartbeatKey, startHeartbeat, VERSION } from '../../lib/heartbeat.js';
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

test('nothing running: every service down, the store and Redis up, exit 0', async () => {
  const r = await runCli(['status'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, [
    'SERVICE  STATE  PID  SINCE  VERSION',
    'torrent  down     -  -      -',
    'nat      down     -  -      -',
    'xmpp     down     -  -      -',
    'web      down     -  -      -',
    '',
    `redis      up    ${REDIS_URL}  namespace ${ns}`,
    `postgres   up    ${db.url}`,
    '',
  ].join('\n'));
  const j = JSON.parse((await runCli(['status', '--json'], env)).stdout);
  assert.deepEqual(j.services.xmpp, { up: false, pid: null, version: null, startedAt: null, updatedAt: null, facts: {} });
  assert.deepEqual(j.store, { url: db.url, up: true, error: null });
});

test('services with heartbeats are up with pid, since, version and facts; the rest down; others listed too', async () => {
  beats.push(startHeartbeat(redis, ns, 'nat', () => ({
    status: 'mapped', externalPort: 51413, internalPort: 6881, protocol: 'natpmp', externalIp: '203.0.113.7',
    expiresAt: '2026-11-24T15:00:00.000Z', lastError: null, protocols: ['upnp', 'natpmp'], addresses: ['192.168.1.20', '203.0.113.7'],
  }), log));
  beats.push(startHeartbeat(redis, ns, 'torrent', () => ({ port: 6881, torrents: 3, downloading: 1, peers: 2, downloadSpeed: 1572864, uploadSpeed: 0 }), log));
  beats.push(startHeartbeat(redis, ns, 'web', () => ({ url: 'http://127.0.0.1:8737/', token: false, viewers: 0 }), log));
  beats.push(startHeartbeat(redis, ns, 'archive', () => ({}), log)); // a service status does not know by name
  // startHeartbeat writes its first beat at once, but asynchronously: wait until the keys are there.
  for (const s of ['nat', 'torrent', 'web', 'archive']) {
    for (let i = 0; !(await redis.exists(heartbeatKey(ns, s))); i++) {
      assert.ok(i < 100, `no heartbeat for ${s}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  const j = JSON.parse((await runCli(['status', '--json'], env)).stdout);
  assert.deepEqual(Object.keys(j.services), ['torrent', 'nat', 'xmpp', 'web', 'archive']);
  assert.equal(j.services.torrent.up, true);
  assert.equal(j.services.torrent.pid, process.pid);
  assert.equal(j.services.torrent.version, VERSION);
  assert.deepEqual(j.services.torrent.facts, { port: 6881, torrents: 3, downloading: 1, peers: 2, downloadSpeed: 1572864, uploadSpeed: 0 });
  assert.equal(j.services.nat.facts.lastError, null, '--json keeps every fact, null included');
  assert.equal(j.services.xmpp.up, false);

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
  assert.match(lines[9]!, /^web +up /);
  assert.equal(lines[10], '  url http://127.0.0.1:8737/  token no  viewers 0');
  assert.match(lines[11]!, /^archive +up /);
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

// Shares that change on disk: a shared file moved away and one edited in place while the service is down
// are noticed on start (missing / changed, torrent_error, no longer advertised); one deleted while it runs
// is noticed by the periodic check; files put back seed again (by themselves when unchanged, after
// `recheck` when they were edited and restored), and a share that really changed stays `changed`.
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { readHeartbeat } from '../../lib/heartbeat.js';
import { getTorrent, listOwnShares } from '../../lib/store/torrents.js';
import { writeRandomFile } from '../helpers/files.js';
import { createTorrentNode, type TorrentNode } from '../helpers/torrent-node.js';

let a: TorrentNode;
const hashes: Record<string, string> = {};
const paths: Record<string, string> = {};

async function share(name: string, size: number): Promise<void> {
  paths[name] = join(a.dir, 'share', name);
  await writeRandomFile(paths[name], size);
  const since = a.bus.mark();
  await a.bus.publish('generate_torrent', [paths[name]]);
  hashes[name] = String((await a.bus.waitFor('torrent_added', (m) => m.kwargs.path === paths[name], 20000, since)).args[0]);
}

async function stateOf(name: string) {
  return getTorrent(a.db.pool, hashes[name]!);
}

/** Waits for the store row to reach `status` (written through the journal after the event). */
async function waitForStatus(name: string, status: string, timeoutMs = 15000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const row = await stateOf(name);
    if (row?.status === status) return;
    if (Date.now() > deadline) assert.fail(`${name} is ${row?.status}, expected ${status}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

before(async () => {
  a = await createTorrentNode('changed', { BITWEEN_FILE_CHECK_INTERVAL_MS: '300' });
  await mkdir(join(a.dir, 'share'), { recursive: true });
  await mkdir(join(a.dir, 'elsewhere'), { recursive: true });
  await a.start();
  await share('moved.bin', 3_000_000);
  await share('edited.bin', 3_000_000);
  await share('deleted.bin', 1_000_000);
  await copyFile(paths['edited.bin']!, join(a.dir, 'elsewhere', 'edited.orig'));
});
after(async () => {
  await a?.cleanup();
});

test('a file moved away and one edited while the service was down are missing and changed after the restart', async () => {
  assert.equal(await a.service!.stop(), 0);
  await rename(paths['moved.bin']!, join(a.dir, 'elsewhere', 'moved.bin'));
  const bytes = await readFile(paths['edited.bin']!);
  bytes[0] = bytes[0]! ^ 0xff; // same size, other content, newer mtime
  await new Promise((r) => setTimeout(r, 20)); // the mtime must differ at millisecond precision
  await writeFile(paths['edited.bin']!, bytes);

  const since = a.bus.mark();
  const started = Date.now();
  await a.start();
  const moved = await a.bus.waitFor('torrent_error', (m) => m.args[0] === hashes['moved.bin'], 15000, since);
  const edited = await a.bus.waitFor('torrent_error', (m) => m.args[0] === hashes['edited.bin'], 15000, since);
  console.log(`# noticed on start within ${Date.now() - started} ms`);
  assert.equal((moved.args[1] as { code: string }).code, 'E_FILES_MISSING');
  assert.equal((edited.args[1] as { code: string }).code, 'E_FILES_CHANGED');

  await waitForStatus('moved.bin', 'missing');
  await waitForStatus('edited.bin', 'changed');
  assert.equal((await stateOf('moved.bin'))?.errorCode, 'E_FILES_MISSING');
  assert.match((await stateOf('moved.bin'))?.errorReason ?? '', /moved\.bin/);
  assert.equal((await stateOf('deleted.bin'))?.status, 'seeding', 'the untouched share still seeds');

  // Not advertised: what the xmpp service publishes leaves both out.
  const advertised = (await listOwnShares(a.db.pool)).map((s) => s.infoHash);
  assert.ok(!advertised.includes(hashes['moved.bin']!), 'a missing share is not advertised');
  assert.ok(!advertised.includes(hashes['edited.bin']!), 'a changed share is not advertised');
  assert.ok(advertised.includes(hashes['deleted.bin']!));

  // Status tells the truth too.
  const hb = await readHeartbeat(a.bus.pub, a.namespace, 'torrent');
  const deadline = Date.now() + 10000;
  let states = (hb?.facts.states ?? {}) as Record<string, number>;
  while ((states.missing !== 1 || states.changed !== 1) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    states = ((await readHeartbeat(a.bus.pub, a.namespace, 'torrent'))?.facts.states ?? {}) as Record<string, number>;
  }
  assert.equal(states.missing, 1);
  assert.equal(states.changed, 1);
});

test('a shared file deleted while the service runs is noticed by the periodic check', async () => {
  const since = a.bus.mark();
  await rename(paths['deleted.bin']!, join(a.dir, 'elsewhere', 'deleted.bin'));
  const started = Date.now();
  const event = await a.bus.waitFor('torrent_error', (m) => m.args[0] === hashes['deleted.bin'], 15000, since);
  console.log(`# a deleted share noticed in ${Date.now() - started} ms (check interval 300 ms)`);
  assert.equal((event.args[1] as { code: string }).code, 'E_FILES_MISSING');
  await waitForStatus('deleted.bin', 'missing');
});

test('files put back unchanged seed again by themselves', async () => {
  const since = a.bus.mark();
  await rename(join(a.dir, 'elsewhere', 'moved.bin'), paths['moved.bin']!);
  const back = await a.bus.waitFor('torrent_added', (m) => m.args[0] === hashes['moved.bin'], 15000, since);
  assert.equal(back.kwargs.status, 'seeding');
  await waitForStatus('moved.bin', 'seeding');
  assert.equal((await stateOf('moved.bin'))?.errorCode, null);
  assert.ok((await listOwnShares(a.db.pool)).some((s) => s.infoHash === hashes['moved.bin']), 'advertised again');
});

test('recheck of an edited share keeps it changed; with the original bytes back it seeds again', async () => {
  let since = a.bus.mark();
  await a.bus.publish('recheck', [hashes['edited.bin']]);
  const still = await a.bus.waitFor('torrent_error', (m) => m.args[0] === hashes['edited.bin'], 20000, since);
  assert.equal((still.args[1] as { code: string }).code, 'E_FILES_CHANGED');
  assert.equal((await stateOf('edited.bin'))?.status, 'changed');
  assert.equal(a.bus.count('torrent_added', since), 0);

  // The original bytes again (a new mtime): only hashing can tell, and recheck does.
  await copyFile(join(a.dir, 'elsewhere', 'edited.orig'), paths['edited.bin']!);
  since = a.bus.mark();
  await a.bus.publish('recheck', [hashes['edited.bin']]);
  const back = await a.bus.waitFor('torrent_added', (m) => m.args[0] === hashes['edited.bin'], 20000, since);
  assert.equal(back.kwargs.status, 'seeding');
  await waitForStatus('edited.bin', 'seeding');
  // The new snapshot is what later checks compare to: the next periodic check leaves it seeding.
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal((await stateOf('edited.bin'))?.status, 'seeding');
});

test('recheck of an unknown hash is a not-found error; the service keeps answering', async () => {
  const since = a.bus.mark();
  await a.bus.publish('recheck', ['0'.repeat(40)]);
  const err = await a.bus.waitFor('error', (m) => m.error?.topic === 'recheck', 10000, since);
  assert.equal(err.error?.code, 'E_NOT_FOUND');
  // Still answering: a recheck of a known share comes back.
  const again = a.bus.mark();
  await a.bus.publish('recheck', [hashes['moved.bin']]);
  assert.equal((await a.bus.waitFor('torrent_added', (m) => m.args[0] === hashes['moved.bin'], 20000, again)).kwargs.status, 'seeding');
});

// Interop (issue 12, part 3): bitween with its default encryption (MSE/PE, RC4) exchanges data both ways with a
// stock libtorrent 2.0 peer in libtorrent's default settings (MSE enabled, both methods allowed, uTP tried
// first; only DHT, LSD, UPnP and NAT-PMP off and loopback addresses), Debian's python3-libtorrent.
// The libtorrent seeder makes a v1 torrent: webtorrent 3 cannot take the metadata of libtorrent 2.0's default
// hybrid (v1+v2) torrents, and keeps asking for it (test/fixtures/libtorrent-peer.py).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { REDIS_URL } from '../helpers/bus.js';
import { treeDigest, writeRandomFile } from '../helpers/files.js';
import { waitForHeartbeat } from '../helpers/heartbeat.js';
import { startLibtorrent } from '../helpers/libtorrent.js';
import { createTorrentNode, storeContactAddress, storeContactShare, type TorrentNode } from '../helpers/torrent-node.js';

const SIZE = 8 * 1024 * 1024;

let a: TorrentNode;
let work: string;
/** The share of the first test, fetched again from a restarted node in the last. */
let shared: { hash: string; path: string } | undefined;
before(async () => {
  a = await createTorrentNode('lt');
  await a.start();
  work = await mkdtemp(join(tmpdir(), 'bitween-libtorrent-'));
});
after(async () => {
  await a?.cleanup();
  if (work) await rm(work, { recursive: true, force: true });
});

test('a stock libtorrent peer fetches a share from a bitween node: bytes equal', async () => {
  const path = join(a.dir, 'share', 'to-libtorrent.bin');
  await writeRandomFile(path, SIZE);
  const since = a.bus.mark();
  await a.bus.publish('generate_torrent', [path]);
  const added = await a.bus.waitFor('torrent_added', (m) => m.kwargs.path === path, 20000, since);
  const hash = String(added.args[0]);
  shared = { hash, path };
  // The libtorrent peer is a contact: it connects from 127.0.0.1, an address in A's store.
  await storeContactAddress(a, { jid: 'lt@example.test' });
  const lt = startLibtorrent(['fetch', hash, join(work, 'lt-downloads'), '127.0.0.1', String(a.port), '90']);
  try {
    const end = await lt.waitFor(['done', 'timeout'], 120000);
    assert.equal(end.event, 'done', JSON.stringify(end));
    process.stdout.write(`# libtorrent ← bitween: ${SIZE} bytes in ${end.ms} ms (from the add, uTP attempt included)\n`);
  } finally {
    await lt.stop();
  }
  assert.deepEqual(await treeDigest(join(work, 'lt-downloads', 'to-libtorrent.bin')), await treeDigest(path));
});

test('a bitween node fetches a share seeded by a stock libtorrent peer: bytes equal', async () => {
  const path = join(work, 'lt-share', 'from-libtorrent.bin');
  await writeRandomFile(path, SIZE);
  const lt = startLibtorrent(['seed', path]);
  try {
    const seeding = await lt.waitFor(['seeding'], 60000);
    const hash = String(seeding.infoHash);
    await storeContactShare(a, { jid: 'lt@example.test', infoHash: hash, name: 'from-libtorrent.bin', size: SIZE, address: '127.0.0.1', port: Number(seeding.port) });
    const since = a.bus.mark();
    const started = performance.now();
    await a.bus.publishRaw('add_hash', hash);
    await a.bus.waitFor('torrent_done', (m) => m.args[0] === hash, 90000, since);
    process.stdout.write(`# bitween ← libtorrent: ${SIZE} bytes in ${(performance.now() - started).toFixed(0)} ms (add_hash to torrent_done)\n`);
  } finally {
    await lt.stop();
  }
  assert.deepEqual(await treeDigest(join(a.savePath, 'from-libtorrent.bin')), await treeDigest(path));
});

test('after a restart the share is dormant (not in webtorrent); a stock libtorrent peer wakes it by its handshake: bytes equal', async () => {
  assert.ok(shared, 'the first test shared a file');
  const redis = new Redis(REDIS_URL);
  try {
    await a.service!.stop();
    await a.start();
    const pid = a.service!.child.pid;
    await waitForHeartbeat(redis, a.namespace, 'torrent', (hb) => hb.pid === pid && (hb.facts.dormant as number) >= 1, 20000);
    const lt = startLibtorrent(['fetch', shared.hash, join(work, 'lt-again'), '127.0.0.1', String(a.port), '90']);
    try {
      const end = await lt.waitFor(['done', 'timeout'], 120000);
      assert.equal(end.event, 'done', JSON.stringify(end));
    } finally {
      await lt.stop();
    }
  } finally {
    redis.disconnect();
  }
  assert.deepEqual(await treeDigest(join(work, 'lt-again', 'to-libtorrent.bin')), await treeDigest(shared.path));
});

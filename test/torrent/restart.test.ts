// Restart: a download killed with SIGKILL halfway continues after a restart; a restarted seeder seeds
// again without being asked. Both come from the store alone.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { getTorrent } from '../../lib/store/torrents.js';
import { treeDigest, writeRandomFile } from '../helpers/files.js';
import { freePort } from '../helpers/ports.js';
import { createTorrentNode, storeContactAddress, storeContactShare, type TorrentNode } from '../helpers/torrent-node.js';

const SIZE = 12_000_000;
let a: TorrentNode;
let b: TorrentNode;
let hash: string;
let file: string;

before(async () => {
  // A seeds slowly and on a fixed port, so that B can be killed mid-way and still find A after restarts.
  a = await createTorrentNode('ra', { BITWEEN_TORRENT_PORT: String(await freePort()), BITWEEN_UPLOAD_LIMIT: '3000000' });
  b = await createTorrentNode('rb');
  await Promise.all([a.start(), b.start()]);
  // A serves only its contacts: B is one.
  await storeContactAddress(a, { port: b.port });
  file = join(a.dir, 'share', 'big.bin');
  await writeRandomFile(file, SIZE);
  const since = a.bus.mark();
  await a.bus.publish('generate_torrent', [file]);
  hash = String((await a.bus.waitFor('torrent_added', () => true, 20000, since)).args[0]);
  await storeContactShare(b, { infoHash: hash, name: 'big.bin', size: SIZE, address: '127.0.0.1', port: a.port });
});
after(async () => {
  await Promise.all([a?.cleanup(), b?.cleanup()]);
});

test('a download killed with SIGKILL halfway completes after a restart, bytes equal', async () => {
  let since = b.bus.mark();
  await b.bus.publish('add_hash', [hash]);
  await b.bus.waitFor('torrent_progress', (m) => m.args[0] === hash && Number(m.args[1]) >= SIZE * 0.3, 30000, since);
  assert.equal(b.bus.count('torrent_done', since), 0, 'not done before the kill');
  await b.service!.kill9();

  const saved = await getTorrent(b.db.pool, hash);
  assert.ok(saved, 'the download is in the store after SIGKILL');
  assert.equal(saved.status, 'downloading');
  assert.ok(saved.torrentFile, 'metadata was stored');
  assert.ok(saved.bytesDone > 0 && saved.bytesDone < SIZE, `partial progress stored (${saved.bytesDone})`);

  since = b.bus.mark();
  await b.start();
  // Resumed, not restarted: the first progress after the restart starts from what was saved.
  const first = await b.bus.waitFor('torrent_progress', (m) => m.args[0] === hash, 30000, since);
  assert.ok(Number(first.args[1]) >= saved.bytesDone, `resumed at ${first.args[1]} ≥ saved ${saved.bytesDone}`);
  await b.bus.waitFor('torrent_done', (m) => m.args[0] === hash, 60000, since);
  assert.deepEqual(await treeDigest(join(b.savePath, 'big.bin')), await treeDigest(file));
  assert.equal((await getTorrent(b.db.pool, hash))?.status, 'seeding');
});

test('a restarted seeder seeds again without being asked', async () => {
  assert.equal(await a.service!.stop(), 0, 'A exits 0 on SIGTERM');
  await a.start({ BITWEEN_UPLOAD_LIMIT: '0' });
  // B forgets the download (files too), then fetches it again: only the restarted A has it.
  let since = b.bus.mark();
  await b.bus.publish('del_torrent', [hash, { delete_files: true }]);
  await b.bus.waitFor('torrent_removed', (m) => m.args[0] === hash, 10000, since);
  await storeContactShare(b, { infoHash: hash, name: 'big.bin', size: SIZE, address: '127.0.0.1', port: a.port });
  since = b.bus.mark();
  await b.bus.publish('add_hash', [hash]);
  await b.bus.waitFor('torrent_done', (m) => m.args[0] === hash, 60000, since);
  assert.deepEqual(await treeDigest(join(b.savePath, 'big.bin')), await treeDigest(file));
});

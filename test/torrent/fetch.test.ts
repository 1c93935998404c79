// Fetching: node B's store knows node A's address for a hash (as the XMPP service writes it);
// add_hash on B → torrent_done and the bytes on B's disk equal A's. Two real services over TCP.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { getTorrent } from '../../lib/store/torrents.js';
import { treeDigest, writeRandomFile, writeRandomFolder } from '../helpers/files.js';
import { createTorrentNode, storeContactAddress, storeContactShare, type TorrentNode } from '../helpers/torrent-node.js';

let a: TorrentNode;
let b: TorrentNode;
before(async () => {
  [a, b] = await Promise.all([createTorrentNode('fa'), createTorrentNode('fb')]);
  await Promise.all([a.start(), b.start()]);
  // A serves only its contacts: B is one (A's store holds B's address, as B's XMPP publication would put it).
  await storeContactAddress(a, { port: b.port });
});
after(async () => {
  await Promise.all([a?.cleanup(), b?.cleanup()]);
});

async function shareOnA(path: string): Promise<{ hash: string; name: string; size: number }> {
  const since = a.bus.mark();
  await a.bus.publish('generate_torrent', [path]);
  const m = await a.bus.waitFor('torrent_added', (x) => x.kwargs.path === path, 20000, since);
  return { hash: String(m.args[0]), name: String(m.kwargs.name), size: Number(m.kwargs.size) };
}

async function fetchOnB(share: { hash: string; name: string; size: number }): Promise<void> {
  await storeContactShare(b, { infoHash: share.hash, name: share.name, size: share.size, address: '127.0.0.1', port: a.port });
  const since = b.bus.mark();
  await b.bus.publishRaw('add_hash', share.hash);
  await b.bus.waitFor('torrent_added', (m) => m.args[0] === share.hash, 10000, since);
  await b.bus.waitFor('torrent_done', (m) => m.args[0] === share.hash, 60000, since);
  const row = await getTorrent(b.db.pool, share.hash);
  assert.equal(row?.status, 'seeding');
  assert.equal(row?.origin, 'fetched');
  assert.equal(row?.bytesDone, share.size);
  assert.equal(row?.totalSize, share.size);
  assert.ok(row?.torrentFile, 'metadata stored');
}

test('a file travels from A to B, bytes equal', async () => {
  const file = join(a.dir, 'share', 'movie.bin');
  await writeRandomFile(file, 5_000_000);
  const share = await shareOnA(file);
  await fetchOnB(share);
  assert.deepEqual(await treeDigest(join(b.savePath, 'movie.bin')), await treeDigest(file));
});

test('a multi-file folder travels from A to B, bytes equal', async () => {
  const folder = join(a.dir, 'share', 'photos');
  await writeRandomFolder(folder);
  const share = await shareOnA(folder);
  await fetchOnB(share);
  assert.deepEqual(await treeDigest(join(b.savePath, 'photos')), await treeDigest(folder));
});

test('a fetch into an explicit save path lands there', async () => {
  const file = join(a.dir, 'share', 'doc.bin');
  await writeRandomFile(file, 300_000);
  const share = await shareOnA(file);
  await storeContactShare(b, { infoHash: share.hash, name: share.name, size: share.size, address: '127.0.0.1', port: a.port });
  const target = join(b.dir, 'elsewhere');
  const since = b.bus.mark();
  await b.bus.publish('add_hash', [share.hash, target]);
  await b.bus.waitFor('torrent_done', (m) => m.args[0] === share.hash, 30000, since);
  assert.deepEqual(await treeDigest(join(target, 'doc.bin')), await treeDigest(file));
});

test('recheck_handles dials an address learned after add_hash', async () => {
  const file = join(a.dir, 'share', 'late.bin');
  await writeRandomFile(file, 400_000);
  const share = await shareOnA(file);
  const since = b.bus.mark();
  await b.bus.publish('add_hash', [share.hash]);
  await b.bus.waitFor('torrent_added', (m) => m.args[0] === share.hash, 10000, since);
  assert.equal(b.bus.count('torrent_done', since), 0);
  await storeContactShare(b, { infoHash: share.hash, name: share.name, size: share.size, address: '127.0.0.1', port: a.port });
  await b.bus.publish('recheck_handles');
  await b.bus.waitFor('torrent_done', (m) => m.args[0] === share.hash, 30000, since);
  assert.deepEqual(await treeDigest(join(b.savePath, 'late.bin')), await treeDigest(file));
});

test('del_torrent with delete_files removes a download and its files; B keeps the rest', async () => {
  const { rows } = await b.db.pool.query<{ info_hash: string; name: string }>(`SELECT info_hash, name FROM torrents WHERE name = 'movie.bin'`);
  const hash = rows[0]!.info_hash;
  const since = b.bus.mark();
  await b.bus.publish('del_torrent', [hash, { delete_files: true }]);
  await b.bus.waitFor('torrent_removed', (m) => m.args[0] === hash, 10000, since);
  await b.bus.waitFor('publish_shares', () => true, 5000, since);
  assert.equal(await getTorrent(b.db.pool, hash), undefined);
  await assert.rejects(treeDigest(join(b.savePath, 'movie.bin')), /ENOENT/);
  assert.ok(await getTorrent(b.db.pool, (await b.db.pool.query(`SELECT info_hash FROM torrents WHERE name = 'photos'`)).rows[0].info_hash));
});

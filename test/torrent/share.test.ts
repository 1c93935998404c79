// Sharing: generate_torrent / add_path for a file and a folder → the store holds the right torrent.
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { getTorrent } from '../../lib/store/torrents.js';
import { treeDigest, writeRandomFile, writeRandomFolder } from '../helpers/files.js';
import { verifyTorrentFile } from '../helpers/torrent-file.js';
import { createTorrentNode, type TorrentNode } from '../helpers/torrent-node.js';

let a: TorrentNode;
before(async () => {
  a = await createTorrentNode('share');
  await a.start();
});
after(() => a?.cleanup());

async function share(topic: string, path: string): Promise<string> {
  const since = a.bus.mark();
  await a.bus.publishRaw(topic, path); // plain string payload, as with redis-cli
  const added = await a.bus.waitFor('torrent_added', (m) => m.kwargs.path === path || (m.raw.includes(JSON.stringify(path))), 20000, since);
  await a.bus.waitFor('publish_shares', () => true, 5000, since);
  return String(added.args[0]);
}

test('a shared file is stored with the info-hash and size of its bytes', async () => {
  const file = join(a.dir, 'share', 'holiday.bin');
  await writeRandomFile(file, 1_500_000);
  const hash = await share('generate_torrent', file);
  const row = await getTorrent(a.db.pool, hash);
  assert.ok(row, 'row stored');
  assert.equal(row.status, 'seeding');
  assert.equal(row.origin, 'shared');
  assert.equal(row.name, 'holiday.bin');
  assert.equal(row.totalSize, (await stat(file)).size);
  assert.equal(row.bytesDone, row.totalSize);
  assert.equal(row.savePath, join(a.dir, 'share'));
  assert.match(row.magnetLink, new RegExp(`^magnet:\\?xt=urn:btih:${hash}`, 'i'));
  assert.ok(!/tr=/.test(row.magnetLink), 'no trackers in the magnet link');
  const checked = await verifyTorrentFile(row.torrentFile!, row.savePath);
  assert.equal(checked.infoHash, hash);
  assert.equal(checked.totalSize, row.totalSize);
});

test('a shared folder (add_path) is stored with every file', async () => {
  const folder = join(a.dir, 'share', 'album');
  await writeRandomFolder(folder);
  const hash = await share('add_path', folder);
  const row = await getTorrent(a.db.pool, hash);
  assert.ok(row);
  assert.equal(row.name, 'album');
  const files = Object.keys(await treeDigest(folder));
  assert.equal(files.length, 3);
  const checked = await verifyTorrentFile(row.torrentFile!, row.savePath);
  assert.equal(checked.infoHash, hash);
  assert.equal(row.totalSize, 700_000 + 1_300_000 + 1234);
});

test('sharing the same path again changes nothing and still answers', async () => {
  const file = join(a.dir, 'share', 'holiday.bin');
  const before = (await a.db.pool.query('SELECT count(*)::int AS n FROM torrents')).rows[0].n;
  const since = a.bus.mark();
  await a.bus.publish('generate_torrent', [file]);
  await a.bus.waitFor('torrent_added', () => true, 20000, since);
  const afterCount = (await a.db.pool.query('SELECT count(*)::int AS n FROM torrents')).rows[0].n;
  assert.equal(afterCount, before);
});

test('a file whose name holds characters Windows reserves seeds from that name: a recheck finds every byte', async () => {
  // fs-chunk-store strips <>:"|?* from file names; bitween's store keeps them (services/torrent/disk-store.ts).
  const file = join(a.dir, 'odd', 'a:b <c>?.bin');
  await writeRandomFile(file, 700_000);
  const hash = await share('generate_torrent', file);
  const since = a.bus.mark();
  await a.bus.publish('recheck', [hash]);
  const back = await a.bus.waitFor('torrent_added', (m) => m.args[0] === hash, 20000, since);
  assert.equal(back.kwargs.status, 'seeding');
  assert.equal(a.bus.count('torrent_error', since), 0);
  assert.equal((await getTorrent(a.db.pool, hash))?.status, 'seeding');
});

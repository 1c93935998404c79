// Issue 11 parts 4 and 8: a contact's seeder serves torrents named `.`, `..`, an absolute path, names with
// separators, NUL, control characters, 300 bytes, file paths through `..`. A real torrent service fetches
// each (add_hash, the seeder's address stored as the XMPP service stores it) and refuses it: torrent_error
// E_UNSAFE_NAME, the row in error state under a made-safe name, nothing created under the save path; then
// `del_torrent` with delete_files removes the row and nothing else: the canaries beside it and the save path
// stay (before the fix, a torrent named `.` had the whole save folder deleted). A benign torrent from the
// same fixture is fetched, then removed with its files: exactly its files go.
import assert from 'node:assert/strict';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { until } from '../../bench/child.js';
import { getTorrent } from '../../lib/store/torrents.js';
import { displayNameOf } from '../../services/torrent/names.js';
import { listTree as tree } from '../helpers/files.js';
import { rawTorrent, startHostileSeeder, type RawTorrent, type RawTorrentSpec } from '../fixtures/hostile-seeder.js';
import { createTorrentNode, storeContactShare, type TorrentNode } from '../helpers/torrent-node.js';

let node: TorrentNode;
/** A folder beside the save path: an absolute name or a `..` path aims at its canary. */
let outside: string;
before(async () => {
  node = await createTorrentNode('hn');
  await node.start();
  outside = join(node.dir, 'outside');
  await put(join(node.savePath, 'canary.txt'));
  await put(join(node.savePath, 'finished download', 'keep.bin'));
  await put(join(outside, 'canary.txt'));
});
after(async () => {
  await node?.cleanup();
});

async function put(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, 'canary');
}

/** Has the torrent service fetch the torrent from a fixture seeder; returns once add_hash is acknowledged. */
async function addFromSeeder(t: RawTorrent, port: number): Promise<number> {
  await storeContactShare(node, { infoHash: t.infoHash, name: 'offered.bin', size: t.data.length, address: '127.0.0.1', port });
  const since = node.bus.mark();
  await node.bus.publish('add_hash', [t.infoHash]);
  await node.bus.waitFor('torrent_added', (m) => m.args[0] === t.infoHash, 20000, since);
  return since;
}

async function removeWithFiles(infoHash: string): Promise<void> {
  const since = node.bus.mark();
  await node.bus.publish('del_torrent', [infoHash, { delete_files: true }]);
  await node.bus.waitFor('torrent_removed', (m) => m.args[0] === infoHash, 20000, since);
  // The store is written behind the session (a journal): the row goes right after the event.
  await until('the row to be gone', 20000, async () => ((await getTorrent(node.db.pool, infoHash)) === undefined ? true : undefined));
}

const hostile: [string, () => RawTorrentSpec][] = [
  ['a torrent named .', () => ({ name: '.', length: 20_000 })],
  ['a torrent named ..', () => ({ name: '..', length: 20_000 })],
  ['a torrent with an empty name', () => ({ name: '', length: 20_000 })],
  ['a torrent named by an absolute path', () => ({ name: join(outside, 'canary.txt'), length: 20_000 })],
  ['a folder torrent named by an absolute path', () => ({ name: outside, files: [{ path: ['canary.txt'], length: 20_000 }] })],
  ['a name with a separator', () => ({ name: 'finished download/keep.bin', length: 20_000 })],
  ['a name with NUL', () => ({ name: 'x\u0000y', length: 20_000 })],
  ['a name with a terminal escape', () => ({ name: 'x\u001b[2Jy', length: 20_000 })],
  ['a 300-byte name', () => ({ name: 'n'.repeat(300), length: 20_000 })],
  ['a file path through ..', () => ({ name: 'pack', files: [{ path: ['..', '..', 'outside', 'canary.txt'], length: 20_000 }] })],
  ['a folder torrent named ..', () => ({ name: '..', files: [{ path: ['outside', 'canary.txt'], length: 20_000 }] })],
  ['a path.utf-8 through ..', () => ({ name: 'pack', files: [{ path: ['fine'], 'path.utf-8': ['..', 'canary.txt'], length: 20_000 }] })],
];

for (const [what, spec] of hostile) {
  test(`refused and removed without touching the canaries: ${what}`, async () => {
    const t = rawTorrent(spec());
    const seeder = await startHostileSeeder(t);
    try {
      const savedBefore = await tree(node.savePath);
      const outsideBefore = await tree(outside);
      const dirBefore = await tree(node.dir);

      const since = await addFromSeeder(t, seeder.port);
      const failed = await node.bus.waitFor('torrent_error', (m) => m.args[0] === t.infoHash, 30000, since);
      const report = failed.args[1] as { code?: unknown; reason?: unknown };
      assert.equal(report.code, 'E_UNSAFE_NAME', `torrent_error ${failed.raw}`);
      assert.equal(typeof report.reason, 'string');
      assert.doesNotMatch(String(report.reason), /[\u0000-\u001f\u007f]/, 'the reason is one printable line');
      assert.ok(seeder.stats.metadataRequests > 0, 'the metadata came from the hostile seeder');

      // Written behind the event; status and name may land in two statements.
      const row = await until('the row in error state with a name', 20000, async () => {
        const r = await getTorrent(node.db.pool, t.infoHash);
        return r?.status === 'error' && r.name !== null ? r : undefined;
      });
      assert.equal(row?.errorCode, 'E_UNSAFE_NAME');
      assert.equal(row?.name, displayNameOf(t.info), 'stored under the made-safe name');

      assert.deepEqual(await tree(node.savePath), savedBefore, 'nothing created or removed under the save path');
      assert.deepEqual(await tree(outside), outsideBefore);
      assert.deepEqual(await tree(node.dir), dirBefore, 'nothing created beside the save path');

      await removeWithFiles(t.infoHash);
      assert.ok((await stat(node.savePath)).isDirectory(), 'the save path is still there');
      assert.deepEqual(await tree(node.savePath), savedBefore, 'the canaries are still there');
      assert.equal(await readFile(join(node.savePath, 'canary.txt'), 'utf8'), 'canary');
      assert.deepEqual(await tree(outside), outsideBefore);
      assert.equal(await readFile(join(outside, 'canary.txt'), 'utf8'), 'canary');
    } finally {
      await seeder.close();
    }
  });
}

async function fetchToCompletion(t: RawTorrent, port: number): Promise<void> {
  const since = await addFromSeeder(t, port);
  await node.bus.waitFor('torrent_done', (m) => m.args[0] === t.infoHash, 60000, since);
  const row = await getTorrent(node.db.pool, t.infoHash);
  assert.equal(row?.status, 'seeding');
  assert.equal(row?.origin, 'fetched');
}

test('a benign folder torrent from the same fixture: fetched beside the canaries, removed with exactly its files', async () => {
  const t = rawTorrent({
    name: 'album',
    files: [
      { path: ['cover.jpg'], length: 40_000 },
      { path: ['disc 1', 'track 01.flac'], length: 100_001 },
      { path: ['disc 1', 'deeper', 'notes.txt'], length: 10 },
    ],
  });
  const seeder = await startHostileSeeder(t);
  try {
    const savedBefore = await tree(node.savePath);
    await fetchToCompletion(t, seeder.port);
    const got = Buffer.concat([
      await readFile(join(node.savePath, 'album', 'cover.jpg')),
      await readFile(join(node.savePath, 'album', 'disc 1', 'track 01.flac')),
      await readFile(join(node.savePath, 'album', 'disc 1', 'deeper', 'notes.txt')),
    ]);
    assert.ok(got.equals(t.data), 'the bytes arrived');

    await removeWithFiles(t.infoHash);
    assert.deepEqual(await tree(node.savePath), savedBefore, 'its files and folders are gone, the canaries stay');
    assert.ok((await stat(node.savePath)).isDirectory(), 'the save path is still there');
  } finally {
    await seeder.close();
  }
});

test('a benign single-file torrent: removed with its file, the canaries and the save path stay', async () => {
  const t = rawTorrent({ name: 'film.mkv', length: 200_000 });
  const seeder = await startHostileSeeder(t);
  try {
    const savedBefore = await tree(node.savePath);
    await fetchToCompletion(t, seeder.port);
    assert.ok((await readFile(join(node.savePath, 'film.mkv'))).equals(t.data), 'the bytes arrived');
    await removeWithFiles(t.infoHash);
    assert.deepEqual(await tree(node.savePath), savedBefore);
  } finally {
    await seeder.close();
  }
});

// deleteDownloadedFiles on real temp folders: exactly the torrent's files go, then its folders if empty;
// canaries beside the torrent and inside its folder stay, the save path stays, nothing is deleted through a
// symlink, and a torrent with unsafe names (or no metadata) deletes nothing at all.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import { deleteDownloadedFiles } from '../../services/torrent/delete-files.js';
import { listTree as tree } from '../helpers/files.js';
import { rawTorrent, type RawTorrentSpec } from '../fixtures/hostile-seeder.js';

let dir: string;
let n = 0;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bitween-delete-files-'));
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A fresh save path with a canary file and another finished download in it. */
async function freshSavePath(): Promise<string> {
  const savePath = join(dir, `case-${++n}`, 'downloads');
  await put(join(savePath, 'canary.txt'));
  await put(join(savePath, 'other download', 'keep.bin'));
  return savePath;
}

async function put(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, 'bytes');
}

const album: RawTorrentSpec = {
  name: 'album',
  files: [
    { path: ['cover.jpg'], length: 10 },
    { path: ['disc 1', 'track 01.flac'], length: 10 },
    { path: ['disc 1', 'deeper', 'notes.txt'], length: 10 },
  ],
};

async function writeAlbum(savePath: string): Promise<void> {
  for (const p of [['cover.jpg'], ['disc 1', 'track 01.flac'], ['disc 1', 'deeper', 'notes.txt']]) {
    await put(join(savePath, 'album', ...p));
  }
}

test('a multi-file download: its files and empty folders go, the canaries and the save path stay', async () => {
  const savePath = await freshSavePath();
  await writeAlbum(savePath);
  const result = await deleteDownloadedFiles(savePath, rawTorrent(album).torrentFile, 'album');
  assert.deepEqual(await tree(savePath), ['canary.txt', 'other download/', 'other download/keep.bin']);
  assert.deepEqual(result.deleted.map((p) => relative(savePath, p)).sort(), [
    'album', 'album/cover.jpg', 'album/disc 1', 'album/disc 1/deeper', 'album/disc 1/deeper/notes.txt', 'album/disc 1/track 01.flac',
  ]);
  assert.deepEqual(result.kept, []);
});

test('a file of the user\'s inside the torrent\'s folder keeps that folder and the file', async () => {
  const savePath = await freshSavePath();
  await writeAlbum(savePath);
  await put(join(savePath, 'album', 'disc 1', 'my notes.txt'));
  const result = await deleteDownloadedFiles(savePath, rawTorrent(album).torrentFile, 'album');
  assert.deepEqual(await tree(savePath), [
    'album/', 'album/disc 1/', 'album/disc 1/my notes.txt', 'canary.txt', 'other download/', 'other download/keep.bin',
  ]);
  assert.deepEqual(result.kept.map((p) => relative(savePath, p)).sort(), ['album', 'album/disc 1']);
});

test('a single-file download: the file goes; the save path stays, even when left empty', async () => {
  const savePath = join(dir, `case-${++n}`, 'downloads');
  await put(join(savePath, 'film.mkv'));
  const result = await deleteDownloadedFiles(savePath, rawTorrent({ name: 'film.mkv', length: 10 }).torrentFile, 'film.mkv');
  assert.deepEqual(result.deleted, [join(savePath, 'film.mkv')]);
  assert.deepEqual(await tree(savePath), []);
  assert.ok((await stat(savePath)).isDirectory(), 'the save path is still there');
});

test('a download that stopped half-way or never began: missing files are fine', async () => {
  const savePath = await freshSavePath();
  await put(join(savePath, 'album', 'cover.jpg'));
  const result = await deleteDownloadedFiles(savePath, rawTorrent(album).torrentFile, 'album');
  assert.deepEqual(result.deleted.map((p) => relative(savePath, p)).sort(), ['album', 'album/cover.jpg']);
  assert.deepEqual(await tree(savePath), ['canary.txt', 'other download/', 'other download/keep.bin']);
  // Nothing of it on disk at all.
  assert.deepEqual(await deleteDownloadedFiles(savePath, rawTorrent(album).torrentFile, 'album'), { deleted: [], kept: [] });
});

test('no metadata (torrent file null) or a damaged torrent file: nothing is deleted', async () => {
  const savePath = await freshSavePath();
  await writeAlbum(savePath);
  const before = await tree(savePath);
  assert.deepEqual(await deleteDownloadedFiles(savePath, null, null), { deleted: [], kept: [] });
  assert.deepEqual(await deleteDownloadedFiles(savePath, Buffer.from('not bencode at all'), 'album'), { deleted: [], kept: [] });
  assert.deepEqual(await tree(savePath), before);
});

test('unsafe names: nothing is deleted, not the save path, not a file beside it', async () => {
  const savePath = await freshSavePath();
  await writeAlbum(savePath);
  await put(join(savePath, 'evil'));
  await put(join(dirname(savePath), 'evil'));
  const before = await tree(dirname(savePath));
  const hostile: RawTorrentSpec[] = [
    { name: '.', length: 10 },
    { name: '..', length: 10 },
    { name: '', length: 10 },
    { name: savePath, length: 10 },
    { name: 'album/cover.jpg', length: 10 },
    { name: 'album', files: [{ path: ['..', '..', 'evil'], length: 10 }, { path: ['cover.jpg'], length: 10 }] },
    { name: '.', files: [{ path: ['album', 'cover.jpg'], length: 10 }] },
    { name: 'a'.repeat(300), length: 10 },
  ];
  for (const spec of hostile) {
    const result = await deleteDownloadedFiles(savePath, rawTorrent(spec).torrentFile, null);
    assert.deepEqual(result, { deleted: [], kept: [] }, JSON.stringify(spec.name));
  }
  assert.deepEqual(await tree(dirname(savePath)), before);
});

test('the stored name is not the torrent file\'s: the two disagree, nothing is deleted', async () => {
  const savePath = await freshSavePath();
  await writeAlbum(savePath);
  const before = await tree(savePath);
  assert.deepEqual(await deleteDownloadedFiles(savePath, rawTorrent(album).torrentFile, 'other download'), { deleted: [], kept: [] });
  assert.deepEqual(await tree(savePath), before);
});

test('a symlinked folder inside the torrent\'s folder pointing outside: nothing outside is deleted', async () => {
  const savePath = await freshSavePath();
  const outside = join(dir, `case-${n}`, 'outside');
  await put(join(outside, 'track 01.flac'));
  await put(join(outside, 'deeper', 'notes.txt'));
  await mkdir(join(outside, 'empty'), { recursive: true });
  await put(join(savePath, 'album', 'cover.jpg'));
  await symlink(outside, join(savePath, 'album', 'disc 1'));
  const spec: RawTorrentSpec = {
    name: 'album',
    files: [
      { path: ['cover.jpg'], length: 10 },
      { path: ['disc 1', 'track 01.flac'], length: 10 },
      { path: ['disc 1', 'deeper', 'notes.txt'], length: 10 },
      { path: ['disc 1', 'empty', 'x'], length: 10 },
    ],
  };
  const result = await deleteDownloadedFiles(savePath, rawTorrent(spec).torrentFile, 'album');
  assert.deepEqual(await tree(outside), ['deeper/', 'deeper/notes.txt', 'empty/', 'track 01.flac']);
  assert.deepEqual(result.deleted.map((p) => relative(savePath, p)), ['album/cover.jpg']);
  assert.ok(result.kept.includes(join(savePath, 'album', 'disc 1', 'track 01.flac')));
  // The link itself stays (bitween never makes links), so the torrent's folder is not empty and stays.
  assert.deepEqual(await tree(savePath), ['album/', 'album/disc 1', 'canary.txt', 'other download/', 'other download/keep.bin']);
});

test('the torrent\'s own folder is a symlink to elsewhere: nothing is deleted through it', async () => {
  const savePath = await freshSavePath();
  const outside = join(dir, `case-${n}`, 'outside');
  await put(join(outside, 'cover.jpg'));
  await symlink(outside, join(savePath, 'album'));
  const result = await deleteDownloadedFiles(savePath, rawTorrent(album).torrentFile, 'album');
  assert.deepEqual(result.deleted, []);
  assert.deepEqual(await tree(outside), ['cover.jpg']);
  // A single-file torrent whose file is a link: the link is not bitween's file either.
  await symlink(join(outside, 'cover.jpg'), join(savePath, 'film.mkv'));
  const single = await deleteDownloadedFiles(savePath, rawTorrent({ name: 'film.mkv', length: 10 }).torrentFile, 'film.mkv');
  assert.deepEqual(single, { deleted: [], kept: [join(savePath, 'film.mkv')] });
  assert.deepEqual(await tree(outside), ['cover.jpg']);
});

test('a folder where the torrent has a file is kept, with what is in it', async () => {
  const savePath = await freshSavePath();
  await put(join(savePath, 'album', 'cover.jpg', 'inside.txt'));
  const result = await deleteDownloadedFiles(savePath, rawTorrent(album).torrentFile, 'album');
  assert.deepEqual(result.deleted, []);
  assert.ok(result.kept.includes(join(savePath, 'album', 'cover.jpg')));
  assert.ok((await tree(savePath)).includes('album/cover.jpg/inside.txt'));
});

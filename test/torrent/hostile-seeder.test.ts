// The hostile seeder fixture is a real seeder: a stock webtorrent client (this process, TCP, PE on as by
// default) fetches a benign torrent from it and the bytes arrive. And it carries what it is given: a `..`
// path reaches the leecher's raw info dictionary intact, while webtorrent's parsed file paths have it folded
// away, which is why the name check reads the raw dictionary. Refusing in the 'metadata' listener writes nothing.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import WebTorrent, { type Torrent } from 'webtorrent';
import { checkTorrentNames, UnsafeNameError } from '../../services/torrent/names.js';
import { rawTorrent, startHostileSeeder, type RawTorrent } from '../fixtures/hostile-seeder.js';

let client: WebTorrent;
let downloads: string;
before(async () => {
  downloads = await mkdtemp(join(tmpdir(), 'bitween-hostile-seeder-'));
  client = new WebTorrent({ dht: false, tracker: false, lsd: false, utp: false, natUpnp: false, natPmp: false, webSeeds: false, utPex: false });
});
after(async () => {
  await new Promise<void>((done) => (client ? client.destroy(() => done()) : done()));
  if (downloads) await rm(downloads, { recursive: true, force: true });
});

/** Adds the torrent by its hash alone (metadata over ut_metadata, as bitween fetches) and dials the seeder. */
function fetchFrom(port: number, t: RawTorrent, path: string, onMetadata?: (torrent: Torrent) => void): Promise<Torrent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no download from the hostile seeder in 60 s')), 60000);
    const torrent = client.add(`magnet:?xt=urn:btih:${t.infoHash}`, { path });
    torrent.on('error', (err: Error) => {
      clearTimeout(timer);
      reject(err);
    });
    torrent.once('infoHash', () => torrent.addPeer(`127.0.0.1:${port}`));
    if (onMetadata) {
      torrent.once('metadata', () => {
        clearTimeout(timer);
        onMetadata(torrent);
        resolve(torrent);
      });
    }
    torrent.once('done', () => {
      clearTimeout(timer);
      resolve(torrent);
    });
  });
}

test('a webtorrent client downloads a multi-file torrent from the fixture, bytes equal', async () => {
  const t = rawTorrent({
    name: 'album',
    files: [
      { path: ['cover.jpg'], length: 40_000 },
      { path: ['disc 1', 'track 01.flac'], length: 100_001 },
      { path: ['disc 1', 'notes.txt'], length: 10 },
    ],
  });
  const seeder = await startHostileSeeder(t);
  try {
    const path = join(downloads, 'multi');
    await fetchFrom(seeder.port, t, path);
    const got = Buffer.concat([
      await readFile(join(path, 'album', 'cover.jpg')),
      await readFile(join(path, 'album', 'disc 1', 'track 01.flac')),
      await readFile(join(path, 'album', 'disc 1', 'notes.txt')),
    ]);
    assert.ok(got.equals(t.data), 'the bytes on disk are the seeder\'s');
    assert.ok(seeder.stats.metadataRequests > 0, 'the metadata came from the seeder over ut_metadata');
    assert.equal(seeder.stats.blocksServed, Math.ceil(t.data.length / 16384), 'one 16 KiB block per piece');
  } finally {
    await seeder.close();
  }
});

test('a webtorrent client downloads a single-file torrent from the fixture, bytes equal', async () => {
  const t = rawTorrent({ name: 'film.mkv', length: 300_000, pieceLength: 32 * 1024 });
  const seeder = await startHostileSeeder(t);
  try {
    const path = join(downloads, 'single');
    await fetchFrom(seeder.port, t, path);
    assert.ok((await readFile(join(path, 'film.mkv'))).equals(t.data));
  } finally {
    await seeder.close();
  }
});

test('a `..` path reaches the raw info dictionary intact; refused in the metadata listener, nothing is written', async () => {
  const t = rawTorrent({ name: 'pack', files: [{ path: ['..', '..', 'evil'], length: 20_000 }, { path: ['ok.txt'], length: 5 }] });
  const seeder = await startHostileSeeder(t);
  try {
    const path = join(downloads, 'hostile');
    let refused: unknown;
    let parsedPaths: string[] = [];
    const torrent = await fetchFrom(seeder.port, t, path, (torrent) => {
      parsedPaths = torrent.files.map((f) => f.path);
      try {
        checkTorrentNames((torrent as Torrent & { info: unknown }).info);
      } catch (err) {
        refused = err;
        torrent.destroy();
      }
    });
    assert.ok(refused instanceof UnsafeNameError, `refused: ${String(refused)}`);
    assert.equal(refused.code, 'E_UNSAFE_NAME');
    assert.match(refused.message, /file 1 path component 1 "\.\." is a reference to a folder/);
    // What webtorrent made of it: parse-torrent's path.join folded the `..` away.
    assert.deepEqual(parsedPaths, [join('evil'), join('pack', 'ok.txt')]);
    assert.equal(torrent.destroyed, true);
    assert.deepEqual(await readdir(downloads).then((names) => names.filter((n) => n === 'hostile')), [], 'no folder made');
    assert.equal(seeder.stats.blocksServed, 0);
  } finally {
    await seeder.close();
  }
});

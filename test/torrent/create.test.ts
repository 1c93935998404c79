// bitween's own .torrent maker must agree with create-torrent (what webtorrent's seed() uses): same file
// list, same pieces, so the same info-hash for the same file or folder.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import WebTorrent from 'webtorrent';
import { createTorrentFile } from '../../services/torrent/create.js';
import { NO_TRACKERS } from '../../services/torrent/session.js';
import { writeRandomFile, writeRandomFolder } from '../helpers/files.js';
import { verifyTorrentFile } from '../helpers/torrent-file.js';

let dir: string;
let client: WebTorrent;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bitween-create-'));
  client = new WebTorrent({ dht: false, tracker: false, lsd: false, utp: false, natUpnp: false, natPmp: false, webSeeds: false, utPex: false });
});
after(async () => {
  await new Promise<void>((done) => client.destroy(() => done()));
  await rm(dir, { recursive: true, force: true });
});

function seededHash(path: string): Promise<string> {
  return new Promise((resolve) => client.seed(path, { ...NO_TRACKERS }, (t) => resolve(t.infoHash)));
}

for (const [what, make] of [
  ['a single file', async (p: string) => writeRandomFile(p, 3_000_001)],
  ['a folder with nested and hidden files', async (p: string) => {
    await writeRandomFolder(p);
    await writeFile(join(p, '.hidden'), 'not shared');
  }],
] as const) {
  test(`${what}: same info-hash as create-torrent, pieces match the bytes`, async () => {
    const path = join(dir, what.replace(/\W+/g, '-'));
    await make(path);
    const { torrentFile, infoHash } = await createTorrentFile(path, 'bitween');
    assert.equal(infoHash, await seededHash(path));
    // verifyTorrentFile hashes the info dictionary itself and checks every piece against the bytes.
    const checked = await verifyTorrentFile(torrentFile, dir);
    assert.equal(checked.infoHash, infoHash);
  });
}

test('a folder of empty files is refused', async () => {
  const path = join(dir, 'empties');
  await writeRandomFile(join(path, 'zero'), 0);
  await assert.rejects(createTorrentFile(path, 'bitween'), /holds no data: nothing to share/);
});

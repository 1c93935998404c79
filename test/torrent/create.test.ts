// bitween's own .torrent maker must agree with create-torrent (what webtorrent's seed() uses): same file
// list, same pieces, so the same info-hash for the same file or folder.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import bencode from 'bencode';
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

function infoHashOf(torrentFile: Uint8Array): string {
  return createHash('sha1').update(bencode.encode(bencode.decode(torrentFile).info)).digest('hex');
}

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
    const torrentFile = await createTorrentFile(path, 'bitween');
    assert.equal(infoHashOf(torrentFile), await seededHash(path));
    const checked = await verifyTorrentFile(torrentFile, dir);
    assert.equal(checked.infoHash, infoHashOf(torrentFile));
  });
}

test('a folder of empty files is refused', async () => {
  const path = join(dir, 'empties');
  await writeRandomFile(join(path, 'zero'), 0);
  await assert.rejects(createTorrentFile(path, 'bitween'), /holds no data: nothing to share/);
});

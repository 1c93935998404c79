// bitween tells every peer how many block requests it queues (BEP 10 `reqq`), and a stock webtorrent peer keeps
// to it: a real torrent service seeds, a plain webtorrent client in this process fetches over TCP.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import WebTorrent, { type Wire } from 'webtorrent';
import { REQUEST_QUEUE } from '../../services/torrent/session.js';
import { treeDigest, writeRandomFile } from '../helpers/files.js';
import { createTorrentNode, storeContactAddress, type TorrentNode } from '../helpers/torrent-node.js';

let a: TorrentNode;
let client: WebTorrent;
let downloads: string;
before(async () => {
  a = await createTorrentNode('rq');
  await a.start();
  // The node serves only its contacts: this client connects from 127.0.0.1, an address a contact published.
  await storeContactAddress(a);
  downloads = await mkdtemp(join(tmpdir(), 'bitween-rq-peer-'));
  client = new WebTorrent({ dht: false, tracker: false, lsd: false, utp: false, natUpnp: false, natPmp: false, webSeeds: false, utPex: false });
});
after(async () => {
  await new Promise<void>((done) => (client ? client.destroy(() => done()) : done()));
  await a?.cleanup();
  if (downloads) await rm(downloads, { recursive: true, force: true });
});

test('a webtorrent peer learns reqq from the extended handshake and never queues more requests', async () => {
  const file = join(a.dir, 'share', 'big.bin');
  await writeRandomFile(file, 16 * 1024 * 1024); // 1,024 blocks: more than the queue holds
  const since = a.bus.mark();
  await a.bus.publish('generate_torrent', [file]);
  const added = await a.bus.waitFor('torrent_added', (m) => m.kwargs.path === file, 20000, since);
  const infoHash = String(added.args[0]);

  let peerReqq: unknown;
  let mostQueued = 0;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the download from the torrent service did not finish in 60 s')), 60000);
    const torrent = client.add(`magnet:?xt=urn:btih:${infoHash}`, { path: downloads });
    torrent.on('error', reject);
    torrent.on('wire', (wire: Wire) => {
      wire.on('extended', (ext: string) => {
        if (ext === 'handshake') peerReqq = wire.peerExtendedHandshake.reqq;
      });
      wire.on('download', () => (mostQueued = Math.max(mostQueued, wire.requests.length)));
    });
    torrent.once('infoHash', () => torrent.addPeer(`127.0.0.1:${a.port}`));
    torrent.once('done', () => {
      clearTimeout(timer);
      resolve();
    });
  });

  assert.equal(peerReqq, REQUEST_QUEUE);
  assert.ok(mostQueued > 0, 'requests were seen');
  assert.ok(mostQueued <= REQUEST_QUEUE, `the peer queued ${mostQueued} requests, more than the ${REQUEST_QUEUE} announced`);
  assert.deepEqual(await treeDigest(join(downloads, 'big.bin')), await treeDigest(file));
});

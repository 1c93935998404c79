// Encrypted peer wire (issue 12, parts 3 and 7): two bitween nodes talk MSE/PE with RC4. Observed on the wire
// through a relay in this process that B dials instead of A and that keeps every byte each way: the plaintext
// BitTorrent handshake ("\x13BitTorrent protocol"), the info-hash and the file's bytes never appear, and B's
// copy equals A's. The same relay sees all three in the clear with BITWEEN_ENCRYPTION=off (so the check would
// catch plaintext), and with BITWEEN_ENCRYPTION=require a plaintext client gets no metadata.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import WebTorrent, { type Torrent } from 'webtorrent';
import { treeDigest, writeRandomFile } from '../helpers/files.js';
import { createTorrentNode, storeContactAddress, storeContactShare, type TorrentNode } from '../helpers/torrent-node.js';

const SIZE = 2 * 1024 * 1024;
const HANDSHAKE = Buffer.concat([Buffer.from([19]), Buffer.from('BitTorrent protocol')]);

interface Tap {
  port: number;
  /** Everything the dialling side sent (B → A) and received (A → B), over all connections. */
  toTarget: Buffer[];
  fromTarget: Buffer[];
  /** The first bytes of each connection from the dialling side. */
  openings: Buffer[];
  close(): Promise<void>;
}

/** A TCP relay to 127.0.0.1:targetPort that keeps a copy of every byte. */
async function startTap(targetPort: number): Promise<Tap> {
  const sockets = new Set<Socket>();
  const tap = { toTarget: [] as Buffer[], fromTarget: [] as Buffer[], openings: [] as Buffer[] };
  const server: Server = createServer((client) => {
    const upstream = connect({ port: targetPort, host: '127.0.0.1' });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    let first = true;
    client.on('data', (d: Buffer) => {
      if (first) tap.openings.push(Buffer.from(d.subarray(0, 20)));
      first = false;
      tap.toTarget.push(Buffer.from(d));
    });
    upstream.on('data', (d: Buffer) => tap.fromTarget.push(Buffer.from(d)));
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as { port: number }).port,
    ...tap,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

let a: TorrentNode;
let b: TorrentNode;
let work: string;
before(async () => {
  [a, b] = await Promise.all([createTorrentNode('ea'), createTorrentNode('eb')]);
  work = await mkdtemp(join(tmpdir(), 'bitween-encryption-'));
});
after(async () => {
  await Promise.all([a?.cleanup(), b?.cleanup()]);
  if (work) await rm(work, { recursive: true, force: true });
});

async function shareOnA(name: string): Promise<{ hash: string; name: string; path: string }> {
  const path = join(a.dir, 'share', name);
  await writeRandomFile(path, SIZE);
  const since = a.bus.mark();
  await a.bus.publish('generate_torrent', [path]);
  const added = await a.bus.waitFor('torrent_added', (m) => m.kwargs.path === path, 20000, since);
  return { hash: String(added.args[0]), name: String(added.kwargs.name), path };
}

/** B fetches `share` from A through a tap; returns what the tap saw, both directions joined. */
async function fetchThroughTap(share: { hash: string; name: string; path: string }): Promise<{ up: Buffer; down: Buffer; openings: Buffer[]; ms: number }> {
  const tap = await startTap(a.port);
  try {
    await storeContactShare(b, { jid: 'alice@example.test', infoHash: share.hash, name: share.name, size: SIZE, address: '127.0.0.1', port: tap.port });
    const since = b.bus.mark();
    const started = performance.now();
    await b.bus.publishRaw('add_hash', share.hash);
    await b.bus.waitFor('torrent_done', (m) => m.args[0] === share.hash, 60000, since);
    const ms = performance.now() - started;
    assert.deepEqual(await treeDigest(join(b.savePath, share.name)), await treeDigest(share.path), 'bytes equal after the relay');
    return { up: Buffer.concat(tap.toTarget), down: Buffer.concat(tap.fromTarget), openings: tap.openings, ms };
  } finally {
    await tap.close();
  }
}

/** Slices of the file that would show up in any plaintext piece message. */
async function samples(path: string): Promise<Buffer[]> {
  const bytes = await readFile(path);
  return [0, SIZE / 2, SIZE - 64].map((at) => bytes.subarray(at, at + 64));
}

test('two bitween nodes (default encryption): no plaintext handshake, info-hash or file bytes on the wire, bytes equal', async () => {
  await Promise.all([a.start(), b.start()]);
  await storeContactAddress(a, { jid: 'bob@example.test', port: b.port });
  const share = await shareOnA('private.bin');
  const seen = await fetchThroughTap(share);
  assert.ok(seen.down.length > SIZE, `the file went through the relay (${seen.down.length} bytes)`);
  assert.ok(seen.openings.length > 0);
  for (const opening of seen.openings) assert.notDeepEqual(opening.subarray(0, HANDSHAKE.length), HANDSHAKE, 'a connection opened with a plaintext handshake');
  for (const [dir, stream] of [['B → A', seen.up], ['A → B', seen.down]] as const) {
    assert.equal(stream.indexOf(HANDSHAKE), -1, `plaintext BitTorrent handshake ${dir}`);
    assert.equal(stream.indexOf(Buffer.from(share.hash, 'hex')), -1, `info-hash in the clear ${dir}`);
  }
  for (const sample of await samples(share.path)) assert.equal(seen.down.indexOf(sample), -1, 'file bytes in the clear');
  process.stdout.write(`# encrypted: ${SIZE} bytes through the relay in ${seen.ms.toFixed(0)} ms, ${seen.openings.length} connection(s)\n`);
});

test('control: with BITWEEN_ENCRYPTION=off on both, the same relay sees the handshake, the info-hash and the file bytes', async () => {
  await Promise.all([a.service!.stop(), b.service!.stop()]);
  await Promise.all([a.start({ BITWEEN_ENCRYPTION: 'off' }), b.start({ BITWEEN_ENCRYPTION: 'off' })]);
  const share = await shareOnA('public.bin');
  const seen = await fetchThroughTap(share);
  assert.deepEqual(seen.openings[0]!.subarray(0, HANDSHAKE.length), HANDSHAKE);
  assert.notEqual(seen.down.indexOf(HANDSHAKE), -1);
  assert.notEqual(seen.up.indexOf(Buffer.from(share.hash, 'hex')), -1);
  for (const sample of await samples(share.path)) assert.notEqual(seen.down.indexOf(sample), -1, 'file bytes in the clear');
});

test('BITWEEN_ENCRYPTION=require: a plaintext-only webtorrent client gets no metadata and no piece', async () => {
  await a.service!.stop();
  await a.start({ BITWEEN_ENCRYPTION: 'require' });
  const share = await shareOnA('strict.bin');
  // secure: 0 is webtorrent without MSE: it opens with the plaintext handshake, through a tap that counts
  // connections, from 127.0.0.1 (a contact's address: the refusal here is about encryption).
  const tap = await startTap(a.port);
  const client = new WebTorrent({ dht: false, tracker: false, lsd: false, utp: false, natUpnp: false, natPmp: false, webSeeds: false, utPex: false, secure: 0 } as ConstructorParameters<typeof WebTorrent>[0]);
  try {
    const torrent: Torrent = client.add(`magnet:?xt=urn:btih:${share.hash}`, { path: join(work, 'plain') });
    let metadata = false;
    torrent.on('metadata', () => (metadata = true));
    torrent.once('infoHash', () => torrent.addPeer(`127.0.0.1:${tap.port}`));
    // webtorrent reconnects only after a connection closed (1 s, then 5 s): a third one means two were dropped.
    const deadline = Date.now() + 30000;
    while (tap.openings.length < 3) {
      if (Date.now() > deadline) throw new Error(`the plaintext client opened ${tap.openings.length} connection(s) in 30 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.deepEqual(tap.openings[0]!.subarray(0, HANDSHAKE.length), HANDSHAKE, 'the client spoke plaintext');
    assert.equal(metadata, false, 'the plaintext client got the metadata');
    assert.equal(torrent.downloaded, 0, 'piece bytes the plaintext client got');
    const answered = Buffer.concat(tap.fromTarget).length;
    process.stdout.write(`# require: the node sent ${answered} bytes to the plaintext client over ${tap.openings.length} connections\n`);
  } finally {
    await new Promise<void>((done) => client.destroy(() => done()));
    await tap.close();
  }
});

// Friends-only peers (issue 12, parts 2 and 7): a node accepts incoming BitTorrent connections only from
// addresses its contacts published. A stranger who knows the node's port and a shared info-hash — a raw
// socket, a stock webtorrent client, a stock libtorrent client — gets not one byte, while a contact's bitween
// node fetches the same hash. The allow-list follows the store without a restart.
//
// On one machine every process connects from 127.0.0.1, which the node's store lists as its contact's
// address (BITWEEN_ALLOW_LOOPBACK=true: loopback is allowed only where a contact published it). The strangers
// bind their outgoing sockets to 127.0.0.2 (Linux routes all of 127/8 to lo): another host, as far as the node
// can tell.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import WebTorrent, { type Torrent } from 'webtorrent';
import { treeDigest, writeRandomFile } from '../helpers/files.js';
import { startLibtorrent } from '../helpers/libtorrent.js';
import { createTorrentNode, storeContactAddress, storeContactShare, type TorrentNode } from '../helpers/torrent-node.js';

const STRANGER = '127.0.0.2';
const SIZE = 3 * 1024 * 1024;

let a: TorrentNode;
let b: TorrentNode;
let share: { hash: string; name: string; path: string };
let work: string;
before(async () => {
  [a, b] = await Promise.all([createTorrentNode('sa'), createTorrentNode('sb')]);
  await Promise.all([a.start(), b.start()]);
  work = await mkdtemp(join(tmpdir(), 'bitween-strangers-'));
  const path = join(a.dir, 'share', 'secret.bin');
  await writeRandomFile(path, SIZE);
  const since = a.bus.mark();
  await a.bus.publish('generate_torrent', [path]);
  const added = await a.bus.waitFor('torrent_added', (m) => m.kwargs.path === path, 20000, since);
  share = { hash: String(added.args[0]), name: String(added.kwargs.name), path };
  // B is A's contact: A's store holds the address B connects from, as B's XMPP publication would put it there.
  await storeContactAddress(a, { jid: 'bob@example.test', port: b.port });
});
after(async () => {
  await Promise.all([a?.cleanup(), b?.cleanup()]);
  if (work) await rm(work, { recursive: true, force: true });
});

/**
 * Connects from `from` and sends a plaintext BitTorrent handshake for `infoHash` (or, with `mse`, the first
 * message of an encryption handshake: 96 bytes of a Diffie-Hellman key). Resolves with what came back once
 * the node answered, closed the connection, or stayed silent for 5 s.
 */
function knock(port: number, infoHash: string, from: string, mse = false): Promise<{ bytes: number; closed: boolean }> {
  return new Promise((resolve) => {
    let bytes = 0;
    const socket = net.connect({ port, host: '127.0.0.1', localAddress: from });
    const done = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ bytes, closed });
    };
    const timer = setTimeout(() => done(false), 5000);
    socket.on('error', () => undefined);
    socket.on('connect', () => {
      const hello = mse
        ? randomBytes(96 + 64)
        : Buffer.concat([Buffer.from([19]), Buffer.from('BitTorrent protocol'), Buffer.alloc(8), Buffer.from(infoHash, 'hex'), Buffer.from(`-ST0001-${randomBytes(6).toString('hex')}`)]);
      socket.write(hello);
    });
    socket.on('data', (d: Buffer) => {
      bytes += d.length;
      done(false);
    });
    socket.on('close', () => done(true));
  });
}

/** Knocks every 300 ms until `want` holds for the answer; fails after timeoutMs. */
async function knockUntil(what: string, from: string, want: (r: { bytes: number; closed: boolean }) => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await knock(a.port, share.hash, from);
    if (want(r)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}; last answer ${JSON.stringify(r)}`);
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

test('a stranger with the port and the hash: the connection is closed and not one byte comes back (plaintext and MSE openings)', async () => {
  for (const mse of [false, true]) {
    const r = await knock(a.port, share.hash, STRANGER, mse);
    assert.deepEqual(r, { bytes: 0, closed: true }, `${mse ? 'MSE' : 'plaintext'} opening from ${STRANGER}`);
  }
  // The same knock from the contact's address is answered: the refusal is about the address, not the knock.
  // (Until A rereads its store: the contact was written a moment ago; a knock reloads at most every 2 s.)
  await knockUntil('the node answers its contact on 127.0.0.1', '127.0.0.1', (r) => r.bytes > 0, 20000);
});

test("a stranger's stock webtorrent client gets no metadata and no bytes", async () => {
  // webtorrent cannot be told a local address: route its connections to the node through 127.0.0.2. This is
  // the test process's own client; the node runs in its own process and is untouched.
  const connect = net.connect;
  let attempts = 0;
  const bound = ((opts: net.NetConnectOpts, ...rest: unknown[]) => {
    if (typeof opts === 'object' && (opts as net.TcpNetConnectOpts).port === a.port) {
      attempts++;
      (opts as net.TcpNetConnectOpts).localAddress = STRANGER;
    }
    return (connect as (...args: unknown[]) => net.Socket).call(net, opts, ...rest);
  }) as typeof net.connect;
  net.connect = bound;
  const client = new WebTorrent({ dht: false, tracker: false, lsd: false, utp: false, natUpnp: false, natPmp: false, webSeeds: false, utPex: false });
  try {
    const torrent: Torrent = client.add(`magnet:?xt=urn:btih:${share.hash}`, { path: join(work, 'webtorrent') });
    let metadata = false;
    let wires = 0;
    torrent.on('metadata', () => (metadata = true));
    torrent.on('wire', () => wires++);
    torrent.once('infoHash', () => torrent.addPeer(`127.0.0.1:${a.port}`));
    // webtorrent reconnects only once a connection has closed (after 1 s, then 5 s): a third attempt means
    // the first two were closed on it, and everything they could have carried has arrived.
    const deadline = Date.now() + 30000;
    while (attempts < 3) {
      if (Date.now() > deadline) throw new Error(`the stranger's client made ${attempts} connection attempts in 30 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const received = (torrent as unknown as { received: number }).received;
    assert.equal(received, 0, 'bytes the stranger received');
    assert.equal(metadata, false, 'the stranger got the metadata');
    assert.equal(wires, 0, 'the stranger completed a BitTorrent handshake');
  } finally {
    net.connect = connect;
    await new Promise<void>((done) => client.destroy(() => done()));
  }
});

test("a stranger's stock libtorrent client gets no metadata and no bytes in 10 s", async () => {
  const lt = startLibtorrent(['fetch', share.hash, join(work, 'libtorrent-stranger'), '127.0.0.1', String(a.port), '10'], STRANGER);
  try {
    const end = await lt.waitFor(['done', 'timeout'], 30000);
    assert.equal(end.event, 'timeout');
    assert.equal(end.downloaded, 0, 'bytes the stranger received');
    assert.equal(end.hasMetadata, false);
  } finally {
    await lt.stop();
  }
});

test("a contact's bitween node fetches the same hash from the same port", async () => {
  await storeContactShare(b, { jid: 'alice@example.test', infoHash: share.hash, name: share.name, size: SIZE, address: '127.0.0.1', port: a.port });
  const since = b.bus.mark();
  await b.bus.publishRaw('add_hash', share.hash);
  await b.bus.waitFor('torrent_done', (m) => m.args[0] === share.hash, 60000, since);
  assert.deepEqual(await treeDigest(join(b.savePath, share.name)), await treeDigest(share.path));
});

test('the list follows the store: a newly published address gets in without a restart, a withdrawn one is refused again', async () => {
  const pid = a.service!.child.pid;
  await storeContactAddress(a, { jid: 'carol@example.test', address: STRANGER, port: 6881 });
  await knockUntil('the node answers 127.0.0.2', STRANGER, (r) => r.bytes > 0, 20000);
  // Now a contact, the libtorrent client on 127.0.0.2 fetches the whole share.
  const lt = startLibtorrent(['fetch', share.hash, join(work, 'libtorrent-contact'), '127.0.0.1', String(a.port), '60'], STRANGER);
  try {
    const end = await lt.waitFor(['done', 'timeout'], 90000);
    assert.equal(end.event, 'done', JSON.stringify(end));
  } finally {
    await lt.stop();
  }
  assert.deepEqual(await treeDigest(join(work, 'libtorrent-contact', share.name)), await treeDigest(share.path));

  await a.db.pool.query(`DELETE FROM contact_resources WHERE jid = 'carol@example.test'`);
  // The xmpp service says so when contacts' lists change; the filter also rereads the store every 30 s.
  await a.bus.publish('recheck_handles', []);
  await knockUntil('the node refuses 127.0.0.2 again', STRANGER, (r) => r.bytes === 0 && r.closed, 45000);
  assert.equal(a.service!.child.pid, pid, 'the same service process throughout');
});

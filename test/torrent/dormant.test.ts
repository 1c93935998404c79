// Dormant torrents (services/torrent/dormant.ts, issue 14): a restarted torrent service with many shares adds
// none of them to webtorrent; a contact's handshake wakes the share it names, on that same connection,
// plaintext or encrypted, and the contact gets its bytes. A stranger's handshake wakes nothing and gets nothing.
// A woken share with no peer goes dormant again after BITWEEN_DORMANT_AFTER_MS and can be fetched again; a
// dormant share whose file is deleted turns `missing` (the file check still runs on it).
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { probeComplete } from '../../bench/bt-probe.js';
import { until } from '../../bench/child.js';
import type { Heartbeat } from '../../lib/heartbeat.js';
import { REDIS_URL } from '../helpers/bus.js';
import { sha1File } from '../helpers/files.js';
import { waitForHeartbeat } from '../helpers/heartbeat.js';
import { storeShares, writeShareFiles, type ShareFile } from '../helpers/many-shares.js';
import { startService } from '../helpers/process.js';
import { createTorrentNode, storeContactAddress, storeContactShare, type TorrentNode } from '../helpers/torrent-node.js';

const COUNT = 300;
const SIZE = 200 * 1024; // 4 pieces of 64 KiB (create-torrent's choice for this size): a real transfer
const DORMANT_AFTER_MS = 1500;

let a: TorrentNode; // prefer encryption (the default): plaintext peers wake shares
let r: TorrentNode; // BITWEEN_ENCRYPTION=require: only the encrypted (pe3) path can wake a share
let redis: Redis;
let shares: ShareFile[];
let rShares: ShareFile[];
const leechers: TorrentNode[] = [];

function facts(hb: Heartbeat): { seeding: number; dormant: number | undefined; missing: number } {
  const states = hb.facts.states as Record<string, number>;
  return { seeding: states.seeding ?? 0, dormant: hb.facts.dormant as number | undefined, missing: states.missing ?? 0 };
}

/** Waits for node's torrent heartbeat (its current process) to match. */
function heartbeat(node: TorrentNode, ok: (f: ReturnType<typeof facts>) => boolean, timeoutMs = 20000): Promise<Heartbeat> {
  const pid = node.service!.child.pid;
  return waitForHeartbeat(redis, node.namespace, 'torrent', (hb) => hb.pid === pid && ok(facts(hb)), timeoutMs);
}

/** A node with `count` shares in its store before it starts: its start is a restart with that many shares. */
async function seeder(name: string, env: Record<string, string>, count: number): Promise<{ node: TorrentNode; shares: ShareFile[] }> {
  const node = await createTorrentNode(name, { BITWEEN_DORMANT_AFTER_MS: String(DORMANT_AFTER_MS), BITWEEN_FILE_CHECK_INTERVAL_MS: '300', ...env });
  const dir = join(node.dir, 'shares');
  const list = await writeShareFiles(dir, count, SIZE);
  await storeShares(node.db.pool, dir, list);
  // Every leecher of this test connects from 127.0.0.1: a contact's address.
  await storeContactAddress(node);
  await node.start();
  return { node, shares: list };
}

/** A fresh leecher fetches `share` from `from` (dialling it, as add_hash does) and returns the fetched file's SHA-1. */
async function fetchFrom(from: TorrentNode, share: ShareFile, env: Record<string, string> = {}): Promise<{ leecher: TorrentNode; sha1: string }> {
  const leecher = await createTorrentNode('dml', env);
  leechers.push(leecher);
  await leecher.start();
  await storeContactShare(leecher, { infoHash: share.infoHash, name: share.name, size: share.size, address: '127.0.0.1', port: from.port });
  const since = leecher.bus.mark();
  await leecher.bus.publish('add_hash', [share.infoHash]);
  await leecher.bus.waitFor('torrent_done', (m) => m.args[0] === share.infoHash, 30000, since);
  return { leecher, sha1: await sha1File(join(leecher.savePath, share.name)) };
}

before(async () => {
  redis = new Redis(REDIS_URL);
  ({ node: a, shares } = await seeder('dma', {}, COUNT));
  ({ node: r, shares: rShares } = await seeder('dmr', { BITWEEN_ENCRYPTION: 'require' }, 20));
});

after(async () => {
  redis?.disconnect();
  await Promise.all([a?.cleanup(), r?.cleanup(), ...leechers.map((l) => l.cleanup())]);
});

test('after a restart every share is listed seeding and none is in webtorrent', async () => {
  const hb = await heartbeat(a, (f) => f.seeding === COUNT && f.dormant === COUNT);
  assert.equal(facts(hb).missing, 0);
  assert.equal((hb.facts.states as Record<string, number>).error, 0);
});

test('a stranger\'s handshake wakes nothing and gets nothing; a contact\'s plaintext handshake is answered with every piece', async () => {
  const s = shares[7]!;
  await heartbeat(a, (f) => f.dormant === COUNT);
  // 127.0.0.2 published nothing: the friends-only check drops it before webtorrent reads the handshake.
  assert.equal(await probeComplete(a.port, s.infoHash, s.pieces, '127.0.0.2'), false, 'a stranger is served nothing');
  await heartbeat(a, (f) => f.dormant === COUNT, 5000);
  // The same handshake from a contact's address: woken on that connection, answered with a full bitfield.
  assert.equal(await probeComplete(a.port, s.infoHash, s.pieces, '127.0.0.1', 10000), true, 'a contact is answered');
  await heartbeat(a, (f) => f.dormant === COUNT - 1, 5000);
  // No wire left: dormant again after the setting.
  await heartbeat(a, (f) => f.dormant === COUNT);
});

test('a dormant share is fetched by a peer whose handshake is plaintext: bytes equal', async () => {
  const s = shares[123]!;
  await heartbeat(a, (f) => f.dormant === COUNT);
  const { leecher, sha1 } = await fetchFrom(a, s, { BITWEEN_ENCRYPTION: 'off' });
  assert.equal(sha1, await sha1File(s.path));
  // Gone, so that the share can sleep for the tests below.
  await leecher.service!.stop();
});

test('a dormant share is fetched by a peer whose handshake is encrypted (the seeder requires it): bytes equal', async () => {
  const s = rShares[5]!;
  await heartbeat(r, (f) => f.seeding === rShares.length && f.dormant === rShares.length);
  // A plaintext peer may not wake it (BITWEEN_ENCRYPTION=require drops plaintext peers).
  assert.equal(await probeComplete(r.port, s.infoHash, s.pieces, '127.0.0.1'), false, 'a plaintext handshake is refused');
  await heartbeat(r, (f) => f.dormant === rShares.length, 5000);
  const { leecher, sha1 } = await fetchFrom(r, s);
  assert.equal(sha1, await sha1File(s.path));
  await leecher.service!.stop();
});

test('a woken share goes dormant once its peer leaves, and is fetched again', async () => {
  const s = shares[COUNT - 1]!;
  await heartbeat(a, (f) => f.dormant === COUNT);
  const first = await fetchFrom(a, s);
  assert.equal(first.sha1, await sha1File(s.path));
  // The leecher stays connected (it seeds too): the share stays awake.
  await heartbeat(a, (f) => f.dormant === COUNT - 1, 5000);
  await first.leecher.service!.stop();
  await heartbeat(a, (f) => f.dormant === COUNT, DORMANT_AFTER_MS + 10000);
  const again = await fetchFrom(a, s);
  assert.equal(again.sha1, await sha1File(s.path));
  await again.leecher.service!.stop();
  // What it uploaded while awake stays counted once it sleeps: both fetches are in the stored totals.
  await heartbeat(a, (f) => f.dormant === COUNT, DORMANT_AFTER_MS + 10000);
  await until('both uploads in the stored totals', 10000, async () => {
    const { rows } = await a.db.pool.query<{ up: string }>('SELECT uploaded_bytes AS up FROM torrents WHERE info_hash = $1', [s.infoHash]);
    return Number(rows[0]?.up) >= 2 * SIZE ? true : undefined;
  });
});

test('a paused dormant share is not woken by a contact\'s handshake; resumed, it is', async () => {
  const s = shares[200]!;
  await heartbeat(a, (f) => f.dormant === COUNT);
  let since = a.bus.mark();
  await a.bus.publish('pause', [s.infoHash]);
  await a.bus.waitFor('torrent_paused', (m) => m.args[0] === s.infoHash, 10000, since);
  assert.equal(await probeComplete(a.port, s.infoHash, s.pieces, '127.0.0.1'), false, 'a paused share is not served');
  await heartbeat(a, (f) => f.dormant === COUNT - 1 && f.seeding === COUNT, 5000);
  since = a.bus.mark();
  await a.bus.publish('resume', [s.infoHash]);
  await a.bus.waitFor('torrent_resumed', (m) => m.args[0] === s.infoHash, 10000, since);
  await heartbeat(a, (f) => f.dormant === COUNT, 5000);
  assert.equal(await probeComplete(a.port, s.infoHash, s.pieces, '127.0.0.1', 10000), true, 'resumed, it is served');
});

test('a dormant share whose file is deleted turns missing, and is not served', async () => {
  const s = shares[42]!;
  await heartbeat(a, (f) => f.dormant === COUNT && f.missing === 0);
  const since = a.bus.mark();
  await rm(s.path);
  const err = await a.bus.waitFor('torrent_error', (m) => m.args[0] === s.infoHash, 10000, since);
  assert.equal((err.args[1] as { code: string }).code, 'E_FILES_MISSING');
  assert.equal(err.kwargs.status, 'missing');
  await heartbeat(a, (f) => f.missing === 1 && f.dormant === COUNT - 1, 5000);
  assert.equal(await probeComplete(a.port, s.infoHash, s.pieces, '127.0.0.1'), false, 'a missing share is not served');
});

test('a handshake that comes right after bt_ready, while the list of shares is still being read, is answered', async () => {
  const s = shares[250]!;
  await a.service!.stop();
  // Holds the list back: the restarted service reads `torrents` only behind bt_ready, and waits on this lock.
  const lock = await a.db.pool.connect();
  try {
    await lock.query('BEGIN');
    await lock.query('LOCK TABLE torrents IN ACCESS EXCLUSIVE MODE');
    const since = a.bus.mark();
    a.service = startService('torrent', a.env);
    const port = Number((await a.bus.waitFor('bt_ready', () => true, 15000, since)).args[0]);
    const answered = probeComplete(port, s.infoHash, s.pieces, '127.0.0.1', 20000);
    // Not turned away while no share is known yet (without the wait, webtorrent closes it at once)…
    const early = await Promise.race([answered.then(() => 'settled'), new Promise((r) => setTimeout(() => r('pending'), 1000).unref())]);
    assert.equal(early, 'pending', 'the connection was closed before the list was read');
    await lock.query('COMMIT');
    // …and answered with every piece once the list is read.
    assert.equal(await answered, true);
  } finally {
    await lock.query('ROLLBACK').catch(() => undefined);
    lock.release();
  }
});

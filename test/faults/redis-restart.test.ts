// Fault: the leecher's Redis restarts in the middle of a download (issue 11, fault suite). The leecher's bus
// is a private redis-server this file starts, stops and starts again on the same port; the seeder uses the
// shared test Redis. The seeder uploads at a fixed rate so the restart falls mid-transfer; the leecher fetches
// through a counting relay. Must survive: bytes equal, progress never goes back, nothing fetched twice, the
// bus works again both ways once Redis is back.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { getTorrent } from '../../lib/store/torrents.js';
import { startRedisServer, type RedisServer } from '../fixtures/redis-server.js';
import { startRelay, type Relay } from '../fixtures/relay.js';
import { sha1File } from '../helpers/files.js';
import { createTorrentNode, type TorrentNode } from '../helpers/torrent-node.js';
import { assertNeverBack, fetchShare, overheadAllowance, progressEvents, sampleStoredProgress, shareRandomFile, waitForHeartbeat, SEEDER_ENV } from './transfer.js';

/** The seeder's upload rate: a 16 MB download takes ~8 s. */
const RATE = 2_000_000;

let redis: RedisServer;
let a: TorrentNode;
let b: TorrentNode;
let relay: Relay | undefined;

before(async () => {
  redis = await startRedisServer();
  a = await createTorrentNode('rra', { ...SEEDER_ENV, BITWEEN_UPLOAD_LIMIT: String(RATE) });
  b = await createTorrentNode('rrb', { BITWEEN_REDIS_URL: redis.url });
  await Promise.all([a.start(), b.start()]);
});
after(async () => {
  const steps = [() => relay?.close(), () => b?.cleanup(), () => a?.cleanup(), () => redis?.close()];
  const failed: unknown[] = [];
  for (const step of steps) await Promise.resolve().then(step).catch((err) => failed.push(err));
  if (failed.length > 0) throw failed[0];
});

test('Redis restarted mid-transfer: the download completes, bytes equal, progress never goes back, the bus works again', async () => {
  const share = await shareRandomFile(a, 'through-restart.bin', 16_000_000);
  relay = await startRelay(a.port);
  const since = await fetchShare(b, share, relay.port);
  const rows = sampleStoredProgress(b, share.hash);
  try {
    await b.bus.waitFor('torrent_progress', (m) => m.args[0] === share.hash && Number(m.args[1]) >= share.size * 0.2, 30000, since);

    await redis.stop();
    const wireAtStop = relay.fromTarget;
    await redis.start();
    const backAt = Date.now();
    const mark = b.bus.mark();
    assert.ok(relay.fromTarget < share.size, `precondition: Redis restarted mid-transfer (${relay.fromTarget} of ${share.size} bytes moved)`);

    // First message from the service after Redis is back (the test's own subscriber reconnects too).
    await b.bus.waitFor('torrent_progress', (m) => m.args[0] === share.hash, 20000, mark);
    const firstMessageMs = Date.now() - backAt;
    // And the other way: the service receives and answers again (bad input → `error`).
    const roundTripFrom = Date.now();
    const errMark = b.bus.mark();
    await b.bus.publish('add_hash', ['not-a-hash']);
    await b.bus.waitFor('error', (m) => m.error?.topic === 'add_hash', 10000, errMark);
    const roundTripMs = Date.now() - roundTripFrom;
    // `bitween status` sees it again: the heartbeat key (gone with Redis's memory) is written anew.
    await waitForHeartbeat(b, 'a heartbeat in the restarted Redis', () => true, 10000);
    assert.equal(b.service!.child.exitCode, null, 'the service survived');

    await b.bus.waitFor('torrent_done', (m) => m.args[0] === share.hash, 60000, since);
    assert.equal(await sha1File(join(b.savePath, share.name)), share.sha1, 'bytes equal');
    const row = await getTorrent(b.db.pool, share.hash);
    assert.equal(row?.status, 'seeding');
    assert.equal(row?.bytesDone, share.size);
    rows.stop();
    assertNeverBack(rows.values, 'bytes_done in the store');
    assertNeverBack(progressEvents(b, share.hash, since), 'torrent_progress');
    assert.equal(b.bus.count('torrent_done', since), 1, 'torrent_done published once');

    const excess = relay.fromTarget - share.size;
    const allowance = overheadAllowance(share.size, row!.torrentFile!.length);
    process.stderr.write(`[redis-restart] restart at ${wireAtStop} of ${share.size} B; Redis back → first bus message ${firstMessageMs} ms, ` +
      `request → error answer ${roundTripMs} ms; wire excess ${excess} B (allowance ${allowance}); ${rows.values.length} row samples\n`);
    assert.ok(excess <= allowance, `nothing downloaded twice: ${excess} bytes beyond the payload (allowance ${allowance})`);
  } finally {
    rows.stop();
  }
});

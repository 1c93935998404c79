// Memory comes back when many torrents go dormant (services/torrent/torrents.ts, lib/memory.ts): a torrent
// service with 1,500 stored shares has every one woken by a handshake, then lets them all go dormant. What they
// held in webtorrent is garbage then, but V8 keeps its pages until told: the service's RSS (read from /proc)
// must fall well below what it was with all of them awake. Without the memory-reducing collection it stays.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { waitAllFetchable } from '../../bench/bt-probe.js';
import { until } from '../../bench/child.js';
import { procStatusBytes } from '../../bench/proc-stats.js';
import { REDIS_URL } from '../helpers/bus.js';
import { waitForHeartbeat } from '../helpers/heartbeat.js';
import { storeShares, writeShareFiles, type ShareFile } from '../helpers/many-shares.js';
import { createTorrentNode, type TorrentNode } from '../helpers/torrent-node.js';

const COUNT = 1500;
// Long enough that none goes back to sleep while the others are woken (~3 s here), short for the test.
const DORMANT_AFTER_MS = 6000;

let node: TorrentNode;
let redis: Redis;
let shares: ShareFile[];

const rssMiB = async (pid: number) => (await procStatusBytes(pid, 'VmRSS')) / 1048576;

before(async () => {
  redis = new Redis(REDIS_URL);
  // The probes come from 127.0.0.2… (one address per worker): strangers, so no friends-only check here.
  node = await createTorrentNode('dmem', { BITWEEN_PEERS: 'any', BITWEEN_DORMANT_AFTER_MS: String(DORMANT_AFTER_MS), BITWEEN_LOG_LEVEL: 'info' });
  const dir = join(node.dir, 'shares');
  shares = await writeShareFiles(dir, COUNT, 16 * 1024);
  await storeShares(node.db.pool, dir, shares);
  await node.start();
});

after(async () => {
  redis?.disconnect();
  await node?.cleanup();
});

test(`after ${COUNT} woken shares go dormant again, the torrent service gives their memory back`, async () => {
  const pid = node.service!.child.pid!;
  await waitForHeartbeat(redis, node.namespace, 'torrent', (hb) => hb.pid === pid && hb.facts.dormant === COUNT, 20000);
  const asleep = await rssMiB(pid);
  const started = Date.now();
  await waitAllFetchable(() => node.port, shares, 60000, 16);
  assert.ok(Date.now() - started < DORMANT_AFTER_MS, 'every share was woken before the first went back to sleep');
  const awake = await rssMiB(pid);
  assert.ok(awake - asleep > 40, `waking ${COUNT} shares took memory: RSS ${asleep.toFixed(0)} → ${awake.toFixed(0)} MiB`);

  await waitForHeartbeat(redis, node.namespace, 'torrent', (hb) => hb.pid === pid && hb.facts.dormant === COUNT, DORMANT_AFTER_MS + 20000);
  // At least half of what waking took is given back (without the collection: none of it, RSS stays at `awake`).
  const target = awake - (awake - asleep) / 2;
  const back = await until(`RSS below ${target.toFixed(0)} MiB`, 10000, async () => {
    const now = await rssMiB(pid);
    return now < target ? now : undefined;
  }, 100).catch(async () => rssMiB(pid));
  assert.ok(back < target, `RSS ${asleep.toFixed(0)} MiB asleep, ${awake.toFixed(0)} awake, ${back.toFixed(0)} once dormant again: wanted below ${target.toFixed(0)}`);
});

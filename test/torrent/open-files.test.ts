// Open files stay bounded (issue 14.3): a torrent service with 5,000 shares under `ulimit -n 1024` starts,
// seeds every one, and holds no more data files open than BITWEEN_MAX_OPEN_FILES, also after a peer fetched
// more torrents from it than the bound (each read opens a file; the least recently used idle one is closed).
import assert from 'node:assert/strict';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { REDIS_URL } from '../helpers/bus.js';
import { sha1File } from '../helpers/files.js';
import { waitForHeartbeat } from '../helpers/heartbeat.js';
import { storeShares, writeShareFiles, type ShareFile } from '../helpers/many-shares.js';
import { startServiceReady } from '../helpers/process.js';
import { createTorrentNode, storeContactAddress, storeContactShare, type TorrentNode } from '../helpers/torrent-node.js';

const COUNT = 5000;
const MAX_OPEN_FILES = 32;
/** More torrents fetched than files may stay open. */
const FETCHED = 48;
/** Descriptors besides data files: node itself, Redis, Postgres, the listening socket, peers. */
const OTHER_FDS = 48;

let a: TorrentNode;
let b: TorrentNode;
let redis: Redis;
let shares: ShareFile[];
let shareDir: string;

async function openFds(pid: number): Promise<{ total: number; files: number }> {
  let total = 0;
  let files = 0;
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => undefined);
    if (target === undefined) continue;
    total++;
    if (target.startsWith(shareDir)) files++;
  }
  return { total, files };
}

before(async () => {
  a = await createTorrentNode('ofa', { BITWEEN_MAX_OPEN_FILES: String(MAX_OPEN_FILES) });
  b = await createTorrentNode('ofb');
  redis = new Redis(REDIS_URL);
  shareDir = join(a.dir, 'shares');
  // Written straight into A's store as shares (sharing 5,000 files one request at a time would take minutes).
  shares = await writeShareFiles(shareDir, COUNT, 16 * 1024);
  await storeShares(a.db.pool, shareDir, shares);
  await b.start();
  await storeContactAddress(a, { port: b.port });
  // A in place of the shell that set the limit (same pid): the limit is A's own.
  const since = a.bus.mark();
  a.service = await startServiceReady('torrent', a.env, { prefix: ['bash', '-c', 'ulimit -n 1024 && exec "$0" "$@"'] });
  a.port = Number((await a.bus.waitFor('bt_ready', () => true, 30000, since)).args[0]);
});

after(async () => {
  redis?.disconnect();
  await Promise.all([a?.cleanup(), b?.cleanup()]);
});

test('5,000 shares under ulimit -n 1024: all seed, data files open stay within BITWEEN_MAX_OPEN_FILES', async () => {
  const pid = a.service!.child.pid!;
  assert.match(await readFile(`/proc/${pid}/limits`, 'utf8'), /Max open files\s+1024\s/, 'the service runs under the limit');
  const hb = await waitForHeartbeat(redis, a.namespace, 'torrent', (h) => h.pid === pid && (h.facts.states as { seeding?: number } | undefined)?.seeding === COUNT, 60000);
  assert.equal((hb.facts.states as Record<string, number>).error, 0);
  const idle = await openFds(pid);
  assert.ok(idle.total <= MAX_OPEN_FILES + OTHER_FDS, `after start: ${idle.total} descriptors (${idle.files} data files)`);

  // B fetches torrents from the start, the middle and the end of A's list: each one A serves opens a file.
  const picked = Array.from({ length: FETCHED }, (_, i) => shares[Math.round((i * (COUNT - 1)) / (FETCHED - 1))]!);
  for (const s of picked) await storeContactShare(b, { infoHash: s.infoHash, name: s.name, size: s.size, address: '127.0.0.1', port: a.port });
  const since = b.bus.mark();
  for (const s of picked) await b.bus.publish('add_hash', [s.infoHash]);
  const done = new Set<string>();
  for (const s of picked) {
    await b.bus.waitFor('torrent_done', (m) => m.args[0] === s.infoHash, 120000, since);
    done.add(s.infoHash);
  }
  assert.equal(done.size, FETCHED);
  for (const s of picked.slice(0, 3).concat(picked.slice(-3))) assert.equal(await sha1File(join(b.savePath, s.name)), await sha1File(s.path));

  const served = await openFds(pid);
  assert.ok(served.files <= MAX_OPEN_FILES, `after serving ${FETCHED} torrents: ${served.files} data files open (bound ${MAX_OPEN_FILES})`);
  // B stays connected to A for each torrent (both seed it now): one socket per torrent fetched.
  assert.ok(served.total <= MAX_OPEN_FILES + OTHER_FDS + FETCHED, `after serving: ${served.total} descriptors`);
  assert.equal(a.service!.child.exitCode, null, 'A still runs');
});

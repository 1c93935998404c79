// Controls (issue 13.5), between two real torrent services: pause / resume (mid-download, across a restart, a
// paused share not advertised), rate limits changed at run time and kept across a restart, per-file selection
// of a folder download, upload / download totals kept across restarts; the CLI commands for them.
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { until } from '../../bench/child.js';
import { getState, StateKey } from '../../lib/store/state.js';
import { getTorrent, listOwnShares, type TorrentRow } from '../../lib/store/torrents.js';
import { runCli } from '../helpers/cli.js';
import { sha1File, treeDigest, writeRandomFile } from '../helpers/files.js';
import { waitForHeartbeat } from '../helpers/heartbeat.js';
import { freePort } from '../helpers/ports.js';
import { createTorrentNode, storeContactAddress, storeContactShare, type TorrentNode } from '../helpers/torrent-node.js';

const BIG = 6_000_000;
const SMALL = 2_000_000;
/** Over a 500 KB/s upload limit a 2 MB transfer takes ≥ 4 s; allow for a first burst. */
const LIMIT = 500_000;
const LIMITED_MIN_MS = 3000;
/** How long "nothing moves while paused" is watched: 10 progress intervals of the test nodes (200 ms). */
const QUIET_MS = 2000;

let a: TorrentNode;
let b: TorrentNode;
const hashes: Record<string, string> = {};
const paths: Record<string, string> = {};

async function share(name: string, path: string): Promise<string> {
  const since = a.bus.mark();
  await a.bus.publish('generate_torrent', [path]);
  const added = await a.bus.waitFor('torrent_added', (m) => m.kwargs.path === path, 30000, since);
  const hash = String(added.args[0]);
  await storeContactShare(b, { infoHash: hash, name, size: 1, address: '127.0.0.1', port: a.port });
  return hash;
}

function row(node: TorrentNode, hash: string): Promise<TorrentRow> {
  return getTorrent(node.db.pool, hash).then((r) => {
    assert.ok(r, `row of ${hash} stored`);
    return r;
  });
}

/** Waits (bounded) until the stored row of `hash` satisfies `ok`. */
function rowUntil(node: TorrentNode, hash: string, what: string, ok: (r: TorrentRow) => boolean, timeoutMs = 20000): Promise<TorrentRow> {
  return until(what, timeoutMs, async () => {
    const r = await getTorrent(node.db.pool, hash);
    return r && ok(r) ? r : undefined;
  }, 100);
}

/** The running service's heartbeat facts (of this process: after a restart the old key may linger). */
async function facts(node: TorrentNode): Promise<Record<string, unknown>> {
  const hb = await waitForHeartbeat(node.bus.pub, node.namespace, 'torrent', (h) => h.pid === node.service!.child.pid, 15000);
  return hb.facts as Record<string, unknown>;
}

/** Fetches `hash` on B and returns the ms from add_hash to torrent_done. */
async function fetchTimed(hash: string): Promise<number> {
  const since = b.bus.mark();
  const t0 = Date.now();
  await b.bus.publish('add_hash', [hash]);
  await b.bus.waitFor('torrent_done', (m) => m.args[0] === hash, 60000, since);
  return Date.now() - t0;
}

async function restart(node: TorrentNode): Promise<void> {
  assert.equal(await node.service!.stop(), 0, 'exits 0 on SIGTERM');
  await node.start();
}

before(async () => {
  // A seeds on a fixed port (B finds it after restarts), slowly at first (config limit) so pauses land mid-way.
  a = await createTorrentNode('ca', { BITWEEN_TORRENT_PORT: String(await freePort()), BITWEEN_UPLOAD_LIMIT: '1000000' });
  b = await createTorrentNode('cb');
  await Promise.all([a.start(), b.start()]);
  await storeContactAddress(a, { port: b.port }); // A serves only its contacts: B is one
  for (const name of ['big1.bin', 'big2.bin']) {
    paths[name] = join(a.dir, 'share', name);
    await writeRandomFile(paths[name], BIG);
  }
  for (const name of ['f1.bin', 'f2.bin', 'f3.bin']) {
    paths[name] = join(a.dir, 'share', name);
    await writeRandomFile(paths[name], SMALL);
  }
  // Sizes that are not multiples of any piece length: file 1 shares a piece with each neighbour.
  paths.trio = join(a.dir, 'share', 'trio');
  await writeRandomFile(join(paths.trio, 'a.bin'), 700_001);
  await writeRandomFile(join(paths.trio, 'b.bin'), 1_000_003);
  await writeRandomFile(join(paths.trio, 'c.bin'), 500_007);
  for (const name of Object.keys(paths)) hashes[name] = await share(name, paths[name]!);
});
after(async () => {
  await Promise.all([a?.cleanup(), b?.cleanup()]);
});

test('pause mid-download: nothing moves while paused; resume completes it, bytes equal; totals counted', async () => {
  const hash = hashes['big1.bin']!;
  let since = b.bus.mark();
  await b.bus.publish('add_hash', [hash]);
  await b.bus.waitFor('torrent_progress', (m) => m.args[0] === hash && Number(m.args[1]) >= BIG * 0.15, 30000, since);
  since = b.bus.mark();
  await b.bus.publish('pause', [hash]);
  await b.bus.waitFor('torrent_paused', (m) => m.args[0] === hash, 10000, since);
  const paused = await row(b, hash);
  assert.equal(paused.paused, true);
  assert.equal(paused.status, 'downloading', 'status kept while paused');
  assert.ok(paused.bytesDone > 0 && paused.bytesDone < BIG, `progress kept (${paused.bytesDone})`);
  const onDisk = (await stat(join(b.savePath, 'big1.bin'))).size;

  // A negative claim needs a window: QUIET_MS of no progress, no bytes, no new data on disk.
  const quiet = b.bus.mark();
  await new Promise((r) => setTimeout(r, QUIET_MS));
  assert.equal(b.bus.seen.slice(quiet).filter((m) => m.topic === 'torrent_progress' && m.args[0] === hash).length, 0, 'no progress while paused');
  assert.equal((await row(b, hash)).bytesDone, paused.bytesDone, 'bytes_done unchanged while paused');
  assert.equal((await stat(join(b.savePath, 'big1.bin'))).size, onDisk, 'file not written while paused');
  assert.equal((await facts(b)).paused, 1, 'heartbeat counts the paused torrent');

  since = b.bus.mark();
  await b.bus.publish('resume', [hash]);
  const resumed = await b.bus.waitFor('torrent_resumed', (m) => m.args[0] === hash, 10000, since);
  assert.equal(resumed.kwargs.status, 'downloading');
  await b.bus.waitFor('torrent_done', (m) => m.args[0] === hash, 60000, since);
  assert.equal(await sha1File(join(b.savePath, 'big1.bin')), await sha1File(paths['big1.bin']!));
  assert.equal((await row(b, hash)).paused, false);

  // Totals: the leecher received the file, the seeder sent it (pieces sent before the pause count too).
  const down = await rowUntil(b, hash, 'downloaded_bytes ≥ size on B', (r) => r.downloadedBytes >= BIG);
  const up = await rowUntil(a, hash, 'uploaded_bytes ≥ size on A', (r) => r.uploadedBytes >= BIG);
  console.log(`totals: B downloaded ${down.downloadedBytes}, A uploaded ${up.uploadedBytes} of ${BIG}`);
});

test('a pause survives a restart; resume after it completes the download', async () => {
  const hash = hashes['big2.bin']!;
  let since = b.bus.mark();
  await b.bus.publish('add_hash', [hash]);
  await b.bus.waitFor('torrent_progress', (m) => m.args[0] === hash && Number(m.args[1]) >= BIG * 0.15, 30000, since);
  since = b.bus.mark();
  await b.bus.publish('pause', [hash]);
  await b.bus.waitFor('torrent_paused', (m) => m.args[0] === hash, 10000, since);
  const before = await row(b, hash);
  const totalsBefore = (await row(b, hashes['big1.bin']!)).downloadedBytes;

  await restart(b);
  const quiet = b.bus.mark();
  await new Promise((r) => setTimeout(r, QUIET_MS));
  const after = await row(b, hash);
  assert.equal(after.paused, true, 'still paused after the restart');
  assert.equal(after.status, 'downloading');
  assert.equal(after.bytesDone, before.bytesDone, 'no bytes fetched while paused after the restart');
  assert.equal(b.bus.count('torrent_done', quiet), 0);
  assert.equal((await facts(b)).paused, 1);
  // Totals are kept across the restart (the first test's download).
  assert.ok((await row(b, hashes['big1.bin']!)).downloadedBytes >= totalsBefore, 'downloaded total kept');

  since = b.bus.mark();
  await b.bus.publish('resume', [hash]);
  await b.bus.waitFor('torrent_resumed', (m) => m.args[0] === hash, 10000, since);
  await b.bus.waitFor('torrent_done', (m) => m.args[0] === hash, 60000, since);
  assert.equal(await sha1File(join(b.savePath, 'big2.bin')), await sha1File(paths['big2.bin']!));
});

test('a paused share is not advertised, and seeds again once resumed; totals kept across its restart', async () => {
  const hash = hashes['big1.bin']!;
  const uploaded = (await row(a, hash)).uploadedBytes;
  let since = a.bus.mark();
  await a.bus.publish('pause', [hash]);
  await a.bus.waitFor('torrent_paused', (m) => m.args[0] === hash && m.kwargs.status === 'seeding', 10000, since);
  assert.ok(!(await listOwnShares(a.db.pool)).some((s) => s.infoHash === hash), 'not in the advertised shares');
  since = a.bus.mark();
  await a.bus.publish('recheck', [hash]);
  const refused = await a.bus.waitFor('error', (m) => m.error?.topic === 'recheck', 10000, since);
  assert.equal(refused.error?.code, 'E_BAD_INPUT', 'a paused torrent is resumed before a recheck');
  await restart(a);
  assert.equal((await row(a, hash)).paused, true, 'still paused after the restart');
  assert.equal((await facts(a)).paused, 1);
  assert.ok((await row(a, hash)).uploadedBytes >= uploaded, `uploaded total kept (${uploaded})`);
  since = a.bus.mark();
  await a.bus.publish('resume', [hash]);
  const resumed = await a.bus.waitFor('torrent_resumed', (m) => m.args[0] === hash, 10000, since);
  assert.equal(resumed.kwargs.status, 'seeding');
  assert.ok((await listOwnShares(a.db.pool)).some((s) => s.infoHash === hash), 'advertised again');
  // Unknown hash: E_NOT_FOUND with the hash.
  since = a.bus.mark();
  await a.bus.publish('pause', ['f'.repeat(40)]);
  const err = await a.bus.waitFor('error', (m) => m.error?.topic === 'pause', 10000, since);
  assert.equal(err.error?.code, 'E_NOT_FOUND');
});

test('set_limits changes the upload rate at run time and is kept across a restart', async () => {
  // A's config limit was 1 MB/s; from now on the stored limit wins.
  let since = a.bus.mark();
  await a.bus.publish('set_limits', [{ upload: LIMIT }]);
  const changed = await a.bus.waitFor('limits_changed', () => true, 10000, since);
  assert.deepEqual(changed.args[0], { upload: LIMIT, download: 0 });
  const limited = await fetchTimed(hashes['f1.bin']!);
  assert.ok(limited >= LIMITED_MIN_MS, `2 MB at ${LIMIT} B/s took ${limited} ms (≥ ${LIMITED_MIN_MS})`);

  await restart(a);
  assert.deepEqual(await getState(a.db.pool, StateKey.torrentLimits), { upload: LIMIT, download: 0 });
  assert.deepEqual((await facts(a)).limits, { upload: LIMIT, download: 0, from: 'store' });
  const afterRestart = await fetchTimed(hashes['f2.bin']!);
  assert.ok(afterRestart >= LIMITED_MIN_MS, `after the restart 2 MB took ${afterRestart} ms (≥ ${LIMITED_MIN_MS})`);

  // Bad values are refused and change nothing.
  for (const bad of [{ upload: -1 }, { upload: '1M' }, { up: 5 }, {}]) {
    since = a.bus.mark();
    await a.bus.publish('set_limits', [bad]);
    const err = await a.bus.waitFor('error', (m) => m.error?.topic === 'set_limits', 10000, since);
    assert.equal(err.error?.code, 'E_BAD_INPUT', JSON.stringify(bad));
  }
  assert.deepEqual((await facts(a)).limits, { upload: LIMIT, download: 0, from: 'store' });

  since = a.bus.mark();
  await a.bus.publish('set_limits', [], { upload: 0 }); // the kwargs form
  await a.bus.waitFor('limits_changed', (m) => (m.args[0] as { upload: number }).upload === 0, 10000, since);
  const unlimited = await fetchTimed(hashes['f3.bin']!);
  console.log(`2 MB: ${limited} ms limited, ${afterRestart} ms limited after restart, ${unlimited} ms unlimited`);
  assert.ok(unlimited < limited, `unlimited (${unlimited} ms) faster than limited (${limited} ms)`);
  for (const f of ['f1.bin', 'f2.bin', 'f3.bin']) assert.equal(await sha1File(join(b.savePath, f)), await sha1File(paths[f]!));
});

test('per-file selection: only the selected file is fetched, kept across a restart; selecting all fetches the rest', async () => {
  const hash = hashes.trio!;
  let since = b.bus.mark();
  await b.bus.publish('add_hash', [hash], { files: [1] });
  await b.bus.waitFor('torrent_done', (m) => m.args[0] === hash, 60000, since);
  const local = join(b.savePath, 'trio');
  assert.equal(await sha1File(join(local, 'b.bin')), await sha1File(join(paths.trio!, 'b.bin')), 'the selected file is complete');
  for (const other of ['a.bin', 'c.bin']) {
    // Absent, or holding only the piece it shares with b.bin.
    const size = await stat(join(local, other)).then((s) => s.size, () => 0);
    const complete = size > 0 && (await sha1File(join(local, other))) === (await sha1File(join(paths.trio!, other)));
    assert.ok(!complete, `${other} not fetched (${size} bytes on disk)`);
  }
  let r = await row(b, hash);
  assert.equal(r.status, 'seeding', 'a complete selection seeds what it has');
  assert.deepEqual(r.selectedFiles, [1]);
  assert.ok(r.bytesDone < r.totalSize!, `bytes_done ${r.bytesDone} < ${r.totalSize}`);

  await restart(b);
  r = await row(b, hash);
  assert.equal(r.status, 'seeding');
  assert.deepEqual(r.selectedFiles, [1], 'selection kept across the restart');

  // An index past the last file is refused.
  since = b.bus.mark();
  await b.bus.publish('select_files', [hash, [7]]);
  const err = await b.bus.waitFor('error', (m) => m.error?.topic === 'select_files', 10000, since);
  assert.equal(err.error?.code, 'E_BAD_INPUT');

  since = b.bus.mark();
  await b.bus.publish('select_files', [hash, null]);
  const selected = await b.bus.waitFor('files_selected', (m) => m.args[0] === hash, 10000, since);
  assert.equal(selected.args[1], null);
  await b.bus.waitFor('torrent_done', (m) => m.args[0] === hash, 60000, since);
  assert.deepEqual(await treeDigest(local), await treeDigest(paths.trio!));
  r = await row(b, hash);
  assert.equal(r.selectedFiles, null);
  assert.equal(r.bytesDone, r.totalSize);
});

test('CLI: pause and resume, ls shows paused and ratio, limits, files --select', async () => {
  const hash = hashes.trio!;
  const prefix = hash.slice(0, 12);
  let r = await runCli(['pause', prefix, '--json'], b.env);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { infoHash: hash, name: 'trio', paused: true, status: 'seeding' });
  r = await runCli(['ls'], b.env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^${prefix} .* seeding \\(paused\\) `, 'm'));
  r = await runCli(['ls', '--json'], b.env);
  const listed = (JSON.parse(r.stdout) as { infoHash: string; paused: boolean; downloadedBytes: number; ratio: number | null }[]).find((t) => t.infoHash === hashes['big1.bin']);
  assert.ok(listed && listed.downloadedBytes >= BIG && listed.ratio !== null, JSON.stringify(listed));
  r = await runCli(['resume', prefix], b.env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'resumed trio (seeding)\n');
  assert.equal((await row(b, hash)).paused, false);

  r = await runCli(['limits', '--up', '1.5M', '--down', '0', '--json'], b.env);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { upload: 1572864, download: 0, from: 'store' });
  assert.deepEqual(await getState(b.db.pool, StateKey.torrentLimits), { upload: 1572864, download: 0 });
  r = await runCli(['limits', '--up', '2MB'], b.env);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^bitween: "2MB" is not a rate: /);
  r = await runCli(['limits', '--up', '0'], b.env);
  assert.equal(r.stdout, 'upload: no limit, download: no limit\n');

  r = await runCli(['files', prefix, '--select', '0', '--json'], b.env);
  assert.equal(r.code, 0, r.stderr);
  const files = JSON.parse(r.stdout) as { selectedFiles: number[]; files: { index: number; path: string; size: number; bytesDone: number; selected: boolean }[] };
  assert.deepEqual(files.selectedFiles, [0]);
  assert.deepEqual(files.files.map((f) => [f.index, f.path, f.size, f.selected]), [
    [0, 'a.bin', 700_001, true],
    [1, 'b.bin', 1_000_003, false],
    [2, 'c.bin', 500_007, false],
  ]);
  r = await runCli(['files', prefix, '--select', '9'], b.env);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /no file 9: the torrent has 3 files/);
});

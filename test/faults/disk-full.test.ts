// Fault: the download folder fills up (issue 11, fault suite). The leecher saves into an 8 MiB tmpfs this
// file mounts (CI runs as root) and fetches a 32 MiB share, so writes fail with ENOSPC part-way.
// Required (core-spec.md): the torrent stays listed in state error with code E_DISK_FULL and a torrent_error
// event; del_torrent with delete_files then removes the partial file and the row; the service answers on.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { until } from '../../bench/child.js';
import { getTorrent } from '../../lib/store/torrents.js';
import { mountTmpfs, type Tmpfs } from '../fixtures/tmpfs.js';
import { writeRandomFile } from '../helpers/files.js';
import { createTorrentNode, type TorrentNode } from '../helpers/torrent-node.js';
import { fetchShare, shareRandomFile, waitForHeartbeat, SEEDER_ENV } from './transfer.js';

const DISK = 8 * 1024 * 1024;
const SIZE = 32 * 1024 * 1024;
/** Put on the tmpfs by the test: deleting the torrent's files must leave it alone. */
const MARKER = 'not-bitweens.txt';

let disk: Tmpfs;
let a: TorrentNode;
let b: TorrentNode;

before(async () => {
  disk = await mountTmpfs(DISK);
  await writeFile(join(disk.path, MARKER), 'the test put this here\n');
  a = await createTorrentNode('dfa', SEEDER_ENV);
  b = await createTorrentNode('dfb', { BITWEEN_SAVE_PATH: disk.path });
  await Promise.all([a.start(), b.start()]);
});
after(async () => {
  // The service goes first: a file it holds open would keep the tmpfs busy.
  const steps = [() => b?.cleanup(), () => a?.cleanup(), () => disk?.cleanup()];
  const failed: unknown[] = [];
  for (const step of steps) await Promise.resolve().then(step).catch((err) => failed.push(err));
  if (failed.length > 0) throw failed[0];
});

interface ErrorColumns {
  status: string;
  error_code: string | null;
  error_reason: string | null;
}

test('a full disk: the torrent stays listed as E_DISK_FULL, delete_files removes the partial file, the service answers on', async () => {
  const share = await shareRandomFile(a, 'too-big.bin', SIZE);
  const startedAt = Date.now();
  const since = await fetchShare(b, share, a.port);

  const event = await b.bus.waitFor('torrent_error', (m) => m.args[0] === share.hash, 60000, since);
  const errorAfterMs = Date.now() - startedAt;
  const detail = event.args[1] as { code?: string; reason?: string };
  assert.equal(detail.code, 'E_DISK_FULL');
  assert.ok(typeof detail.reason === 'string' && detail.reason.length > 0 && !detail.reason.includes('\n'), `a one-line reason: ${JSON.stringify(detail.reason)}`);
  assert.equal(b.bus.count('torrent_done', since), 0);

  // Listed in state error, with the reason in the store (columns of migration torrent_states).
  const row = await until('the row in state error', 10000, async () => {
    const { rows } = await b.db.pool.query<ErrorColumns>(`SELECT status, error_code, error_reason FROM torrents WHERE info_hash = $1`, [share.hash]);
    return rows[0]?.status === 'error' ? rows[0] : undefined;
  });
  assert.equal(row.error_code, 'E_DISK_FULL');
  assert.ok(row.error_reason, 'error_reason stored');
  await waitForHeartbeat(b, 'one torrent in error', (h) => (h.facts.states as { error?: number } | undefined)?.error === 1);
  assert.equal(b.service!.child.exitCode, null, 'the service survives a full disk');
  const usedBefore = await disk.used();
  assert.ok((await disk.list()).includes(share.name), 'the partial file is there before the removal');

  let mark = b.bus.mark();
  await b.bus.publish('del_torrent', [share.hash, { delete_files: true }]);
  await b.bus.waitFor('torrent_removed', (m) => m.args[0] === share.hash, 15000, mark);
  const removedAt = Date.now();
  assert.deepEqual(await disk.list(), [MARKER], 'only what the test put there is left');
  // The store journal writes behind: the row may outlive the event by a moment.
  await until('the row to be gone', 10000, async () => ((await getTorrent(b.db.pool, share.hash)) === undefined ? true : undefined), 20);
  const rowGoneMs = Date.now() - removedAt;
  const usedAfter = await disk.used();

  // The service still takes requests: a small share on B comes and goes.
  const small = join(b.dir, 'share', 'small.bin');
  await writeRandomFile(small, 100_000);
  mark = b.bus.mark();
  await b.bus.publish('generate_torrent', [small]);
  const added = await b.bus.waitFor('torrent_added', (m) => m.kwargs.path === small, 20000, mark);
  await b.bus.publish('del_torrent', [String(added.args[0])]);
  await b.bus.waitFor('torrent_removed', (m) => m.args[0] === added.args[0], 15000, mark);

  process.stderr.write(`[disk-full] add → torrent_error ${errorAfterMs} ms; tmpfs used ${usedBefore} B before delete_files, ${usedAfter} B after; ` +
    `row gone ${rowGoneMs} ms after torrent_removed; reason: ${detail.reason}; ${b.bus.count('error', since)} message(s) on the error topic\n`);
});

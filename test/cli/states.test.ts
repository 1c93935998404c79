// Torrents in error, missing and changed state as the user sees them: `bitween ls` (table and --json) with
// the reason and what to do, `bitween status` with the torrent service's store and state facts, and
// `bitween recheck` against a real torrent service: an unknown hash, a share whose file went away (still
// missing, then back and seeding), a share whose bytes changed (stays changed).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { startHeartbeat } from '../../lib/heartbeat.js';
import { createLogger } from '../../lib/log.js';
import { getTorrent } from '../../lib/store/torrents.js';
import { newNamespace, REDIS_URL } from '../helpers/bus.js';
import { runCli, tableRows } from '../helpers/cli.js';
import { writeRandomFile } from '../helpers/files.js';
import { createTorrentNode, type TorrentNode } from '../helpers/torrent-node.js';

let node: TorrentNode;

before(async () => {
  // No periodic file check during the test: what notices a change here is the recheck the test asks for.
  node = await createTorrentNode('cstates', { BITWEEN_FILE_CHECK_INTERVAL_MS: '86400000' });
  await node.start();
});
after(async () => {
  await node?.cleanup();
});

const hash = () => randomBytes(20).toString('hex');

/** A row as the torrent service writes it (the migration's columns), inserted directly. */
async function insertRow(r: { infoHash: string; name: string | null; status: string; origin: string; savePath: string; size: number | null; done: number; code?: string; reason?: string }) {
  await node.db.pool.query(
    `INSERT INTO torrents (info_hash, name, magnet_link, status, origin, save_path, total_size, bytes_done, error_code, error_reason)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [r.infoHash, r.name, `magnet:?xt=urn:btih:${r.infoHash}`, r.status, r.origin, r.savePath, r.size, r.done, r.code ?? null, r.reason ?? null],
  );
}

async function waitForStatus(infoHash: string, status: string): Promise<void> {
  const deadline = Date.now() + 20000;
  for (;;) {
    const row = await getTorrent(node.db.pool, infoHash);
    if (row?.status === status) return;
    assert.ok(Date.now() < deadline, `status of ${infoHash} is ${row?.status}, not ${status}, after 20 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const rows = {
  seeding: { infoHash: hash(), name: 'fine.iso', status: 'seeding', origin: 'shared', savePath: '/srv/share', size: 1024, done: 1024 },
  downloading: { infoHash: hash(), name: 'halfway.mkv', status: 'downloading', origin: 'fetched', savePath: '/srv/in', size: 2048, done: 1024 },
  error: {
    infoHash: hash(), name: 'big.tar', status: 'error', origin: 'fetched', savePath: '/srv/in', size: 4096, done: 100,
    code: 'E_DISK_FULL', reason: 'disk full writing to /srv/in: free some space, then `bitween recheck` to continue',
  },
  missing: {
    infoHash: hash(), name: 'photos', status: 'missing', origin: 'shared', savePath: '/media/usb', size: 512, done: 512,
    code: 'E_FILES_MISSING', reason: 'no data found at /media/usb/photos/a.jpg: put the files back (or mount the drive), then `bitween recheck`',
  },
  changed: {
    infoHash: hash(), name: 'notes.txt', status: 'changed', origin: 'shared', savePath: '/home/me', size: 10, done: 10,
    code: 'E_FILES_CHANGED', reason: '/home/me/notes.txt changed since it was shared: `bitween share` it again to share the new version',
  },
};

test('ls lists torrents in every state, and says under the table why each failed one stopped and what to do', async () => {
  for (const r of Object.values(rows)) await insertRow(r);
  const r = await runCli(['ls'], node.env);
  assert.equal(r.code, 0, r.stderr);
  const [table, problems] = r.stdout.trimEnd().split('\n\n');
  const cells = tableRows(table!);
  assert.deepEqual(cells[0], ['HASH', 'NAME', 'SIZE', 'DONE', 'STATE', 'PEERS', 'DOWN', 'UP', 'RATIO']);
  const stateOf = (h: string) => cells.find((c) => c[0] === h.slice(0, 12))?.[4];
  for (const row of Object.values(rows)) assert.equal(stateOf(row.infoHash), row.status, row.name);
  const short = (h: string) => h.slice(0, 12);
  assert.deepEqual(problems!.split('\n'), [
    `${short(rows.error.infoHash)}  error (E_DISK_FULL): ${rows.error.reason}`,
    `  \`bitween recheck ${short(rows.error.infoHash)}\` verifies what is on disk and goes on; \`bitween rm ${short(rows.error.infoHash)}\` drops it`,
    `${short(rows.missing.infoHash)}  missing (E_FILES_MISSING): ${rows.missing.reason}`,
    `  files not found at /media/usb/photos: put them back and run \`bitween recheck ${short(rows.missing.infoHash)}\``,
    `${short(rows.changed.infoHash)}  changed (E_FILES_CHANGED): ${rows.changed.reason}`,
    `  the files changed since they were shared: \`bitween share /home/me/notes.txt\` to share the new version, \`bitween rm ${short(rows.changed.infoHash)}\` to drop the old one`,
  ]);
});

test('ls --json gives each torrent its state, errorCode and errorReason (null when all is well)', async () => {
  const r = await runCli(['ls', '--json'], node.env);
  assert.equal(r.code, 0, r.stderr);
  const list = JSON.parse(r.stdout) as Record<string, unknown>[];
  for (const row of Object.values(rows)) {
    const t = list.find((x) => x.infoHash === row.infoHash);
    assert.ok(t, row.name!);
    assert.equal(t.state, row.status);
    assert.equal(t.errorCode, 'code' in row ? row.code : null);
    assert.equal(t.errorReason, 'reason' in row ? row.reason : null);
  }
});

test('recheck of a hash this node does not have: not found, exit 1', async () => {
  const unknown = hash();
  const r = await runCli(['recheck', unknown], node.env);
  assert.equal(r.code, 1, r.stdout);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, `bitween: no torrent ${unknown} here: \`bitween ls\` lists what this node has\n`);
});

test('recheck of a stored hash the torrent service does not hold: its not-found answer, exit 1', async () => {
  // Inserted after the service started: only the store has it, so the service answers on `error`.
  const r = await runCli(['recheck', rows.error.infoHash, '--timeout', '60'], node.env, { timeoutMs: 90000 });
  assert.equal(r.code, 1, r.stdout);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, new RegExp(`^bitween: torrent service: no torrent ${rows.error.infoHash}\\b.*\\n$`));
});

let shareHash: string;
const sharePath = () => join(node.dir, 'share', 'holiday.bin');

test('a share whose file went away: recheck says it is still missing (exit 1), ls and status show it', { timeout: 120000 }, async () => {
  await writeRandomFile(sharePath(), 600_000);
  const shared = await runCli(['share', sharePath(), '--timeout', '60'], node.env, { timeoutMs: 90000 });
  assert.equal(shared.code, 0, shared.stderr);
  shareHash = shared.stdout.trim();
  await waitForStatus(shareHash, 'seeding');

  await rename(sharePath(), `${sharePath()}.away`); // keeps the mtime, so putting it back restores it as it was
  const r = await runCli(['recheck', shareHash.slice(0, 10), '--timeout', '60'], node.env, { timeoutMs: 90000 });
  assert.equal(r.code, 1, r.stdout);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, new RegExp(`^bitween: holiday\\.bin is still missing: no data found at ${sharePath().replace(/\./g, '\\.')}.*\\n$`));

  await waitForStatus(shareHash, 'missing');
  const ls = await runCli(['ls', '--json'], node.env);
  const t = (JSON.parse(ls.stdout) as Record<string, unknown>[]).find((x) => x.infoHash === shareHash)!;
  assert.equal(t.state, 'missing');
  assert.equal(t.errorCode, 'E_FILES_MISSING');
  const human = await runCli(['ls'], node.env);
  assert.match(human.stdout, new RegExp(`^  files not found at ${sharePath().replace(/\./g, '\\.')}: put them back and run \`bitween recheck ${shareHash.slice(0, 12)}\`$`, 'm'));

  // The torrent service counts it among its missing torrents; status says so.
  const deadline = Date.now() + 20000;
  for (;;) {
    const status = await runCli(['status'], node.env);
    assert.equal(status.code, 0, status.stderr);
    if (/^ {2}.*missing 1 \(`bitween ls` says why\)/m.test(status.stdout)) break;
    assert.ok(Date.now() < deadline, `status never showed the missing torrent:\n${status.stdout}`);
    await new Promise((res) => setTimeout(res, 500));
  }
});

test('the file put back unchanged: recheck verifies it and the share seeds again (exit 0)', { timeout: 120000 }, async () => {
  await rename(`${sharePath()}.away`, sharePath());
  const r = await runCli(['recheck', shareHash, '--timeout', '60'], node.env, { timeoutMs: 90000 });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'rechecked holiday.bin: all of it is on disk, seeding again\n');
  const row = await getTorrent(node.db.pool, shareHash);
  assert.equal(row?.status, 'seeding', 'stored before torrent_added was published');
  assert.equal(row?.errorCode, null);
  assert.equal(row?.errorReason, null);

  const j = await runCli(['recheck', shareHash, '--json', '--timeout', '60'], node.env, { timeoutMs: 90000 });
  assert.equal(j.code, 0, j.stderr);
  assert.deepEqual(JSON.parse(j.stdout), { infoHash: shareHash, name: 'holiday.bin', status: 'seeding', errorCode: null, errorReason: null });
});

test('a share whose bytes changed: recheck finds it changed (exit 1, --json says why), ls offers to share it anew', { timeout: 120000 }, async () => {
  // Edited in place: same size, other bytes in the first piece.
  const file = await open(sharePath(), 'r+');
  try {
    await file.write(randomBytes(1000), 0, 1000, 0);
  } finally {
    await file.close();
  }
  const r = await runCli(['recheck', shareHash, '--json', '--timeout', '60'], node.env, { timeoutMs: 90000 });
  assert.equal(r.code, 1, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.status, 'changed');
  assert.equal(out.errorCode, 'E_FILES_CHANGED');
  assert.equal(typeof out.errorReason, 'string');
  await waitForStatus(shareHash, 'changed');
  const ls = await runCli(['ls'], node.env);
  assert.ok(
    ls.stdout.includes(`  the files changed since they were shared: \`bitween share ${sharePath()}\` to share the new version, \`bitween rm ${shareHash.slice(0, 12)}\` to drop the old one`),
    ls.stdout,
  );
});

test("status shows the torrent service's store outage and failed torrents, and bears facts it does not know", async () => {
  // Heartbeats written by lib/heartbeat.ts itself (the code every service runs), in a namespace of their own.
  const redis = new Redis(REDIS_URL);
  const ns = newNamespace('cstat');
  const log = createLogger('test', 'silent');
  const env = { ...node.env, BITWEEN_NAMESPACE: ns };
  let facts: Record<string, unknown> = {
    port: 6881,
    torrents: 4,
    states: { metadata: 0, downloading: 0, seeding: 1, error: 1, missing: 2, changed: 0 },
    store: { reachable: false, pendingWrites: 3 },
  };
  const beat = startHeartbeat(redis, ns, 'torrent', () => facts, log);
  try {
    const read = async (want: RegExp) => {
      const deadline = Date.now() + 10000;
      for (;;) {
        const r = await runCli(['status'], env);
        assert.equal(r.code, 0, r.stderr);
        const line = r.stdout.split('\n')[2]!;
        if (want.test(line)) return line;
        assert.ok(Date.now() < deadline, `no ${want} in:\n${r.stdout}`);
        await new Promise((res) => setTimeout(res, 200));
      }
    };
    assert.equal(await read(/store/), '  store unreachable, 3 writes waiting  error 1, missing 2 (`bitween ls` says why)  port 6881  torrents 4');
    assert.equal((await runCli(['status', '--json'], env)).stdout.includes('"pendingWrites": 3'), true, '--json keeps the facts as they are');

    // All well: nothing about the store or states. An older service without these facts: the rest as before.
    facts = { port: 6881, torrents: 1, states: { seeding: 1, error: 0 }, store: { reachable: true, pendingWrites: 0 } };
    assert.equal(await read(/^ {2}port 6881 {2}torrents 1$/), '  port 6881  torrents 1');
    facts = { port: 6881, torrents: 2, states: 'odd', store: null };
    assert.equal(await read(/torrents 2/), '  port 6881  torrents 2  states odd');
  } finally {
    await beat.stop();
    redis.disconnect();
  }
});

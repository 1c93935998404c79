// `bitween get` says what is going on (issue 13 part 4), against a real torrent service and a real seeder
// (test/fixtures/hostile-seeder.ts, which serves any info dictionary: a plain one, or one with unsafe names):
// - a hash no contact offers: one line and exit 1 at once, nothing added;
// - with --wait it is added and the line says it waits for a contact who has it; once a contact offers it
//   (the store row the XMPP service writes, then recheck_handles) it is fetched, with peers and speed shown;
// - a torrent error during --wait (E_UNSAFE_NAME) ends the wait with exit 1 and the service's reason.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { until } from '../../bench/child.js';
import { getTorrent } from '../../lib/store/torrents.js';
import { rawTorrent, startHostileSeeder } from '../fixtures/hostile-seeder.js';
import { runCli, runCliOnTty } from '../helpers/cli.js';
import { createTorrentNode, storeContactShare, type TorrentNode } from '../helpers/torrent-node.js';

let node: TorrentNode;
before(async () => {
  // Downloads at 300 kB/s: long enough for the progress line to be drawn with its peers and speed.
  node = await createTorrentNode('cg', { BITWEEN_DOWNLOAD_LIMIT: '300000' });
  await node.start();
});
after(async () => {
  await node?.cleanup();
});

const randomHash = () => randomBytes(20).toString('hex');
const noOffer = (hash: string) => `bitween: no contact offers ${hash}: \`bitween browse\` lists what your contacts share; \`--wait\` waits for one\n`;
const waiting = (hash: string) => `bitween: no contact offers ${hash} yet: waiting for a contact who has it (Ctrl-C stops waiting; it stays listed)\n`;

test('get of a hash no contact offers: one line, exit 1, nothing added', async () => {
  const nobody = randomHash();
  const since = node.bus.mark();
  for (const args of [['get', nobody], ['get', nobody, '--json'], ['get', nobody.slice(0, 40).toUpperCase()]]) {
    const started = Date.now();
    const r = await runCli(args, node.env);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, noOffer(nobody));
    assert.ok(Date.now() - started < 10000, `answered in ${Date.now() - started} ms`);
  }
  assert.equal(await getTorrent(node.db.pool, nobody), undefined, 'not in the store');
  assert.equal(node.bus.seen.slice(since).filter((m) => m.topic === 'add_hash').length, 0, 'the torrent service was not asked');
});

test('get --wait --timeout without a contact who has it: the waiting line, then the timeout; it stays listed', async () => {
  const nobody = randomHash();
  const r = await runCli(['get', nobody, '--wait', '--timeout', '2'], node.env);
  assert.equal(r.code, 69, r.stderr);
  assert.equal(r.stderr, `${waiting(nobody)}bitween: ${nobody} is not complete after 2s: the download goes on (\`bitween ls\` shows it)\n`);
  assert.equal((await getTorrent(node.db.pool, nobody))?.status, 'metadata');
  const rm = await runCli(['rm', nobody], node.env);
  assert.equal(rm.code, 0, rm.stderr);
});

test('get --wait on a terminal waits for a contact who has it, then shows peers and speed and fetches it', async () => {
  const t = rawTorrent({ name: 'late.bin', length: 900_000 });
  const seeder = await startHostileSeeder(t);
  try {
    const run = runCliOnTty(['get', t.infoHash, '--wait'], node.env, { timeoutMs: 120000 });
    // Listed while nobody offers it (the CLI draws "waiting…" meanwhile); then a contact publishes it.
    await until('the torrent listed, waiting for metadata', 30000, async () => ((await getTorrent(node.db.pool, t.infoHash))?.status === 'metadata' ? true : undefined));
    await storeContactShare(node, { jid: 'late@example.test', infoHash: t.infoHash, name: 'late.bin', size: t.data.length, address: '127.0.0.1', port: seeder.port });
    await node.bus.publish('recheck_handles');
    const r = await run;
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, new RegExp(`\\r\\x1b\\[K${t.infoHash.slice(0, 12)} {2}waiting for a contact who has it`));
    assert.match(r.output, /\r\x1b\[Klate\.bin {2}\[#*-+\] +\d+\.\d% {2}[\d.]+ [KM]?i?B\/879 KiB {2}([\d.]+ [KM]?i?B\/s|-) {2}ETA \S+ {2}1 peer/);
    assert.match(r.output, /downloaded late\.bin \(879 KiB\) in \d+s/);
    assert.ok((await readFile(join(node.savePath, 'late.bin'))).equals(t.data), 'the bytes arrived');
  } finally {
    await seeder.close();
  }
});

test('get --wait ends with exit 1 and the reason when the torrent fails (a contact serving unsafe names)', async () => {
  const t = rawTorrent({ name: '..', length: 20_000 });
  const seeder = await startHostileSeeder(t);
  try {
    await storeContactShare(node, { jid: 'mallory@example.test', infoHash: t.infoHash, name: 'nice.bin', size: t.data.length, address: '127.0.0.1', port: seeder.port });
    const r = await runCli(['get', t.infoHash, '--wait'], node.env, { timeoutMs: 60000 });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^bitween: could not fetch [^\n]+? \(E_UNSAFE_NAME\): unsafe torrent metadata: [^\n]+; refused, nothing written [^\n]+\n$/);
    assert.ok(seeder.stats.metadataRequests > 0, 'the metadata came from the seeder');
    const row = await until('the row in error state', 20000, async () => {
      const got = await getTorrent(node.db.pool, t.infoHash);
      return got?.status === 'error' ? got : undefined;
    });
    assert.equal(row.errorCode, 'E_UNSAFE_NAME');
    // Asked again, with or without --wait: the same answer at once (asking again cannot fix it).
    for (const args of [['get', t.infoHash], ['get', t.infoHash, '--wait']]) {
      const again = await runCli(args, node.env, { timeoutMs: 20000 });
      assert.equal(again.code, 1, again.stderr);
      assert.match(again.stderr, /^bitween: could not fetch [^\n]+? \(E_UNSAFE_NAME\): unsafe torrent metadata: [^\n]+\n$/);
    }
  } finally {
    await seeder.close();
  }
});

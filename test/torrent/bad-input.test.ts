// Bad input on every topic → exactly one `error` message naming the topic; nothing stored is lost and the
// service still answers.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { listTorrents } from '../../lib/store/torrents.js';
import { writeRandomFile } from '../helpers/files.js';
import { createTorrentNode, storeContactShare, type TorrentNode } from '../helpers/torrent-node.js';

let a: TorrentNode;
let shared: string;
before(async () => {
  a = await createTorrentNode('bad', { BITWEEN_ALLOW_LOOPBACK: 'false' });
  await a.start();
  const file = join(a.dir, 'keep.bin');
  await writeRandomFile(file, 200_000);
  const since = a.bus.mark();
  await a.bus.publish('generate_torrent', [file]);
  shared = String((await a.bus.waitFor('torrent_added', () => true, 20000, since)).args[0]);
});
after(() => a?.cleanup());

const HASH = 'ab'.repeat(20);
const cases: [topic: string, payload: string, error: RegExp][] = [
  ['generate_torrent', '{"args": [', /not valid JSON/],
  ['generate_torrent', '[]', /takes 1 argument, got 0/],
  ['generate_torrent', '["/a", "/b"]', /takes 1 argument, got 2/],
  ['generate_torrent', '/no/such/path/anywhere', /does not exist/],
  ['generate_torrent', 'relative/path', /must be absolute/],
  ['generate_torrent', '[42]', /non-empty string/],
  ['add_path', '{"foo": 1}', /only "args" and "kwargs"/],
  ['add_path', '/no/such/file', /does not exist/],
  ['add_hash', 'not-a-hash', /not an info-hash/],
  ['add_hash', 'a'.repeat(39), /not an info-hash/],
  ['add_hash', '{"args": "x"}', /"args" must be a JSON array/],
  ['add_hash', `["${HASH}", "rel/dir"]`, /save_path must be absolute/],
  ['add_hash', `["${HASH}", "/x", 3]`, /takes 1 to 2 arguments, got 3/],
  ['del_torrent', '', /takes 1 to 2 arguments, got 0/],
  ['del_torrent', 'zz'.repeat(20), /not an info-hash/],
  ['del_torrent', 'cd'.repeat(20), /no torrent/],
  ['del_torrent', `["${HASH}", 5]`, /must be an object/],
  ['del_torrent', `{"args": ["${HASH}"], "kwargs": {"delete_files": "yes"}}`, /delete_files must be true or false/],
  ['recheck_handles', '["extra"]', /takes 0 arguments, got 1/],
];

for (const [topic, payload, error] of cases) {
  test(`${topic} ${payload.slice(0, 50)} → one error`, async () => {
    const since = a.bus.mark();
    await a.bus.publishRaw(topic, payload);
    const m = await a.bus.waitFor('error', (x) => x.error?.topic === topic, 5000, since);
    assert.equal(m.error!.service, 'torrent');
    assert.equal(m.error!.payload, payload);
    assert.match(m.error!.error, error);
    // The service still answers: a valid request after the bad one is served, and only one error came.
    await a.bus.publish('add_hash', [shared]);
    await a.bus.waitFor('torrent_added', (x) => x.args[0] === shared, 5000, since);
    assert.equal(a.bus.count('error', since), 1);
  });
}

test('an empty folder → one error that says it is empty', async () => {
  const empty = join(a.dir, 'empty', 'sub');
  await mkdir(empty, { recursive: true });
  const since = a.bus.mark();
  await a.bus.publish('generate_torrent', [join(a.dir, 'empty')]);
  const m = await a.bus.waitFor('error', () => true, 5000, since);
  assert.match(m.error!.error, /holds no files: nothing to share/);
});

test('a loopback address from a contact is refused with the setting off', async () => {
  await storeContactShare(a, { infoHash: HASH, name: 'bait', size: 1, address: '127.0.0.1', port: 6379 });
  const since = a.bus.mark();
  await a.bus.publish('add_hash', [HASH]);
  const m = await a.bus.waitFor('error', () => true, 5000, since);
  assert.match(m.error!.error, /refused to dial contact address 127\.0\.0\.1:6379/);
  assert.equal(m.error!.code, 'E_BAD_INPUT');
  assert.equal(m.error!.info_hash, HASH);
  await a.bus.waitFor('torrent_added', (x) => x.args[0] === HASH, 5000, since);
  assert.equal(a.bus.count('error', since), 1);
});

test('after all that, nothing stored was lost', async () => {
  const hashes = (await listTorrents(a.db.pool)).map((t) => t.infoHash).sort();
  assert.deepEqual(hashes, [shared, HASH].sort());
  assert.equal(a.service!.child.exitCode, null, 'service still running');
});

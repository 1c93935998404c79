// Issue 12.4: BITWEEN_SHARE_ROOTS bounds what generate_torrent (and so the CLI and the dashboard) may share,
// after links are resolved. Anything outside is refused with one line naming the setting, and nothing is stored.
import assert from 'node:assert/strict';
import { mkdir, realpath, symlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadConfig } from '../../lib/config.js';
import { ConfigError } from '../../lib/errors.js';
import { listTorrents } from '../../lib/store/torrents.js';
import { waitUntil } from '../fixtures/nat-node.js';
import type { Seen } from '../helpers/bus.js';
import { createTorrentNode, type TorrentNode } from '../helpers/torrent-node.js';

let node: TorrentNode;
let roots: string;
let outside: string;
before(async () => {
  node = await createTorrentNode('roots');
  // Two roots, one given through a link: roots are resolved too.
  roots = join(node.dir, 'shared');
  outside = join(node.dir, 'private');
  await mkdir(join(roots, 'music'), { recursive: true });
  await mkdir(join(node.dir, 'photos-real'), { recursive: true });
  await symlink(join(node.dir, 'photos-real'), join(node.dir, 'photos'));
  await mkdir(outside, { recursive: true });
  await writeFile(join(roots, 'music', 'song.bin'), 'la la la');
  await writeFile(join(node.dir, 'photos-real', 'cat.jpg'), 'meow');
  await writeFile(join(outside, 'secret.txt'), 'do not share');
  await node.start({ BITWEEN_SHARE_ROOTS: `${roots}:${join(node.dir, 'photos')}` });
});
after(() => node?.cleanup());

/** Publishes generate_torrent and returns its answer: torrent_added for that path, or an error. */
async function share(path: string): Promise<Seen> {
  // torrent_added names the path it shared: today the real one (see the report to the integrator).
  const paths = [path, await realpath(path).catch(() => path)];
  const since = node.bus.mark();
  await node.bus.publish('generate_torrent', [path]);
  return waitUntil(
    `torrent_added or error for ${path}`,
    () => node.bus.seen.slice(since).find((m) => (m.topic === 'torrent_added' && paths.includes(m.kwargs.path as string)) || (m.topic === 'error' && m.error?.topic === 'generate_torrent')),
    30000,
  );
}

async function assertOutside(path: string): Promise<void> {
  const stored = (await listTorrents(node.db.pool)).length;
  const m = await share(path);
  assert.equal(m.topic, 'error', `${path} was shared: ${m.raw}`);
  assert.equal(m.error!.code, 'E_BAD_INPUT');
  assert.match(m.error!.error, /is outside BITWEEN_SHARE_ROOTS \(.*\): add its folder there to share it$/);
  assert.doesNotMatch(m.error!.error, /\n/);
  assert.equal((await listTorrents(node.db.pool)).length, stored, 'nothing was stored');
}

test('a file outside the roots (/etc/hostname) is refused with one line naming BITWEEN_SHARE_ROOTS', async () => {
  await assertOutside('/etc/hostname');
  await assertOutside(join(outside, 'secret.txt'));
});

test('a link inside a root that points outside is refused, as the file and as the folder', async () => {
  await symlink('/etc/hostname', join(roots, 'hostname'));
  await symlink(outside, join(roots, 'private-link'));
  await assertOutside(join(roots, 'hostname'));
  await assertOutside(join(roots, 'private-link'));
  await assertOutside(join(roots, 'private-link', 'secret.txt'));
  // `..` does not climb out either.
  await assertOutside(join(roots, '..', 'private', 'secret.txt'));
});

test('inside a root (also one given through a link) a file or folder is shared', async () => {
  for (const path of [join(roots, 'music'), join(roots, 'music', 'song.bin'), join(node.dir, 'photos', 'cat.jpg')]) {
    const m = await share(path);
    assert.equal(m.topic, 'torrent_added', m.raw);
  }
  // A link inside a root to a file inside a root is followed once, to the real file.
  await symlink(join(roots, 'music', 'song.bin'), join(roots, 'favourite'));
  const m = await share(join(roots, 'favourite'));
  assert.equal(m.topic, 'torrent_added', m.raw);
  assert.equal(m.kwargs.name, 'song.bin');
});

test('BITWEEN_SHARE_ROOTS: a list like PATH, each folder absolute, default the home folder', () => {
  assert.deepEqual(loadConfig({}).shareRoots, [homedir()]);
  assert.deepEqual(loadConfig({ BITWEEN_SHARE_ROOTS: '/srv/music/:/home/me/../me/photos' }).shareRoots, ['/srv/music', '/home/me/photos']);
  for (const bad of ['music', '/srv:relative', '/srv::/home', '/srv:']) {
    assert.throws(() => loadConfig({ BITWEEN_SHARE_ROOTS: bad }), (err: Error) => err instanceof ConfigError && /^BITWEEN_SHARE_ROOTS=.* is not an absolute path/.test(err.message));
  }
});

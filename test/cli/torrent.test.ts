// share, get, rm, ls and status against two real torrent services (separate processes, real webtorrent
// over loopback TCP): node A shares with the CLI, node B's store learns A's address as the XMPP service
// would write it, B fetches with `bitween get --wait` and the bytes on B's disk equal A's.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { getTorrent } from '../../lib/store/torrents.js';
import { runCli, runCliOnTty, tableRows } from '../helpers/cli.js';
import { treeDigest, writeRandomFile, writeRandomFolder } from '../helpers/files.js';
import { createTorrentNode, storeContactAddress, storeContactShare, type TorrentNode } from '../helpers/torrent-node.js';

let a: TorrentNode;
let b: TorrentNode;
const SIZE = 3_000_000;
before(async () => {
  // A uploads at 1 MB/s so that B's download lasts long enough to draw a progress bar.
  [a, b] = await Promise.all([createTorrentNode('ca', { BITWEEN_UPLOAD_LIMIT: '1000000' }), createTorrentNode('cb')]);
  await Promise.all([a.start(), b.start()]);
  // A serves only its contacts: B is one.
  await storeContactAddress(a, { port: b.port });
});
after(async () => {
  await Promise.all([a?.cleanup(), b?.cleanup()]);
});

async function share(node: TorrentNode, path: string): Promise<string> {
  const r = await runCli(['share', path], node.env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.match(r.stdout, /^[0-9a-f]{40}\n$/, 'the hash alone, for $(bitween share …)');
  return r.stdout.trim();
}

let fileHash: string;
const file = () => join(a.dir, 'share', 'holiday.bin');

test('share prints the info-hash once seeded; sharing it again gives the same hash', async () => {
  await writeRandomFile(file(), SIZE);
  fileHash = await share(a, file());
  const row = await getTorrent(a.db.pool, fileHash);
  assert.equal(row?.status, 'seeding');
  assert.equal(row?.name, 'holiday.bin');
  assert.equal(await share(a, file()), fileHash);
});

test('share --json of a folder, given as a relative path', async () => {
  const folder = join(a.dir, 'share', 'photos');
  await writeRandomFolder(folder);
  const r = await runCli(['share', 'photos', '--json'], a.env, { cwd: join(a.dir, 'share') });
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(out), ['infoHash', 'name', 'size', 'path']);
  assert.equal(out.name, 'photos');
  assert.equal(out.size, 700_000 + 1_300_000 + 1234);
  assert.equal(out.path, folder);
  assert.match(out.infoHash, /^[0-9a-f]{40}$/);
});

test('the torrent service refusing a share is one line and exit 1', async () => {
  const empty = join(a.dir, 'share', 'empty');
  await mkdir(empty, { recursive: true });
  const r = await runCli(['share', empty], a.env);
  assert.equal(r.code, 1, r.stdout);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^bitween: torrent service: .+\n$/);
});

test('get --wait on a terminal draws a progress bar with speed and ETA, then the file is there', async () => {
  await storeContactShare(b, { jid: 'alice@example.test', infoHash: fileHash, name: 'holiday.bin', size: SIZE, address: '127.0.0.1', port: a.port });
  const to = join(b.dir, 'incoming');
  const r = await runCliOnTty(['get', fileHash.slice(0, 12), '--wait', '--to', to], b.env, { timeoutMs: 60000 });
  assert.equal(r.code, 0, r.output);
  // Redrawn in place: carriage return, erase line, then the bar.
  assert.match(r.output, /\r\x1b\[Kholiday\.bin {2}\[#*-+\] +\d+\.\d% {2}[\d.]+ [KM]iB\/2\.86 MiB {2}[\d.]+ [KM]iB\/s {2}ETA \d+s {2}1 peer/);
  assert.match(r.output, new RegExp(`downloaded holiday\\.bin \\(2\\.86 MiB\\) in \\d+s, [\\d.]+ [KM]iB/s to ${to}\\r?\\n`));
  assert.deepEqual(await treeDigest(join(to, 'holiday.bin')), await treeDigest(file()));
});

test('get when it is here already says so; --json gives the row', async () => {
  const r = await runCli(['get', fileHash], b.env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `already here: holiday.bin (2.86 MiB) in ${join(b.dir, 'incoming')}\n`);
  const j = await runCli(['get', fileHash, '--json'], b.env);
  assert.deepEqual(JSON.parse(j.stdout), { infoHash: fileHash, name: 'holiday.bin', size: SIZE, state: 'seeding', savePath: join(b.dir, 'incoming'), seconds: 0 });
});

test('ls and status show the torrents and the running service; nat and xmpp are down', async () => {
  const r = await runCli(['ls'], b.env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  const rows = tableRows(r.stdout);
  assert.deepEqual(rows[1]!.slice(0, 5), [fileHash.slice(0, 12), 'holiday.bin', '2.86 MiB', '100%', 'seeding']);
  // Live per-torrent figures from the service's heartbeat (a torrent without peers shows '-').
  const [peers, down, up] = rows[1]!.slice(5);
  assert.match(peers!, /^(\d+|-)$/);
  for (const rate of [down!, up!]) assert.match(rate, /^(\d[\d.]* [KM]?i?B\/s|-)$/);
  assert.doesNotMatch(r.stdout, /all torrents:/);
  const s = await runCli(['status', '--json'], b.env);
  assert.equal(s.code, 0, s.stderr);
  const status = JSON.parse(s.stdout);
  assert.equal(status.services.torrent.up, true);
  assert.equal(status.services.torrent.pid, b.service!.child.pid);
  assert.equal(status.services.torrent.facts.port, b.port);
  assert.equal(status.services.nat.up, false);
  assert.equal(status.services.xmpp.up, false);
  const human = await runCli(['status'], b.env);
  assert.match(human.stdout, new RegExp(`^torrent  up +${b.service!.child.pid}  \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d \\(\\d+s\\)  \\d+\\.\\d+\\.\\d+$`, 'm'));
  assert.match(human.stdout, new RegExp(`^  port ${b.port}  torrents 1 `, 'm'));
  assert.match(human.stdout, /^nat +down +- +- +-$/m);
});

test('get without --wait returns once the service took it; ls shows it fetching metadata', async () => {
  const nobody = 'fe'.repeat(20);
  // Offered by a contact whose address answers nothing: the metadata never comes (test/cli/get.test.ts: offered by none).
  await storeContactShare(b, { jid: 'ghost@example.test', infoHash: nobody, name: 'ghost.bin', size: 1, address: '127.0.0.1', port: 1 });
  const r = await runCli(['get', nobody], b.env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `fetching ${nobody} into ${b.savePath}: \`bitween get ${nobody.slice(0, 12)} --wait\` follows it\n`);
  const ls = await runCli(['ls', '--json'], b.env);
  const entry = JSON.parse(ls.stdout).find((t: { infoHash: string }) => t.infoHash === nobody);
  assert.equal(entry.state, 'metadata');
  assert.equal(entry.progress, null);
  const human = await runCli(['ls'], b.env);
  assert.match(human.stdout, /^fefefefefefe {2}\(fetching metadata\) +- +- +metadata/m);
  // Waiting with a timeout: it gives up in one line, the download goes on.
  const w = await runCli(['get', nobody, '--wait', '--timeout', '1'], b.env);
  assert.equal(w.code, 69);
  assert.equal(w.stderr, `bitween: ${nobody} is not complete after 1s: the download goes on (\`bitween ls\` shows it)\n`);
  const rm = await runCli(['rm', nobody], b.env);
  assert.equal(rm.code, 0, rm.stderr);
});

test('rm --delete-files removes a download and its files; the hash is then unknown', async () => {
  const r = await runCli(['rm', fileHash.slice(0, 8), '--delete-files'], b.env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'removed holiday.bin; its files are deleted\n');
  assert.equal(existsSync(join(b.dir, 'incoming', 'holiday.bin')), false);
  assert.equal(await getTorrent(b.db.pool, fileHash), undefined);
  const again = await runCli(['rm', fileHash], b.env);
  assert.equal(again.code, 1);
  assert.equal(again.stderr, `bitween: no torrent ${fileHash} here: \`bitween ls\` lists what this node has\n`);
});

test("rm --delete-files of a share keeps the user's original files", async () => {
  const r = await runCli(['rm', fileHash, '--delete-files', '--json'], a.env);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { infoHash: fileHash, name: 'holiday.bin', filesDeleted: false, savePath: join(a.dir, 'share') });
  assert.ok(existsSync(file()));
});

test('a torrent service that stops answering mid-request ends the wait in one line, not never', async () => {
  // SIGSTOP: the process still holds its subscription (the publish is received) but its heartbeat expires.
  const child = a.service!.child;
  child.kill('SIGSTOP');
  try {
    const started = Date.now();
    const r = await runCli(['share', file()], a.env);
    assert.equal(r.code, 69, r.stderr);
    assert.match(r.stderr, /^bitween: the torrent service stopped while hashing \S+holiday\.bin: start it with `cd \S+ && npx pm2 start ecosystem.config.js --only bitween-torrent`, then run this again\n$/);
    assert.ok(Date.now() - started < 12000, `took ${Date.now() - started} ms`);
  } finally {
    child.kill('SIGCONT');
  }
});

test('the torrent service down: share says how to start it, without publishing', async () => {
  await a.service!.stop();
  const r = await runCli(['share', file()], a.env);
  assert.equal(r.code, 69);
  assert.match(r.stderr, /^bitween: the torrent service is not running \(no heartbeat at \S+\): start it with `cd \S+ && npx pm2 start ecosystem.config.js --only bitween-torrent`\n$/);
  const s = await runCli(['status', '--json'], a.env);
  assert.equal(JSON.parse(s.stdout).services.torrent.up, false);
});

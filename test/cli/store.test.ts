// browse, contacts and ls read the store: rows are written here as the XMPP and torrent services write
// them, then the real CLI runs as a subprocess; human and --json output and exit codes are checked.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { insertTorrent } from '../../lib/store/torrents.js';
import { newNamespace, REDIS_URL } from '../helpers/bus.js';
import { runCli, tableRows } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

const H1 = '1'.repeat(40);
const H2 = '2'.repeat(40);
const H3 = '3'.repeat(40);
const H4 = '4'.repeat(40);
const EVIL = '<img src=x onerror=alert(1)>\x1b[2J\nrm -rf';

let db: TestDatabase;
let env: Record<string, string>;

async function q(sql: string, params: unknown[] = []): Promise<void> {
  await db.pool.query(sql, params);
}

before(async () => {
  db = await createTestDatabase();
  env = { BITWEEN_NAMESPACE: newNamespace('cli'), BITWEEN_DATABASE_URL: db.url, BITWEEN_REDIS_URL: REDIS_URL };
  await q(`INSERT INTO contacts (jid, subscription, pending_in, pending_out) VALUES
    ('bob@example.test', 'both', false, false),
    ('carol@example.test', 'both', false, false),
    ('dave@example.test', 'none', true, false),
    ('erin@example.test', 'none', false, true)`);
  await q(`INSERT INTO contact_resources (jid, resource, online) VALUES
    ('bob@example.test', 'home', true), ('bob@example.test', 'laptop', false), ('carol@example.test', 'pc', false)`);
  await q(`INSERT INTO contact_shares (jid, resource, info_hash, name, size) VALUES
    ('bob@example.test', 'home', $1, 'Holiday pictures', 1610612736),
    ('bob@example.test', 'laptop', $1, 'Holiday pictures', 1610612736),
    ('carol@example.test', 'pc', $1, 'holiday', 1610612736),
    ('bob@example.test', 'home', $2, $4, 1234),
    ('carol@example.test', 'pc', $3, 'Debian live ISO', 3221225472)`, [H1, H2, H3, EVIL]);
  await q(`INSERT INTO contact_addresses (jid, resource, address, port) VALUES ('bob@example.test', 'home', '192.0.2.7', 51413)`);
  await insertTorrent(db.pool, { infoHash: H3, name: 'Debian live ISO', magnetLink: `magnet:?xt=urn:btih:${H3}`, status: 'downloading', origin: 'fetched', savePath: '/srv/dl', totalSize: 3221225472, bytesDone: 1073741824 });
  await insertTorrent(db.pool, { infoHash: H4, name: 'notes.txt', magnetLink: `magnet:?xt=urn:btih:${H4}`, status: 'seeding', origin: 'shared', savePath: '/home/me', totalSize: 2048, bytesDone: 2048 });
});
after(() => db?.drop());

test('browse lists shares by hash with the contacts that offer them, online first', async () => {
  const r = await runCli(['browse'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  const rows = tableRows(r.stdout);
  assert.deepEqual(rows[0], ['HASH', 'NAME', 'SIZE', 'ONLINE', 'HAVE', 'OFFERED BY']);
  assert.deepEqual(rows.slice(1), [
    ['222222222222', '<img src=x onerror=alert(1)>?[2J?rm -rf', '1.21 KiB', '1/1', '-', 'bob@example.test'],
    ['333333333333', 'Debian live ISO', '3.00 GiB', '0/1', 'downloading', 'carol@example.test (offline)'],
    ['111111111111', 'Holiday pictures', '1.50 GiB', '1/2', '-', 'bob@example.test, carol@example.test (offline)'],
  ]);
  assert.doesNotMatch(r.stdout, /\x1b/, 'no escape sequence from a contact reaches the terminal');
});

test('browse --json is stable for scripts, full hashes, names as given', async () => {
  const r = await runCli(['browse', '--json'], env);
  assert.equal(r.code, 0, r.stderr);
  const shares = JSON.parse(r.stdout);
  assert.deepEqual(shares.find((s: { infoHash: string }) => s.infoHash === H1), {
    infoHash: H1,
    name: 'Holiday pictures',
    size: 1610612736,
    contacts: [
      { jid: 'bob@example.test', online: true, resources: ['home', 'laptop'] },
      { jid: 'carol@example.test', online: false, resources: ['pc'] },
    ],
    online: true,
    own: null,
  });
  assert.equal(shares.find((s: { infoHash: string }) => s.infoHash === H2).name, EVIL);
  assert.equal(shares.find((s: { infoHash: string }) => s.infoHash === H3).own, 'downloading');
});

test('browse TERM filters by every word of the name, or by hash prefix', async () => {
  const hashes = async (...args: string[]) => {
    const r = await runCli(['browse', ...args, '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout).map((s: { infoHash: string }) => s.infoHash);
  };
  assert.deepEqual(await hashes('HOLIDAY'), [H1]);
  assert.deepEqual(await hashes('iso debian'), [H3]);
  assert.deepEqual(await hashes('debian holiday'), []);
  assert.deepEqual(await hashes('2222'), [H2]);
  assert.deepEqual(await hashes('100%'), [], 'LIKE wildcards in the term are literal');
  const none = await runCli(['browse', 'nothing-like-this'], env);
  assert.equal(none.code, 0);
  assert.equal(none.stdout, 'no contact shares anything matching "nothing-like-this"\n');
});

test('a narrow terminal shrinks names and contacts, not the columns that matter', async () => {
  const r = await runCli(['browse'], { ...env, COLUMNS: '70' });
  assert.equal(r.code, 0, r.stderr);
  for (const line of r.stdout.trimEnd().split('\n')) assert.ok(line.length <= 70, `too wide: ${line}`);
  assert.match(r.stdout, /^111111111111  Holiday pi…  1\.50 GiB     1\/2  -            bob@example…$/m);
});

test('contacts shows the roster, who is online, and requests waiting for an answer both ways', async () => {
  const r = await runCli(['contacts'], env);
  assert.equal(r.code, 0, r.stderr);
  const [table, theirs, ours] = r.stdout.split('\n\n');
  // Without a subscription to their presence, whether they are online is unknown: '-'.
  assert.deepEqual(tableRows(table!), [
    ['CONTACT', 'RELATION', 'ONLINE', 'SHARES'],
    ['bob@example.test', 'contact', 'yes', '2'],
    ['carol@example.test', 'contact', 'no', '2'],
    ['dave@example.test', 'asks to be your contact', '-', '0'],
    ['erin@example.test', 'waiting for them to accept', '-', '0'],
  ]);
  assert.equal(
    theirs,
    'Waiting for your answer:\n  dave@example.test: accept with `bitween contacts add dave@example.test`, refuse with `bitween contacts remove dave@example.test`',
  );
  assert.equal(ours, 'Waiting for their answer:\n  erin@example.test: asked to be your contact; `bitween contacts remove erin@example.test` withdraws it\n');
  const j = await runCli(['contacts', '--json'], env);
  assert.equal(j.code, 0, j.stderr);
  assert.deepEqual(JSON.parse(j.stdout)[2], { jid: 'dave@example.test', subscription: 'none', pendingIn: true, pendingOut: false, online: false, shares: 0 });
});

test('ls shows own torrents; without the torrent service, peers and rates are "-" and it says why', async () => {
  const r = await runCli(['ls'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(tableRows(r.stdout), [
    ['HASH', 'NAME', 'SIZE', 'DONE', 'STATE', 'PEERS', 'DOWN', 'UP', 'RATIO'],
    ['333333333333', 'Debian live ISO', '3.00 GiB', '33.3%', 'downloading', '-', '-', '-', '0.00'],
    ['444444444444', 'notes.txt', '2.00 KiB', '100%', 'seeding', '-', '-', '-', '0.00'],
  ]);
  assert.equal(r.stderr, 'bitween: the torrent service is not running: peers and rates unknown (`bitween status`)\n');
  const j = await runCli(['ls', '--json'], env);
  assert.equal(j.code, 0, j.stderr);
  const list = JSON.parse(j.stdout);
  assert.deepEqual(Object.keys(list[0]), ['infoHash', 'name', 'size', 'bytesDone', 'progress', 'state', 'errorCode', 'errorReason', 'origin', 'savePath', 'addedAt', 'completedAt', 'peers', 'downloadRate', 'uploadRate', 'paused', 'selectedFiles', 'uploadedBytes', 'downloadedBytes', 'ratio']);
  assert.deepEqual({ ...list[0], addedAt: undefined }, {
    infoHash: H3, name: 'Debian live ISO', size: 3221225472, bytesDone: 1073741824, progress: 1 / 3, state: 'downloading', errorCode: null, errorReason: null,
    origin: 'fetched', savePath: '/srv/dl', addedAt: undefined, completedAt: null, peers: null, downloadRate: null, uploadRate: null,
    paused: false, selectedFiles: null, uploadedBytes: 0, downloadedBytes: 0, ratio: 0,
  });
  assert.equal(list[1].progress, 1);
});

test('rm and get take a unique prefix of a hash and refuse an unknown or ambiguous one in one line', async () => {
  const unknown = await runCli(['rm', 'abcdef'], env);
  assert.equal(unknown.code, 1);
  assert.equal(unknown.stdout, '');
  assert.equal(unknown.stderr, 'bitween: no torrent matches abcdef: `bitween ls` lists the known ones\n');
  const full = await runCli(['rm', 'ab'.repeat(20)], env);
  assert.equal(full.code, 1);
  assert.equal(full.stderr, `bitween: no torrent ${'ab'.repeat(20)} here: \`bitween ls\` lists what this node has\n`);
  const notHex = await runCli(['get', 'holiday'], env);
  assert.equal(notHex.code, 1);
  assert.match(notHex.stderr, /^bitween: "holiday" is not an info-hash: give its 40 hex characters or a unique prefix of at least 4\n$/);
  // A contact's share is found by prefix for get, but rm looks at own torrents only.
  const rmContactShare = await runCli(['rm', '1111'], env);
  assert.equal(rmContactShare.code, 1);
  assert.match(rmContactShare.stderr, /no torrent matches 1111/);
});

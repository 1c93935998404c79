// The dashboard in a real headless Chromium. Node A is a real torrent service sharing a file; node B runs
// the torrent service and the dashboard. A contact's share appears on B's page without a reload, one click
// downloads it with live progress, speed and peers, and B's bytes equal A's. A share named like markup stays text.
// A share whose file went away shows as missing with the service's reason, and its Recheck button publishes
// `recheck`. Get by hash, pause / resume, limits, full hashes with Copy; screenshots at 1280 and 420 px
// (test-output/dashboard/) with nothing wider than the window.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import { launchBrowser, type TestBrowser } from '../helpers/browser.js';
import { sha1File, writeRandomFile } from '../helpers/files.js';
import { createTorrentNode, storeContactAddress, storeContactShare, type TorrentNode } from '../helpers/torrent-node.js';
import { startWeb, type WebService } from '../helpers/web.js';
import { overflowing, screenshots } from './screens.js';

const FILE_SIZE = 2 * 1024 * 1024;
/** B downloads at 1 MiB/s, so the page shows progress between 0 and 100% for about two seconds. */
const DOWNLOAD_LIMIT = 1024 * 1024;

let a: TorrentNode;
let b: TorrentNode;
let web: WebService;
let browser: TestBrowser;
let page: Page;
let dialogs: string[];
let answer: { accept: boolean };
let share: { hash: string; name: string; size: number; path: string };

before(async () => {
  [a, b, browser] = await Promise.all([createTorrentNode('wa'), createTorrentNode('wb'), launchBrowser()]);
  await Promise.all([a.start(), b.start({ BITWEEN_DOWNLOAD_LIMIT: String(DOWNLOAD_LIMIT) })]);
  // A serves only its contacts: B is one.
  await storeContactAddress(a, { port: b.port });
  web = await startWeb(b.env);

  const path = join(a.dir, 'share', 'holiday.bin');
  await writeRandomFile(path, FILE_SIZE);
  const since = a.bus.mark();
  await a.bus.publish('generate_torrent', [path]);
  const added = await a.bus.waitFor('torrent_added', (m) => m.kwargs.path === path, 20000, since);
  share = { hash: String(added.args[0]), name: 'holiday.bin', size: FILE_SIZE, path };

  // The Copy buttons write to the clipboard; the test reads it back.
  await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: web.url });
  ({ page, dialogs, answer } = await browser.newPage());
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(`${web.url}/`);
  // Subscribed to events and the lists loaded: from here on, changes must arrive live.
  await page.locator('#live[data-state="live"]').waitFor({ timeout: 10000 });
  await page.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));
});

after(async () => {
  await browser?.close();
  await web?.service.stop();
  await Promise.all([a?.cleanup(), b?.cleanup()]);
});

const notReloaded = () => page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded === true);
const shareRow = (hash: string) => page.locator(`#shares tbody tr[data-hash="${hash}"]`);
const torrentRow = (hash: string) => page.locator(`#torrents tbody tr[data-hash="${hash}"]`);

test('the page shows the services and no torrents yet', async () => {
  await page.locator('#services li[data-service="torrent"].up').waitFor({ timeout: 5000 });
  await page.locator('#services li[data-service="web"].up').waitFor({ timeout: 5000 });
  assert.equal(await page.locator('#services li[data-service="xmpp"]').textContent(), 'xmpp down');
  assert.equal(await page.locator('#torrents tbody tr').count(), 0);
  assert.equal(await page.locator('#torrents-empty').isVisible(), true);
});

test("a contact's share appears without a reload, downloads on a click, and B's bytes equal A's", { timeout: 60000 }, async () => {
  // What the XMPP service does when a contact publishes: store the share and address, announce it.
  await storeContactShare(b, { jid: 'alice@example.test', infoHash: share.hash, name: share.name, size: share.size, address: '127.0.0.1', port: a.port });
  await b.bus.publish('shares_updated', ['alice@example.test']);
  const row = shareRow(share.hash);
  await row.waitFor({ timeout: 5000 });
  assert.equal(await row.locator('td.name .title').textContent(), 'holiday.bin');
  // The full hash is on the page (not only in a tooltip), with a Copy button that puts it on the clipboard.
  assert.equal(await row.locator('td.name code.hash').textContent(), share.hash);
  assert.equal(await row.locator('button.copy').getAttribute('data-copy'), share.hash);
  await row.locator('button.copy').click();
  await row.locator('button.copy', { hasText: 'Copied' }).waitFor({ timeout: 5000 });
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), share.hash);
  assert.equal(await row.locator('td.size').textContent(), '2.00 MiB');
  assert.equal(await row.locator('.contact.online').textContent(), 'alice@example.test');

  const since = b.bus.mark();
  await row.getByRole('button', { name: 'Download' }).click();
  await b.bus.waitFor('add_hash', (m) => m.args[0] === share.hash, 5000, since);

  // Live progress: the bar moves between 0 and 100% while the download runs, and the row never shows `–`
  // for speed or peers (figures from torrent_progress and the heartbeat's transfers), from the first frame.
  const mine = torrentRow(share.hash);
  const seen = await page.evaluate((hash) => {
    const texts: { speed: string; peers: string; value: number }[] = [];
    return new Promise<typeof texts>((resolve) => {
      const look = () => {
        const tr = document.querySelector(`#torrents tr[data-hash="${hash}"]`);
        if (tr) {
          const bar = tr.querySelector('progress') as HTMLProgressElement;
          texts.push({ speed: tr.querySelector('td.speed')!.textContent!, peers: tr.querySelector('td.peers')!.textContent!, value: bar.value });
          if (bar.value >= 1 || tr.querySelector('.status')!.textContent === 'seeding') return resolve(texts);
        }
        if (texts.length < 2000) requestAnimationFrame(look);
        else resolve(texts);
      };
      look();
    });
  }, share.hash);
  const during = seen.filter((x) => x.value < 1);
  assert.ok(during.length > 0, 'the row was seen during the download');
  assert.deepEqual(during.filter((x) => x.speed === '–' || x.peers === '–'), [], 'speed and peers are figures during the download');
  const moving = during.filter((x) => x.value > 0);
  assert.ok(moving.some((x) => /^↓ [1-9][\d.]* (B|KiB|MiB)\/s/.test(x.speed) && Number(x.peers) >= 1), `a speed and a peer were shown: ${JSON.stringify(moving.slice(-3))}`);
  assert.ok(moving.length > 0, 'the bar moved between 0 and 100%');

  await page.waitForFunction((hash) => document.querySelector(`#torrents tr[data-hash="${hash}"] td.state`)?.textContent === 'seeding', share.hash, {
    timeout: 30000,
  });
  await b.bus.waitFor('torrent_done', (m) => m.args[0] === share.hash, 5000, since);
  assert.equal(await mine.locator('.pct').textContent(), '100%');
  assert.equal(await mine.locator('td.name .title').textContent(), 'holiday.bin');
  assert.equal(await mine.locator('td.name code.hash').textContent(), share.hash);
  // The share list follows too: B has it now.
  await row.locator('.own', { hasText: 'have it' }).waitFor({ timeout: 5000 });

  assert.equal(await sha1File(join(b.savePath, 'holiday.bin')), await sha1File(share.path));
  assert.ok(await notReloaded(), 'the page was not reloaded');
});

test("a contact's share named like markup is shown as text, and nothing runs", async () => {
  const name = '<img src=x onerror=alert(1)>';
  const hash = randomBytes(20).toString('hex');
  await storeContactShare(b, { jid: 'mallory@example.test', infoHash: hash, name, size: 1234, address: '127.0.0.1', port: 9 });
  await b.bus.publish('shares_updated', ['mallory@example.test']);
  await page.getByText(name, { exact: true }).waitFor({ state: 'visible', timeout: 5000 });
  assert.equal(await shareRow(hash).locator('td.name .title').textContent(), name);
  assert.match(await shareRow(hash).locator('td.name .title').innerHTML(), /^&lt;img src=x onerror=alert\(1\)&gt;$/);
  assert.equal(await page.locator('img').count(), 0);
  assert.deepEqual(dialogs, []);

  // Search narrows the list as one types, still without a reload.
  await page.locator('#search').fill('holiday');
  await shareRow(hash).waitFor({ state: 'detached', timeout: 5000 });
  assert.equal(await shareRow(share.hash).count(), 1);
  await page.locator('#search').fill('');
  await shareRow(hash).waitFor({ timeout: 5000 });
  assert.deepEqual(dialogs, []);
  assert.ok(await notReloaded(), 'the page was not reloaded');
});

test('Delete asks first, then removes the download and its files (not the contact\'s)', async () => {
  const downloaded = join(b.savePath, 'holiday.bin');
  const row = torrentRow(share.hash);
  answer.accept = false;
  await row.getByRole('button', { name: 'Delete' }).click();
  assert.deepEqual(dialogs, ['confirm: Delete the downloaded files of holiday.bin from this machine?']);
  assert.ok(existsSync(downloaded), 'nothing deleted when the question is declined');

  const since = b.bus.mark();
  answer.accept = true;
  await row.getByRole('button', { name: 'Delete' }).click();
  await b.bus.waitFor('torrent_removed', (m) => m.args[0] === share.hash && m.kwargs.deleteFiles === true, 10000, since);
  await row.waitFor({ state: 'detached', timeout: 5000 });
  // Offered again by the contact: downloadable once more.
  await shareRow(share.hash).getByRole('button', { name: 'Download' }).waitFor({ timeout: 5000 });
  assert.equal(existsSync(downloaded), false);
  assert.ok(existsSync(share.path), "A's original is untouched");
  assert.ok(await notReloaded(), 'the page was not reloaded');
});

test('a bad action is reported on the page in one line', async () => {
  await page.locator('#share-path').fill('/no/such/folder');
  await page.getByRole('button', { name: 'Share' }).click();
  // The torrent service refuses it on the bus; the page matches the `error` report to its request.
  await page.locator('#messages li', { hasText: 'sharing /no/such/folder: path does not exist' }).waitFor({ timeout: 10000 });
  // The "hashing …" note went with the refusal.
  assert.equal(await page.locator('#messages li.info', { hasText: 'hashing /no/such/folder' }).count(), 0);
  await page.locator('#share-path').fill('relative/path');
  await page.getByRole('button', { name: 'Share' }).click();
  await page.locator('#messages li', { hasText: 'the path must be absolute' }).waitFor({ timeout: 5000 });
});

test('a share whose file went away shows its state and reason as text; Recheck publishes `recheck` and it seeds again once the file is back', { timeout: 90000 }, async () => {
  // A folder named like markup: the reason names the path, and must stay text too. (Not the file's own name:
  // webtorrent's file store drops <>:"|?* from file names, so such a file could not be read back.)
  const folder = join(b.dir, '<img src=x onerror=alert(2)>');
  const name = 'notes.bin';
  const path = join(folder, name);
  await writeRandomFile(path, 300_000);
  // Shared from the page: its "hashing …" note shows while the service works and goes once torrent_added
  // names the path (it stayed up to the timeout before, however long the hashing took).
  await page.evaluate(() => {
    const w = window as unknown as { notes: string[] };
    w.notes = [];
    new MutationObserver((changes) => {
      for (const c of changes) for (const n of c.addedNodes) w.notes.push(n.textContent ?? '');
    }).observe(document.getElementById('messages')!, { childList: true });
  });
  let since = b.bus.mark();
  await page.locator('#share-path').fill(path);
  await page.getByRole('button', { name: 'Share' }).click();
  const hash = String((await b.bus.waitFor('torrent_added', (m) => m.kwargs.path === path, 20000, since)).args[0]);
  assert.deepEqual((await b.bus.waitFor('generate_torrent', () => true, 1000, since)).args, [path]);
  await page.locator('#messages li.info', { hasText: 'hashing' }).waitFor({ state: 'detached', timeout: 5000 });
  assert.ok((await page.evaluate(() => (window as unknown as { notes: string[] }).notes)).includes(`hashing ${path} …`), 'the note was shown');
  const row = torrentRow(hash);
  await page.waitForFunction((h) => document.querySelector(`#torrents tr[data-hash="${h}"] .status`)?.textContent === 'seeding', hash, { timeout: 10000 });
  assert.equal(await row.getByRole('button', { name: 'Recheck' }).isVisible(), false, 'nothing to recheck while it seeds');

  // The file is moved away (rename keeps its mtime); the torrent service's recheck finds it missing.
  await rename(path, `${path}.away`);
  since = b.bus.mark();
  await b.bus.publish('recheck', [hash]);
  const failed = await b.bus.waitFor('torrent_error', (m) => m.args[0] === hash, 20000, since);
  const reason = (failed.args[1] as { reason: string }).reason;
  assert.ok(reason.includes(folder), reason);
  await page.waitForFunction((h) => document.querySelector(`#torrents tr[data-hash="${h}"] .status`)?.textContent === 'missing', hash, { timeout: 10000 });
  assert.equal(await row.locator('td.state .reason').textContent(), reason);
  assert.equal(await row.locator('td.name .title').textContent(), name);
  assert.doesNotMatch(await row.innerHTML(), /<img/);
  assert.equal(await page.locator('img').count(), 0);
  // The API the page reads: state, code and reason per torrent; a recheck of a hash not here is a 404.
  const api = await page.evaluate(async (h) => {
    const list = (await (await fetch('/api/torrents')).json()) as { infoHash: string; status: string; errorCode: string; errorReason: string }[];
    const unknown = await fetch('/api/recheck', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ hash: '0'.repeat(40) }) });
    return { mine: list.find((t) => t.infoHash === h), unknown: { status: unknown.status, body: await unknown.json() } };
  }, hash);
  assert.deepEqual(
    { status: api.mine?.status, errorCode: api.mine?.errorCode, errorReason: api.mine?.errorReason },
    { status: 'missing', errorCode: 'E_FILES_MISSING', errorReason: reason },
  );
  assert.deepEqual(api.unknown, { status: 404, body: { error: `no own torrent has the info-hash ${'0'.repeat(40)}` } });

  // Recheck while it is still away: the click publishes `recheck`, the page says it is still missing.
  const recheck = row.getByRole('button', { name: 'Recheck' });
  since = b.bus.mark();
  await recheck.click();
  assert.deepEqual((await b.bus.waitFor('recheck', (m) => m.args[0] === hash, 5000, since)).args, [hash]);
  await page.locator('#messages li', { hasText: `${name} is still missing: ` }).waitFor({ timeout: 20000 });

  // Back as it was: one more click and it seeds again; the button goes.
  await rename(`${path}.away`, path);
  since = b.bus.mark();
  await recheck.click();
  await b.bus.waitFor('recheck', (m) => m.args[0] === hash, 5000, since);
  await b.bus.waitFor('torrent_added', (m) => m.args[0] === hash && m.kwargs.status === 'seeding', 30000, since);
  await page.waitForFunction((h) => document.querySelector(`#torrents tr[data-hash="${h}"] .status`)?.textContent === 'seeding', hash, { timeout: 10000 });
  await page.locator('#messages li.info', { hasText: `${name}: all there, seeding again` }).waitFor({ timeout: 5000 });
  assert.equal(await recheck.isVisible(), false);
  assert.equal(await row.locator('td.state .reason').isVisible(), false);
  assert.deepEqual(dialogs.filter((d) => !d.startsWith('confirm: Delete')), []);
  assert.ok(await notReloaded(), 'the page was not reloaded');
});

/** The row of one of B's own torrents by its name. */
const torrentNamed = (name: string) => page.locator('#torrents tbody tr', { has: page.locator('.title', { hasText: name }) });

test('Get by hash takes a magnet link or a hash, publishes `add_hash`, and refuses anything else on the page', async () => {
  const hash = randomBytes(20).toString('hex');
  let since = b.bus.mark();
  await page.locator('#get-hash').fill('not a hash');
  await page.getByRole('button', { name: 'Get', exact: true }).click();
  await page.locator('#messages li', { hasText: '"not a hash" is not an info-hash' }).waitFor({ timeout: 5000 });

  await page.locator('#get-hash').fill(`magnet:?xt=urn:btih:${hash.toUpperCase()}&dn=whatever`);
  await page.getByRole('button', { name: 'Get', exact: true }).click();
  assert.deepEqual((await b.bus.waitFor('add_hash', (m) => m.args[0] === hash, 5000, since)).args, [hash]);
  assert.equal(b.bus.count('add_hash', since), 1, 'nothing published for the bad input');
  const row = torrentRow(hash);
  await row.waitFor({ timeout: 10000 });
  assert.equal(await row.locator('.status').textContent(), 'metadata');
  assert.equal(await row.locator('code.hash').textContent(), hash);
  await page.locator('#messages li.info', { hasText: `asking for ${hash}` }).waitFor({ state: 'detached', timeout: 5000 });
  assert.equal(await page.locator('#get-hash').inputValue(), '');

  since = b.bus.mark();
  await row.getByRole('button', { name: 'Remove' }).click();
  await b.bus.waitFor('torrent_removed', (m) => m.args[0] === hash, 10000, since);
  await row.waitFor({ state: 'detached', timeout: 5000 });
});

test('Pause and Resume publish `pause` / `resume` and the row follows the answers', { timeout: 60000 }, async () => {
  const row = torrentNamed('notes.bin');
  const hash = (await row.getAttribute('data-hash'))!;
  let since = b.bus.mark();
  await row.getByRole('button', { name: 'Pause' }).click();
  assert.deepEqual((await b.bus.waitFor('pause', (m) => m.args[0] === hash, 5000, since)).args, [hash]);
  await b.bus.waitFor('torrent_paused', (m) => m.args[0] === hash, 20000, since);
  await row.locator('.paused-mark', { hasText: 'paused' }).waitFor({ timeout: 5000 });
  await row.getByRole('button', { name: 'Resume' }).waitFor({ timeout: 5000 });
  assert.equal(await row.locator('td.speed').textContent(), '–');

  since = b.bus.mark();
  await row.getByRole('button', { name: 'Resume' }).click();
  assert.deepEqual((await b.bus.waitFor('resume', (m) => m.args[0] === hash, 5000, since)).args, [hash]);
  await b.bus.waitFor('torrent_resumed', (m) => m.args[0] === hash, 20000, since);
  await row.getByRole('button', { name: 'Pause' }).waitFor({ timeout: 5000 });
  assert.equal(await row.locator('.paused-mark').textContent(), '');
  assert.equal(await row.locator('.status').textContent(), 'seeding');
});

test('the limits form publishes `set_limits` in bytes per second and shows the limits the service applied', async () => {
  const since = b.bus.mark();
  await page.locator('#limit-download').fill('512');
  await page.locator('#limit-upload').fill('0');
  await page.locator('#limits-form').getByRole('button', { name: 'Set' }).click();
  assert.deepEqual((await b.bus.waitFor('set_limits', () => true, 5000, since)).args, [{ download: 512 * 1024, upload: 0 }]);
  await b.bus.waitFor('limits_changed', () => true, 10000, since);
  await page.locator('#limits-now', { hasText: 'now: down 512 KiB/s, up none' }).waitFor({ timeout: 5000 });
  // A negative limit: the form does not submit, and the API refuses it too; nothing is published.
  await page.locator('#limit-download').fill('-1');
  await page.locator('#limits-form').getByRole('button', { name: 'Set' }).click();
  assert.equal(await page.locator('#limit-download:invalid').count(), 1);
  const refused = await page.evaluate(async () => {
    const res = await fetch('/api/limits', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ download: -1 }) });
    return { status: res.status, body: await res.json() };
  });
  assert.deepEqual(refused, { status: 400, body: { error: 'download must be a whole number of bytes per second (0 = no limit), got -1' } });
  await page.locator('#limit-download').fill('');
  assert.equal(b.bus.count('set_limits', since), 1);
});

test('the layout: screenshots at 1280 and 420 px, nothing wider than the window or its card', async () => {
  // The widest things a page shows: a long name without spaces from a contact, and a long contact address.
  const hash = randomBytes(20).toString('hex');
  const name = `a-very-long-file-name-without-any-space-${'x'.repeat(80)}.mkv`;
  await storeContactShare(b, { jid: `someone.with.a.long.address.${'y'.repeat(30)}@example.test`, infoHash: hash, name, size: 123456789, address: '127.0.0.1', port: 9 });
  await b.bus.publish('shares_updated', ['someone@example.test']);
  await shareRow(hash).waitFor({ timeout: 5000 });
  for (const shot of await screenshots(page, 'dashboard', 'dashboard')) {
    assert.ok(shot.scrollWidth <= shot.width, `at ${shot.width} px the page is ${shot.scrollWidth} px wide: ${shot.sticksOut.join(', ')} (${shot.file})`);
    assert.deepEqual(shot.spills, [], `at ${shot.width} px something spills out of its card (${shot.file})`);
  }
  assert.deepEqual(dialogs.filter((d) => !d.startsWith('confirm: Delete')), []);
  assert.ok(await notReloaded(), 'the page was not reloaded');
});

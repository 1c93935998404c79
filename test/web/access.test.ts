// Who may use the dashboard. Bound beyond loopback it refuses to start without a token, and with one it
// refuses every API request that lacks it (401) and takes those that carry it; the page gets the token from
// `?token=`. On loopback without a token: mutating requests must be same-origin JSON, and a foreign Host
// header (DNS rebinding) is refused.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { launchBrowser, type TestBrowser } from '../helpers/browser.js';
import { writeRandomFile } from '../helpers/files.js';
import { startService } from '../helpers/process.js';
import { createTorrentNode, type TorrentNode } from '../helpers/torrent-node.js';
import { nonLoopbackAddress, startWeb, type WebService } from '../helpers/web.js';

const TOKEN = randomBytes(24).toString('hex');
const outside = nonLoopbackAddress();

let node: TorrentNode;
let open: WebService; // loopback, no token
let guarded: WebService; // non-loopback, token
let browser: TestBrowser;

before(async () => {
  [node, browser] = await Promise.all([createTorrentNode('wt'), launchBrowser()]);
  await node.start();
  [open, guarded] = await Promise.all([startWeb(node.env), startWeb(node.env, { ...outside, token: TOKEN })]);
});

after(async () => {
  await browser?.close();
  await Promise.all([open?.service.stop(), guarded?.service.stop()]);
  await node?.cleanup();
});

function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

/** node:http, because fetch will not send a Host header of the caller's choosing. */
function getWithHost(url: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

test(`refuses to start on a non-loopback address without a token (${outside.host}, 0.0.0.0), exit 78, one line`, async () => {
  for (const host of new Set([outside.host, '0.0.0.0'])) {
    const proc = startService('web', { ...node.env, BITWEEN_WEB_HOST: host, BITWEEN_WEB_PORT: '1' });
    assert.equal(await proc.exited, 78);
    assert.deepEqual(proc.output.filter((l) => l !== ''), [
      `bitween-web: BITWEEN_WEB_HOST=${host} is not a loopback address: set BITWEEN_WEB_TOKEN to a long random secret (e.g. \`openssl rand -hex 24\`) or bind to 127.0.0.1`,
    ]);
  }
});

test('refuses a token shorter than 16 characters, exit 78, one line', async () => {
  const proc = startService('web', { ...node.env, BITWEEN_WEB_HOST: outside.host, BITWEEN_WEB_PORT: '1', BITWEEN_WEB_TOKEN: 'secret' });
  assert.equal(await proc.exited, 78);
  assert.deepEqual(proc.output.filter((l) => l !== ''), [
    'bitween-web: BITWEEN_WEB_TOKEN is 6 characters long: use at least 16 random ones (e.g. `openssl rand -hex 24`)',
  ]);
});

test('bound beyond loopback with a token: a mutating request without it is refused (401), with it accepted', async () => {
  const path = join(node.dir, 'share', 'token.bin');
  await writeRandomFile(path, 100_000);
  const since = node.bus.mark();

  for (const headers of [{}, { authorization: `Bearer ${TOKEN}x` }, { authorization: TOKEN }] as Record<string, string>[]) {
    const res = await post(`${guarded.url}/api/share`, { path }, headers);
    assert.equal(res.status, 401);
    assert.match((await res.json()).error, /needs its token/);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="bitween"');
  }
  // Reads are guarded too: names and contacts are nobody else's business.
  assert.equal((await fetch(`${guarded.url}/api/torrents`)).status, 401);
  assert.equal((await fetch(`${guarded.url}/api/events`)).status, 401);
  // The router decodes `%61` to `a`: the guard must not be fooled by the spelling of the path.
  assert.equal((await fetch(`${guarded.url}/%61pi/torrents`)).status, 401);
  assert.equal((await post(`${guarded.url}/%61pi/share`, { path })).status, 401);
  assert.equal(node.bus.count('generate_torrent', since), 0, 'nothing refused reached the bus');

  const auth = { authorization: `Bearer ${TOKEN}` };
  const asForm = await fetch(`${guarded.url}/api/share`, { method: 'POST', headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' }, body: `path=${path}` });
  assert.equal(asForm.status, 415);

  const res = await post(`${guarded.url}/api/share`, { path }, auth);
  assert.equal(res.status, 202);
  assert.deepEqual(await res.json(), { accepted: true, topic: 'generate_torrent', payload: JSON.stringify({ args: [path] }) });
  await node.bus.waitFor('torrent_added', (m) => m.kwargs.path === path, 15000, since);
  const list = await (await fetch(`${guarded.url}/api/torrents`, { headers: auth })).json();
  assert.deepEqual(list.map((t: { name: string; status: string }) => [t.name, t.status]), [['token.bin', 'seeding']]);
});

test('the page takes the token from ?token=, drops it from the address bar, and works', async () => {
  const { page, dialogs } = await browser.newPage();
  try {
    await page.goto(`${guarded.url}/?token=${TOKEN}`);
    await page.locator('#live[data-state="live"]').waitFor({ timeout: 10000 });
    assert.equal(new URL(page.url()).search, '');
    await page.locator('#torrents td.name', { hasText: 'token.bin' }).waitFor({ timeout: 5000 });

    const path = join(node.dir, 'share', 'from-page.bin');
    await writeRandomFile(path, 50_000);
    await page.locator('#share-path').fill(path);
    await page.getByRole('button', { name: 'Share' }).click();
    const row = page.locator('#torrents tbody tr', { hasText: 'from-page.bin' });
    await row.waitFor({ timeout: 15000 });
    assert.deepEqual(dialogs, []);

    // A share's files are the user's originals: the page offers Remove only, and Remove keeps them.
    assert.equal(await row.getByRole('button', { name: 'Delete' }).count(), 0);
    const since = node.bus.mark();
    await row.getByRole('button', { name: 'Remove' }).click();
    await node.bus.waitFor('torrent_removed', () => true, 10000, since);
    await row.waitFor({ state: 'detached', timeout: 5000 });
    assert.ok(existsSync(path), 'the original stays');
  } finally {
    await page.close();
  }
});

test('without the token the page asks for it and opens with it', async () => {
  const { page } = await browser.newPage();
  try {
    await page.goto(`${guarded.url}/`);
    await page.locator('#login').waitFor({ state: 'visible', timeout: 5000 });
    assert.equal(await page.locator('#live').getAttribute('data-state'), 'locked');
    await page.locator('#login-token').fill(TOKEN);
    await page.getByRole('button', { name: 'Open' }).click();
    await page.locator('#live[data-state="live"]').waitFor({ timeout: 10000 });
    await page.locator('#torrents td.name', { hasText: 'token.bin' }).waitFor({ timeout: 5000 });
  } finally {
    await page.close();
  }
});

test('on loopback without a token: only same-origin JSON may act, and only under a loopback Host', async () => {
  const hash = randomBytes(20).toString('hex');
  const since = node.bus.mark();
  // What a hostile page could send: a simple form (no preflight), or a fetch from another origin.
  const form = await fetch(`${open.url}/api/get`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ hash }) });
  assert.equal(form.status, 415);
  const crossSite = await post(`${open.url}/api/get`, { hash }, { origin: 'http://evil.example' });
  assert.equal(crossSite.status, 403);
  assert.equal(node.bus.count('add_hash', since), 0);
  // DNS rebinding: a foreign name resolving to 127.0.0.1 arrives with its own Host header.
  assert.equal(await getWithHost(`${open.url}/api/torrents`, `evil.example:${open.port}`), 403);
  assert.equal(await getWithHost(`${open.url}/api/torrents`, `localhost:${open.port}`), 200);

  const ok = await post(`${open.url}/api/get`, { hash }, { origin: open.url });
  assert.equal(ok.status, 202);
  await node.bus.waitFor('add_hash', (m) => m.args[0] === hash, 5000, since);
  const bad = await post(`${open.url}/api/get`, { hash: 'not-a-hash' });
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).error, '"not-a-hash" is not an info-hash (40 hex characters)');
});

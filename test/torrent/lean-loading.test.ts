// The torrent service leaves out the parts of webtorrent it keeps switched off (services/torrent/lean-loading.ts):
// a fresh node process opens bitween's session with and without it and reports every module it loaded. The
// session must still listen and take a torrent; the left-out packages must not be loaded (and are without it).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const DIST = fileURLToPath(new URL('../../', import.meta.url));

/** Runs a child that records loaded module URLs, opens the session, adds a torrent made in memory. */
function openSessionIn(child: { lean: boolean }): Promise<{ urls: string[]; listening: boolean; infoHash: string; lean: boolean }> {
  const script = `
    import { registerHooks } from 'node:module';
    const urls = [];
    registerHooks({ load(url, context, next) { urls.push(url); return next(url, context); } });
    let lean = false;
    if (${child.lean}) lean = (await import(${JSON.stringify(`${DIST}services/torrent/lean-loading.js`)})).leanLoading().leftOut;
    const { openSession } = await import(${JSON.stringify(`${DIST}services/torrent/session.js`)});
    const client = await openSession({ port: 0, uploadLimit: 0, downloadLimit: 0 });
    const torrent = await new Promise((resolve, reject) => {
      client.seed(Buffer.from('bitween lean loading'), { name: 'lean.txt', announce: [], announceList: [] }, resolve);
      client.once('error', reject);
    });
    process.stdout.write(JSON.stringify({ urls, listening: client.listening, infoHash: torrent.infoHash, lean }));
    client.destroy(() => process.exit(0));
  `;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 30000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${err.message}\n${stderr}`));
      resolve(JSON.parse(stdout) as { urls: string[]; listening: boolean; infoHash: string; lean: boolean });
    });
  });
}

const LEFT_OUT = [
  '/node_modules/bittorrent-dht/',
  '/node_modules/bittorrent-tracker/',
  '/node_modules/bittorrent-lsd/',
  '/node_modules/ut_pex/',
  '/node_modules/@silentbot1/nat-api/',
  '/node_modules/load-ip-set/',
  '/node_modules/@thaunknown/simple-peer/',
  '/node_modules/utp-native/',
  '/node_modules/node-fetch/',
  '/node_modules/webtorrent/lib/server.js',
];

const loaded = (urls: string[]) => LEFT_OUT.filter((part) => urls.some((u) => u.includes(part)));

test('the session works without the switched-off parts of webtorrent, which are then not loaded', async (t) => {
  // module.registerHooks: Node 22.15 and later (the services run on the Node that npm ci installs).
  if (!('registerHooks' in (await import('node:module')))) {
    // CI runs the Node that npm ci installs, which has it: there its absence is a failure, not a skip.
    assert.ok(!process.env.CI, `this Node (${process.version}) has no module.registerHooks: the services' Node (22.15+) is not the one running`);
    return t.skip('this Node has no module.registerHooks');
  }
  const [lean, full] = await Promise.all([openSessionIn({ lean: true }), openSessionIn({ lean: false })]);
  assert.equal(lean.lean, true);
  assert.equal(lean.listening, true);
  assert.match(lean.infoHash, /^[0-9a-f]{40}$/);
  assert.deepEqual(loaded(lean.urls), [], 'left-out modules were loaded');
  // Without it every one of them is loaded: the check above can fail.
  assert.deepEqual(loaded(full.urls), LEFT_OUT);
  assert.equal(full.infoHash, lean.infoHash);
  assert.ok(lean.urls.length < full.urls.length * 0.7, `modules: ${lean.urls.length} lean, ${full.urls.length} without`);
});

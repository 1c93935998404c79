// The mission end to end: two full nodes (torrent, nat, xmpp as separate processes each; own namespace,
// database, folders and XMPP account) on one Prosody. A shares → B's store lists it with A's addresses →
// add_hash on B → torrent_done, bytes equal; the other way round; a folder too.
// The NAT service runs with UPnP and NAT-PMP off (outside a test router namespace it must not probe).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { listContactResources, listContactShares } from '../../lib/store/contacts.js';
import { getState } from '../../lib/store/state.js';
import { startProsody, type Prosody } from '../fixtures/prosody.js';
import { startServiceReady, type ServiceProcess } from '../helpers/process.js';
import { befriend, createXmppNode, type XmppNode } from '../helpers/xmpp.js';

interface FullNode {
  x: XmppNode;
  dir: string;
  saveDir: string;
  procs: ServiceProcess[];
}

async function createFullNode(prosody: Prosody, user: string): Promise<FullNode> {
  const x = await createXmppNode(prosody, user);
  const dir = await mkdtemp(join(tmpdir(), `bitween-${user}-`));
  const saveDir = join(dir, 'downloads');
  await mkdir(saveDir);
  x.env = {
    ...x.env,
    BITWEEN_SAVE_PATH: saveDir,
    BITWEEN_TORRENT_PORT: '0',
    BITWEEN_UPNP: 'false',
    BITWEEN_NATPMP: 'false',
    BITWEEN_IPV6: 'false',
  };
  return { x, dir, saveDir, procs: [] };
}

async function startAll(node: FullNode): Promise<void> {
  // The contract's start order; the services must not depend on it.
  node.procs.push(await startServiceReady('torrent', node.x.env));
  node.procs.push(await startServiceReady('nat', node.x.env));
  node.procs.push(await node.x.start());
}

async function stopAll(node: FullNode): Promise<void> {
  await node.x.stop();
  for (const p of node.procs.reverse()) await p.stop();
  await node.x.close();
  await rm(node.dir, { recursive: true, force: true });
}

describe('xmpp: two full nodes share and fetch end to end', () => {
  let prosody: Prosody;
  let a: FullNode;
  let b: FullNode;

  before(async () => {
    prosody = await startProsody();
    a = await createFullNode(prosody, 'anna');
    b = await createFullNode(prosody, 'ben');
    await befriend(prosody, a.x, b.x);
    await Promise.all([startAll(a), startAll(b)]);
  });

  after(async () => {
    await Promise.allSettled([a && stopAll(a), b && stopAll(b)]);
    await prosody?.close();
  });

  /** `from` shares `path`; `to` sees it in its store, fetches it, and gets torrent_done. Returns the hash. */
  async function shareAndFetch(from: FullNode, to: FullNode, path: string): Promise<string> {
    const fromSince = from.x.bus.mark();
    const toSince = to.x.bus.mark();
    const started = Date.now();
    await from.x.bus.publish('generate_torrent', [path]);
    const added = await from.x.bus.waitFor('torrent_added', () => true, 30000, fromSince);
    const infoHash = added.args[0] as string;
    // the contact's store lists it, with the sharer's addresses
    for (let since = toSince; ; since = to.x.bus.seen.length) {
      await to.x.bus.waitFor('shares_updated', (m) => m.args[0] === from.x.jid, 15000, since);
      if ((await listContactShares(to.x.db.pool, from.x.jid)).some((s) => s.infoHash === infoHash)) break;
    }
    const listedMs = Date.now() - started;
    const port = (await getState<{ port: number }>(from.x.db.pool, 'torrent.listen_port'))!.port;
    const [res] = await listContactResources(to.x.db.pool, from.x.jid);
    assert.ok(res!.addresses.some((x) => x.address === '127.0.0.1' && x.port === port), `addresses ${JSON.stringify(res!.addresses)} lack 127.0.0.1:${port}`);
    assert.ok(listedMs < 10000, `listed after ${listedMs} ms`);

    const fetchSince = to.x.bus.mark();
    await to.x.bus.publish('add_hash', [infoHash]);
    await to.x.bus.waitFor('torrent_done', (m) => m.args[0] === infoHash, 60000, fetchSince);
    assert.equal(to.x.bus.count('error', fetchSince), 0, JSON.stringify(to.x.bus.seen.filter((m) => m.topic === 'error')));
    return infoHash;
  }

  test('A shares a file, B lists it and fetches it: bytes equal', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const file = join(a.dir, 'holiday.bin');
    await writeFile(file, data);
    await shareAndFetch(a, b, file);
    assert.ok(data.equals(await readFile(join(b.saveDir, 'holiday.bin'))));
  });

  test('the other way round: B shares, A fetches', async () => {
    const data = randomBytes(1024 * 1024 + 3);
    const file = join(b.dir, 'from-ben.bin');
    await writeFile(file, data);
    await shareAndFetch(b, a, file);
    assert.ok(data.equals(await readFile(join(a.saveDir, 'from-ben.bin'))));
  });

  test('a folder share arrives whole', async () => {
    const folder = join(a.dir, 'album');
    await mkdir(join(folder, 'disc 2'), { recursive: true });
    const files: Record<string, Buffer> = {
      'one.flac': randomBytes(700 * 1024),
      'disc 2/two.flac': randomBytes(300 * 1024 + 5),
      'cover.jpg': randomBytes(12345),
    };
    for (const [name, bytes] of Object.entries(files)) await writeFile(join(folder, name), bytes);
    await shareAndFetch(a, b, folder);
    for (const [name, bytes] of Object.entries(files)) {
      assert.ok(bytes.equals(await readFile(join(b.saveDir, 'album', name))), `${name} differs`);
    }
  });
});

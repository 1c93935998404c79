// The CLI against two full nodes (torrent, nat, xmpp as separate processes each; own namespace, database,
// folders, XMPP account) on a real Prosody: befriend with `contacts add`, share, browse, get --wait, ls,
// contacts remove, status — everything a user does, through the command line only.
// The NAT service runs with UPnP and NAT-PMP off (outside a test router namespace it must not probe).
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startProsody, type Prosody } from '../fixtures/prosody.js';
import { runCli, tableRows, type CliResult } from '../helpers/cli.js';
import { treeDigest, writeRandomFile } from '../helpers/files.js';
import { startServiceReady, type ServiceProcess } from '../helpers/process.js';
import { createXmppNode, type XmppNode } from '../helpers/xmpp.js';

interface Node {
  x: XmppNode;
  dir: string;
  procs: Map<string, ServiceProcess>;
  cli(...args: string[]): Promise<CliResult>;
}

async function createNode(prosody: Prosody, user: string): Promise<Node> {
  const x = await createXmppNode(prosody, user);
  const dir = await mkdtemp(join(tmpdir(), `bitween-cli-${user}-`));
  await mkdir(join(dir, 'downloads'));
  x.env = { ...x.env, BITWEEN_SAVE_PATH: join(dir, 'downloads'), BITWEEN_UPNP: 'false', BITWEEN_NATPMP: 'false', BITWEEN_PROGRESS_INTERVAL_MS: '200' };
  const node: Node = { x, dir, procs: new Map(), cli: (...args) => runCli(args, x.env) };
  return node;
}

async function startAll(node: Node): Promise<void> {
  node.procs.set('torrent', await startServiceReady('torrent', node.x.env));
  node.procs.set('nat', await startServiceReady('nat', node.x.env));
  node.procs.set('xmpp', await node.x.start());
}

async function stopAll(node: Node): Promise<void> {
  await node.x.stop();
  for (const p of [...node.procs.values()].reverse()) await p.stop();
  await node.x.close();
  await rm(node.dir, { recursive: true, force: true });
}

/** Polls until `check` holds (roster changes have no bus event); fails with `what` after timeoutMs. */
async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let prosody: Prosody;
let a: Node;
let b: Node;
before(async () => {
  prosody = await startProsody();
  [a, b] = await Promise.all([createNode(prosody, 'carla'), createNode(prosody, 'dario')]);
  await Promise.all([startAll(a), startAll(b)]);
});
after(async () => {
  await Promise.allSettled([a && stopAll(a), b && stopAll(b)]);
  await prosody?.close();
});

test('status on a running node: torrent, nat and xmpp up with their facts', async () => {
  const r = await a.cli('status', '--json');
  assert.equal(r.code, 0, r.stderr);
  const status = JSON.parse(r.stdout);
  for (const s of ['torrent', 'nat', 'xmpp']) {
    assert.equal(status.services[s].up, true, `${s} up`);
    assert.equal(status.services[s].pid, a.procs.get(s)!.child.pid);
  }
  assert.equal(typeof status.services.torrent.facts.port, 'number');
  assert.equal(status.services.nat.facts.status, 'off');
  const human = await a.cli('status');
  assert.match(human.stdout, /^torrent +up /m);
  assert.match(human.stdout, /^  port \d+/m);
  assert.match(human.stdout, /^  status off /m);
});

test('contacts add asks; the other side sees the request and accepts it with contacts add', async () => {
  const ask = await a.cli('contacts', 'add', b.x.jid);
  assert.equal(ask.code, 0, ask.stderr);
  assert.equal(ask.stdout, `asked ${b.x.jid}; they become a contact once they accept (\`bitween contacts\` shows it)\n`);
  await until(`${b.x.user} sees the request`, async () =>
    JSON.parse((await b.cli('contacts', '--json')).stdout).some((c: { jid: string; pendingIn: boolean }) => c.jid === a.x.jid && c.pendingIn));
  const pending = await b.cli('contacts');
  assert.match(pending.stdout, new RegExp(`^${a.x.jid} +asks to be your contact +- +0$`, 'm'));
  assert.match(pending.stdout, new RegExp(`Waiting for your answer:\\n  ${a.x.jid}: accept with \`bitween contacts add ${a.x.jid}\``));
  // The asking side shows its own request, waiting.
  const asked = await a.cli('contacts');
  assert.match(asked.stdout, new RegExp(`^${b.x.jid} +waiting for them to accept +- +0$`, 'm'));
  assert.match(asked.stdout, new RegExp(`Waiting for their answer:\\n  ${b.x.jid}: asked to be your contact; \`bitween contacts remove ${b.x.jid}\` withdraws it`));

  const accept = await b.cli('contacts', 'add', a.x.jid, '--json');
  assert.equal(accept.code, 0, accept.stderr);
  assert.equal(JSON.parse(accept.stdout).jid, a.x.jid);
  for (const [node, other] of [[a, b], [b, a]] as const) {
    await until(`${node.x.user} and ${other.x.user} are contacts both ways`, async () =>
      JSON.parse((await node.cli('contacts', '--json')).stdout).some((c: { jid: string; subscription: string }) => c.jid === other.x.jid && c.subscription === 'both'));
  }
  const list = await a.cli('contacts');
  assert.match(list.stdout, new RegExp(`^${b.x.jid} +contact +yes +0$`, 'm'));
});

let hash: string;
const SIZE = 2_000_000;

test("share on A; B browses A's share, fetches it with get --wait, and lists it", async () => {
  const file = join(a.dir, 'report.pdf');
  await writeRandomFile(file, SIZE);
  const since = b.x.bus.mark();
  const share = await a.cli('share', file);
  assert.equal(share.code, 0, share.stderr);
  hash = share.stdout.trim();
  assert.match(hash, /^[0-9a-f]{40}$/);
  // B's xmpp service collects A's PEP item and says so on its bus.
  await b.x.bus.waitFor('shares_updated', () => true, 15000, since);
  await until("B's store lists the share", async () => JSON.parse((await b.cli('browse', '--json')).stdout).some((s: { infoHash: string }) => s.infoHash === hash));

  const browse = await b.cli('browse', 'report');
  assert.equal(browse.code, 0, browse.stderr);
  assert.deepEqual(tableRows(browse.stdout)[1], [hash.slice(0, 12), 'report.pdf', '1.91 MiB', '1/1', '-', a.x.jid]);
  const [entry] = JSON.parse((await b.cli('browse', 'report', '--json')).stdout);
  assert.deepEqual(entry, { infoHash: hash, name: 'report.pdf', size: SIZE, contacts: [{ jid: a.x.jid, online: true, resources: [a.x.resource] }], online: true, own: null });

  const get = await b.cli('get', hash.slice(0, 10), '--wait');
  assert.equal(get.code, 0, get.stderr);
  assert.equal(get.stderr, '', 'no progress bar when stderr is not a terminal');
  assert.match(get.stdout, new RegExp(`^downloaded report\\.pdf \\(1\\.91 MiB\\) in \\d+s(, [\\d.]+ [KMG]?i?B/s)? to ${join(b.dir, 'downloads')}\\n$`));
  assert.deepEqual(await treeDigest(join(b.dir, 'downloads', 'report.pdf')), await treeDigest(file));

  const ls = JSON.parse((await b.cli('ls', '--json')).stdout);
  assert.deepEqual(ls.map((t: { infoHash: string; state: string; progress: number; origin: string }) => [t.infoHash, t.state, t.progress, t.origin]), [[hash, 'seeding', 1, 'fetched']]);
  const browsed = JSON.parse((await b.cli('browse', '--json')).stdout);
  assert.equal(browsed.find((s: { infoHash: string }) => s.infoHash === hash).own, 'seeding');
});

test("contacts remove ends it both ways; the contact's shares leave browse", async () => {
  const r = await b.cli('contacts', 'remove', a.x.jid);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `removed ${a.x.jid}; their shares are gone from \`bitween browse\`\n`);
  assert.deepEqual(JSON.parse((await b.cli('browse', '--json')).stdout), []);
  const none = await b.cli('browse');
  assert.equal(none.stdout, 'no shares from contacts yet: `bitween contacts add JID` asks someone to be a contact\n');
});

test('a service stopped on a running node shows as down; commands that need it say so', async () => {
  await a.procs.get('nat')!.stop();
  const status = JSON.parse((await a.cli('status', '--json')).stdout);
  assert.equal(status.services.nat.up, false);
  assert.equal(status.services.torrent.up, true);
  await a.x.stop();
  const add = await a.cli('contacts', 'add', b.x.jid);
  assert.equal(add.code, 69);
  assert.match(add.stderr, /^bitween: the xmpp service is not running .*`cd \S+ && npx pm2 start ecosystem.config.js --only bitween-xmpp`\n$/);
});

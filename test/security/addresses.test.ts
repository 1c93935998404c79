// Issue 12: one address rule (lib/address.ts) at XMPP intake, in the store and at dial time. The classifier
// over every spelling that slipped through the hand-written checks; a hostile contact (raw session on a real
// Prosody) publishing each spelling; and a real torrent service given each spelling straight in its store
// (intake bypassed), with loopback listeners that count the connections it makes: there must be none.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { checkAddress, classifyAddress, dialableAddress } from '../../lib/address.js';
import { listContactResources } from '../../lib/store/contacts.js';
import { ownAddresses } from '../../services/nat/addresses.js';
import { peerAddress } from '../../lib/validate.js';
import { startProsody, type Prosody } from '../fixtures/prosody.js';
import { createTestDatabase } from '../helpers/db.js';
import { freePort } from '../helpers/ports.js';
import { createTorrentNode, storeContactShare, type TorrentNode } from '../helpers/torrent-node.js';
import { NS_SHARES, befriend, createXmppNode, randomHash, rawSession, type RawSession, type XmppNode } from '../helpers/xmpp.js';

type Verdict = 'refused' | 'loopback' | 'allowed';

/** [spelling, canonical (undefined: not an address), kind, verdict: refused always / dialled only with BITWEEN_ALLOW_LOOPBACK / always] */
const FORMS: [string, string | undefined, string | undefined, Verdict][] = [
  ['127.0.0.1', '127.0.0.1', 'loopback', 'loopback'],
  ['127.1.2.3', '127.1.2.3', 'loopback', 'loopback'],
  ['::1', '::1', 'loopback', 'loopback'],
  ['0:0:0:0:0:0:0:1', '::1', 'loopback', 'loopback'],
  ['::ffff:127.0.0.1', '127.0.0.1', 'loopback', 'loopback'],
  ['::FFFF:127.0.0.1', '127.0.0.1', 'loopback', 'loopback'],
  ['::ffff:7f00:1', '127.0.0.1', 'loopback', 'loopback'],
  ['0:0:0:0:0:ffff:7f00:1', '127.0.0.1', 'loopback', 'loopback'],
  ['0.0.0.0', '0.0.0.0', 'unspecified', 'refused'],
  ['0.1.2.3', '0.1.2.3', 'unspecified', 'refused'],
  ['::', '::', 'unspecified', 'refused'],
  ['0:0:0:0:0:0:0:0', '::', 'unspecified', 'refused'],
  ['::ffff:0.0.0.0', '0.0.0.0', 'unspecified', 'refused'],
  ['::ffff:0:0', '0.0.0.0', 'unspecified', 'refused'],
  ['0:0:0:0:0:ffff:0:0', '0.0.0.0', 'unspecified', 'refused'],
  ['::FFFF:0:0', '0.0.0.0', 'unspecified', 'refused'],
  ['fe80::1', 'fe80::1', 'linkLocal', 'refused'],
  ['fe80::1%eth0', 'fe80::1', 'linkLocal', 'refused'],
  ['FEBF::1', 'febf::1', 'linkLocal', 'refused'],
  ['169.254.1.1', '169.254.1.1', 'linkLocal', 'refused'],
  ['::ffff:169.254.1.1', '169.254.1.1', 'linkLocal', 'refused'],
  ['224.0.0.1', '224.0.0.1', 'multicast', 'refused'],
  ['239.255.255.250', '239.255.255.250', 'multicast', 'refused'],
  ['ff02::1', 'ff02::1', 'multicast', 'refused'],
  ['::ffff:224.0.0.1', '224.0.0.1', 'multicast', 'refused'],
  ['255.255.255.255', '255.255.255.255', 'broadcast', 'refused'],
  ['::ffff:255.255.255.255', '255.255.255.255', 'broadcast', 'refused'],
  ['240.0.0.1', '240.0.0.1', 'reserved', 'refused'],
  ['100::1', '100::1', 'reserved', 'refused'],
  // IPv4-compatible (deprecated): ipaddr.js alone reads `::a.b.c.d` as IPv4-mapped; the kernel and Postgres do not.
  ['::127.0.0.1', '::7f00:1', 'reserved', 'refused'],
  ['::7f00:1', '::7f00:1', 'reserved', 'refused'],
  ['::1.2.3.4', '::102:304', 'reserved', 'refused'],
  // Transition forms that embed a loopback or unspecified IPv4 address.
  ['2002:7f00:1::1', '2002:7f00:1::1', 'reserved', 'refused'], // 6to4 of 127.0.0.1
  ['2002::1', '2002::1', 'reserved', 'refused'], // 6to4 of 0.0.0.0
  ['2001:0:4136:e378:8000:63bf:80ff:fffe', '2001:0:4136:e378:8000:63bf:80ff:fffe', 'reserved', 'refused'], // Teredo, client 127.0.0.1
  ['64:ff9b::7f00:1', '64:ff9b::7f00:1', 'reserved', 'refused'], // NAT64 of 127.0.0.1
  ['::ffff:0:7f00:1', '::ffff:0:7f00:1', 'reserved', 'refused'], // IPv4-translated 127.0.0.1
  ['2001:db8::1%eth0', '2001:db8::1', 'public', 'refused'], // a zone index names the sender's interface
  // Private LAN ranges stay allowed: a friend on the same LAN is normal.
  ['10.0.0.1', '10.0.0.1', 'private', 'allowed'],
  ['172.16.5.4', '172.16.5.4', 'private', 'allowed'],
  ['192.168.1.2', '192.168.1.2', 'private', 'allowed'],
  ['::ffff:192.168.1.3', '192.168.1.3', 'private', 'allowed'],
  ['100.64.0.1', '100.64.0.1', 'private', 'allowed'],
  ['fd12:3456::1', 'fd12:3456::1', 'private', 'allowed'],
  // Documentation ranges are allowed: nothing answers there, and tests use them as stand-ins for public addresses.
  ['2001:db8::1', '2001:db8::1', 'public', 'allowed'],
  ['2001:DB8:0:0:0:0:0:2', '2001:db8::2', 'public', 'allowed'],
  ['203.0.113.7', '203.0.113.7', 'public', 'allowed'],
  ['8.8.8.8', '8.8.8.8', 'public', 'allowed'],
  ['2002:c633:6401::1', '2002:c633:6401::1', 'public', 'allowed'], // 6to4 of 198.51.100.1
  ['2a00:1450:4001:0:0:0:0:200e', '2a00:1450:4001::200e', 'public', 'allowed'],
  // Not addresses: syntax Node's strict parser refuses, though ipaddr.js or inet_aton would read some of them.
  ['127.1', undefined, undefined, 'refused'],
  ['0x7f.0.0.1', undefined, undefined, 'refused'],
  ['2130706433', undefined, undefined, 'refused'],
  ['0177.0.0.1', undefined, undefined, 'refused'],
  ['01.2.3.4', undefined, undefined, 'refused'],
  ['1.2.3', undefined, undefined, 'refused'],
  ['[::1]', undefined, undefined, 'refused'],
  [' 10.0.0.1', undefined, undefined, 'refused'],
  ['localhost', undefined, undefined, 'refused'],
  ['::ffff:127.0.0.1.1', undefined, undefined, 'refused'],
  ['1:2:3:4:5:6:7:8:9', undefined, undefined, 'refused'],
  ['', undefined, undefined, 'refused'],
  ['garbage', undefined, undefined, 'refused'],
];

const strict = { allowLoopback: false };
const loose = { allowLoopback: true };

function expected(verdict: Verdict, policy: { allowLoopback: boolean }): boolean {
  return verdict === 'allowed' || (verdict === 'loopback' && policy.allowLoopback);
}

describe('address rule: every spelling', () => {
  test('classifier: canonical spelling and kind', () => {
    for (const [text, canonical, kind] of FORMS) {
      const c = classifyAddress(text);
      assert.equal(c?.canonical, canonical, text);
      assert.equal(c?.kind, kind, text);
    }
  });

  test('decision, with and without BITWEEN_ALLOW_LOOPBACK; a refusal says why in one line', () => {
    for (const [text, canonical, kind, verdict] of FORMS) {
      for (const policy of [strict, loose]) {
        const result = checkAddress(text, policy);
        if (expected(verdict, policy)) assert.deepEqual(result, { canonical }, `${text} ${JSON.stringify(policy)}`);
        else {
          assert.ok('refused' in result, `${text} must be refused with ${JSON.stringify(policy)}`);
          assert.doesNotMatch(result.refused, /\n/);
          if (kind === 'unspecified') assert.match(result.refused, /unspecified/, text);
        }
        assert.equal(dialableAddress(text, policy), expected(verdict, policy) ? canonical : undefined, text);
      }
    }
    for (const notText of [undefined, null, 2130706433, {}, ['127.0.0.1']]) assert.ok('refused' in checkAddress(notText, loose));
  });

  test('own addresses follow the same rule: a router without a WAN link reports 0.0.0.0, which is not published', () => {
    const iface = (address: string) => ({ address, netmask: '', family: address.includes(':') ? 'IPv6' : 'IPv4', mac: '', internal: false, cidr: null, scopeid: 0 }) as never;
    const interfaces = { eth0: ['192.168.1.20', 'fe80::1', '2001:DB8:0:0:0:0:0:20', '169.254.3.4', '::ffff:10.1.1.1'].map(iface) };
    const policy = { ipv4: true, ipv6: true, allowLoopback: false };
    assert.deepEqual(ownAddresses(policy, '0.0.0.0', interfaces), ['10.1.1.1', '192.168.1.20', '2001:db8::20']);
    assert.deepEqual(ownAddresses({ ...policy, allowLoopback: true }, '::ffff:0.0.0.0', { lo: ['127.0.0.1', '::1', '0.0.0.0'].map(iface) }), ['127.0.0.1', '::1']);
  });

  test('canonical spelling is what Postgres host(inet) prints: stored addresses read back unchanged', async () => {
    const db = await createTestDatabase({ migrate: false });
    try {
      const accepted = FORMS.filter(([, , , v]) => v !== 'refused').map(([t]) => dialableAddress(t, loose)!);
      const { rows } = await db.pool.query<{ t: string; h: string }>(`SELECT t, host(t::inet) AS h FROM unnest($1::text[]) t`, [accepted]);
      for (const r of rows) assert.equal(r.h, r.t);
      // And what Postgres prints for a spelling that bypassed intake is judged the same as the spelling.
      const inetable = FORMS.filter(([t, c]) => c !== undefined && !t.includes('%')).map(([t]) => t);
      const back = await db.pool.query<{ t: string; h: string }>(`SELECT t, host(t::inet) AS h FROM unnest($1::text[]) t`, [inetable]);
      for (const r of back.rows) assert.deepEqual(classifyAddress(r.h), classifyAddress(r.t), `${r.t} stored as ${r.h}`);
    } finally {
      await db.drop();
    }
  });
});

describe('address rule at XMPP intake: a contact publishes every spelling', () => {
  let prosody: Prosody;
  let bob: XmppNode;
  let eve: RawSession;

  before(async () => {
    prosody = await startProsody();
    bob = await createXmppNode(prosody, 'bob', { listenPort: 6881 });
    await prosody.register('eve', 'pw-eve');
    await befriend(prosody, bob, { user: 'eve', password: 'pw-eve' });
    eve = await rawSession(prosody, 'eve', 'pw-eve', { notify: true });
  });

  after(async () => {
    await eve?.stop();
    await bob?.close();
    await prosody?.close();
  });

  let iqId = 0;
  /** Eve publishes one resource carrying every spelling, each as written (no client-side normalising). */
  async function publishEveryForm(resource: string): Promise<void> {
    const id = `addr-${++iqId}`;
    const reply = eve.waitFor((el) => el.is('iq') && el.attrs.id === id, 10000);
    const addresses = FORMS.map(([t]) => `<ip_address address='${t}' port='6881'/>`).join('');
    await (eve.xmpp as unknown as { write(text: string): Promise<void> }).write(
      `<iq type='set' id='${id}'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='${NS_SHARES}'><item id='current'>` +
        `<user_shares xmlns='${NS_SHARES}'><resource resource='${resource}'><share_item hash='${randomHash()}' name='x' size='1'/>${addresses}</resource></user_shares>` +
        `</item></publish></pubsub></iq>`,
    );
    assert.equal((await reply).attrs.type, 'result');
  }

  async function storedFor(resource: string): Promise<string[]> {
    const row = (await listContactResources(bob.db.pool, eve.jid)).find((r) => r.resource === resource);
    assert.ok(row, `resource ${resource} stored`);
    return row.addresses.map((a) => a.address).sort();
  }

  function canonicalAccepted(policy: { allowLoopback: boolean }): string[] {
    return [...new Set(FORMS.filter(([, , , v]) => expected(v, policy)).map(([, c]) => c!))].sort();
  }

  test('BITWEEN_ALLOW_LOOPBACK=false: none of the refused forms is stored, the allowed ones in canonical form', async () => {
    await bob.start({ BITWEEN_ALLOW_LOOPBACK: 'false' });
    const since = bob.bus.mark();
    await publishEveryForm('strict');
    await bob.bus.waitFor('shares_updated', (m) => m.args[0] === eve.jid, 20000, since);
    const stored = await storedFor('strict');
    assert.deepEqual(stored, canonicalAccepted(strict));
    assert.ok(!stored.some((a) => a.startsWith('127.') || a === '::1' || a === '0.0.0.0' || a === '::' || a.startsWith('::ffff:')), stored.join(' '));
    assert.equal(bob.proc!.child.exitCode, null);
  });

  test('BITWEEN_ALLOW_LOOPBACK=true: loopback is stored (as IPv4 when mapped), unspecified never', async () => {
    await bob.stop();
    await bob.start({ BITWEEN_ALLOW_LOOPBACK: 'true' });
    const since = bob.bus.mark();
    await publishEveryForm('loose');
    await bob.bus.waitFor('shares_updated', (m) => m.args[0] === eve.jid, 20000, since);
    const stored = await storedFor('loose');
    assert.deepEqual(stored, canonicalAccepted(loose));
    assert.ok(stored.includes('127.0.0.1') && stored.includes('::1'));
    assert.ok(!stored.includes('0.0.0.0') && !stored.includes('::'));
  });
});

/** TCP listeners on loopback addresses that count the connections they get, per port. */
class CountingListeners {
  private readonly servers: Server[] = [];
  readonly counts = new Map<number, number>();
  readonly hosts: string[] = [];

  static async open(ports: number[]): Promise<CountingListeners> {
    const l = new CountingListeners();
    // 0.0.0.0 and ::ffff:0.0.0.0 reach 127.0.0.1 on Linux, :: reaches ::1; 127.1.2.3 needs its own socket.
    for (const host of ['127.0.0.1', '127.1.2.3', '::1']) {
      try {
        for (const port of ports) await l.listen(host, port);
        l.hosts.push(host);
      } catch (err) {
        if (host !== '::1') throw err; // a machine without IPv6 loopback: the IPv6 forms cannot connect anywhere
      }
    }
    return l;
  }

  private listen(host: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = createServer((socket) => {
        this.counts.set(port, this.count(port) + 1);
        socket.destroy();
      });
      server.once('error', reject);
      server.listen({ host, port, ipv6Only: true }, () => {
        this.servers.push(server);
        resolve();
      });
    });
  }

  count(port: number): number {
    return this.counts.get(port) ?? 0;
  }

  async waitForConnection(port: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.count(port) === 0) {
      if (Date.now() > deadline) throw new Error(`no connection to port ${port} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.servers.map((s) => new Promise((r) => s.close(r))));
  }
}

describe('address rule at dial time: store rows that bypassed intake', () => {
  let node: TorrentNode;
  let listeners: CountingListeners;
  /** Where every refused form points: no connection may ever arrive. */
  let refusedPort: number;
  /** One port per loopback form, to see which spelling was dialled. */
  const loopbackPorts = new Map<string, number>();
  const loopbackForms = FORMS.filter(([, , , v]) => v === 'loopback').map(([t]) => t);

  /** The forms Postgres accepts as inet, each stored for a hash (and contact resource) of its own; the host is how the store prints it. */
  async function storeForms(verdicts: Verdict[], portOf: (text: string) => number): Promise<{ text: string; hash: string; peer: string }[]> {
    const out: { text: string; hash: string; peer: string }[] = [];
    for (const [text, canonical, , verdict] of FORMS) {
      // Not an address by the rule: intake drops it, and Postgres makes another address of some (0177.0.0.1
      // is 177.0.0.1 to it, 127.0.0.1 to inet_aton), which dial then judges as what it is.
      if (!verdicts.includes(verdict) || canonical === undefined) continue;
      // Postgres itself refuses some spellings (a zone index): those can never reach dial.
      const host = await node.db.pool.query<{ h: string }>(`SELECT host($1::inet) AS h`, [text]).then((r) => r.rows[0]!.h, () => undefined);
      if (host === undefined) continue;
      const hash = randomHash();
      const port = portOf(text);
      await storeContactShare(node, { jid: 'eve@example.test', resource: hash, infoHash: hash, name: 'bait', size: 1, address: text, port });
      out.push({ text, hash, peer: peerAddress(host, port) });
    }
    return out;
  }

  /**
   * add_hash for each, then whether an `error` named its address (one address per hash: the error line is capped
   * at 512 bytes). `torrent_added` paces the loop; the window after it lets late connections and errors arrive.
   */
  async function addAndCollectRefusals(stored: { text: string; hash: string; peer: string }[]): Promise<{ text: string; peer: string; named: boolean }[]> {
    const since = node.bus.mark();
    for (const s of stored) {
      await node.bus.publishRaw('add_hash', s.hash);
      await node.bus.waitFor('torrent_added', (m) => m.args[0] === s.hash, 30000, since);
    }
    // Proving an absence needs a window: a dialled loopback address connects well within it (second test).
    await new Promise((r) => setTimeout(r, 3000));
    const errors = node.bus.seen.slice(since).filter((m) => m.topic === 'error' && /refused/.test(m.error?.error ?? ''));
    return stored.map((s) => ({
      text: s.text,
      peer: s.peer,
      named: errors.some((m) => (m.error!.payload === s.hash || m.error!.error.includes(s.hash)) && m.error!.error.includes(s.peer)),
    }));
  }

  before(async () => {
    refusedPort = await freePort();
    for (const text of loopbackForms) loopbackPorts.set(text, await freePort());
    listeners = await CountingListeners.open([refusedPort, ...loopbackPorts.values()]);
    node = await createTorrentNode('addr', { BITWEEN_ALLOW_LOOPBACK: 'false' });
    await node.start();
  });

  after(async () => {
    await node?.cleanup();
    await listeners?.close();
  });

  test('BITWEEN_ALLOW_LOOPBACK=false: no spelling reaches the listeners, an error names each refused address', async (t) => {
    // Allowed forms (10.0.0.1...) are left out: they would be dialled, into a network that is not there.
    const stored = await storeForms(['refused', 'loopback'], () => refusedPort);
    assert.ok(stored.some((s) => s.text === '::ffff:0.0.0.0'), 'the form that was dialled before issue 12 is among them');
    const outcome = await addAndCollectRefusals(stored);
    for (const o of outcome) t.diagnostic(`${o.named ? 'refused' : 'NOT REFUSED'}: ${o.text} (stored as ${o.peer})`);
    assert.equal(listeners.count(refusedPort), 0, `connections reached the listeners on ${listeners.hosts.join(', ')}`);
    assert.deepEqual(outcome.filter((o) => !o.named).map((o) => o.text), [], 'forms no error named');
  });

  test('BITWEEN_ALLOW_LOOPBACK=true: each loopback spelling is dialled, unspecified and the rest never', async (t) => {
    await node.service?.stop();
    // The previous test's torrents come back on start: without their addresses, or its loopback ones would be dialled now.
    await node.db.pool.query(`DELETE FROM contact_addresses; DELETE FROM contact_shares; DELETE FROM contact_resources`);
    await node.start({ BITWEEN_ALLOW_LOOPBACK: 'true' });
    const since = node.bus.mark();
    const dialled = await storeForms(['loopback'], (text) => loopbackPorts.get(text)!);
    for (const s of dialled) {
      const port = loopbackPorts.get(s.text)!;
      const started = Date.now();
      await node.bus.publishRaw('add_hash', s.hash);
      await listeners.waitForConnection(port, 20000);
      const ms = Date.now() - started;
      assert.ok(ms < 3000, `a loopback dial took ${ms} ms: the 3 s window of the previous test is too short`);
      t.diagnostic(`dialled ${s.text} (stored as ${s.peer}): ${listeners.count(port)} connection(s) within ${ms} ms`);
    }
    const refused = await storeForms(['refused'], () => refusedPort);
    const outcome = await addAndCollectRefusals(refused);
    assert.equal(listeners.count(refusedPort), 0, `connections reached the listeners on ${listeners.hosts.join(', ')}`);
    assert.deepEqual(outcome.filter((o) => !o.named).map((o) => o.text), [], 'forms no error named');
    const loopbackRefusals = node.bus.seen.slice(since).filter((m) => m.topic === 'error' && dialled.some((s) => m.raw.includes(s.hash)));
    assert.deepEqual(loopbackRefusals.map((m) => m.raw), []);
  });
});

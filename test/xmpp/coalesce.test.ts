// Publishing coalesces (issue 14.5): a burst of share changes, each followed by `publish_shares` as the torrent
// service sends them, costs a contact at most 2 PEP notifications after the burst ends, never the same list
// twice; a `publish_shares` with nothing changed publishes nothing. Counted at a raw contact session on a real
// Prosody, which receives every notification of alice's item.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Element } from '@xmpp/client';
import { MAX_WAIT_MS } from '../../services/xmpp/publish.js';
import { startProsody, type Prosody } from '../fixtures/prosody.js';
import { NS_SHARES, befriend, createXmppNode, randomHash, rawSession, type RawSession, type XmppNode } from '../helpers/xmpp.js';

const BURST = 200;

describe('xmpp: publishing coalesces', () => {
  let prosody: Prosody;
  let alice: XmppNode;
  let carol: RawSession;

  /** The share hashes of alice's entry in a PEP notification of her item; undefined for other stanzas. */
  function aliceList(el: Element): string[] | undefined {
    if (!el.is('message') || !el.attrs.from?.startsWith(alice.jid)) return undefined;
    const items = el.getChild('event', 'http://jabber.org/protocol/pubsub#event')?.getChild('items');
    if (items?.attrs.node !== NS_SHARES) return undefined;
    const entry = items.getChild('item')?.getChild('user_shares', NS_SHARES)?.getChildren('resource').find((r) => r.attrs.resource === alice.resource);
    return entry ? entry.getChildren('share_item').map((s) => String(s.attrs.hash)).sort() : [];
  }

  /**
   * The lists of alice's notifications that carol received in stanzas[from, to). Prosody sends each
   * notification twice (to the full JID that advertised +notify, and to the bare JID of the contact), with
   * one id: counted once.
   */
  function lists(from: number, to = carol.stanzas.length): string[][] {
    const byId = new Map<string, string[]>();
    for (const el of carol.stanzas.slice(from, to)) {
      const list = aliceList(el);
      if (list && !byId.has(String(el.attrs.id))) byId.set(String(el.attrs.id), list);
    }
    return [...byId.values()];
  }

  before(async () => {
    prosody = await startProsody();
    alice = await createXmppNode(prosody, 'alice', { listenPort: 51413 });
    await prosody.register('carol', 'pw-carol');
    await befriend(prosody, alice, { user: 'carol', password: 'pw-carol' });
    carol = await rawSession(prosody, 'carol', 'pw-carol', { notify: true });
    await alice.start();
    await carol.waitFor((el) => aliceList(el) !== undefined, 20000);
  });

  after(async () => {
    await carol?.stop();
    await alice?.close();
    await prosody?.close();
  });

  test(`a burst of ${BURST} share changes: at most 2 publishes after it ends, no list twice; an unchanged publish_shares: none`, async () => {
    const first = carol.stanzas.length;
    const t0 = Date.now();
    const hashes: string[] = [];
    for (let i = 0; i < BURST; i++) {
      const share = { infoHash: randomHash(), name: `burst ${i}`, size: i };
      hashes.push(share.infoHash);
      await alice.addShares([share]);
      await alice.bus.publish('publish_shares');
    }
    const burstEnd = carol.stanzas.length;
    const burstMs = Date.now() - t0;
    const full = [...hashes].sort().join();
    await carol.waitFor((el) => aliceList(el)?.join() === full, 30000);

    // Nothing changed: handled after every publish of the burst (one chain, in order), and publishes nothing
    // (the heartbeat counts it as unchanged; one sent instead is caught below, at carol).
    const { publishes } = await alice.waitForFacts((f) => f.published?.shares === BURST);
    await alice.bus.publish('publish_shares');
    await alice.waitForFacts((f) => f.publishes.unchanged > publishes.unchanged, 30000);
    const beforeMarker = carol.stanzas.length;
    // A marker change: once carol has it, every earlier notification has arrived (one stream, in order).
    const marker = randomHash();
    await alice.addShares([{ infoHash: marker, name: 'marker', size: 1 }]);
    await alice.bus.publish('publish_shares');
    await carol.waitFor((el) => aliceList(el)?.includes(marker) === true, 30000);

    const during = lists(first, burstEnd).length;
    const afterBurst = lists(burstEnd, beforeMarker);
    const unchanged = lists(beforeMarker);
    assert.ok(afterBurst.length >= 1 && afterBurst.length <= 2, `${afterBurst.length} publishes after the burst ended (${during} during it)`);
    assert.equal(unchanged.length, 1, `the unchanged publish_shares published nothing: only the marker came (came: ${unchanged.map((l) => l.length).join(", ")}; after the burst ${afterBurst.map((l) => l.length).join(", ")}; during ${during})`);
    const all = lists(first).map((l) => l.join());
    assert.equal(new Set(all).size, all.length, 'a list was published twice');
    // Each list grows: none older than one before it.
    const sizes = lists(first).map((l) => l.length);
    for (let i = 1; i < sizes.length; i++) assert.ok(sizes[i]! > sizes[i - 1]!, `lists out of order: ${sizes.join(', ')}`);
    // While it lasts: the first change at once, then one per MAX_WAIT_MS.
    assert.ok(during <= 2 + Math.floor(burstMs / MAX_WAIT_MS), `${during} publishes during a burst of ${burstMs} ms`);
  });
});

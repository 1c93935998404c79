// Contacts' items are untrusted: a hostile contact (a raw @xmpp/client session) publishes malformed items,
// a paged flood and a burst of updates; a stranger publishes and sends crafted notifications; a contact
// fakes a roster push. Nothing invalid is stored and bob's xmpp service keeps running.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { xml } from '@xmpp/client';
import { listContactResources, listContactShares } from '../../lib/store/contacts.js';
import { startProsody, type Prosody } from '../fixtures/prosody.js';
import { NS_SHARES, befriend, createXmppNode, randomHash, rawSession, waitForOutput, type RawSession, type XmppNode } from '../helpers/xmpp.js';

const PUBLISH_OPTIONS = `<publish-options><x xmlns='jabber:x:data' type='submit'>
  <field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>
  <field var='pubsub#access_model'><value>presence</value></field>
  <field var='pubsub#max_items'><value>1</value></field></x></publish-options>`;

let iqId = 0;

/** Publishes raw XML text as the payload of `node`, exactly as written (entities included). */
async function publishRaw(s: RawSession, node: string, payload: string): Promise<void> {
  const id = `hostile-${++iqId}`;
  const reply = s.waitFor((el) => el.is('iq') && el.attrs.id === id, 10000);
  await (s.xmpp as unknown as { write(text: string): Promise<void> }).write(
    `<iq type='set' id='${id}'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='${node}'><item id='current'>${payload}</item></publish>${PUBLISH_OPTIONS}</pubsub></iq>`,
  );
  const el = await reply;
  assert.equal(el.attrs.type, 'result', `publish to ${node} failed: ${el.toString().slice(0, 300)}`);
}

const share = (hash: string, name: string, size: string) => `<share_item hash='${hash}' name='${name}' size='${size}'/>`;

describe('xmpp: hostile contacts and strangers', () => {
  let prosody: Prosody;
  let bob: XmppNode;
  let eve: RawSession;
  const evePassword = 'pw-eve';

  async function bobStores(since: number): Promise<void> {
    await bob.bus.waitFor('shares_updated', (m) => m.args[0] === eve.jid, 15000, since);
  }

  before(async () => {
    prosody = await startProsody();
    bob = await createXmppNode(prosody, 'bob', { listenPort: 6881 });
    await prosody.register('eve', evePassword);
    await prosody.register('mallory', 'pw-mallory');
    await befriend(prosody, bob, { user: 'eve', password: evePassword });
    await bob.start();
    eve = await rawSession(prosody, 'eve', evePassword, { notify: true });
  });

  after(async () => {
    await eve?.stop();
    await bob?.close();
    await prosody?.close();
  });

  test('malformed fields are dropped one by one; the valid rest is stored', async () => {
    const good = randomHash();
    const good2 = randomHash().toUpperCase();
    const payload = `<user_shares xmlns='${NS_SHARES}'>
      <resource resource='evil'>
        ${share(good, 'fine', '10')}
        ${share(good2, 'upper-case hash is fine', '0')}
        ${share('xyz', 'bad hash', '1')}
        ${share(randomHash().slice(1), '39 hex', '1')}
        ${share(randomHash(), 'n'.repeat(10 * 1024), '1')}
        ${share(randomHash(), 'line&#10;break', '1')}
        ${share(randomHash(), 'tab&#9;in name', '1')}
        ${share(randomHash(), 'del\u007fchar', '1')}
        ${share(randomHash(), 'c1\u0085char', '1')}
        ${share(randomHash(), 'bidi\u202Egpj.exe', '1')}
        ${share(randomHash(), 'a/b', '1')}
        ${share(randomHash(), '..', '1')}
        ${share(randomHash(), '', '1')}
        ${share(randomHash(), 'negative', '-1')}
        ${share(randomHash(), 'not a number', 'abc')}
        ${share(randomHash(), 'exponent', '1e5')}
        ${share(randomHash(), 'too big', '99999999999999999999')}
        <share_item hash='${randomHash()}' size='1'/>
        <share_item name='no hash' size='1'/>
        ${share(good, 'duplicate of fine', '11')}
        <ip_address address='127.0.0.1' port='6881'/>
        <ip_address address='192.0.2.7' port='0'/>
        <ip_address address='192.0.2.7' port='99999'/>
        <ip_address address='192.0.2.7' port='-5'/>
        <ip_address address='not-an-ip' port='6881'/>
        <ip_address address='224.0.0.1' port='6881'/>
        <ip_address address='fe80::1' port='6881'/>
        <ip_address address='0.0.0.0' port='6881'/>
        <ip_address address='2001:db8::7' port='6881'/>
        <ip_address port='6881'/>
        <script>alert(1)</script>
      </resource>
      <resource resource='ctl&#10;resource'>${share(randomHash(), 'x', '1')}</resource>
      <resource resource='evil'>${share(randomHash(), 'second evil', '1')}</resource>
      <resource resource='huge' pages='100000' version='v1'>${share(randomHash(), 'x', '1')}</resource>
      <resource resource='nover' pages='2'>${share(randomHash(), 'x', '1')}</resource>
      <junk/>
    </user_shares>`;
    const since = bob.bus.mark();
    const lines = bob.proc!.output.length;
    await publishRaw(eve, NS_SHARES, payload);
    await bobStores(since);
    const shares = await listContactShares(bob.db.pool, eve.jid);
    assert.deepEqual(
      shares.map((s) => [s.resource, s.infoHash, s.name, s.size]).sort(),
      [['evil', good, 'fine', 10], ['evil', good2.toLowerCase(), 'upper-case hash is fine', 0]].sort(),
    );
    const resources = await listContactResources(bob.db.pool, eve.jid);
    const evil = resources.find((r) => r.resource === 'evil');
    assert.deepEqual(evil?.addresses, [{ address: '127.0.0.1', port: 6881 }, { address: '2001:db8::7', port: 6881 }]);
    assert.deepEqual(resources.map((r) => r.resource).filter((r) => r !== 'raw'), ['evil']);
    // one summary line per item, not one per bad field
    await waitForOutput(bob.proc!, /dropped \d+ invalid entries from eve@localhost/, lines);
    assert.equal(bob.proc!.child.exitCode, null);
  });

  test('10,000 items through pages: exactly the valid ones are stored', async () => {
    const total = 10_000;
    const hashes = Array.from({ length: total }, () => randomHash());
    const pageSize = 1250;
    const pages = total / pageSize;
    const version = 'flood1';
    let valid = 0;
    for (let p = 0; p < pages; p++) {
      const items = hashes.slice(p * pageSize, (p + 1) * pageSize).map((h, i) => {
        const n = p * pageSize + i;
        if (n % 10 === 3) return share(h.slice(0, 20), `bad ${n}`, '1'); // every tenth broken
        valid++;
        return share(h, `flood ${n}`, String(n));
      });
      await publishRaw(eve, `${NS_SHARES}/pages/flood/${p + 1}`, `<user_shares xmlns='${NS_SHARES}' version='${version}' page='${p + 1}' pages='${pages}'><resource resource='flood'>${items.join('')}</resource></user_shares>`);
    }
    const since = bob.bus.mark();
    await publishRaw(eve, NS_SHARES, `<user_shares xmlns='${NS_SHARES}'><resource resource='flood' pages='${pages}' version='${version}'>${share(hashes[0]!, 'preview', '1')}<ip_address address='127.0.0.1' port='7000'/></resource></user_shares>`);
    await bobStores(since);
    const shares = await listContactShares(bob.db.pool, eve.jid, 'flood');
    assert.equal(shares.length, valid);
    assert.equal(valid, 9000);
    assert.ok(shares.every((s) => /^flood \d+$/.test(s.name) && s.size === Number(s.name.slice(6))));
    // the earlier resource 'evil' is gone from eve's item, so its shares are gone from the store
    assert.equal((await listContactShares(bob.db.pool, eve.jid, 'evil')).length, 0);
  });

  test('a page with another version keeps the previous list (publisher mid-update)', async () => {
    const since = bob.bus.mark();
    const lines = bob.proc!.output.length;
    await publishRaw(eve, NS_SHARES, `<user_shares xmlns='${NS_SHARES}'><resource resource='flood' pages='8' version='flood2'/></user_shares>`);
    await waitForOutput(bob.proc!, /pages changed while reading/, lines);
    assert.equal((await listContactShares(bob.db.pool, eve.jid, 'flood')).length, 9000);
    assert.equal(bob.bus.count('shares_updated', since), 0);
  });

  test('a burst of 300 updates ends with the last one stored', async () => {
    const last = randomHash();
    const since = bob.bus.mark();
    for (let i = 0; i < 300; i++) {
      const h = i === 299 ? last : randomHash();
      await publishRaw(eve, NS_SHARES, `<user_shares xmlns='${NS_SHARES}'><resource resource='burst'>${share(h, `burst ${i}`, String(i))}</resource></user_shares>`);
    }
    const deadline = Date.now() + 15000;
    let shares;
    do {
      await bob.bus.waitFor('shares_updated', (m) => m.args[0] === eve.jid, 15000, since);
      shares = await listContactShares(bob.db.pool, eve.jid);
      if (shares.length === 1 && shares[0]!.infoHash === last) break;
      await new Promise((r) => setTimeout(r, 20));
    } while (Date.now() < deadline);
    assert.deepEqual(shares.map((s) => [s.resource, s.infoHash, s.name]), [['burst', last, 'burst 299']]);
    assert.equal(bob.proc!.child.exitCode, null);
  });

  test('a stranger is ignored: PEP delivers nothing, crafted notifications and fake roster pushes are refused', async () => {
    const mallory = await rawSession(prosody, 'mallory', 'pw-mallory', { notify: true });
    try {
      const lines = bob.proc!.output.length;
      await publishRaw(mallory, NS_SHARES, `<user_shares xmlns='${NS_SHARES}'><resource resource='m'>${share(randomHash(), 'from a stranger', '1')}</resource></user_shares>`);
      // a roster push faked by a contact, then a notification crafted by the stranger and sent directly
      const pushId = 'fake-push';
      const pushReply = eve.waitFor((el) => el.is('iq') && el.attrs.id === pushId);
      await eve.xmpp.send(xml('iq', { type: 'set', id: pushId, to: `${bob.jid}/${bob.resource}` }, xml('query', { xmlns: 'jabber:iq:roster' }, xml('item', { jid: mallory.jid, subscription: 'both' }))));
      assert.equal((await pushReply).attrs.type, 'error');
      await mallory.xmpp.send(
        xml('message', { to: `${bob.jid}/${bob.resource}`, type: 'headline' },
          xml('event', { xmlns: 'http://jabber.org/protocol/pubsub#event' },
            xml('items', { node: NS_SHARES }, xml('item', { id: 'current' }, xml('user_shares', { xmlns: NS_SHARES }, xml('resource', { resource: 'm' }, xml('share_item', { hash: randomHash(), name: 'crafted', size: '1' })))))),
        ),
      );
      await waitForOutput(bob.proc!, /ignored shares from a JID without a presence subscription.*|"from":"mallory@localhost"/, lines);
      assert.equal((await listContactResources(bob.db.pool, mallory.jid)).length, 0);
      assert.equal((await bob.db.pool.query(`SELECT 1 FROM contact_shares WHERE jid = $1`, [mallory.jid])).rowCount, 0);
    } finally {
      await mallory.stop();
    }
  });

  test('bob is still healthy: his own publish works and nothing crashed', async () => {
    const { published } = await bob.waitForFacts((f) => f.published !== null);
    await bob.addShares([{ infoHash: randomHash(), name: 'after the attacks', size: 1 }]);
    await bob.bus.publish('publish_shares');
    // the server answered bob's publish of the new list
    await bob.waitForFacts((f) => f.published?.shares === published!.shares + 1);
    assert.equal(bob.proc!.child.exitCode, null);
    assert.equal(bob.proc!.output.filter((l) => /"level":(50|60)/.test(l)).length, 0, 'no error or fatal log lines');
  });
});

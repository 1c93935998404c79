// Subscriptions through the topics: a request stays pending until `add_contact`, then both sides see each
// other's shares; `remove_contact` ends it both ways; BITWEEN_AUTO_ACCEPT accepts at once. And a service
// without an account waits idle instead of crash-looping.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { getContact, listContactShares } from '../../lib/store/contacts.js';
import { startProsody, type Prosody } from '../fixtures/prosody.js';
import { TestBus } from '../helpers/bus.js';
import { waitForHeartbeat } from '../helpers/heartbeat.js';
import { startService } from '../helpers/process.js';
import { createXmppNode, randomHash, waitForOutput, type XmppNode } from '../helpers/xmpp.js';

describe('xmpp: subscription flow', () => {
  let prosody: Prosody;
  let carol: XmppNode;
  let dave: XmppNode;
  let erin: XmppNode;
  const carolShare = { infoHash: randomHash(), name: 'carol-share', size: 1 };
  const daveShare = { infoHash: randomHash(), name: 'dave-share', size: 2 };

  before(async () => {
    prosody = await startProsody();
    carol = await createXmppNode(prosody, 'carol', { listenPort: 7001 });
    dave = await createXmppNode(prosody, 'dave', { listenPort: 7002 });
    erin = await createXmppNode(prosody, 'erin', { listenPort: 7003 });
    await carol.addShares([carolShare]);
    await dave.addShares([daveShare]);
    await Promise.all([carol.start(), dave.start()]);
  });

  after(async () => {
    await carol?.close();
    await dave?.close();
    await erin?.close();
    await prosody?.close();
  });

  test('a request is pending until accepted; nothing is shared meanwhile', async () => {
    await carol.bus.publish('add_contact', [dave.jid]);
    const req = await dave.bus.waitFor('contact_request', (m) => m.args[0] === carol.jid);
    assert.deepEqual(req.args, [carol.jid]);
    const onDave = await getContact(dave.db.pool, carol.jid);
    assert.equal(onDave?.pendingIn, true);
    assert.equal(onDave?.subscription, 'none');
    const onCarol = await getContact(carol.db.pool, dave.jid);
    assert.equal(onCarol?.pendingOut, true);
    assert.equal(onCarol?.subscription, 'none');
    assert.equal((await listContactShares(dave.db.pool, carol.jid)).length, 0);
    assert.equal((await listContactShares(carol.db.pool, dave.jid)).length, 0);
  });

  test('after add_contact on the other side both see each other', async () => {
    const carolSince = carol.bus.mark();
    const daveSince = dave.bus.mark();
    await dave.bus.publish('add_contact', [carol.jid]);
    await dave.bus.waitFor('shares_updated', (m) => m.args[0] === carol.jid, 10000, daveSince);
    await carol.bus.waitFor('shares_updated', (m) => m.args[0] === dave.jid, 10000, carolSince);
    assert.deepEqual((await listContactShares(dave.db.pool, carol.jid)).map((s) => s.infoHash), [carolShare.infoHash]);
    assert.deepEqual((await listContactShares(carol.db.pool, dave.jid)).map((s) => s.infoHash), [daveShare.infoHash]);
    const onDave = await getContact(dave.db.pool, carol.jid);
    assert.equal(onDave?.subscription, 'both');
    assert.equal(onDave?.pendingIn, false);
    const deadline = Date.now() + 5000;
    while ((await getContact(carol.db.pool, dave.jid))?.subscription !== 'both' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal((await getContact(carol.db.pool, dave.jid))?.subscription, 'both');
  });

  test('remove_contact ends it both ways and drops the shares on both sides', async () => {
    const carolSince = carol.bus.mark();
    await dave.bus.publish('remove_contact', [carol.jid]);
    await carol.bus.waitFor('contact_updated', (m) => m.args[0] === dave.jid && m.args[1] === 'none', 10000, carolSince);
    await carol.bus.waitFor('shares_updated', (m) => m.args[0] === dave.jid, 10000, carolSince);
    assert.equal((await listContactShares(carol.db.pool, dave.jid)).length, 0);
    const deadline = Date.now() + 5000;
    while ((await getContact(dave.db.pool, carol.jid)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await getContact(dave.db.pool, carol.jid), undefined);
    assert.equal((await listContactShares(dave.db.pool, carol.jid)).length, 0);
    // a bad JID is one error line, the service keeps running
    const errSince = dave.bus.mark();
    await dave.bus.publish('remove_contact', ['nobody@localhost']);
    const err = await dave.bus.waitFor('error', () => true, 5000, errSince);
    assert.match(err.error!.error, /not a contact/);
  });

  test('BITWEEN_AUTO_ACCEPT accepts a request at once', async () => {
    await erin.addShares([{ infoHash: randomHash(), name: 'erin-share', size: 3 }]);
    await erin.start({ BITWEEN_AUTO_ACCEPT: 'true' });
    const since = carol.bus.mark();
    await carol.bus.publish('add_contact', [erin.jid]);
    await carol.bus.waitFor('shares_updated', (m) => m.args[0] === erin.jid, 10000, since);
    await erin.bus.waitFor('shares_updated', (m) => m.args[0] === carol.jid, 10000);
    assert.equal((await listContactShares(carol.db.pool, erin.jid)).length, 1);
    assert.equal(erin.bus.count('contact_request'), 0);
  });

  test('without an account the service says so once and waits; topics needing XMPP answer with an error', async () => {
    const env = { ...carol.env, BITWEEN_JID: '', BITWEEN_PASSWORD: '', BITWEEN_NAMESPACE: `${carol.namespace}idle` };
    const proc = startService('xmpp', env);
    try {
      await proc.waitForLine(/bitween-xmpp ready/);
      const bus = await TestBus.open(env.BITWEEN_NAMESPACE);
      try {
        await bus.publish('publish_shares');
        await bus.publish('add_contact', [dave.jid]);
        const err = await bus.waitFor('error', () => true, 5000);
        assert.match(err.error!.error, /no XMPP account configured/);
        assert.equal(bus.count('error'), 1); // publish_shares is quietly nothing
      } finally {
        await bus.close();
      }
      assert.equal(proc.output.filter((l) => l.includes('no XMPP account configured (BITWEEN_JID and BITWEEN_PASSWORD not set)')).length, 1);
      assert.equal(await proc.stop(), 0);
    } finally {
      await proc.kill9();
    }
  });

  test('a wrong password is one clear error, retried slowly, and the service keeps running', async () => {
    const proc = startService('xmpp', { ...dave.env, BITWEEN_PASSWORD: 'wrong', BITWEEN_NAMESPACE: `${dave.namespace}bad` });
    try {
      await proc.waitForLine(/bitween-xmpp ready/);
      const line = await waitForOutput(proc, /XMPP login failed/, 0);
      assert.match(line, /check BITWEEN_JID and BITWEEN_PASSWORD/);
      assert.equal(proc.child.exitCode, null);
      assert.equal(await proc.stop(), 0);
    } finally {
      await proc.kill9();
    }
  });
});

describe('xmpp: STARTTLS', () => {
  let prosody: Prosody;
  let frank: XmppNode;

  before(async () => {
    prosody = await startProsody({ tls: true });
    frank = await createXmppNode(prosody, 'frank', { listenPort: 7004 });
  });

  after(async () => {
    await frank?.close();
    await prosody?.close();
  });

  test('a server that offers STARTTLS gets an encrypted, verified session', async () => {
    const proc = await frank.start({ NODE_EXTRA_CA_CERTS: prosody.caFile! });
    const online = await proc.waitForLine(/XMPP online/);
    assert.match(online, /"secure":true/);
    await frank.stop();
  });

  test('a certificate that does not verify stops the login; there is no fallback to plain text', async () => {
    const namespace = `${frank.namespace}tls`;
    const proc = startService('xmpp', { ...frank.env, BITWEEN_NAMESPACE: namespace });
    try {
      await proc.waitForLine(/bitween-xmpp ready/); // (a SIGTERM before that races lib/service.ts's start)
      const line = await waitForOutput(proc, /TLS certificate did not verify/, 0);
      assert.match(line, /NODE_EXTRA_CA_CERTS/);
      // what `bitween status` shows: refused, never logged in
      const hb = await waitForHeartbeat(frank.bus.pub, namespace, 'xmpp', (h) => h.pid === proc.child.pid && h.facts.connection === 'login refused', 10000);
      assert.equal(hb.facts.logins, 0);
      assert.equal(await proc.stop(), 0);
    } finally {
      await proc.kill9();
    }
  });
});

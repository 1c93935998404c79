// Contacts' online state in the store (issue 13 part 3), on a real Prosody with the real xmpp service:
// - presence that reaches the service before the roster push that makes its sender a contact is not lost:
//   a raw client (the contact) that is not available sends directed presence to the node, then accepts its
//   request. The server sends nothing more after the acceptance (it forwards presence of available resources
//   only), so the resource is online in the store only if the early presence was kept;
// - stopping the service marks every contact resource offline (no presence reaches a stopped node).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { xml } from '@xmpp/client';
import { until } from '../../bench/child.js';
import { getContact, listContactResources } from '../../lib/store/contacts.js';
import { startProsody, type Prosody } from '../fixtures/prosody.js';
import { befriend, createXmppNode, rawSession, type RawSession, type XmppNode } from '../helpers/xmpp.js';

describe('xmpp: contacts online state', () => {
  let prosody: Prosody;
  let ivy: XmppNode;
  const raws: RawSession[] = [];

  before(async () => {
    prosody = await startProsody();
    ivy = await createXmppNode(prosody, 'ivy', { listenPort: 7011 });
  });

  after(async () => {
    for (const r of raws) await r.stop();
    await ivy?.close();
    await prosody?.close();
  });

  test('presence that comes before the roster push is kept: the new contact shows online', async () => {
    await prosody.register('gina', 'pw-gina');
    await ivy.start();
    const gina = await rawSession(prosody, 'gina', 'pw-gina', { resource: 'phone' });
    raws.push(gina);
    await ivy.bus.publish('add_contact', [`gina@${prosody.domain}`]);
    await gina.waitFor((el) => el.is('presence') && el.attrs.type === 'subscribe' && el.attrs.from?.startsWith(ivy.jid) === true);
    await until('ivy stored her request', 10000, async () => ((await getContact(ivy.db.pool, gina.jid))?.pendingOut ? true : undefined));

    // Gina leaves (no available resource: the server will not send her presence after she accepts), then
    // tells ivy's resource she is online — before the acceptance, on the same stream, so in this order.
    await gina.xmpp.send(xml('presence', { type: 'unavailable' }));
    await gina.xmpp.send(xml('presence', { to: `${ivy.jid}/${ivy.resource}` }));
    const since = ivy.bus.mark();
    await gina.xmpp.send(xml('presence', { to: ivy.jid, type: 'subscribed' }));
    await ivy.bus.waitFor('contact_updated', (m) => m.args[0] === gina.jid && m.args[1] === 'to', 20000, since);

    const rows = await until('gina/phone online in the store', 20000, async () => {
      const r = await listContactResources(ivy.db.pool, gina.jid);
      return r.some((x) => x.resource === 'phone' && x.online) ? r : undefined;
    });
    assert.deepEqual(rows.map((r) => [r.resource, r.online]), [['phone', true]]);

    // From now on her presence is written as it comes.
    await gina.xmpp.send(xml('presence', { to: `${ivy.jid}/${ivy.resource}`, type: 'unavailable' }));
    await until('gina/phone offline in the store', 20000, async () =>
      (await listContactResources(ivy.db.pool, gina.jid)).every((r) => !r.online) ? true : undefined);
  });

  test('presence from someone who is not a contact is not stored', async () => {
    await prosody.register('mallory', 'pw-mallory');
    const mallory = await rawSession(prosody, 'mallory', 'pw-mallory', { resource: 'm' });
    raws.push(mallory);
    await mallory.xmpp.send(xml('presence', { to: `${ivy.jid}/${ivy.resource}` }));
    // A stanza sent after it on ivy's stream is handled after it: a disco round trip from ivy's side is not
    // possible here, so wait for ivy to answer mallory's disco#info (handled in arrival order by the server).
    await mallory.xmpp.iqCaller.request(xml('iq', { type: 'get', to: `${ivy.jid}/${ivy.resource}` }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' })), 10000);
    assert.deepEqual(await listContactResources(ivy.db.pool, mallory.jid), []);
    assert.equal(await getContact(ivy.db.pool, mallory.jid), undefined);
  });

  test('stopping the service marks every contact resource offline', async () => {
    await ivy.stop();
    await prosody.register('hank', 'pw-hank');
    await befriend(prosody, { user: 'ivy', password: ivy.password }, { user: 'hank', password: 'pw-hank' });
    const hank = await rawSession(prosody, 'hank', 'pw-hank', { resource: 'desk' });
    raws.push(hank);
    await ivy.start();
    await until('hank/desk online in ivy\'s store', 20000, async () =>
      (await listContactResources(ivy.db.pool, hank.jid)).some((r) => r.resource === 'desk' && r.online) ? true : undefined);

    const started = Date.now();
    assert.equal(await ivy.stop(), 0, 'a clean exit');
    const rows = await ivy.db.pool.query<{ jid: string; resource: string; online: boolean }>(`SELECT jid, resource, online FROM contact_resources ORDER BY jid, resource`);
    assert.ok(rows.rows.length > 0, 'the contacts are still listed');
    assert.deepEqual(rows.rows.filter((r) => r.online), [], 'nobody online after the node stopped');
    assert.ok(Date.now() - started < 10000, `stopped in ${Date.now() - started} ms`);
  });
});

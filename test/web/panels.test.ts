// The dashboard's contacts and node panels in a real headless Chromium, against a real Prosody and the real
// xmpp service: a contact's pending request shows with Accept / Refuse, which publish add_contact /
// remove_contact and the xmpp service carries them out; the add-contact form publishes add_contact; a JID made
// of markup stays text; the node panel shows the JID and its state, the listen port, the mapped port and the
// addresses. Screenshots at 1280 and 420 px in test-output/panels/, nothing wider than the window.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { xml } from '@xmpp/client';
import type { Page } from 'playwright-core';
import { getContact, upsertContact } from '../../lib/store/contacts.js';
import { setState, StateKey, type NatMappingState } from '../../lib/store/state.js';
import { startProsody, type Prosody } from '../fixtures/prosody.js';
import { launchBrowser, type TestBrowser } from '../helpers/browser.js';
import { waitForHeartbeat } from '../helpers/heartbeat.js';
import { startWeb, type WebService } from '../helpers/web.js';
import { createXmppNode, rawSession, type RawSession, type XmppNode } from '../helpers/xmpp.js';
import { screenshots } from './screens.js';

const LISTEN_PORT = 51413;

let prosody: Prosody;
let me: XmppNode;
let web: WebService;
let browser: TestBrowser;
let page: Page;
let dialogs: string[];
const raw: RawSession[] = [];

before(async () => {
  [prosody, browser] = await Promise.all([startProsody(), launchBrowser()]);
  me = await createXmppNode(prosody, 'me', { listenPort: LISTEN_PORT });
  await me.start();
  // Actions are refused while the xmpp service's heartbeat is missing: it is written after the ready line.
  await waitForHeartbeat(me.bus.pub, me.namespace, 'xmpp', () => true, 10000);
  web = await startWeb(me.env);
  ({ page, dialogs } = await browser.newPage());
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(`${web.url}/`);
  await page.locator('#live[data-state="live"]').waitFor({ timeout: 10000 });
});

after(async () => {
  await browser?.close();
  await web?.service.stop();
  for (const s of raw) await s.stop();
  await me?.close();
  await prosody?.close();
});

/** Another account, logged in with a plain client, that asks `me` to be a contact. */
async function asker(user: string): Promise<RawSession> {
  await prosody.register(user, `pw-${user}`);
  const s = await rawSession(prosody, user, `pw-${user}`);
  raw.push(s);
  const since = me.bus.mark();
  await s.xmpp.send(xml('presence', { to: me.jid, type: 'subscribe' }));
  await me.bus.waitFor('contact_request', (m) => m.args[0] === s.jid, 10000, since);
  return s;
}

const request = (jid: string) => page.locator(`#requests li[data-jid="${jid}"]`);
const contact = (jid: string) => page.locator(`#roster li[data-jid="${jid}"]`);
const presenceFrom = (jid: string, type: string) => (el: { is(n: string): boolean; attrs: Record<string, string | undefined> }) =>
  el.is('presence') && el.attrs.type === type && el.attrs.from?.split('/')[0] === jid;

test("a contact's request shows with Accept and Refuse; Accept publishes add_contact and they become a contact", { timeout: 60000 }, async () => {
  const ann = await asker('ann');
  await request(ann.jid).waitFor({ timeout: 5000 });
  assert.equal(await request(ann.jid).locator('.jid').textContent(), ann.jid);
  assert.equal(await request(ann.jid).locator('.relation').textContent(), 'asks to be your contact');
  assert.equal(await page.locator('#request-count').textContent(), '1 contact request');

  const since = me.bus.mark();
  await request(ann.jid).getByRole('button', { name: 'Accept' }).click();
  assert.deepEqual((await me.bus.waitFor('add_contact', () => true, 5000, since)).args, [ann.jid]);
  // The xmpp service accepted theirs and asked for ours: ann answers, and both see each other.
  await ann.waitFor(presenceFrom(me.jid, 'subscribed'));
  await ann.waitFor(presenceFrom(me.jid, 'subscribe'));
  await ann.xmpp.send(xml('presence', { to: me.jid, type: 'subscribed' }));
  await me.bus.waitFor('contact_updated', (m) => m.args[0] === ann.jid && m.args[1] === 'both', 10000, since);
  await contact(ann.jid).locator('.relation', { hasText: 'contact · 0 shares' }).waitFor({ timeout: 5000 });
  assert.equal(await request(ann.jid).count(), 0);
  assert.equal(await page.locator('#request-count').isVisible(), false);
  // Who is online: ann's presence reaches the store; the panel looks again every 10 s.
  await page.locator(`#roster li.online[data-jid="${ann.jid}"]`).waitFor({ timeout: 20000 });
  // Its buttons are free again once the roster shows the change.
  await page.waitForFunction((jid) => document.querySelector<HTMLButtonElement>(`#roster li[data-jid="${jid}"] button`)?.disabled === false, ann.jid, { timeout: 10000 });
});

test('Refuse publishes remove_contact: the request is declined and goes from the panel', { timeout: 30000 }, async () => {
  const bob = await asker('bob');
  await request(bob.jid).waitFor({ timeout: 5000 });
  const since = me.bus.mark();
  await request(bob.jid).getByRole('button', { name: 'Refuse' }).click();
  assert.deepEqual((await me.bus.waitFor('remove_contact', () => true, 5000, since)).args, [bob.jid]);
  await bob.waitFor(presenceFrom(me.jid, 'unsubscribed'));
  await request(bob.jid).waitFor({ state: 'detached', timeout: 10000 });
  assert.equal(await getContact(me.db.pool, bob.jid), undefined);
  assert.equal(await contact(bob.jid).count(), 0);
});

test('the add-contact form publishes add_contact; the contact waits for their answer; a bad address is refused on the page', { timeout: 30000 }, async () => {
  await prosody.register('carol', 'pw-carol');
  const carol = `carol@${prosody.domain}`;
  const since = me.bus.mark();
  await page.locator('#contact-jid').fill('Carol@' + prosody.domain.toUpperCase());
  await page.getByRole('button', { name: 'Add contact' }).click();
  assert.deepEqual((await me.bus.waitFor('add_contact', () => true, 5000, since)).args, [carol]);
  await contact(carol).locator('.relation', { hasText: 'waiting for them to accept' }).waitFor({ timeout: 10000 });
  await contact(carol).getByRole('button', { name: 'Withdraw' }).waitFor({ timeout: 5000 });

  await page.locator('#contact-jid').fill('not a jid');
  await page.getByRole('button', { name: 'Add contact' }).click();
  await page.locator('#messages li', { hasText: 'adding not a jid: "not a jid" is not a JID like friend@example.org' }).waitFor({ timeout: 5000 });
  assert.equal(me.bus.count('add_contact', since), 1);
});

test('a JID made of markup is shown as text, and nothing runs', async () => {
  // Prosody would never deliver such an address (nodeprep forbids < > and quotes): the row is written to the
  // store directly, as a bug or a hostile server could leave it.
  const jid = '"><img src=x onerror=alert(3)>@evil.test';
  await upsertContact(me.db.pool, jid, { pendingIn: true });
  await me.bus.publish('contact_request', [jid]);
  await page.getByText(jid, { exact: true }).waitFor({ timeout: 5000 });
  assert.match(await page.locator('#requests li .jid', { hasText: 'evil.test' }).innerHTML(), /^"&gt;&lt;img src=x onerror=alert\(3\)&gt;@evil\.test$/);
  assert.equal(await page.locator('img').count(), 0);
  // Refusing it: the API will not pass on what is not an address; the page says so, as text.
  const since = me.bus.mark();
  await page.locator('#requests li', { hasText: 'evil.test' }).getByRole('button', { name: 'Refuse' }).click();
  await page.locator('#messages li', { hasText: `refusing ${jid}: "${jid}" is not a JID like friend@example.org` }).waitFor({ timeout: 5000 });
  assert.equal(me.bus.count('remove_contact', since), 0);
  assert.equal(await page.locator('img').count(), 0);
  assert.deepEqual(dialogs, []);
});

test('the node panel: JID and state, listen port, mapped port, own and published addresses, services', { timeout: 30000 }, async () => {
  await page.locator('#node-jid', { hasText: me.jid }).waitFor({ timeout: 5000 });
  assert.equal(await page.locator('#node-jid').textContent(), me.jid);
  await page.waitForFunction(() => !['', 'down'].includes(document.getElementById('node-xmpp')!.textContent!), undefined, { timeout: 10000 });
  assert.equal(await page.locator('#node-listen').textContent(), String(LISTEN_PORT));
  assert.equal(await page.locator('#node-mapping').textContent(), 'nat service has not run');

  // What the NAT service writes once a router mapped the port (no router exists outside the NAT tests'
  // namespaces: the state is written as the service would, and announced the same way).
  const now = new Date();
  const mapping: NatMappingState = {
    status: 'mapped', externalPort: 40001, internalPort: LISTEN_PORT, protocol: 'upnp-igd2', externalIp: '203.0.113.7',
    expiresAt: new Date(now.getTime() + 3600_000).toISOString(), renewAt: new Date(now.getTime() + 1800_000).toISOString(),
    lastError: null, lastErrorAt: null, nextAttemptAt: null, protocols: ['natpmp', 'upnp'], updatedAt: now.toISOString(),
  };
  await setState(me.db.pool, StateKey.mapping, mapping);
  await setState(me.db.pool, StateKey.addresses, { addresses: ['192.0.2.10', '2001:db8::10'] });
  await me.bus.publish('addresses_changed', [['192.0.2.10', '2001:db8::10']]);
  await page.locator('#node-mapped', { hasText: '203.0.113.7:40001' }).waitFor({ timeout: 5000 });
  assert.equal(await page.locator('#node-mapping').textContent(), 'mapped (upnp-igd2)');
  assert.deepEqual(await page.locator('#node-addresses li').allTextContents(), ['192.0.2.10', '2001:db8::10']);
  const published = await page.locator('#node-published li').allTextContents();
  for (const a of ['192.0.2.10:51413', '192.0.2.10:40001', '[2001:db8::10]:51413', '[2001:db8::10]:40001']) assert.ok(published.includes(a), `${a} in ${published.join(', ')}`);

  // A mapping that failed says why, as text.
  await setState(me.db.pool, StateKey.mapping, { ...mapping, status: 'retrying', externalPort: null, lastError: 'the router <b>refused</b> the mapping' });
  await me.bus.publish('addresses_changed', [['192.0.2.10', '2001:db8::10']]);
  await page.locator('#node-mapping-error', { hasText: 'the router <b>refused</b> the mapping' }).waitFor({ timeout: 5000 });
  assert.equal(await page.locator('#node-mapping').textContent(), 'not mapped, retrying');
  assert.equal(await page.locator('#node-mapped').textContent(), '–');
  assert.equal(await page.locator('b').count(), 0);

  // Each service with its health; the ones not running say so with a reason.
  await page.locator('#health li[data-service="xmpp"] .badge', { hasText: /^(up|degraded)$/ }).waitFor({ timeout: 5000 });
  assert.equal(await page.locator('#health li[data-service="torrent"] .badge').textContent(), 'down');
  assert.notEqual((await page.locator('#health li[data-service="torrent"] .reason').textContent())?.trim(), '');
});

test('the layout: screenshots at 1280 and 420 px, nothing wider than the window or its card', async () => {
  // A pending request and a long address make the panel's widest state.
  await upsertContact(me.db.pool, `someone.with.a.rather.long.address.${'z'.repeat(40)}@example.test`, { pendingIn: true });
  await me.bus.publish('contact_request', ['x@example.test']);
  await page.locator('#requests li', { hasText: 'zzzz' }).waitFor({ timeout: 5000 });
  for (const shot of await screenshots(page, 'panels', 'panels')) {
    assert.ok(shot.scrollWidth <= shot.width, `at ${shot.width} px the page is ${shot.scrollWidth} px wide: ${shot.sticksOut.join(', ')} (${shot.file})`);
    assert.deepEqual(shot.spills, [], `at ${shot.width} px something spills out of its card (${shot.file})`);
  }
  assert.deepEqual(dialogs, []);
});

// Roster, subscriptions and presence. Friends are contacts whose presence we see (subscription 'to' or
// 'both'): only their items are accepted. A subscription request is never accepted blindly: it is stored
// as pending and accepted by `add_contact` (which also asks for theirs), unless BITWEEN_AUTO_ACCEPT is on
// or we asked them first. Which contact resources are online is written to the store as presence arrives;
// presence that comes before the roster push making its sender a contact is kept and written with that push.
import { jid as parseJid, xml, type Element } from '@xmpp/client';
import type pg from 'pg';
import type { Bus } from '../../lib/bus.js';
import { BadInputError, UnavailableError } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import { within } from '../../lib/within.js';
import {
  deleteContact,
  dropSharesOfStrangers,
  getContact,
  setOffline,
  setResourceOnline,
  syncRoster,
  upsertContact,
  type Subscription,
} from '../../lib/store/contacts.js';
import { capsElement } from './caps.js';
import type { XmppConnection } from './connection.js';

export const NS_ROSTER = 'jabber:iq:roster';
const SUBSCRIPTIONS: Subscription[] = ['none', 'to', 'from', 'both'];
/** Presence kept from senders we do not see yet (strangers may send it too): bounded per sender and overall. */
const MAX_EARLY_SENDERS = 1000;
const MAX_EARLY_RESOURCES = 32;

export interface RosterOptions {
  conn: XmppConnection;
  db: pg.Pool;
  bus: Bus;
  log: Logger;
  autoAccept: boolean;
  /** Called when a contact's items may no longer be trusted (subscription gone): forget their shares. */
  onContactGone(jid: string): void;
  /** Called when we start to see a contact's presence: its item may be fetched now. */
  onContactTrusted(jid: string): void;
}

interface Entry {
  subscription: Subscription;
  pendingOut: boolean;
}

/** A bare JID from user input, or BadInputError. */
export function requireBareJid(value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > 3071) {
    throw new BadInputError(`${JSON.stringify(value)} is not a JID like friend@example.org`);
  }
  let parsed;
  try {
    parsed = parseJid(value.trim());
  } catch {
    throw new BadInputError(`${JSON.stringify(value)} is not a JID like friend@example.org`);
  }
  if (!parsed.local || !parsed.domain || /\s/.test(value.trim())) {
    throw new BadInputError(`${JSON.stringify(value)} is not a JID like friend@example.org`);
  }
  return parsed.bare().toString().toLowerCase();
}

function bareOf(address: string | undefined): string | undefined {
  if (!address) return undefined;
  try {
    return parseJid(address).bare().toString().toLowerCase();
  } catch {
    return undefined;
  }
}

function resourceOf(address: string | undefined): string {
  if (!address) return '';
  try {
    return parseJid(address).resource ?? '';
  } catch {
    return '';
  }
}

function sees(s: Subscription | undefined): boolean {
  return s === 'to' || s === 'both';
}

export class Roster {
  private readonly entries = new Map<string, Entry>();
  private readonly log: Logger;
  private synced = false;
  /** Roster pushes and presence are handled one at a time, in arrival order: their store writes must not cross. */
  private serial: Promise<void> = Promise.resolve();
  private marks: Promise<void> = Promise.resolve();
  /**
   * Online state of resources of senders we do not see yet: bare JID → resource → online. A contact who
   * accepts while online sends presence right around the roster push that makes it a contact, and xmpp.js
   * hands an iq to its handler some ticks after a presence that came later on the wire: without this, that
   * presence was dropped and the contact shown offline until it sent presence again. Written to the store
   * once the push arrives (replayEarly).
   */
  private readonly early = new Map<string, Map<string, boolean>>();
  /** Set on stop: presence that comes after every contact was marked offline is not written. */
  private stopping = false;

  constructor(private readonly o: RosterOptions) {
    this.log = o.log.child({ component: 'roster' });
    o.conn.client.iqCallee.set(NS_ROSTER, 'query', (ctx) => this.inOrder(() => this.onPush(ctx.stanza, ctx.element)));
  }

  /** Runs `work` after every stanza received before it has been handled (messages use it too: a
   *  notification must see the subscription a roster push just before it granted). */
  inOrder<T>(work: () => Promise<T>): Promise<T> {
    const result = this.serial.then(work);
    this.serial = result.then(() => undefined, () => undefined);
    return result;
  }

  /** Items from this JID are accepted: we see its presence, or it is our own account. */
  trusts(bare: string): boolean {
    return bare === this.o.conn.bare || sees(this.entries.get(bare)?.subscription);
  }

  /** On every login: fetch the roster before sending presence (else the server forwards no subscription stanzas). */
  async sync(): Promise<void> {
    const result = await this.o.conn.request(xml('iq', { type: 'get' }, xml('query', { xmlns: NS_ROSTER })));
    const items = result.getChild('query', NS_ROSTER)?.getChildren('item') ?? [];
    this.entries.clear();
    for (const item of items) {
      const jid = bareOf(item.attrs.jid);
      const subscription = item.attrs.subscription as Subscription;
      if (!jid || jid === this.o.conn.bare || !SUBSCRIPTIONS.includes(subscription)) continue;
      this.entries.set(jid, { subscription, pendingOut: item.attrs.ask === 'subscribe' });
    }
    const list = [...this.entries].map(([jid, e]) => ({ jid, ...e }));
    this.early.clear();
    await syncRoster(this.o.db, list);
    const keep = [this.o.conn.bare, ...list.filter((e) => sees(e.subscription)).map((e) => e.jid)];
    for (const jid of await dropSharesOfStrangers(this.o.db, keep)) this.o.onContactGone(jid);
    // Fresh session: nobody is known to be online until their presence arrives.
    await setOffline(this.o.db);
    this.synced = true;
    this.log.info({ contacts: list.length, friends: keep.length - 1 }, 'roster fetched');
  }

  /** Our presence: caps advertising shares+notify; priority -1 so chat messages go to the user's real clients. */
  async sendPresence(): Promise<void> {
    await this.o.conn.send(xml('presence', {}, xml('priority', {}, '-1'), capsElement()));
  }

  async sendUnavailable(): Promise<void> {
    await this.o.conn.send(xml('presence', { type: 'unavailable' }));
  }

  /**
   * On stop: every contact resource offline in the store (nobody tells us once we are gone, and `bitween
   * contacts` must not show a stopped node's last view as live). Presence still queued or arriving is not
   * written after this. Resolves false when the store did not answer within `timeoutMs` (shutdown is bounded).
   */
  async markAllOffline(timeoutMs: number): Promise<boolean> {
    this.stopping = true;
    const done = this.queueMark(() => setOffline(this.o.db)).then(
      () => true,
      (err) => {
        this.log.warn({ err }, 'could not mark contacts offline at exit');
        return false;
      },
    );
    return within(done, timeoutMs, false);
  }

  /** Roster push (RFC 6121 §2.1.6): only from our own account's server. */
  private async onPush(stanza: Element, query: Element): Promise<boolean> {
    const from = stanza.attrs.from;
    if (from && bareOf(from) !== this.o.conn.bare && bareOf(from) !== this.o.conn.client.jid?.domain) {
      this.log.warn({ from }, 'ignored a roster push that did not come from our server');
      return false;
    }
    for (const item of query.getChildren('item')) {
      const jid = bareOf(item.attrs.jid);
      if (!jid || jid === this.o.conn.bare) continue;
      await this.applyPush(jid, item.attrs.subscription ?? 'none', item.attrs.ask === 'subscribe');
    }
    return true;
  }

  private async applyPush(jid: string, subscription: string, pendingOut: boolean): Promise<void> {
    const before = this.entries.get(jid);
    if (subscription === 'remove') {
      this.entries.delete(jid);
      this.early.delete(jid);
      await deleteContact(this.o.db, jid);
      this.o.onContactGone(jid);
      this.log.info({ contact: jid }, 'contact removed');
      await this.o.bus.publish('contact_updated', [jid, 'removed']);
      return;
    }
    if (!SUBSCRIPTIONS.includes(subscription as Subscription)) return;
    const s = subscription as Subscription;
    this.entries.set(jid, { subscription: s, pendingOut });
    const accepted = s === 'from' || s === 'both';
    await upsertContact(this.o.db, jid, { subscription: s, pendingOut, ...(accepted ? { pendingIn: false } : {}) });
    if (sees(before?.subscription) && !sees(s)) this.o.onContactGone(jid); // their items are no longer trusted
    if (!sees(before?.subscription) && sees(s)) {
      void this.queueMark(() => this.replayEarly(jid)).catch((err) => this.log.warn({ err, contact: jid }, 'could not store early presence'));
      this.o.onContactTrusted(jid);
    }
    if (before?.subscription !== s) {
      this.log.info({ contact: jid, subscription: s, pendingOut }, 'subscription changed');
      await this.o.bus.publish('contact_updated', [jid, s]);
      // Prosody's PEP learns our caps from presence it receives after the subscription exists: say it again.
      if (this.o.conn.online) await this.sendPresence();
    }
  }

  /** Presence from others: online/offline of contact resources, and subscription requests. */
  onPresence(stanza: Element): Promise<void> {
    const type = stanza.attrs.type;
    // Online/offline marks keep their own order, so that a thousand contacts coming online at a login
    // do not hold up the notifications behind them.
    if (type === undefined || type === 'unavailable') return this.queueMark(() => this.handlePresence(stanza));
    return this.inOrder(() => this.handlePresence(stanza));
  }

  /** Runs `work` after the online/offline marks queued before it. */
  private queueMark(work: () => Promise<void>): Promise<void> {
    const result = this.marks.then(work);
    this.marks = result.catch(() => undefined);
    return result;
  }

  /** Keeps the online state of a resource of a sender we do not see yet ('' with offline: all of them). */
  private rememberEarly(from: string, resource: string, online: boolean): void {
    if (resource === '' && online) return; // as for contacts: only resources are marked online
    let resources = this.early.get(from);
    if (!resources) {
      if (this.early.size >= MAX_EARLY_SENDERS) this.early.delete(this.early.keys().next().value!); // the oldest
      resources = new Map();
      this.early.set(from, resources);
    }
    if (resource === '') {
      for (const r of resources.keys()) resources.set(r, false);
      return;
    }
    resources.delete(resource); // re-inserted last: the oldest goes first when full
    if (resources.size >= MAX_EARLY_RESOURCES) resources.delete(resources.keys().next().value!);
    resources.set(resource, online);
  }

  /** The presence a new contact sent before we saw them, to the store. Runs in the marks queue: presence
   *  handled since the push was written directly and removed its resource from `early`. */
  private async replayEarly(jid: string): Promise<void> {
    const resources = this.early.get(jid);
    this.early.delete(jid);
    if (!resources || this.stopping || !this.trusts(jid)) return;
    for (const [resource, online] of resources) await setResourceOnline(this.o.db, jid, resource, online);
    this.log.debug({ contact: jid, resources: resources.size }, 'presence that came before the roster push stored');
  }

  private async handlePresence(stanza: Element): Promise<void> {
    const type = stanza.attrs.type;
    const from = bareOf(stanza.attrs.from);
    if (!from) return;
    switch (type) {
      case undefined:
      case 'unavailable': {
        const resource = resourceOf(stanza.attrs.from);
        if (this.stopping || (from === this.o.conn.bare && resource === this.o.conn.jid?.resource)) return;
        if (!this.trusts(from)) return this.rememberEarly(from, resource, type === undefined);
        if (resource) this.early.get(from)?.delete(resource);
        else this.early.delete(from);
        if (resource) await setResourceOnline(this.o.db, from, resource, type === undefined);
        else if (type === 'unavailable') await setOffline(this.o.db, from);
        return;
      }
      case 'subscribe':
        return this.onSubscribe(from);
      case 'unsubscribe': {
        // They withdrew a request, or stopped seeing our presence (the roster push follows).
        const c = await getContact(this.o.db, from);
        if (c?.pendingIn) await upsertContact(this.o.db, from, { pendingIn: false });
        return;
      }
      case 'subscribed':
      case 'unsubscribed':
        return; // the roster push that follows carries the new state
      case 'error':
        this.log.debug({ from: stanza.attrs.from, error: stanza.getChild('error')?.toString().slice(0, 200) }, 'presence error');
        return;
      default:
        this.log.debug({ from: stanza.attrs.from, type }, 'ignored presence of unknown type');
    }
  }

  private async onSubscribe(from: string): Promise<void> {
    if (from === this.o.conn.bare) return;
    const entry = this.entries.get(from);
    const wanted = entry?.pendingOut || sees(entry?.subscription);
    if (this.o.autoAccept || wanted) {
      await this.accept(from, entry);
      this.log.info({ contact: from, reason: wanted ? 'we asked them too' : 'BITWEEN_AUTO_ACCEPT' }, 'subscription request accepted');
      return;
    }
    const known = await getContact(this.o.db, from);
    await upsertContact(this.o.db, from, { pendingIn: true });
    if (!known?.pendingIn) {
      this.log.info({ contact: from }, `subscription request from ${from} is pending: accept it with add_contact ${from}`);
      await this.o.bus.publish('contact_request', [from]);
    }
  }

  /** Approves their request and, unless we already see them, asks for theirs. */
  private async accept(jid: string, entry: Entry | undefined): Promise<void> {
    await this.o.conn.send(xml('presence', { to: jid, type: 'subscribed' }));
    if (!sees(entry?.subscription) && !entry?.pendingOut) await this.o.conn.send(xml('presence', { to: jid, type: 'subscribe' }));
    await upsertContact(this.o.db, jid, { pendingIn: false });
  }

  /** `add_contact`: asks for their presence and accepts theirs (now, or when their request comes). */
  async addContact(raw: unknown): Promise<void> {
    const jid = requireBareJid(raw);
    if (jid === this.o.conn.bare) throw new BadInputError(`${jid} is this node's own account`);
    this.requireOnline('add_contact');
    const entry = this.entries.get(jid);
    const contact = await getContact(this.o.db, jid);
    await upsertContact(this.o.db, jid, { pendingOut: !sees(entry?.subscription) });
    if (contact?.pendingIn) await this.o.conn.send(xml('presence', { to: jid, type: 'subscribed' }));
    if (!sees(entry?.subscription)) await this.o.conn.send(xml('presence', { to: jid, type: 'subscribe' }));
    await upsertContact(this.o.db, jid, { pendingIn: false });
    this.log.info({ contact: jid, accepted: !!contact?.pendingIn }, 'add_contact: subscription requested');
  }

  /** `remove_contact`: ends the subscription both ways (roster remove), declines a pending request. */
  async removeContact(raw: unknown): Promise<void> {
    const jid = requireBareJid(raw);
    this.requireOnline('remove_contact');
    const contact = await getContact(this.o.db, jid);
    if (!contact && !this.entries.has(jid)) throw new BadInputError(`${jid} is not a contact`);
    if (contact?.pendingIn) await this.o.conn.send(xml('presence', { to: jid, type: 'unsubscribed' }));
    if (this.entries.has(jid)) {
      await this.o.conn.request(
        xml('iq', { type: 'set' }, xml('query', { xmlns: NS_ROSTER }, xml('item', { jid, subscription: 'remove' }))),
      );
    }
    this.entries.delete(jid);
    this.early.delete(jid);
    await deleteContact(this.o.db, jid);
    this.o.onContactGone(jid);
    this.log.info({ contact: jid }, 'remove_contact: subscription ended, shares dropped');
  }

  private requireOnline(topic: string): void {
    if (!this.o.conn.online || !this.synced) {
      throw new UnavailableError(`not connected to the XMPP server right now (${topic} needs it): try again once bitween-xmpp logs "XMPP online"`);
    }
  }
}

// Publishing own shares over PEP: own torrents from the store, addresses × ports from node_state, and the
// other resources of this account as learned from our own notifications (two devices on one account must
// not erase each other).
// Requests coalesce (issue 14.5): a request after a quiet spell of QUIET_MS goes out at once (a single change
// reaches contacts without delay); requests closer together than that are a burst and wait for it to pause
// (QUIET_MS without a request), or at most MAX_WAIT_MS, so a burst of any length costs one publish per
// MAX_WAIT_MS while it lasts and at most two after it ends (one already out, one trailing). A publish reads the
// store when it starts, so it covers every request made before. Our own entry is never sent again as it was
// last sent (or as the server showed it at login): `publish_shares` with nothing changed publishes nothing.
// A publish does not wait for the server's answer to the one before it (the server handles a session's
// stanzas in order, and it answers only after storing the item, well after contacts have it): at most
// MAX_UNANSWERED are out.
import { xml, type Element } from '@xmpp/client';
import type pg from 'pg';
import { errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import { listOwnShares } from '../../lib/store/torrents.js';
import type { XmppConnection } from './connection.js';
import type { OwnAddresses } from './own-addresses.js';
import {
  LIMITS,
  NODE_SHARES,
  NS_PUBSUB,
  NS_PUBSUB_OWNER,
  byteLength,
  checkName,
  fingerprint,
  lastItemPayload,
  nodeConfigForm,
  pageNode,
  parseUserShares,
  planPublication,
  publishIq,
  type ResourceShares,
  type Share,
} from './wire.js';

export interface PublisherOptions {
  conn: XmppConnection;
  db: pg.Pool;
  log: Logger;
  addresses: OwnAddresses;
  allowLoopback: boolean;
  /** A publish the server refused after its request returned: reported and logged there; the next request tries again. */
  onError: (err: Error) => void;
  /** `facts` changed (a publish answered, failed or skipped): the heartbeat shows it without waiting for its next beat. */
  onFacts: () => void;
}

/** What the publisher says of itself in the heartbeat (services/xmpp/health.ts): `bitween status`, the dashboard, tests. */
export interface PublishFacts {
  /**
   * Our entry as the account item carries it, as far as this node knows: the counts of its last publish the
   * server answered, or of the entry a login found there already as it would publish it; `at` is when this node
   * learned so. Null until then.
   */
  published: { shares: number; addresses: number; at: string } | null;
  /**
   * Since start: publishes sent, requests that found our entry unchanged so sent nothing (the periodic address
   * check not counted), publishes that failed.
   */
  publishes: { sent: number; unchanged: number; failed: number };
}

/** Publishes sent but not yet answered by the server; the next waits while this many are out. */
const MAX_UNANSWERED = 2;
/** A request this long after the one before goes out at once; closer ones wait for a pause this long. */
export const QUIET_MS = 250;
/** A burst that does not pause still publishes this often. */
export const MAX_WAIT_MS = 2000;
/** Own entries sent and not yet seen in our own notifications; older ones are dropped past this many. */
const MAX_ECHOES = 8;

// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff\ufff9-\ufffb/]/g;

/** Own torrent names made acceptable to contacts (they drop what fails wire.ts's checks). */
export function sanitizeName(name: string): string {
  let out = name.replace(UNSAFE, '\ufffd');
  while (Buffer.byteLength(out) > LIMITS.nameBytes) out = out.slice(0, -1);
  if (out === '' || out === '.' || out === '..') out = `_${out}`;
  return out;
}

export class Publisher {
  /** Other resources of this account, from its own PEP notifications. */
  private readonly others = new Map<string, ResourceShares>();
  private readonly log: Logger;
  /**
   * Fingerprint of our entry as last sent (or as the server held it at login): what contacts have, or will
   * have once the publishes out are stored. Cleared when a publish fails or another device overwrote it.
   */
  private lastOwn: string | undefined;
  /** Fingerprints of our entries sent and not yet seen in our own notifications, oldest first. */
  private echoes: string[] = [];
  /** Page nodes we wrote last time, to delete those a shorter list no longer needs. */
  private lastPages = 0;
  private chain: Promise<void> = Promise.resolve();
  /** A publish waits on the chain and has not read the store yet: it will cover any request made now. */
  private queued = false;
  /** Someone asked for this publish (login, `publish_shares`): its outcome is logged even when nothing changed. */
  private queuedAsked = false;
  /** A request other than the periodic check is behind this publish: counted in `facts` when nothing changed. */
  private queuedCounted = false;
  private queuedReason = '';
  /** The burst timer: set while requests wait for a pause. */
  private timer: NodeJS.Timeout | undefined;
  private waitingSince = 0;
  private lastRequestAt = -Infinity;
  private withdrawn = false;
  private readonly unanswered = new Set<Promise<void>>();
  /** Counts main-item publishes, so that only the newest retries after reconfiguring a node. */
  private generation = 0;
  readonly facts: PublishFacts = { published: null, publishes: { sent: 0, unchanged: 0, failed: 0 } };

  constructor(private readonly o: PublisherOptions) {
    this.log = o.log.child({ component: 'publish' });
  }

  private get resource(): string {
    return this.o.conn.jid?.resource ?? '';
  }

  /** Our account's item as published by any of its resources (ours included). */
  learn(resources: ResourceShares[]): void {
    this.others.clear();
    for (const r of resources) if (r.resource !== this.resource) this.others.set(r.resource, r);
    const mine = resources.find((r) => r.resource === this.resource);
    if (mine?.paged) this.lastPages = Math.max(this.lastPages, mine.paged.pages);
    const seen = mine ? fingerprint(mine) : undefined;
    const echo = seen === undefined ? -1 : this.echoes.indexOf(seen);
    if (echo >= 0) {
      // One of ours coming back (publishes out are echoed in the order sent): nothing to do.
      this.echoes.splice(0, echo + 1);
      return;
    }
    // While a publish of ours is still out it will overwrite whatever this says; otherwise another device of
    // this account published without our entry (or an old one of it): put it back.
    if (this.echoes.length === 0 && this.lastOwn !== undefined && seen !== this.lastOwn && !this.withdrawn) {
      this.log.info({ others: [...this.others.keys()] }, 'our entry in the account item is missing or old: republishing');
      this.lastOwn = undefined;
      void this.request('own entry overwritten');
    }
  }

  /** Before the first publish of a session: learn the other resources from the item as it stands. */
  async fetchOwnItem(): Promise<void> {
    // A new session: what the server holds is what contacts have (nothing known until it answers).
    this.echoes = [];
    this.lastOwn = undefined;
    try {
      const result = await this.o.conn.request(
        xml('iq', { type: 'get', to: this.o.conn.bare }, xml('pubsub', { xmlns: NS_PUBSUB }, xml('items', { node: NODE_SHARES, max_items: '1' }))),
      );
      const payload = lastItemPayload(result.getChild('pubsub', NS_PUBSUB)?.getChild('items'));
      if (!payload) return;
      const { resources } = parseUserShares(payload, { allowLoopback: this.o.allowLoopback });
      this.learn(resources);
      const mine = resources.find((r) => r.resource === this.resource);
      this.lastOwn = mine ? fingerprint(mine) : undefined;
    } catch (err) {
      // item-not-found: nothing published yet on this account.
      if ((err as { condition?: string }).condition !== 'item-not-found') {
        this.log.debug({ err: errorMessage(err) }, 'could not read our own item');
      }
    }
  }

  /**
   * Publishes what the store says now, at once or after the burst this request is part of (see the top of
   * this file). `asked`: someone asked (login, `publish_shares`), so the outcome is logged even when nothing
   * changed. `poll`: the periodic check, not counted as a request in `facts` when it finds nothing changed
   * (that would count up twice a minute). Resolves at once: a failure is reported through onError (a bus
   * handler must not wait for a burst to end).
   */
  request(reason: string, { asked = false, poll = false }: { asked?: boolean; poll?: boolean } = {}): Promise<void> {
    if (!this.o.conn.online || this.withdrawn) return Promise.resolve(); // the next login publishes
    this.queuedAsked ||= asked;
    this.queuedCounted ||= !poll;
    this.queuedReason ||= reason;
    const now = performance.now();
    const quiet = now - this.lastRequestAt >= QUIET_MS;
    this.lastRequestAt = now;
    if (quiet && this.timer === undefined) {
      this.enqueue();
      return Promise.resolve();
    }
    if (this.timer === undefined) this.waitingSince = now;
    else clearTimeout(this.timer);
    const at = Math.min(now + QUIET_MS, this.waitingSince + MAX_WAIT_MS);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.enqueue();
    }, Math.max(0, at - now));
    return Promise.resolve();
  }

  /** One publish on the chain, unless one is already waiting there (it reads the store when it starts). */
  private enqueue(): void {
    if (this.queued) return;
    this.queued = true;
    this.chain = this.chain
      .then(() => {
        const { queuedReason: reason, queuedAsked: asked, queuedCounted: counted } = this;
        this.queued = false;
        this.queuedReason = '';
        this.queuedAsked = false;
        this.queuedCounted = false;
        return this.publishNow(reason, asked, counted);
      })
      .catch((err: unknown) => {
        this.o.onError(new Error(`publishing the shares failed: ${errorMessage(err)}; the next change or publish_shares tries again`));
      });
  }

  private async ownShares(): Promise<Share[]> {
    const rows = await listOwnShares(this.o.db);
    const out: Share[] = [];
    for (const r of rows) {
      const name = sanitizeName(r.name);
      if (checkName(name) || !(r.size >= 0)) {
        this.log.warn({ infoHash: r.infoHash, name: r.name }, 'own torrent left out: its name cannot be published');
        continue;
      }
      out.push({ infoHash: r.infoHash, name, size: r.size });
    }
    return out;
  }

  private async publishNow(reason: string, asked: boolean, counted: boolean): Promise<void> {
    while (this.unanswered.size >= MAX_UNANSWERED) await Promise.race(this.unanswered);
    if (!this.o.conn.online || this.withdrawn) return;
    const started = performance.now();
    const [shares, addresses] = await Promise.all([this.ownShares(), this.o.addresses.current()]);
    const read = performance.now();
    const plan = planPublication({ resource: this.resource, shares, addresses }, [...this.others.values()]);
    const own = this.parsedOwnFingerprint(plan.main);
    if (own !== undefined && own === this.lastOwn) {
      const line = { reason, shares: shares.length, addresses: addresses.length };
      if (asked) this.log.info(line, 'shares unchanged: not published');
      else this.log.debug(line, 'shares unchanged: not published');
      // A login that found our entry already there (nothing of ours out): that is what the item carries.
      const found = this.facts.published === null && this.unanswered.size === 0;
      if (found) this.facts.published = this.entry(shares.length, addresses.length);
      if (counted) this.facts.publishes.unchanged++;
      if (found || counted) this.o.onFacts();
      return;
    }
    const planned = performance.now();
    if (plan.omitted.length > 0) {
      this.log.warn({ omitted: plan.omitted }, 'the account item is full: left out other resources (they republish themselves)');
    }
    // Paged lists go one at a time: pages are answered before the main item that points at them goes out,
    // and deleting the pages a shorter list no longer needs must not overtake another publish's pages.
    const serial = plan.pages.length > 0 || this.lastPages > 0;
    if (serial) await this.allAnswered();
    for (const [i, page] of plan.pages.entries()) await this.publishItem(pageNode(this.resource, i + 1), page);
    this.lastOwn = own;
    if (own !== undefined) this.echoes = [...this.echoes, own].slice(-MAX_ECHOES);
    this.facts.publishes.sent++;
    const answered = this.publishItem(NODE_SHARES, plan.main, ++this.generation)
      .then(() => this.deletePagesAbove(plan.pages.length))
      .then(
        () => {
          // Answers come in the order sent: the last one answered is what the item carries.
          this.facts.published = this.entry(shares.length, addresses.length);
          this.o.onFacts();
          this.log.info(
            {
              reason,
              shares: shares.length,
              addresses: addresses.length,
              pages: plan.pages.length,
              bytes: byteLength(plan.main),
              ms: Math.round(performance.now() - started),
              readMs: +(read - started).toFixed(1),
              planMs: +(planned - read).toFixed(1),
            },
            'shares published',
          );
        },
        (err: unknown) => {
          if (this.lastOwn === own) this.lastOwn = undefined; // the next request publishes again
          this.echoes = this.echoes.filter((e) => e !== own);
          this.facts.publishes.failed++;
          this.o.onFacts();
          const error = new Error(`publishing ${shares.length} shares failed: ${errorMessage(err)}; the next change or publish_shares tries again`);
          this.o.onError(error);
        },
      )
      .finally(() => this.unanswered.delete(answered));
    this.unanswered.add(answered);
    if (serial) await answered;
  }

  private entry(shares: number, addresses: number): PublishFacts['published'] {
    return { shares, addresses, at: new Date().toISOString() };
  }

  /** Resolves once every publish sent so far has its answer (those settle, never reject). */
  private async allAnswered(): Promise<void> {
    while (this.unanswered.size > 0) await Promise.all(this.unanswered);
  }

  /** On exit: this resource with no shares, other resources kept. */
  async withdraw(): Promise<void> {
    // A burst still waiting goes out first (then the withdrawal replaces it): nothing is half done.
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.enqueue();
    }
    await this.chain;
    await this.allAnswered();
    if (this.withdrawn || !this.o.conn.online) return;
    this.withdrawn = true;
    const plan = planPublication({ resource: this.resource, shares: [], addresses: [] }, [...this.others.values()]);
    await this.publishItem(NODE_SHARES, plan.main);
    await this.deletePagesAbove(0);
    this.log.info('published this resource without shares');
  }

  private parsedOwnFingerprint(main: Element): string | undefined {
    const mine = parseUserShares(main, { allowLoopback: this.o.allowLoopback }).resources.find((r) => r.resource === this.resource);
    return mine ? fingerprint(mine) : undefined;
  }

  /** `generation`: a main-item publish, retried after reconfiguring only while no newer one was sent. */
  private async publishItem(node: string, payload: Element, generation?: number): Promise<void> {
    try {
      await this.o.conn.request(publishIq(node, payload));
    } catch (err) {
      // An existing node with other settings (e.g. made by another client) refuses our publish-options:
      // set them (presence access, one item) rather than publish with looser ones, then try once more.
      if ((err as { condition?: string }).condition !== 'conflict') throw err;
      if (generation !== undefined && generation !== this.generation) return; // the newer publish carries the list
      this.log.info({ node }, 'node exists with other settings: reconfiguring it to presence access, one item');
      await this.o.conn.request(
        xml('iq', { type: 'set' }, xml('pubsub', { xmlns: NS_PUBSUB_OWNER }, xml('configure', { node }, nodeConfigForm('http://jabber.org/protocol/pubsub#node_config')))),
      );
      await this.o.conn.request(publishIq(node, payload));
    }
  }

  private async deletePagesAbove(count: number): Promise<void> {
    for (let page = count + 1; page <= this.lastPages; page++) {
      try {
        await this.o.conn.request(xml('iq', { type: 'set' }, xml('pubsub', { xmlns: NS_PUBSUB_OWNER }, xml('delete', { node: pageNode(this.resource, page) }))));
      } catch (err) {
        if ((err as { condition?: string }).condition !== 'item-not-found') this.log.debug({ page, err: errorMessage(err) }, 'could not delete an old page node');
      }
    }
    this.lastPages = count;
  }
}

// Collecting contacts' shares from PEP notifications: only from friends (or our own account), every field
// validated (wire.ts), each contact's resources replaced in one transaction (with other contacts' when a
// login brings many at once: store-writer.ts), then `shares_updated` and
// `recheck_handles`. Notifications per contact are handled in order and coalesced (only the newest waiting
// one counts); an entry identical to what is stored costs nothing, so duplicates are harmless.
import { jid as parseJid, xml, type Element } from '@xmpp/client';
import type pg from 'pg';
import type { Bus } from '../../lib/bus.js';
import { errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import { dropContactShares, loadResourceFingerprints, type ResourceUpdate, type StoredResource } from '../../lib/store/contacts.js';
import type { XmppConnection } from './connection.js';
import { StoreWriter } from './store-writer.js';
import {
  NODE_SHARES,
  NS_PUBSUB,
  NS_PUBSUB_EVENT,
  Problems,
  fingerprint,
  lastItemPayload,
  pageNode,
  parsePage,
  parseUserShares,
  type ResourceShares,
  type Share,
} from './wire.js';

export interface CollectorOptions {
  conn: XmppConnection;
  db: pg.Pool;
  bus: Bus;
  log: Logger;
  allowLoopback: boolean;
  /** Whether items from this bare JID are accepted (a friend, or our own account). */
  trusts(bare: string): boolean;
  /** Our own account's item: the publisher keeps the other resources and checks its own entry. */
  onOwnItem(resources: ResourceShares[]): void;
}

const RECHECK_DELAY_MS = 50;

export class Collector {
  private stored = new Map<string, Map<string, StoredResource>>();
  private readonly queues = new Map<string, { drop: boolean; next: ResourceShares[] | undefined }>();
  private readonly strangersLogged = new Set<string>();
  private readonly log: Logger;
  private recheckTimer: NodeJS.Timeout | undefined;
  private readonly running = new Set<Promise<void>>();
  private stopped = false;
  private readonly writer: StoreWriter;

  constructor(private readonly o: CollectorOptions) {
    this.log = o.log.child({ component: 'collect' });
    this.writer = new StoreWriter(o.db);
  }

  /** What is already stored, so a restart does not rewrite (or re-fetch) unchanged lists. */
  async load(): Promise<void> {
    this.stored = await loadResourceFingerprints(this.o.db);
  }

  /**
   * The contact is no longer trusted (removed, unsubscribed): drop what it published, queued behind any
   * notification of it being stored right now, so that one cannot write the shares back afterwards.
   */
  forget(jid: string): void {
    this.schedule(jid, { drop: true, next: undefined });
  }

  /**
   * A contact we just started to see: ask for its item instead of relying on the notification the server
   * sends after presence (which may have come before the subscription was known here).
   */
  fetchItem(jid: string): void {
    this.o.conn
      .request(xml('iq', { type: 'get', to: jid }, xml('pubsub', { xmlns: NS_PUBSUB }, xml('items', { node: NODE_SHARES, max_items: '1' }))))
      .then((result) => {
        const payload = lastItemPayload(result.getChild('pubsub', NS_PUBSUB)?.getChild('items'));
        if (payload) this.accept(jid, payload);
      })
      .catch((err) => this.log.debug({ contact: jid, err: errorMessage(err) }, 'no item to fetch'));
  }

  /** Handles a <message>; returns true when it was a notification for the shares node. */
  onMessage(stanza: Element): boolean {
    const event = stanza.getChild('event', NS_PUBSUB_EVENT);
    if (!event || stanza.attrs.type === 'error') return false;
    let from: string;
    try {
      from = parseJid(stanza.attrs.from ?? '').bare().toString().toLowerCase();
    } catch {
      return false;
    }
    const items = event.getChild('items');
    const gone = event.getChild('purge') ?? event.getChild('delete');
    const node = items?.attrs.node ?? gone?.attrs.node;
    if (node !== NODE_SHARES) return false;
    if (!this.o.trusts(from)) {
      if (!this.strangersLogged.has(from) && this.strangersLogged.size < 1000) {
        this.strangersLogged.add(from);
        this.log.warn({ from }, 'ignored shares from a JID without a presence subscription');
      }
      return true;
    }
    if (gone || items?.getChild('retract')) {
      this.enqueue(from, []); // the contact withdrew its list
    } else {
      const payload = lastItemPayload(items);
      if (payload) this.accept(from, payload); // one without payload says nothing about the list
    }
    return true;
  }

  private accept(from: string, payload: Element): void {
    const parsed = parseUserShares(payload, { allowLoopback: this.o.allowLoopback });
    if (parsed.problems.count > 0) {
      this.log.warn({ contact: from, dropped: parsed.problems.count, examples: parsed.problems.samples }, `dropped ${parsed.problems.count} invalid entries from ${from}`);
    }
    this.enqueue(from, parsed.resources);
  }

  private enqueue(jid: string, resources: ResourceShares[]): void {
    this.schedule(jid, { next: resources });
  }

  /** Per contact one job at a time; of the notifications waiting, only the newest counts. */
  private schedule(jid: string, job: { drop?: boolean; next: ResourceShares[] | undefined }): void {
    const waiting = this.queues.get(jid);
    if (waiting) {
      if (job.drop) waiting.drop = true;
      waiting.next = job.next;
      return;
    }
    const queue = { drop: job.drop ?? false, next: job.next };
    this.queues.set(jid, queue);
    const run = async () => {
      while ((queue.drop || queue.next) && !this.stopped) {
        const { drop, next } = queue;
        queue.drop = false;
        queue.next = undefined;
        try {
          if (drop) {
            this.stored.delete(jid);
            if (await dropContactShares(this.o.db, jid)) await this.o.bus.publish('shares_updated', [jid]);
          }
          if (next && this.o.trusts(jid)) await this.ingest(jid, next);
        } catch (err) {
          this.log.error({ contact: jid, err: errorMessage(err) }, `could not store the shares of ${jid}: ${errorMessage(err)}`);
        }
      }
      this.queues.delete(jid);
    };
    const p = run().finally(() => this.running.delete(p));
    this.running.add(p);
  }

  private async ingest(jid: string, resources: ResourceShares[]): Promise<void> {
    if (jid === this.o.conn.bare) {
      this.o.onOwnItem(resources);
      const me = this.o.conn.jid?.resource;
      resources = resources.filter((r) => r.resource !== me);
    }
    const stored = this.stored.get(jid) ?? new Map<string, StoredResource>();
    const updates: ResourceUpdate[] = [];
    for (const r of resources) {
      const fp = fingerprint(r);
      const prev = stored.get(r.resource);
      if (prev?.fingerprint === fp) continue;
      if (!r.paged) {
        updates.push({ resource: r.resource, shares: r.shares, addresses: r.addresses, fingerprint: fp, version: null });
      } else if (prev?.version === r.paged.version) {
        updates.push({ resource: r.resource, shares: undefined, addresses: r.addresses, fingerprint: fp, version: r.paged.version });
      } else {
        const shares = await this.fetchPages(jid, r);
        if (shares) updates.push({ resource: r.resource, shares, addresses: r.addresses, fingerprint: fp, version: r.paged.version });
      }
    }
    const present = new Set(resources.map((r) => r.resource));
    const cleared = [...stored].filter(([res, s]) => !present.has(res) && s.fingerprint !== null).map(([res]) => res);
    if (updates.length === 0 && cleared.length === 0) return;

    const t0 = performance.now();
    await this.writer.write({ jid, updates, cleared });
    const writeMs = +(performance.now() - t0).toFixed(1);
    for (const u of updates) stored.set(u.resource, { fingerprint: u.fingerprint, version: u.version });
    for (const res of cleared) stored.set(res, { fingerprint: null, version: null });
    this.stored.set(jid, stored);
    this.log.info(
      { contact: jid, resources: updates.map((u) => ({ resource: u.resource, shares: u.shares?.length ?? 'unchanged', addresses: u.addresses.length })), cleared, writeMs },
      `stored the shares of ${jid}`,
    );
    await this.o.bus.publish('shares_updated', [jid]);
    this.scheduleRecheck();
  }

  /**
   * A paged list: pages 1..N from the contact's page nodes, each carrying the announced version. A page
   * that is missing or newer means the contact is publishing right now: keep what is stored; the
   * notification for the new version follows.
   */
  private async fetchPages(jid: string, r: ResourceShares): Promise<Share[] | undefined> {
    const { version, pages } = r.paged!;
    const into = new Map<string, Share>();
    const problems = new Problems();
    for (let page = 1; page <= pages; page++) {
      let payload: Element | undefined;
      try {
        const result = await this.o.conn.request(
          xml('iq', { type: 'get', to: jid }, xml('pubsub', { xmlns: NS_PUBSUB }, xml('items', { node: pageNode(r.resource, page), max_items: '1' }))),
        );
        payload = lastItemPayload(result.getChild('pubsub', NS_PUBSUB)?.getChild('items'));
      } catch (err) {
        this.log.info({ contact: jid, resource: r.resource, page, err: errorMessage(err) }, 'could not fetch a page: keeping the previous list');
        return undefined;
      }
      const wrong = parsePage(payload, { resource: r.resource, version, page }, into, problems);
      if (wrong) {
        this.log.info({ contact: jid, resource: r.resource, reason: wrong }, 'pages changed while reading: keeping the previous list until the next notification');
        return undefined;
      }
    }
    if (problems.count > 0) {
      this.log.warn({ contact: jid, resource: r.resource, dropped: problems.count, examples: problems.samples }, `dropped ${problems.count} invalid entries from ${jid}'s pages`);
    }
    return [...into.values()];
  }

  private scheduleRecheck(): void {
    // One recheck for a burst of contacts (a reconnect delivers every contact's item at once).
    this.recheckTimer ??= setTimeout(() => {
      this.recheckTimer = undefined;
      this.o.bus.publish('recheck_handles').catch((err) => this.log.warn({ err: errorMessage(err) }, 'could not publish recheck_handles'));
    }, RECHECK_DELAY_MS);
  }

  /** Waits for notifications in hand to be stored; stops taking new ones. */
  async stop(): Promise<void> {
    await Promise.all(this.running);
    this.stopped = true;
    if (this.recheckTimer) {
      clearTimeout(this.recheckTimer);
      this.recheckTimer = undefined;
      await this.o.bus.publish('recheck_handles').catch(() => undefined);
    }
  }
}

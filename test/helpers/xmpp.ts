// XMPP test pieces: raw @xmpp/client sessions (for befriending accounts and for playing hostile contacts),
// and an xmpp service node (database, namespace, bus, process) logged in to a test Prosody.
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { client, xml, type Client, type Element } from '@xmpp/client';
import { setState } from '../../lib/store/state.js';
import { fixIncomingData } from '../../services/xmpp/connection.js';
import type { PublishFacts } from '../../services/xmpp/publish.js';
import type { Prosody } from '../fixtures/prosody.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import { REDIS_URL, TestBus, newNamespace } from './bus.js';
import { waitForHeartbeat } from './heartbeat.js';
import { startService, type ServiceProcess } from './process.js';

export const NS_SHARES = 'https://xmpp.kwoh.de/protocol/shares';

export interface RawSession {
  xmpp: Client;
  jid: string;
  /** Every stanza received. */
  stanzas: Element[];
  waitFor(match: (el: Element) => boolean, timeoutMs?: number): Promise<Element>;
  stop(): Promise<void>;
}

/** A plain session; with `notify` it advertises shares+notify caps and answers disco like a bitween node. */
export async function rawSession(prosody: Prosody, user: string, password: string, options: { resource?: string; notify?: boolean } = {}): Promise<RawSession> {
  const xmpp = client({ service: prosody.service, domain: prosody.domain, resource: options.resource ?? 'raw', username: user, password });
  fixIncomingData(xmpp);
  xmpp.reconnect.stop();
  xmpp.on('error', (err: Error) => { if (process.env.BITWEEN_TEST_VERBOSE) process.stderr.write(`[raw ${user}] ${err.message}\n`); });
  const stanzas: Element[] = [];
  const waiters = new Set<{ match: (el: Element) => boolean; resolve: (el: Element) => void }>();
  xmpp.on('stanza', (el: Element) => {
    stanzas.push(el);
    for (const w of waiters) if (w.match(el)) { waiters.delete(w); w.resolve(el); }
  });
  const features = ['http://jabber.org/protocol/disco#info', ...(options.notify ? [`${NS_SHARES}+notify`] : [])];
  xmpp.iqCallee.get('http://jabber.org/protocol/disco#info', 'query', (ctx) =>
    xml('query', { xmlns: 'http://jabber.org/protocol/disco#info', node: ctx.element.attrs.node }, xml('identity', { category: 'client', type: 'bot', name: 'raw' }), ...features.map((f) => xml('feature', { var: f }))),
  );
  xmpp.iqCallee.set('jabber:iq:roster', 'query', () => true);
  await xmpp.start();
  await xmpp.iqCaller.request(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' })));
  if (options.notify) {
    // A fixed ver per feature set: Prosody asks our disco#info once and remembers it.
    await xmpp.send(xml('presence', {}, xml('c', { xmlns: 'http://jabber.org/protocol/caps', hash: 'sha-1', node: 'urn:test', ver: options.notify ? 'notify-v1' : 'plain-v1' })));
  } else {
    await xmpp.send(xml('presence'));
  }
  return {
    xmpp,
    jid: `${user}@${prosody.domain}`,
    stanzas,
    waitFor(match, timeoutMs = 10000) {
      const seen = stanzas.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const w = { match, resolve: (el: Element) => { clearTimeout(t); resolve(el); } };
        const t = setTimeout(() => { waiters.delete(w); reject(new Error(`${user}: no matching stanza in ${timeoutMs} ms`)); }, timeoutMs);
        waiters.add(w);
      });
    },
    async stop() {
      await xmpp.stop().catch(() => xmpp.socket?.destroy());
    },
  };
}

async function rosterSubscription(s: RawSession, other: string): Promise<string | undefined> {
  const r = await s.xmpp.iqCaller.request(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' })));
  return r.getChild('query')?.getChildren('item').find((i) => i.attrs.jid === other)?.attrs.subscription;
}

/** Mutual presence subscription between two registered accounts, made with raw sessions. */
export async function befriend(prosody: Prosody, a: { user: string; password: string }, b: { user: string; password: string }): Promise<void> {
  const sa = await rawSession(prosody, a.user, a.password, { resource: 'befriend' });
  const sb = await rawSession(prosody, b.user, b.password, { resource: 'befriend' });
  try {
    for (const [x, y] of [[sa, sb], [sb, sa]] as const) {
      await x.xmpp.send(xml('presence', { to: y.jid, type: 'subscribe' }));
      await y.waitFor((el) => el.is('presence') && el.attrs.type === 'subscribe' && el.attrs.from?.startsWith(x.jid) === true);
      await y.xmpp.send(xml('presence', { to: x.jid, type: 'subscribed' }));
    }
    const deadline = Date.now() + 5000;
    while ((await rosterSubscription(sa, sb.jid)) !== 'both' || (await rosterSubscription(sb, sa.jid)) !== 'both') {
      if (Date.now() > deadline) throw new Error(`befriend: ${a.user} and ${b.user} did not reach subscription both`);
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    await sa.stop();
    await sb.stop();
  }
}

export function randomHash(): string {
  return randomBytes(20).toString('hex');
}

/** The xmpp service's heartbeat facts that tests wait on (services/xmpp/health.ts). */
export interface XmppFacts extends PublishFacts {
  connection: string;
  /** Sessions since the service started. */
  logins: number;
}

export interface XmppNode {
  user: string;
  password: string;
  jid: string;
  resource: string;
  db: TestDatabase;
  bus: TestBus;
  namespace: string;
  proc: ServiceProcess | undefined;
  env: Record<string, string>;
  /** Starts (or restarts) the xmpp service; resolves once it published after login (or found its entry there). */
  start(extraEnv?: Record<string, string>): Promise<ServiceProcess>;
  /**
   * Waits until the running service's heartbeat (written at once after each publish's outcome) has facts
   * that satisfy `ok`; fails at once if the process exits.
   */
  waitForFacts(ok: (f: XmppFacts) => boolean, timeoutMs?: number): Promise<XmppFacts>;
  stop(): Promise<number | string | undefined>;
  /** Inserts own shares straight into `torrents`, as the torrent service would. */
  addShares(shares: { infoHash: string; name: string; size: number }[]): Promise<void>;
  close(): Promise<void>;
}

export async function createXmppNode(prosody: Prosody, user: string, options: { resource?: string; register?: boolean; listenPort?: number; password?: string } = {}): Promise<XmppNode> {
  const password = options.password ?? `pw-${user}`;
  if (options.register !== false) await prosody.register(user, password);
  const db = await createTestDatabase();
  const namespace = newNamespace('x');
  let bus: TestBus;
  try {
    bus = await TestBus.open(namespace);
  } catch (err) {
    await db.drop(); // nothing is returned to clean up (Redis down, say)
    throw err;
  }
  const resource = options.resource ?? `node-${user}`;
  if (options.listenPort !== undefined) await setState(db.pool, 'torrent.listen_port', { port: options.listenPort });
  const node: XmppNode = {
    user,
    password,
    jid: `${user}@${prosody.domain}`,
    resource,
    db,
    bus,
    namespace,
    proc: undefined,
    env: {
      BITWEEN_DATABASE_URL: db.url,
      BITWEEN_REDIS_URL: REDIS_URL,
      BITWEEN_NAMESPACE: namespace,
      BITWEEN_JID: `${user}@${prosody.domain}/${resource}`,
      BITWEEN_PASSWORD: password,
      BITWEEN_XMPP_SERVICE: prosody.service,
      BITWEEN_ALLOW_LOOPBACK: 'true',
      BITWEEN_IPV6: 'false',
      // A torrent service started with this env shares files from temporary folders.
      BITWEEN_SHARE_ROOTS: tmpdir(),
    },
    async start(extraEnv = {}) {
      const proc = startService('xmpp', { ...node.env, ...extraEnv });
      node.proc = proc;
      // Published, or found already published as it is (a restart with nothing changed publishes nothing).
      await node.waitForFacts((f) => f.published !== null || f.connection === 'no account', 20000);
      return proc;
    },
    async waitForFacts(ok, timeoutMs = 15000) {
      const proc = node.proc;
      if (!proc) throw new Error('the xmpp service is not running');
      const pid = proc.child.pid;
      let done = false;
      const exited = proc.exited.then((code) => {
        if (!done) throw new Error(`xmpp (pid ${pid}) exited (${code}) while a test waited on its heartbeat; output:\n${proc.output.slice(-15).join('\n')}`);
      });
      try {
        const hb = await Promise.race([waitForHeartbeat(bus.pub, namespace, 'xmpp', (h) => h.pid === pid && ok(h.facts as unknown as XmppFacts), timeoutMs), exited]);
        return hb!.facts as unknown as XmppFacts;
      } finally {
        done = true;
      }
    },
    async stop() {
      const proc = node.proc;
      node.proc = undefined;
      return proc?.stop();
    },
    async addShares(shares) {
      // One statement for many rows (5,000 single INSERTs take a second).
      await db.pool.query(
        `INSERT INTO torrents (info_hash, name, total_size, magnet_link, status, origin, save_path, bytes_done)
         SELECT h, n, s, 'magnet:?xt=urn:btih:' || h, 'seeding', 'shared', '/tmp', s FROM unnest($1::text[], $2::text[], $3::bigint[]) AS t(h, n, s)`,
        [shares.map((s) => s.infoHash), shares.map((s) => s.name), shares.map((s) => s.size)],
      );
    },
    async close() {
      await node.stop();
      await bus.close();
      await db.drop();
    },
  };
  return node;
}

/** Waits for a line matching `pattern` printed after the first `from` lines of the process's output. */
export async function waitForOutput(proc: ServiceProcess, pattern: RegExp, from: number, timeoutMs = 15000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = proc.output.slice(from).find((l) => pattern.test(l));
    if (hit) return hit;
    if (Date.now() > deadline || proc.child.exitCode !== null) {
      throw new Error(`no line matching ${pattern} after line ${from} within ${timeoutMs} ms; last lines:\n${proc.output.slice(-10).join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

// bitween-xmpp: the address book. Logs in, keeps roster and presence, publishes own shares over PEP and
// collects contacts' shares into the store (INTERFACE.md §2, §5).
import { hostname } from 'node:os';
import type { Element } from '@xmpp/client';
import { UnavailableError, BadInputError, errorMessage } from '../../lib/errors.js';
import type { Message } from '../../lib/bus.js';
import { runService, type ServiceContext } from '../../lib/service.js';
import { takeArgs } from '../../lib/validate.js';
import { discoInfo, NS_DISCO_INFO } from './caps.js';
import { Collector } from './collect.js';
import { XmppConnection } from './connection.js';
import { NO_ACCOUNT, xmppFacts } from './health.js';
import { OwnAddresses } from './own-addresses.js';
import { Publisher } from './publish.js';
import { Roster } from './roster.js';

/** Own addresses can change without anyone telling us (DHCP, interface up): look every so often. */
const ADDRESS_CHECK_MS = 30_000;
/** How long stop waits for the store to mark every contact offline (the whole shutdown has 8 s). */
const OFFLINE_MARK_MS = 2_000;

function requirePort(value: unknown): number {
  const n = typeof value === 'string' && /^\d{1,5}$/.test(value.trim()) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 65535) {
    throw new BadInputError(`${JSON.stringify(value)} is not a port (1-65535)`);
  }
  return n;
}

/** Topic handlers while no account is configured: say so once (at start), refuse what needs XMPP. */
class IdleHandlers {
  private refuse(topic: string): never {
    throw new UnavailableError(`no XMPP account configured for ${topic}: set BITWEEN_JID and BITWEEN_PASSWORD and restart bitween-xmpp`);
  }
  on_publish_shares(): void {}
  on_set_port(): void {}
  on_add_contact(): void {
    this.refuse('add_contact');
  }
  on_remove_contact(): void {
    this.refuse('remove_contact');
  }
}

class XmppHandlers {
  constructor(
    private readonly publisher: Publisher,
    private readonly roster: Roster,
    private readonly addresses: OwnAddresses,
  ) {}

  async on_publish_shares(m: Message): Promise<void> {
    takeArgs('publish_shares', m.args, 0, 0);
    await this.publisher.request('publish_shares', { asked: true });
  }

  async on_set_port(m: Message): Promise<void> {
    const [port] = takeArgs('set_port', m.args, 1, 1);
    this.addresses.extraPorts.add(requirePort(port));
    await this.publisher.request('set_port');
  }

  async on_add_contact(m: Message): Promise<void> {
    const [jid] = takeArgs('add_contact', m.args, 1, 1);
    await this.roster.addContact(jid);
  }

  async on_remove_contact(m: Message): Promise<void> {
    const [jid] = takeArgs('remove_contact', m.args, 1, 1);
    await this.roster.removeContact(jid);
  }

  // Events of the torrent service that change what we publish.
  async on_bt_ready(m: Message): Promise<void> {
    const [port] = m.args;
    if (port !== undefined) this.addresses.listenPort = requirePort(port);
    await this.publisher.request('bt_ready');
  }

  /** The NAT service saw the own addresses change (it also keeps them in node_state). */
  async on_addresses_changed(): Promise<void> {
    await this.publisher.request('addresses_changed');
  }

  // torrent_added / torrent_removed need no handler: the torrent service follows each list change with
  // publish_shares (INTERFACE.md §2), and answering both published every change twice.
}

async function start({ config, log, bus, db, beat }: ServiceContext) {
  if (!config.jid || !config.password) {
    const missing = [!config.jid && 'BITWEEN_JID', !config.password && 'BITWEEN_PASSWORD'].filter(Boolean).join(' and ');
    log.warn(`no XMPP account configured (${missing} not set): set it and restart bitween-xmpp; waiting idle`);
    return { handlers: new IdleHandlers(), facts: () => ({ connection: 'no account', health: NO_ACCOUNT }), close: async () => undefined };
  }

  const conn = new XmppConnection({
    jid: config.jid,
    password: config.password,
    service: config.xmppService,
    defaultResource: `bitween-${hostname()}`,
    log,
  });
  const addresses = new OwnAddresses(db, config);
  const publisher = new Publisher({
    conn,
    db,
    log,
    addresses,
    allowLoopback: config.allowLoopback,
    // A refusal comes back after the request that caused it has returned: report it on the bus all the same.
    onError: (err) => void bus.publishError('publish_shares', err, ''),
    onFacts: beat,
  });
  const roster = new Roster({
    conn,
    db,
    bus,
    log,
    autoAccept: config.autoAccept,
    onContactGone: (jid) => collector.forget(jid),
    onContactTrusted: (jid) => collector.fetchItem(jid),
  });
  const collector: Collector = new Collector({
    conn,
    db,
    bus,
    log,
    allowLoopback: config.allowLoopback,
    trusts: (jid) => roster.trusts(jid),
    onOwnItem: (resources) => publisher.learn(resources),
  });
  await collector.load();

  conn.client.iqCallee.get(NS_DISCO_INFO, 'query', (ctx) => discoInfo(ctx.element.attrs.node));

  conn.on('stanza', (el: Element) => {
    const work = el.is('presence')
      ? roster.onPresence(el)
      : el.is('message')
        ? roster.inOrder(async () => collector.onMessage(el) || log.debug({ from: el.attrs.from, type: el.attrs.type }, 'ignored a message'))
        : Promise.resolve();
    work.catch((err) => log.error({ err: errorMessage(err), stanza: el.name }, `handling a ${el.name} failed: ${errorMessage(err)}`));
  });

  // Every login: roster first (the server forwards subscription stanzas only after it), then presence with
  // caps (contacts' items follow), then learn our account's other resources and publish.
  let session = 0;
  // The connection's phase is a heartbeat fact: status readers see a login or a lost session at once.
  conn.on('offline', beat);
  conn.on('online', () => {
    beat();
    const mine = ++session;
    void (async () => {
      try {
        await roster.sync();
        await roster.sendPresence();
        await publisher.fetchOwnItem();
        if (mine === session) await publisher.request('login', { asked: true });
      } catch (err) {
        log.error({ err: errorMessage(err) }, `after login: ${errorMessage(err)}`);
      }
    })();
  });
  conn.start();

  const addressTimer = setInterval(() => {
    publisher.request('address check', { poll: true }).catch((err) => log.warn({ err: errorMessage(err) }, 'republish after address check failed'));
  }, ADDRESS_CHECK_MS);
  addressTimer.unref();

  return {
    handlers: new XmppHandlers(publisher, roster, addresses),
    facts: xmppFacts(db, () => conn.state, conn.bare, publisher.facts),
    // Phase 1: contacts marked offline in the store (no presence reaches a stopped node: `bitween contacts`
    // must not show the last view as live), then contacts see this resource without shares, then
    // unavailable, then the session ends.
    async stop() {
      clearInterval(addressTimer);
      if (!(await roster.markAllOffline(OFFLINE_MARK_MS))) {
        log.warn(`contacts not marked offline within ${OFFLINE_MARK_MS} ms at exit: the next login does it`);
      }
      try {
        await publisher.withdraw();
      } catch (err) {
        log.warn({ err: errorMessage(err) }, 'could not withdraw the shares at exit');
      }
      if (conn.online) await roster.sendUnavailable().catch(() => undefined);
      await collector.stop();
      await conn.stop();
    },
    async close() {},
  };
}

void runService('xmpp', start);

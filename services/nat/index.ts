// bitween-nat: maps the BitTorrent port on the home router (NAT-PMP, UPnP IGD v1/v2) and keeps the node's own
// addresses current. State for other services lives in node_state (nat.addresses, nat.mapping).
import type { Message } from '../../lib/bus.js';
import { BadInputError } from '../../lib/errors.js';
import { runService } from '../../lib/service.js';
import { getState, setState, StateKey, type NatAddressesState, type NatMappingState } from '../../lib/store/state.js';
import { isPort, takeArgs } from '../../lib/validate.js';
import { AddressBook } from './addresses.js';
import { natHealth } from './health.js';
import type { Mapper } from './mapper.js';
import { NatPmpMapper } from './natpmp.js';
import { RenewLoop, type OldMapping } from './renew.js';
import { UpnpMapper } from './upnp.js';

/** Interfaces come and go (DHCP, VPN, IPv6 privacy addresses): look again this often. */
const ADDRESS_CHECK_MS = 30_000;

class NatHandlers {
  constructor(private readonly loop: RenewLoop) {}

  /** The torrent service listens on a (new) port: map it. Answers at once; the mapping follows. */
  on_bt_ready(msg: Message): void {
    const [value] = takeArgs('bt_ready', msg.args, 1, 1);
    const port = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
    if (!isPort(port)) throw new BadInputError(`bt_ready needs the listen port (1-65535), got ${JSON.stringify(value)}`);
    this.loop.setPort(port);
  }
}

function previousMapping(state: NatMappingState | undefined): OldMapping | undefined {
  if (!state || !isPort(state.externalPort) || !isPort(state.internalPort)) return undefined;
  const expiresAt = state.expiresAt ? Date.parse(state.expiresAt) : NaN;
  return { externalPort: state.externalPort, internalPort: state.internalPort, expiresAt: Number.isNaN(expiresAt) ? undefined : expiresAt };
}

await runService('nat', async ({ config, log, bus, db }) => {
  const mappers: Mapper[] = [];
  // NAT-PMP first: one UDP packet each way, where UPnP needs a multicast search and HTTP.
  if (config.natpmp) mappers.push(new NatPmpMapper(log));
  if (config.upnp) mappers.push(new UpnpMapper(log));
  if (mappers.length === 0) log.info('port mapping is off (BITWEEN_NATPMP=false, BITWEEN_UPNP=false): only own addresses are tracked');

  // Not awaited: while Redis is away ioredis queues the message and sends it on reconnect; the renew loop
  // must not wait for that (the state is in the store meanwhile).
  const announce = (topic: string, args: unknown[]) =>
    void bus.publish(topic, args).catch((err) => log.warn({ topic, err }, `could not publish ${topic}`));

  const stored = await getState<NatAddressesState>(db, StateKey.addresses);
  const book = new AddressBook({ ipv4: config.ipv4, ipv6: config.ipv6, allowLoopback: config.allowLoopback }, stored?.addresses ?? [], async (addresses) => {
    await setState(db, StateKey.addresses, { addresses } satisfies NatAddressesState);
    announce('addresses_changed', [addresses]);
    log.info({ addresses }, `own addresses: ${addresses.join(', ') || 'none'}`);
  });
  let status: NatMappingState | undefined;

  const loop = new RenewLoop({
    mappers,
    lifetimeSeconds: config.natLeaseSeconds,
    // One description per node, so a router's mapping list says whose entry it is.
    description: `bitween ${config.namespace}`,
    log,
    previous: previousMapping(await getState<NatMappingState>(db, StateKey.mapping)),
    events: {
      mapped: async (m) => announce('set_port', [m.externalPort]),
      externalIp: (ip) => book.setExternalIp(ip),
      async status(s) {
        status = s;
        await setState(db, StateKey.mapping, s);
      },
    },
  });

  // With mapping on, the first address list waits for the router's answer (external IP): one announcement, not two.
  if (mappers.length === 0) await book.refresh();
  const addressTimer = setInterval(() => void book.refresh().catch((err) => log.warn({ err }, 'could not update own addresses')), ADDRESS_CHECK_MS);
  addressTimer.unref();

  const torrent = await getState<{ port?: unknown }>(db, StateKey.torrentPort);
  await loop.start(isPort(torrent?.port) ? torrent.port : undefined);

  return {
    handlers: new NatHandlers(loop),
    facts: () => {
      const mapping = status ?? loop.status();
      return { ...mapping, addresses: book.addresses, health: natHealth(mapping) };
    },
    async close() {
      clearInterval(addressTimer);
      await loop.close();
    },
  };
});

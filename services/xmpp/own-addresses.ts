// Where contacts can reach this node: every own address × every port, from the state the torrent and NAT
// services keep in node_state (read fresh each time, so the start order of the services does not matter).
// Until the NAT service has written nat.addresses, the host's own interface addresses stand in.
import { networkInterfaces } from 'node:os';
import { isIP } from 'node:net';
import type { Config } from '../../lib/config.js';
import { StateKey, type NatMappingState } from '../../lib/store/state.js';
import type { Db } from '../../lib/store/pool.js';
import { isPort } from '../../lib/validate.js';
import { checkIp, type Address } from './wire.js';


export function interfaceAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((i): i is NonNullable<typeof i> => !!i && !i.internal)
    .map((i) => i.address);
}

export class OwnAddresses {
  /** Ports mapped by a router, announced with `set_port` (the NAT service also keeps nat.mapping). */
  readonly extraPorts = new Set<number>();
  /** The listen port from the last `bt_ready`, newer than what the store may hold. */
  listenPort: number | undefined;

  constructor(
    private readonly db: Db,
    private readonly config: Pick<Config, 'ipv4' | 'ipv6' | 'allowLoopback'>,
  ) {}

  /** The three node_state facts in one round trip (this runs before every publish). */
  private async facts(): Promise<{ listen?: { port?: unknown }; mapping?: Partial<NatMappingState> | null; addresses?: { addresses?: unknown } }> {
    const { rows } = await this.db.query<{ key: string; value: unknown }>(`SELECT key, value FROM node_state WHERE key = ANY($1::text[])`, [
      [StateKey.torrentPort, StateKey.mapping, StateKey.addresses],
    ]);
    const get = (k: string) => rows.find((r) => r.key === k)?.value as never;
    return { listen: get(StateKey.torrentPort), mapping: get(StateKey.mapping), addresses: get(StateKey.addresses) };
  }

  ports(facts: Awaited<ReturnType<OwnAddresses['facts']>>): number[] {
    const ports = new Set<number>(this.extraPorts);
    const listen = this.listenPort ?? facts.listen?.port;
    if (isPort(listen)) ports.add(listen);
    const mapping = facts.mapping;
    const expires = mapping?.expiresAt ? new Date(mapping.expiresAt).getTime() : Infinity;
    const live = mapping && (mapping.status === undefined || mapping.status === 'mapped') && !(expires < Date.now());
    if (live && isPort(mapping.externalPort)) ports.add(mapping.externalPort);
    return [...ports].sort((a, b) => a - b);
  }

  ips(facts: Awaited<ReturnType<OwnAddresses['facts']>>): string[] {
    const fromNat = facts.addresses?.addresses;
    const candidates = Array.isArray(fromNat) ? fromNat.filter((a): a is string => typeof a === 'string') : interfaceAddresses();
    if (this.config.allowLoopback) candidates.push('127.0.0.1', '::1');
    const out = new Set<string>();
    for (const ip of candidates) {
      const family = isIP(ip);
      if ((family === 4 && !this.config.ipv4) || (family === 6 && !this.config.ipv6)) continue;
      // The same check contacts apply: never publish what they would drop.
      if (checkIp(ip, { allowLoopback: this.config.allowLoopback }) === undefined) out.add(ip.toLowerCase());
    }
    return [...out].sort();
  }

  /** Every address × every port; empty while no port is known (nothing to dial yet). */
  async current(): Promise<Address[]> {
    const facts = await this.facts();
    const ports = this.ports(facts);
    return this.ips(facts).flatMap((address) => ports.map((port) => ({ address, port })));
  }
}

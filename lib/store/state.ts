// Current node facts (listen port, mapped ports, own addresses) as key → JSON value.
import type { Db } from './pool.js';

/** Keys in node_state, one writer each. */
export const StateKey = {
  /** torrent service: { port } of the BitTorrent listener */
  torrentPort: 'torrent.listen_port',
  /** torrent service: TorrentLimitsState, set by `set_limits`; once set it wins over BITWEEN_*_LIMIT */
  torrentLimits: 'torrent.limits',
  /** nat service: { addresses: string[] } own interface addresses and the router's external IPv4 */
  addresses: 'nat.addresses',
  /** nat service: NatMappingState (externalPort null when nothing is mapped); also the status `bitween status` shows */
  mapping: 'nat.mapping',
} as const;

/** Value of StateKey.torrentLimits: bytes per second, 0 = no limit. */
export interface TorrentLimitsState {
  upload: number;
  download: number;
}

/** Value of StateKey.addresses, sorted (IPv4 first); changes are announced as `addresses_changed` [addresses]. */
export interface NatAddressesState {
  addresses: string[];
}

/** Value of StateKey.mapping: what the router maps for the BitTorrent port, and how the NAT service fares. */
export interface NatMappingState {
  /** off: both protocols disabled; waiting: no torrent port known yet; searching: first attempt running;
   *  mapped; retrying: the last attempt failed (see lastError); stopped: the service exited and removed its mapping. */
  status: 'off' | 'waiting' | 'searching' | 'mapped' | 'retrying' | 'stopped';
  externalPort: number | null;
  internalPort: number | null;
  protocol: 'natpmp' | 'upnp-igd1' | 'upnp-igd2' | null;
  /** The router's external IPv4 address, when one answered. */
  externalIp: string | null;
  /** ISO times: when the router drops the mapping unless renewed, and when the service renews it. */
  expiresAt: string | null;
  renewAt: string | null;
  /** The last failure in plain words, and when; kept after a later success (history for `bitween status`). */
  lastError: string | null;
  lastErrorAt: string | null;
  /** When the next attempt runs after a failure. */
  nextAttemptAt: string | null;
  /** The protocols the config enables, in the order they are tried. */
  protocols: ('natpmp' | 'upnp')[];
  updatedAt: string;
}

export async function setState(db: Db, key: string, value: unknown): Promise<void> {
  await db.query(
    `INSERT INTO node_state (key, value, updated_at) VALUES ($1, $2, now())
     ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = now()`,
    [key, JSON.stringify(value)],
  );
}

export async function getState<T>(db: Db, key: string): Promise<T | undefined> {
  const { rows } = await db.query<{ value: T }>(`SELECT value FROM node_state WHERE key = $1`, [key]);
  return rows[0]?.value;
}

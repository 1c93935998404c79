// What the torrent service's modules share: the session, the store, the bus, config and log.
import type pg from 'pg';
import type WebTorrent from 'webtorrent';
import type { Bus } from '../../lib/bus.js';
import type { Config } from '../../lib/config.js';
import type { Logger } from '../../lib/log.js';
import type { PeerFilter } from './peer-filter.js';

export interface TorrentContext {
  client: WebTorrent;
  db: pg.Pool;
  bus: Bus;
  config: Config;
  log: Logger;
  /** Friends-only peers; absent with BITWEEN_PEERS=any. */
  peerFilter?: PeerFilter;
}

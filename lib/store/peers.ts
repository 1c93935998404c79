// Contact addresses known for a hash: where `add_hash` and `recheck_handles` dial.
import type { Db } from './pool.js';

export interface PeerAddress {
  address: string;
  port: number;
}

export async function addressesForHash(db: Db, infoHash: string): Promise<PeerAddress[]> {
  const { rows } = await db.query<PeerAddress>(
    `SELECT DISTINCT host(a.address) AS address, a.port
       FROM contact_addresses a JOIN contact_shares s USING (jid, resource)
      WHERE s.info_hash = $1`,
    [infoHash],
  );
  return rows;
}

/** Every address any contact resource published, as Postgres writes it (`host()`): the torrent service's allow-list. */
export async function allContactAddresses(db: Db): Promise<string[]> {
  const { rows } = await db.query<{ address: string }>(`SELECT DISTINCT host(address) AS address FROM contact_addresses`);
  return rows.map((r) => r.address);
}

// Current node facts (listen port, mapped ports, own addresses) as key → JSON value.
import type { Db } from './pool.js';

/** Keys in node_state, one writer each. */
export const StateKey = {
  /** torrent service: { port } of the BitTorrent listener */
  torrentPort: 'torrent.listen_port',
  /** nat service: { addresses: string[] } own interface addresses and the router's external IPv4 */
  addresses: 'nat.addresses',
  /** nat service: { externalPort, protocol, externalIp, expiresAt } or null when nothing is mapped */
  mapping: 'nat.mapping',
} as const;

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

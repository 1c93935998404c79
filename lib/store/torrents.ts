// Own torrents in the store: written through as they change, so a crash loses nothing.
import type { Db } from './pool.js';

export type TorrentStatus = 'metadata' | 'downloading' | 'seeding';
export type TorrentOrigin = 'shared' | 'fetched';

export interface TorrentRow {
  infoHash: string;
  name: string | null;
  magnetLink: string;
  torrentFile: Buffer | null;
  status: TorrentStatus;
  origin: TorrentOrigin;
  savePath: string;
  totalSize: number | null;
  bytesDone: number;
  bitfield: Buffer | null;
  addedAt: Date;
  completedAt: Date | null;
}

const COLUMNS = `info_hash AS "infoHash", name, magnet_link AS "magnetLink", torrent_file AS "torrentFile", status,
  origin, save_path AS "savePath", total_size AS "totalSize", bytes_done AS "bytesDone", bitfield,
  added_at AS "addedAt", completed_at AS "completedAt"`;

/** Inserts a new torrent; returns false when the hash is already stored (nothing changes then). */
export async function insertTorrent(
  db: Db,
  t: Pick<TorrentRow, 'infoHash' | 'magnetLink' | 'status' | 'origin' | 'savePath'> &
    Partial<Pick<TorrentRow, 'name' | 'torrentFile' | 'totalSize' | 'bytesDone' | 'bitfield'>>,
): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO torrents (info_hash, name, magnet_link, torrent_file, status, origin, save_path, total_size, bytes_done, bitfield,
       completed_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, CASE WHEN $5 = 'seeding' THEN now() END)
     ON CONFLICT (info_hash) DO NOTHING`,
    [t.infoHash, t.name ?? null, t.magnetLink, t.torrentFile ?? null, t.status, t.origin, t.savePath, t.totalSize ?? null,
      t.bytesDone ?? 0, t.bitfield ?? null],
  );
  return rowCount === 1;
}

/** Metadata arrived (ut_metadata): the name, size and .torrent file are known now. */
export async function saveMetadata(db: Db, infoHash: string, m: { name: string; totalSize: number; torrentFile: Buffer; magnetLink: string }): Promise<void> {
  await db.query(
    `UPDATE torrents SET name = $2, total_size = $3, torrent_file = $4, magnet_link = $5,
       status = CASE WHEN status = 'metadata' THEN 'downloading' ELSE status END, updated_at = now()
     WHERE info_hash = $1`,
    [infoHash, m.name, m.totalSize, m.torrentFile, m.magnetLink],
  );
}

export async function saveProgress(db: Db, infoHash: string, bytesDone: number, bitfield: Buffer | null): Promise<void> {
  await db.query(`UPDATE torrents SET bytes_done = $2, bitfield = $3, updated_at = now() WHERE info_hash = $1`, [
    infoHash, bytesDone, bitfield,
  ]);
}

export async function markSeeding(db: Db, infoHash: string, bytesDone: number, bitfield: Buffer | null): Promise<void> {
  await db.query(
    `UPDATE torrents SET status = 'seeding', bytes_done = $2, bitfield = $3, completed_at = coalesce(completed_at, now()),
       updated_at = now() WHERE info_hash = $1`,
    [infoHash, bytesDone, bitfield],
  );
}

export async function deleteTorrent(db: Db, infoHash: string): Promise<TorrentRow | undefined> {
  const { rows } = await db.query<TorrentRow>(`DELETE FROM torrents WHERE info_hash = $1 RETURNING ${COLUMNS}`, [infoHash]);
  return rows[0];
}

export async function getTorrent(db: Db, infoHash: string): Promise<TorrentRow | undefined> {
  const { rows } = await db.query<TorrentRow>(`SELECT ${COLUMNS} FROM torrents WHERE info_hash = $1`, [infoHash]);
  return rows[0];
}

export async function listTorrents(db: Db): Promise<TorrentRow[]> {
  const { rows } = await db.query<TorrentRow>(`SELECT ${COLUMNS} FROM torrents ORDER BY added_at, info_hash`);
  return rows;
}

/** What the XMPP service publishes: every torrent whose name and size are known. */
export async function listOwnShares(db: Db): Promise<{ infoHash: string; name: string; size: number }[]> {
  const { rows } = await db.query<{ infoHash: string; name: string; size: number }>(
    `SELECT info_hash AS "infoHash", name, total_size AS size FROM torrents
     WHERE name IS NOT NULL AND total_size IS NOT NULL ORDER BY added_at, info_hash`,
  );
  return rows;
}

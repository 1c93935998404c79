// Own torrents in the store: written through as they change, so a crash loses nothing.
import type { Db } from './pool.js';

/**
 * metadata → downloading → seeding, the way a fetch goes. error: the torrent failed (disk full, a write
 * error, unsafe names in its metadata, pieces that fail verification) and waits for `recheck` or removal;
 * missing / changed: a seeding torrent's files are gone or differ from when they were stored.
 */
export type TorrentStatus = 'metadata' | 'downloading' | 'seeding' | 'error' | 'missing' | 'changed';

/** A file of a seeding torrent as it was on disk: compared at start and at an interval to notice changes. */
export interface FileStat {
  /** Relative to the torrent's save path, as webtorrent names it (e.g. `holiday/a.jpg`). */
  path: string;
  size: number;
  mtimeMs: number;
}
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
  /** Why the torrent is in error / missing / changed state (a stable code and one line), else null. */
  errorCode: string | null;
  errorReason: string | null;
  /** Stat snapshot of a seeding torrent's files; null until it seeds. */
  files: FileStat[] | null;
  /** The user paused it: out of the session (no transfer, not advertised) until resumed; status is kept. */
  paused: boolean;
  /** File indexes (0-based, the torrent's order) to download; null = all. */
  selectedFiles: number[] | null;
  /** Totals over every run, bytes (downloaded counts what peers sent, wasted bytes too). */
  uploadedBytes: number;
  downloadedBytes: number;
}

const COLUMNS = `info_hash AS "infoHash", name, magnet_link AS "magnetLink", torrent_file AS "torrentFile", status,
  origin, save_path AS "savePath", total_size AS "totalSize", bytes_done AS "bytesDone", bitfield,
  added_at AS "addedAt", completed_at AS "completedAt", error_code AS "errorCode", error_reason AS "errorReason", files,
  paused, selected_files AS "selectedFiles", uploaded_bytes AS "uploadedBytes", downloaded_bytes AS "downloadedBytes"`;

/**
 * Share ratio: uploaded / downloaded; for a torrent downloaded here by nobody (your own share) uploaded /
 * size, as Transmission does; null when neither is known. Rounded to 3 decimals.
 */
export function ratioOf(uploaded: number, downloaded: number, size: number | null): number | null {
  const base = downloaded > 0 ? downloaded : size && size > 0 ? size : 0;
  return base > 0 ? Math.round((uploaded / base) * 1000) / 1000 : null;
}

/** Inserts a new torrent; returns false when the hash is already stored (nothing changes then). */
export async function insertTorrent(
  db: Db,
  t: Pick<TorrentRow, 'infoHash' | 'magnetLink' | 'status' | 'origin' | 'savePath'> &
    Partial<Pick<TorrentRow, 'name' | 'torrentFile' | 'totalSize' | 'bytesDone' | 'bitfield' | 'files' | 'selectedFiles'>>,
): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO torrents (info_hash, name, magnet_link, torrent_file, status, origin, save_path, total_size, bytes_done, bitfield,
       files, selected_files, completed_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, CASE WHEN $5 = 'seeding' THEN now() END)
     ON CONFLICT (info_hash) DO NOTHING`,
    [t.infoHash, t.name ?? null, t.magnetLink, t.torrentFile ?? null, t.status, t.origin, t.savePath, t.totalSize ?? null,
      t.bytesDone ?? 0, t.bitfield ?? null, t.files ? JSON.stringify(t.files) : null,
      t.selectedFiles ? JSON.stringify(t.selectedFiles) : null],
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

/** Complete and verified: seeding from these files (their stat snapshot is what later checks compare to). */
export async function markSeeding(db: Db, infoHash: string, bytesDone: number, bitfield: Buffer | null, files: FileStat[]): Promise<void> {
  await db.query(
    `UPDATE torrents SET status = 'seeding', bytes_done = $2, bitfield = $3, files = $4, error_code = NULL, error_reason = NULL,
       completed_at = coalesce(completed_at, now()), updated_at = now() WHERE info_hash = $1`,
    [infoHash, bytesDone, bitfield, JSON.stringify(files)],
  );
}

/** Back to fetching after a recheck found pieces missing (error cleared). */
export async function markDownloading(db: Db, infoHash: string, bytesDone: number, bitfield: Buffer | null): Promise<void> {
  await db.query(
    `UPDATE torrents SET status = CASE WHEN torrent_file IS NULL THEN 'metadata' ELSE 'downloading' END, bytes_done = $2,
       bitfield = $3, error_code = NULL, error_reason = NULL, updated_at = now() WHERE info_hash = $1`,
    [infoHash, bytesDone, bitfield],
  );
}

/** The torrent failed, or its files are gone or changed: it stays listed with the reason. */
export async function markFailed(
  db: Db,
  infoHash: string,
  status: 'error' | 'missing' | 'changed',
  code: string,
  reason: string,
  /** Made-safe name of a torrent refused before its metadata was kept, else null (name unchanged). */
  name: string | null = null,
): Promise<void> {
  await db.query(
    `UPDATE torrents SET status = $2, error_code = $3, error_reason = $4, name = coalesce($5, name), updated_at = now()
      WHERE info_hash = $1`,
    [infoHash, status, code, reason, name],
  );
}

/** Paused or resumed; a pause also keeps the verified pieces, so the resume continues from them. */
export async function savePaused(db: Db, infoHash: string, paused: boolean, progress?: { bytesDone: number; bitfield: Buffer | null }): Promise<void> {
  await db.query(
    `UPDATE torrents SET paused = $2, bytes_done = coalesce($3, bytes_done), bitfield = CASE WHEN $4 THEN $5 ELSE bitfield END,
       updated_at = now() WHERE info_hash = $1`,
    [infoHash, paused, progress?.bytesDone ?? null, progress !== undefined, progress?.bitfield ?? null],
  );
}

/** Which files to download (indexes), null = all. */
export async function saveSelectedFiles(db: Db, infoHash: string, selected: number[] | null): Promise<void> {
  await db.query(`UPDATE torrents SET selected_files = $2, updated_at = now() WHERE info_hash = $1`, [
    infoHash, selected ? JSON.stringify(selected) : null,
  ]);
}

/** Totals over every run (absolute values, so a write repeated after an outage changes nothing). */
export async function saveTotals(db: Db, infoHash: string, uploaded: number, downloaded: number): Promise<void> {
  await db.query(`UPDATE torrents SET uploaded_bytes = $2, downloaded_bytes = $3 WHERE info_hash = $1`, [infoHash, uploaded, downloaded]);
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

/** What the torrent service's restore reads of a row: the rest (dates, magnet link, bytes done) it never uses. */
export type RestoreRow = Omit<TorrentRow, 'magnetLink' | 'bytesDone' | 'addedAt' | 'completedAt'>;

const RESTORE_COLUMNS = `info_hash AS "infoHash", name, torrent_file AS "torrentFile", status, origin, save_path AS "savePath",
  total_size AS "totalSize", bitfield, error_code AS "errorCode", error_reason AS "errorReason", files, paused,
  selected_files AS "selectedFiles", uploaded_bytes AS "uploadedBytes", downloaded_bytes AS "downloadedBytes"`;

/**
 * Every torrent, in the order listTorrents gives, with what a restart needs. Read right behind `bt_ready`:
 * turning 5,000 rows into objects takes ~100 ms in a process whose code is not yet optimised, and two
 * timestamps per row were a fifth of it.
 */
export async function listTorrentsToRestore(db: Db): Promise<RestoreRow[]> {
  const { rows } = await db.query<RestoreRow>(`SELECT ${RESTORE_COLUMNS} FROM torrents ORDER BY added_at, info_hash`);
  return rows;
}

/**
 * What the XMPP service publishes: every torrent whose name and size are known, except those that failed or
 * whose files are gone or changed, and paused ones (a contact could not fetch them from us).
 */
export async function listOwnShares(db: Db): Promise<{ infoHash: string; name: string; size: number }[]> {
  const { rows } = await db.query<{ infoHash: string; name: string; size: number }>(
    `SELECT info_hash AS "infoHash", name, total_size AS size FROM torrents
     WHERE name IS NOT NULL AND total_size IS NOT NULL AND status NOT IN ('error', 'missing', 'changed') AND NOT paused
     ORDER BY added_at, info_hash`,
  );
  return rows;
}

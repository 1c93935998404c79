// Thousands of shares for footprint tests and the footprint bench, made fast: small random files, their
// .torrent made by the torrent service's own createTorrentFile (same info-hash as `generate_torrent`), and the
// rows written straight into the store as a share that seeds (stat snapshot, full bitfield). Sharing 5,000
// files through `generate_torrent` one by one would measure the share path, not the restart.
import { randomBytes } from 'node:crypto';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import bencode from 'bencode';
import type pg from 'pg';
import { createTorrentFile } from '../../services/torrent/create.js';
import { magnetFor } from '../../services/torrent/torrents.js';

export interface ShareFile {
  /** The file's name inside the folder (also the torrent's name). */
  name: string;
  path: string;
  size: number;
  mtimeMs: number;
  infoHash: string;
  torrentFile: Buffer;
  pieces: number;
}

/** Writes `count` random files of `size` bytes into `dir` (share-00000.bin …) and makes their .torrent files. */
export async function writeShareFiles(dir: string, count: number, size: number, first = 0): Promise<ShareFile[]> {
  await mkdir(dir, { recursive: true });
  const out: ShareFile[] = [];
  for (let i = first; i < first + count; i++) {
    const name = `share-${String(i).padStart(5, '0')}.bin`;
    const path = join(dir, name);
    await writeFile(path, randomBytes(size));
    const { torrentFile, infoHash } = await createTorrentFile(path, 'bitween');
    const info = (bencode.decode(torrentFile) as { info: { 'piece length': number } }).info;
    const s = await stat(path);
    out.push({ name, path, size, mtimeMs: Math.trunc(s.mtimeMs), infoHash, torrentFile: Buffer.from(torrentFile), pieces: Math.ceil(size / info['piece length']) });
  }
  return out;
}

/** A bitfield with the first `pieces` bits set, as webtorrent stores a complete torrent's. */
export function fullBitfield(pieces: number): Buffer {
  const buf = Buffer.alloc(Math.ceil(pieces / 8));
  for (let i = 0; i < pieces; i++) buf[i >> 3]! |= 0x80 >> (i & 7);
  return buf;
}

/** Stores the files as shares that seed from `dir` (what `generate_torrent` stores), 500 rows per INSERT. */
export async function storeShares(pool: pg.Pool, dir: string, shares: readonly ShareFile[]): Promise<void> {
  for (let at = 0; at < shares.length; at += 500) {
    const batch = shares.slice(at, at + 500);
    const values: unknown[] = [];
    const rows = batch.map((s, i) => {
      const files = JSON.stringify([{ path: s.name, size: s.size, mtimeMs: s.mtimeMs }]);
      values.push(s.infoHash, s.name, magnetFor(s.infoHash), s.torrentFile, dir, s.size, fullBitfield(s.pieces), files);
      const p = i * 8;
      return `($${p + 1}, $${p + 2}, $${p + 3}, $${p + 4}, 'seeding', 'shared', $${p + 5}, $${p + 6}, $${p + 6}, $${p + 7}, $${p + 8}, now())`;
    });
    await pool.query(
      `INSERT INTO torrents (info_hash, name, magnet_link, torrent_file, status, origin, save_path, total_size, bytes_done, bitfield, files, completed_at)
       VALUES ${rows.join(', ')}`,
      values,
    );
  }
}

// Many own torrents in a store, fast, for the memory benches: N small files (one piece each) in `dir`, each
// stored as a seeding share with the .torrent, bitfield and file snapshot that sharing it would have stored,
// so the torrent service restores them all (with skipVerify, as after a restart) without hashing anything.
import { createHash } from 'node:crypto';
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import bencode from 'bencode';
import type pg from 'pg';

const PIECE_LENGTH = 16384;

export async function seedTorrents(db: pg.Pool, dir: string, count: number): Promise<string[]> {
  const hashes: string[] = [];
  const batch: unknown[][] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    // Per row: info_hash, name, magnet, .torrent, save path, size, file snapshot; one piece, all of it had.
    const values = batch.map((_, r) => {
      const p = (k: number) => `$${r * 7 + k}`;
      return `(${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, 'seeding', 'shared', ${p(5)}, ${p(6)}, ${p(6)}, '\\x80'::bytea, ${p(7)}::jsonb, now())`;
    });
    await db.query(
      `INSERT INTO torrents (info_hash, name, magnet_link, torrent_file, status, origin, save_path, total_size, bytes_done, bitfield, files, completed_at)
       VALUES ${values.join(', ')}`,
      batch.flat(),
    );
    batch.length = 0;
  };
  for (let i = 0; i < count; i++) {
    const name = `share-${String(i).padStart(6, '0')}.bin`;
    const data = Buffer.from(`bench share ${i} ${'x'.repeat(i % 97)}\n`);
    await writeFile(join(dir, name), data);
    const s = await stat(join(dir, name));
    const info = { length: data.length, name: Buffer.from(name), 'piece length': PIECE_LENGTH, pieces: createHash('sha1').update(data).digest() };
    const torrentFile = Buffer.from(bencode.encode({ info }));
    const infoHash = createHash('sha1').update(bencode.encode(info)).digest('hex');
    hashes.push(infoHash);
    const files = JSON.stringify([{ path: name, size: s.size, mtimeMs: Math.trunc(s.mtimeMs) }]);
    batch.push([infoHash, name, `magnet:?xt=urn:btih:${infoHash}&dn=${encodeURIComponent(name)}`, torrentFile, dir, data.length, files]);
    if (batch.length === 500) await flush();
  }
  await flush();
  return hashes;
}

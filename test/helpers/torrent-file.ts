// Checks a .torrent file against the bytes on disk without webtorrent: the info-hash is the SHA-1 of the
// bencoded info dictionary, and every piece hash must match the files' bytes in order.
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import bencode from 'bencode';

export async function verifyTorrentFile(torrentFile: Uint8Array, parentDir: string): Promise<{ infoHash: string; totalSize: number }> {
  const meta = bencode.decode(torrentFile);
  const info = meta.info;
  const infoHash = createHash('sha1').update(bencode.encode(info)).digest('hex');
  const name = Buffer.from(info.name).toString();
  const files: { path: string; length: number }[] = info.files
    ? info.files.map((f: { path: Uint8Array[]; length: number }) => ({
        path: join(parentDir, name, ...f.path.map((p) => Buffer.from(p).toString())),
        length: f.length,
      }))
    : [{ path: join(parentDir, name), length: info.length }];
  const pieceLength: number = info['piece length'];
  const pieces: Uint8Array = info.pieces;
  let piece = 0;
  let hash = createHash('sha1');
  let inPiece = 0;
  for (const f of files) {
    const fh = await open(f.path);
    try {
      const buf = Buffer.alloc(1 << 20);
      for (let pos = 0; pos < f.length; ) {
        const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, pieceLength - inPiece, f.length - pos), pos);
        if (bytesRead === 0) throw new Error(`${f.path} is shorter than the torrent says`);
        hash.update(buf.subarray(0, bytesRead));
        pos += bytesRead;
        inPiece += bytesRead;
        if (inPiece === pieceLength) {
          checkPiece(hash.digest(), pieces, piece++);
          hash = createHash('sha1');
          inPiece = 0;
        }
      }
    } finally {
      await fh.close();
    }
  }
  if (inPiece > 0) checkPiece(hash.digest(), pieces, piece++);
  if (piece * 20 !== pieces.length) throw new Error(`torrent has ${pieces.length / 20} pieces, the files ${piece}`);
  return { infoHash, totalSize: files.reduce((n, f) => n + f.length, 0) };
}

function checkPiece(digest: Buffer, pieces: Uint8Array, index: number): void {
  if (!digest.equals(Buffer.from(pieces.subarray(index * 20, index * 20 + 20)))) {
    throw new Error(`piece ${index} does not match the bytes on disk`);
  }
}

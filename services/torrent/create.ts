// Makes the .torrent for a file or folder, as create-torrent would (same file list, piece length and info
// dictionary, so the same info-hash), but about 3× faster: create-torrent streams the files in 64 KiB chunks
// and joins them into pieces before hashing, which costs more than SHA-1 itself. Here each piece is read
// whole and hashed while the next one is read (bench/README.md: "Sharing"). The file list comes from walk.ts,
// which lists what create-torrent would but refuses what could hang the service (links out, loops, /proc).
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { basename, join } from 'node:path';
import bencode from 'bencode';
import pieceLengthFor from 'piece-length';
import { BadInputError } from '../../lib/errors.js';
import { fsFailure, specialKind } from './share-path.js';
import { walkShare } from './walk.js';

/** create-torrent's cap on the piece length. */
const MAX_PIECE_LENGTH = 4 << 20;

/**
 * Opens a listed file for reading, refusing what it may have become since the walk: a link (O_NOFOLLOW) or a
 * FIFO or device (O_NONBLOCK keeps open(2) of a FIFO from waiting for a writer forever).
 */
async function openListed(file: string): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw new BadInputError(`${file} became a symbolic link while sharing: not followed`);
    throw fsFailure(err, file);
  }
  const s = await handle.stat();
  if (!s.isFile()) {
    await handle.close();
    throw new BadInputError(`${file} is ${specialKind(s)} now: only regular files can be shared`);
  }
  return handle;
}

/** Reads the files back to back as one stream of pieces, hashing each while the next is read. */
async function hashPieces(sources: { file: string; length: number }[], total: number, pieceLength: number): Promise<Buffer> {
  const count = Math.ceil(total / pieceLength);
  const pieces = Buffer.alloc(count * 20);
  const buffers = [Buffer.allocUnsafe(Math.min(pieceLength, total)), Buffer.allocUnsafe(Math.min(pieceLength, total))];
  let source = 0;
  let offset = 0; // within sources[source]
  let handle: FileHandle | undefined;

  // Fills `buf` with the next piece's bytes, across file boundaries.
  const readPiece = async (buf: Buffer): Promise<number> => {
    let filled = 0;
    while (filled < buf.length && source < sources.length) {
      const { file, length } = sources[source]!;
      if (offset === length) {
        await handle?.close();
        handle = undefined;
        source++;
        offset = 0;
        continue;
      }
      handle ??= await openListed(file);
      const { bytesRead } = await handle.read(buf, filled, Math.min(buf.length - filled, length - offset), offset);
      if (bytesRead === 0) throw new Error(`${file} is shorter than when it was listed: was it changed while sharing?`);
      filled += bytesRead;
      offset += bytesRead;
    }
    return filled;
  };

  try {
    let reading = readPiece(buffers[0]!);
    for (let i = 0; i < count; i++) {
      const filled = await reading;
      const buf = buffers[i % 2]!;
      if (i + 1 < count) reading = readPiece(buffers[(i + 1) % 2]!);
      createHash('sha1').update(buf.subarray(0, filled)).digest().copy(pieces, i * 20);
    }
  } finally {
    await handle?.close();
  }
  return pieces;
}

/** The .torrent file and its info-hash (the SHA-1 of the bencoded info dictionary). */
export async function createTorrentFile(path: string, createdBy: string): Promise<{ torrentFile: Uint8Array; infoHash: string }> {
  const { files, singleFile } = await walkShare(path);
  const name = basename(path);
  // create-torrent's list leaves out hidden and junk files: a folder of only those holds nothing to share.
  if (files.length === 0) throw new BadInputError(`folder ${path} holds no files: nothing to share`);
  const total = files.reduce((n, f) => n + f.length, 0);
  if (total === 0) throw new BadInputError(`${path} holds no data: nothing to share`);
  const pieceLength = Math.min(pieceLengthFor(total), MAX_PIECE_LENGTH);
  const sources = files.map((f) => ({ file: singleFile ? path : join(path, ...f.path), length: f.length }));
  const pieces = await hashPieces(sources, total, pieceLength);
  const info: Record<string, unknown> = { name, 'piece length': pieceLength, pieces };
  if (singleFile) info.length = total;
  else info.files = files;
  const infoHash = createHash('sha1').update(bencode.encode(info)).digest('hex');
  const torrentFile = bencode.encode({ info, 'creation date': Math.ceil(Date.now() / 1000), encoding: 'UTF-8', 'created by': createdBy });
  return { torrentFile, infoHash };
}

// Per-file selection of a download: which of a torrent's files (0-based indexes in the torrent's own order,
// as `bitween files` lists them) are fetched. null = all. A file's pieces are selected whole, so a piece it
// shares with a neighbour is fetched too: those bytes land at the start or end of the neighbour, which then
// exists on disk, incomplete. A selection is complete when every piece of every selected file is verified.
import bencode from 'bencode';
import type { Torrent, TorrentFile } from 'webtorrent';
import { BadInputError } from '../../lib/errors.js';
import { checkTorrentNames } from './names.js';

/** More than any torrent bitween would take (the share walk stops at 100,000 files). */
const MAX_INDEXES = 100_000;

/** select_files' second argument: a non-empty list of file indexes (sorted, duplicates dropped), or null for all. */
export function parseFileIndexes(value: unknown): number[] | null {
  if (value === null) return null;
  if (!Array.isArray(value) || value.length === 0) {
    throw new BadInputError(`give the files to download as a non-empty list of indexes like [0, 2] (\`bitween files HASH\` lists them), or null for all; got ${JSON.stringify(value)}`);
  }
  if (value.length > MAX_INDEXES) throw new BadInputError(`at most ${MAX_INDEXES} file indexes, got ${value.length}`);
  for (const v of value) {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      throw new BadInputError(`a file index is a whole number ≥ 0 (\`bitween files HASH\` lists them), got ${JSON.stringify(v)}`);
    }
  }
  return [...new Set(value as number[])].sort((a, b) => a - b);
}

/** Refuses indexes past the torrent's last file; a selection of every file is stored as null (all). */
export function checkIndexes(selected: number[] | null, fileCount: number): number[] | null {
  if (selected === null) return null;
  const past = selected.filter((i) => i >= fileCount);
  if (past.length > 0) {
    throw new BadInputError(`no file ${past.join(', ')}: the torrent has ${fileCount} file${fileCount === 1 ? '' : 's'} (0 to ${fileCount - 1})`);
  }
  return selected.length === fileCount ? null : selected;
}

/** The file indexes a running torrent has, of those selected (all when null). */
export function wantedFiles(torrent: Torrent, selected: number[] | null): TorrentFile[] {
  if (selected === null) return torrent.files;
  return selected.filter((i) => i < torrent.files.length).map((i) => torrent.files[i]!);
}

/** First and last piece a file touches (webtorrent's own rule); an empty file touches none. */
export function pieceRange(offset: number, length: number, pieceLength: number): [number, number] | null {
  if (length === 0) return null;
  return [Math.floor(offset / pieceLength), Math.floor((offset + length - 1) / pieceLength)];
}

/**
 * Whether every piece of every selected file is verified (the whole torrent when null), from webtorrent's
 * per-file `done`: it updates them in the same tick as a piece's 'verified' event, just after it, and right
 * after 'ready'; reading them costs one look per file, not one per piece.
 */
export function selectionDone(torrent: Torrent, selected: number[] | null): boolean {
  if (!torrent.ready) return false;
  return wantedFiles(torrent, selected).every((f) => f.done);
}

/** Makes a ready torrent fetch exactly the selected files' pieces (all when null). */
export function applySelection(torrent: Torrent, selected: number[] | null): void {
  const last = torrent.pieces.length - 1;
  if (last < 0) return;
  // One range covering every piece removes every selection, whole-torrent or per file.
  torrent.deselect(0, last);
  if (selected === null) return torrent.select(0, last);
  for (const file of wantedFiles(torrent, selected)) file.select();
}

export interface ListedFile {
  index: number;
  /** Inside the torrent's folder, `/`-separated (the name itself for a single-file torrent). */
  path: string;
  size: number;
  /** Bytes of the file inside verified pieces. */
  bytesDone: number;
  selected: boolean;
}

/** A stored torrent's files with what is on disk (from the stored bitfield) and whether each is selected. */
export function listFiles(torrentFile: Uint8Array, bitfield: Uint8Array | null, selected: number[] | null, complete: boolean): ListedFile[] {
  const info = (bencode.decode(torrentFile) as { info?: Record<string, unknown> }).info;
  const checked = checkTorrentNames(info);
  const pieceLength = Number(info?.['piece length']);
  const have = (p: number) => complete || (bitfield !== null && p >> 3 < bitfield.length && (bitfield[p >> 3]! & (0x80 >> (p & 7))) !== 0);
  const chosen = selected === null ? null : new Set(selected);
  let offset = 0;
  return checked.files.map((f, index) => {
    let bytesDone = 0;
    const range = pieceRange(offset, f.length, pieceLength);
    if (range) {
      for (let p = range[0]; p <= range[1]; p++) {
        if (!have(p)) continue;
        const from = Math.max(offset, p * pieceLength);
        const to = Math.min(offset + f.length, (p + 1) * pieceLength);
        bytesDone += to - from;
      }
    }
    const listed = { index, path: checked.singleFile ? checked.name : f.path.join('/'), size: f.length, bytesDone, selected: chosen === null || chosen.has(index) };
    offset += f.length;
    return listed;
  });
}

/** How many files a stored .torrent holds. */
export function fileCountOf(torrentFile: Uint8Array): number {
  return checkTorrentNames((bencode.decode(torrentFile) as { info?: unknown }).info).files.length;
}

// `del_torrent` with delete_files, for fetched torrents: deletes exactly the files of that torrent that
// bitween downloaded, then the folders it made for them if they are empty. Never the save path itself,
// nothing outside <save_path>/<name>, never through a symlink, never a recursive delete: a user's own file
// left inside the torrent's folder keeps that folder. (webtorrent's own destroyStore deletes each file path
// recursively; with a torrent named `.` that path is the save path: issue 11, part 4.)
import { lstat, rmdir, unlink } from 'node:fs/promises';
import { dirname, relative, resolve, sep } from 'node:path';
import bencode from 'bencode';
import { checkTorrentNames, torrentFilePaths, UnsafeNameError } from './names.js';

export interface DeleteResult {
  /** Files and folders removed, absolute paths. */
  deleted: string[];
  /** Paths of the torrent left in place: a folder not empty, a symlink on the way, not a regular file. */
  kept: string[];
}

/** Where a path stands, looked at without following links. */
type Standing = 'missing' | 'file' | 'folder' | 'symlink-on-the-way' | 'other';

/**
 * lstat of every path from root down to target (both included): a symlink anywhere on the way means the
 * target may lie elsewhere, so nothing is deleted through it.
 */
async function standingOf(root: string, target: string): Promise<Standing> {
  const parts = target === root ? [] : relative(root, target).split(sep);
  let current = root;
  for (let i = 0; i <= parts.length; i++) {
    if (i > 0) current = resolve(current, parts[i - 1]!);
    let s;
    try {
      s = await lstat(current);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') {
        return 'missing';
      }
      throw err;
    }
    if (s.isSymbolicLink()) return 'symlink-on-the-way';
    if (i === parts.length) return s.isFile() ? 'file' : s.isDirectory() ? 'folder' : 'other';
    if (!s.isDirectory()) return 'missing';
  }
  return 'missing';
}

/** The folders between each file and root (root included, for a multi-file torrent), deepest first. */
function foldersOf(root: string, files: string[]): string[] {
  const folders = new Set<string>();
  for (const file of files) {
    for (let dir = dirname(file); dir.startsWith(root + sep) || dir === root; dir = dirname(dir)) {
      folders.add(dir);
      if (dir === root) break;
    }
  }
  return [...folders].sort((a, b) => b.split(sep).length - a.split(sep).length || b.localeCompare(a));
}

/**
 * Deletes the files a fetched torrent wrote under savePath, then its empty folders bottom-up. torrentFile is
 * the stored .torrent (null: the metadata never came, so nothing was written). A torrent whose names are
 * unsafe was refused before writing anything, so nothing is deleted for it either. name, when given, is the
 * stored name: if it is not the torrent file's name, the row and the file disagree and nothing is deleted.
 * A file already gone is fine.
 */
export async function deleteDownloadedFiles(savePath: string, torrentFile: Buffer | null, name: string | null): Promise<DeleteResult> {
  const result: DeleteResult = { deleted: [], kept: [] };
  if (!torrentFile) return result;
  let info: unknown;
  try {
    info = (bencode.decode(torrentFile) as { info?: unknown }).info;
  } catch {
    // The stored torrent is damaged: what it named cannot be known, so nothing is deleted.
    return result;
  }
  let root: string;
  let files: string[];
  try {
    if (name !== null && checkTorrentNames(info).name !== name) return result;
    ({ root, files } = torrentFilePaths(savePath, info));
  } catch (err) {
    if (err instanceof UnsafeNameError) return result;
    throw err;
  }
  const base = resolve(savePath);

  for (const file of files) {
    const standing = await standingOf(root, file);
    if (standing === 'missing') continue;
    if (standing !== 'file') {
      result.kept.push(file);
      continue;
    }
    try {
      await unlink(file);
      result.deleted.push(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  // A single-file torrent made no folder of its own: root is the file.
  for (const dir of foldersOf(root, files)) {
    // The last line: only folders strictly inside the save path, never the save path or above.
    if (!dir.startsWith(base + sep)) continue;
    const standing = await standingOf(root, dir);
    if (standing === 'missing') continue;
    if (standing !== 'folder') {
      result.kept.push(dir);
      continue;
    }
    try {
      await rmdir(dir); // fails unless empty: a user's file inside keeps the folder
      result.deleted.push(dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') result.kept.push(dir);
      else if (code !== 'ENOENT') throw err;
    }
  }
  return result;
}

// Has a seeding torrent's data changed on disk? Size and mtime against the snapshot taken when it began to
// seed (libtorrent's resume-data rule): cheap enough to run on every start and at an interval, and it reads
// no file content. A file that is gone means `missing` (a drive not mounted, a folder moved away); a file
// whose size or mtime differ means `changed` (edited in place), whose pieces would fail verification at
// every downloader.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileStat } from '../../lib/store/torrents.js';
import type { Failure } from './failure.js';

export async function snapshotFiles(savePath: string, files: readonly { path: string }[]): Promise<FileStat[]> {
  const out: FileStat[] = [];
  for (const f of files) {
    const s = await stat(join(savePath, f.path));
    out.push({ path: f.path, size: s.size, mtimeMs: Math.trunc(s.mtimeMs) });
  }
  return out;
}

export type FileCheck = { status: 'ok' } | ({ status: 'missing' | 'changed' } & Failure);

/** Compares the files on disk with the snapshot; the first difference decides (missing before changed). */
export async function checkFiles(savePath: string, snapshot: readonly FileStat[]): Promise<FileCheck> {
  let changed: string | undefined;
  for (const f of snapshot) {
    const path = join(savePath, f.path);
    let s;
    try {
      s = await stat(path);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        return { status: 'missing', code: 'E_FILES_MISSING', reason: `no data found at ${path}: put the files back (or mount the drive), then \`bitween recheck\`` };
      }
      return { status: 'missing', code: 'E_FILES_MISSING', reason: `cannot read ${path} (${code ?? 'error'}): fix access, then \`bitween recheck\`` };
    }
    if (!s.isFile()) {
      return { status: 'missing', code: 'E_FILES_MISSING', reason: `${path} is no longer a file: put the files back, then \`bitween recheck\`` };
    }
    if (changed === undefined && (s.size !== f.size || Math.trunc(s.mtimeMs) !== f.mtimeMs)) changed = path;
  }
  if (changed !== undefined) {
    return {
      status: 'changed',
      code: 'E_FILES_CHANGED',
      reason: `${changed} changed since it was shared: \`bitween share\` it again to share the new version, or \`bitween recheck\` if it is back as it was`,
    };
  }
  return { status: 'ok' };
}

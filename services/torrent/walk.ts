// Lists the files of a share the way create-torrent does (same order, same hidden and junk filtering, same path
// segments, so the same info-hash), but so that no folder can hang the service (issue 11.6): symbolic links
// inside are not followed, directory loops (bind mounts) are caught by (dev, ino), devices, sockets, FIFOs and
// kernel filesystems are refused, the walk is iterative, yields to the event loop and holds a bounded list.
// The first problem ends the walk with one BadInputError line. Rules: README.md "Sharing: what may be shared".
import { lstat, opendir } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { basename, join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
// create-torrent's own junk list (its dependency, the same copy): the filter must be the one it applies.
import { isJunk } from 'junk';
import { BadInputError } from '../../lib/errors.js';
import { fsFailure, kernelFilesystemOf, kernelTreeOf, specialKind } from './share-path.js';

/** At most this many files in one share: the list, the .torrent and webtorrent's per-file state grow with it. */
export const MAX_SHARE_FILES = 100_000;
/** At most this many folders in one share. */
export const MAX_SHARE_FOLDERS = 100_000;
/** At most this many entries (hidden ones too) in one folder: its names are held while they are sorted. */
export const MAX_FOLDER_ENTRIES = MAX_SHARE_FILES + MAX_SHARE_FOLDERS;
/** lstat calls in flight at once: enough to keep the thread pool busy, few enough to leave it to others too. */
const LSTAT_BATCH = 32;
/** Entries between explicit turns of the event loop (each fs call yields too; this bounds the work between). */
const YIELD_EVERY = 1000;

export interface SharedFile {
  /** Path segments inside the torrent (for a single file: its name). */
  path: string[];
  length: number;
}

export interface ShareWalk {
  files: SharedFile[];
  singleFile: boolean;
  /** Symbolic links met inside the folder and left out. */
  skippedLinks: number;
}

export interface WalkLimits {
  maxFiles: number;
  maxFolders: number;
  maxFolderEntries: number;
}

const LIMITS: WalkLimits = { maxFiles: MAX_SHARE_FILES, maxFolders: MAX_SHARE_FOLDERS, maxFolderEntries: MAX_FOLDER_ENTRIES };

/** get-files.js keeps entries not starting with '.' and not junk (the `junk` package). */
function sharedName(name: string): boolean {
  return name[0] !== '.' && !isJunk(name);
}

/**
 * libuv's scandir order, which fs.readdir (and so create-torrent) returns: strcmp on the UTF-8 bytes. JS string
 * order is UTF-16 order, which is the same except between surrogates and U+E000–U+FFFF.
 */
function sortLikeReaddir(names: string[]): string[] {
  if (!names.some((n) => /[\uD800-\uFFFF]/.test(n))) return names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return names
    .map((n) => ({ n, key: Buffer.from(n) }))
    .sort((a, b) => Buffer.compare(a.key, b.key))
    .map((e) => e.n);
}

/** What the walk keeps of an entry's lstat (a whole Stats per entry would triple the memory of a big folder). */
interface Child {
  name: string;
  kind: 'file' | 'folder' | 'link' | 'special';
  size: number;
  dev: number;
  ino: number;
  /** For a special file: what it is, for the message. */
  special?: string;
}

function childOf(name: string, s: Stats): Child {
  const kind = s.isSymbolicLink() ? 'link' : s.isFile() ? 'file' : s.isDirectory() ? 'folder' : 'special';
  return { name, kind, size: s.size, dev: s.dev, ino: s.ino, special: kind === 'special' ? specialKind(s) : undefined };
}

interface Frame {
  abs: string;
  segments: string[];
  key: string;
  dev: number;
  children: Child[];
  next: number;
}

/** Lists a share's files. `root` must be the real path (share-path.ts resolveSharePath). */
export async function walkShare(root: string, limits: WalkLimits = LIMITS): Promise<ShareWalk> {
  let rootStats: Stats;
  try {
    rootStats = await lstat(root);
  } catch (err) {
    throw fsFailure(err, root);
  }
  if (rootStats.isSymbolicLink()) throw new BadInputError(`${root} is a symbolic link: share what it points to`);
  await refuseKernelFolder(root, true);
  if (rootStats.isFile()) return { files: [{ path: [basename(root)], length: rootStats.size }], singleFile: true, skippedLinks: 0 };
  if (!rootStats.isDirectory()) throw new BadInputError(`${root} is ${specialKind(rootStats)}: only regular files and folders can be shared`);

  const files: SharedFile[] = [];
  let folders = 1;
  let skippedLinks = 0;
  let sinceYield = 0;
  // The folders from the root down to the one being listed, by (dev, ino): meeting one again is a loop.
  const onPath = new Set<string>();
  const stack: Frame[] = [];

  const enter = async (abs: string, segments: string[], stats: { dev: number; ino: number }): Promise<void> => {
    const key = `${stats.dev}:${stats.ino}`;
    if (onPath.has(key)) throw new BadInputError(`${abs} is a folder that contains itself (a bind mount loop): cannot share ${root}`);
    onPath.add(key);
    stack.push({ abs, segments, key, dev: stats.dev, children: await listFolder(abs, limits.maxFolderEntries), next: 0 });
  };
  await enter(root, [], rootStats);

  while (stack.length > 0) {
    const frame = stack.at(-1)!;
    if (frame.next === frame.children.length) {
      stack.pop();
      onPath.delete(frame.key);
      continue;
    }
    const child = frame.children[frame.next++]!;
    const { name } = child;
    if (++sinceYield === YIELD_EVERY) {
      sinceYield = 0;
      await nextTurn();
    }
    const abs = join(frame.abs, name);
    if (child.kind === 'link') {
      skippedLinks++;
    } else if (child.kind === 'file') {
      if (files.length === limits.maxFiles) throw new BadInputError(`${root} holds more than ${limits.maxFiles} files: share its subfolders one by one`);
      files.push({ path: [...frame.segments, name], length: child.size });
    } else if (child.kind === 'folder') {
      if (++folders > limits.maxFolders) throw new BadInputError(`${root} holds more than ${limits.maxFolders} folders: share its subfolders one by one`);
      const tree = kernelTreeOf(abs);
      if (tree) throw new BadInputError(`${root} contains ${tree}: the kernel's own files (/proc, /sys, /dev) are never shared`);
      // A mount point: the filesystem below may be a kernel one (a chroot's /proc, say).
      if (child.dev !== frame.dev) await refuseKernelFolder(abs, false, root);
      await enter(abs, [...frame.segments, name], child);
    } else {
      throw new BadInputError(`${abs} is ${child.special}: only regular files and folders can be shared; move it out of ${root}`);
    }
  }
  return { files, singleFile: false, skippedLinks };
}

async function refuseKernelFolder(path: string, isShare: boolean, root = path): Promise<void> {
  let fs: string | undefined;
  try {
    fs = await kernelFilesystemOf(path);
  } catch (err) {
    throw fsFailure(err, path);
  }
  if (fs) throw new BadInputError(`${isShare ? path : `${root} contains ${path}, which`} is on the kernel's ${fs} filesystem: its files are never shared`);
}

/** The shared entries of one folder (hidden and junk left out), in readdir's order, each with its lstat. */
async function listFolder(path: string, maxEntries: number): Promise<Child[]> {
  const names: string[] = [];
  try {
    // opendir reads the folder in batches, so a huge one is refused before all its names are held.
    const dir = await opendir(path, { bufferSize: 256 });
    let seen = 0;
    for await (const entry of dir) {
      if (++seen > maxEntries) {
        // Leaving the loop early closes the Dir.
        throw new BadInputError(`${path} holds more than ${maxEntries} entries: share its subfolders one by one`);
      }
      if (sharedName(entry.name)) names.push(entry.name);
    }
  } catch (err) {
    if (err instanceof BadInputError) throw err;
    throw fsFailure(err, path);
  }
  const sorted = sortLikeReaddir(names);
  const children: Child[] = new Array(sorted.length);
  for (let i = 0; i < sorted.length; i += LSTAT_BATCH) {
    const batch = sorted.slice(i, i + LSTAT_BATCH);
    const stats = await Promise.all(
      batch.map((name) =>
        lstat(join(path, name)).catch((err: unknown) => {
          throw fsFailure(err, join(path, name));
        }),
      ),
    );
    for (let j = 0; j < batch.length; j++) children[i + j] = childOf(batch[j]!, stats[j]!);
  }
  return children;
}

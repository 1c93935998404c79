// What may be shared (issue 11.6, 12.4): the path asked for is resolved with realpath, must lie inside one of
// BITWEEN_SHARE_ROOTS, outside /proc, /sys, /dev and any kernel filesystem, and be a regular file or a folder.
// One rule each, in README.md "Sharing: what may be shared"; walk.ts applies the same rules inside a folder.
import { lstat, realpath, statfs } from 'node:fs/promises';
import { isAbsolute, sep } from 'node:path';
import type { Config } from '../../lib/config.js';
import { BadInputError } from '../../lib/errors.js';
import { requireString } from '../../lib/validate.js';

/** Trees of the kernel's own files: their sizes lie, their links lead anywhere, reading some never ends. */
export const KERNEL_TREES = ['/proc', '/sys', '/dev'];

/** statfs(2) `f_type` of the kernel's pseudo-filesystems (linux/magic.h), refused wherever they are mounted. */
const KERNEL_FILESYSTEMS = new Map<number, string>([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x1cd1, 'devpts'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0xcafe4a11, 'bpf'],
  [0x6165676c, 'pstore'],
  [0xde5e81e4, 'efivarfs'],
  [0x62656570, 'configfs'],
]);

/** True when `path` is `folder` or lies inside it (both absolute and normalized). */
export function isInside(path: string, folder: string): boolean {
  return path === folder || path.startsWith(folder === sep ? sep : folder + sep);
}

/** The kernel tree (/proc, /sys, /dev) that holds `path`, if any. */
export function kernelTreeOf(path: string): string | undefined {
  return KERNEL_TREES.find((tree) => isInside(path, tree));
}

/** The name of the kernel pseudo-filesystem `path` lies on, if it does. */
export async function kernelFilesystemOf(path: string): Promise<string | undefined> {
  const { type } = await statfs(path);
  return KERNEL_FILESYSTEMS.get(Number(type));
}

/** What a file that is neither a regular file, a folder nor a link is, for messages. */
export function specialKind(s: { isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean }): string {
  if (s.isFIFO()) return 'a FIFO';
  if (s.isSocket()) return 'a socket';
  if (s.isCharacterDevice()) return 'a character device';
  if (s.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

/** One line for a failed file-system call: what could not be done to which path. */
export function fsFailure(err: unknown, path: string): BadInputError {
  const code = (err as NodeJS.ErrnoException).code;
  const why =
    code === 'ENOENT' ? 'it does not exist (was it moved while sharing?)'
    : code === 'EACCES' || code === 'EPERM' ? 'permission denied: the torrent service may not read it'
    : code === 'ELOOP' ? 'too many levels of symbolic links'
    : code === 'ENAMETOOLONG' ? 'the path is too long'
    : (err as Error).message;
  return new BadInputError(`cannot share ${path}: ${why}`, { cause: err });
}

/** The share roots, each resolved with realpath; a root that does not exist holds nothing and is left out. */
async function realRoots(roots: readonly string[]): Promise<string[]> {
  const real = await Promise.all(roots.map((r) => realpath(r).catch(() => undefined)));
  return real.filter((r): r is string => r !== undefined);
}

/**
 * The real path of what `generate_torrent` (the CLI, the dashboard) asks to share, or a BadInputError with one
 * line saying why it may not be shared. A link given as the share itself is followed (once, by realpath).
 */
export async function resolveSharePath(value: unknown, config: Pick<Config, 'shareRoots'>): Promise<string> {
  const path = requireString(value, 'path');
  if (!isAbsolute(path)) throw new BadInputError(`path must be absolute, got ${JSON.stringify(path)}`);
  let real: string;
  try {
    real = await realpath(path);
  } catch (err) {
    throw new BadInputError(`path does not exist or cannot be read: ${path}`, { cause: err });
  }
  const shown = real === path ? path : `${path} (${real})`;
  const tree = kernelTreeOf(real);
  if (tree) throw new BadInputError(`${shown} is in ${tree}: the kernel's own files (/proc, /sys, /dev) are never shared`);
  const roots = await realRoots(config.shareRoots);
  if (!roots.some((root) => isInside(real, root))) {
    throw new BadInputError(`${shown} is outside BITWEEN_SHARE_ROOTS (${config.shareRoots.join(':')}): add its folder there to share it`);
  }
  try {
    const s = await lstat(real);
    if (!s.isFile() && !s.isDirectory()) throw new BadInputError(`${shown} is ${specialKind(s)}: only regular files and folders can be shared`);
    const fs = await kernelFilesystemOf(real);
    if (fs) throw new BadInputError(`${shown} is on the kernel's ${fs} filesystem: its files are never shared`);
  } catch (err) {
    if (err instanceof BadInputError) throw err;
    throw fsFailure(err, shown);
  }
  return real;
}

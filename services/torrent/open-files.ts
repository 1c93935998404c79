// One bound on the data files the torrent service holds open, whatever the number of torrents
// (BITWEEN_MAX_OPEN_FILES). fs-chunk-store opens each file of a torrent on its first read or write and keeps it
// open until the torrent leaves the session: 5,000 shares that each served a piece once held 5,000 descriptors,
// and a ulimit of 1,024 ended in EMFILE. Here every file handle (random-access-file) belongs to one
// process-wide list in order of use; opening one more than the bound closes the least recently used idle one
// (random-access-file's `suspend`: it waits for operations queued on that file, and the next read or write
// opens it again). A handle with an operation in flight is never closed; while every open handle is busy the
// count may pass the bound by those in flight, and comes back at the next open.
import RandomAccessFile from 'random-access-file';

/** Default of BITWEEN_MAX_OPEN_FILES: well under the usual 1,024 soft limit, enough for many transfers at once. */
export const DEFAULT_MAX_OPEN_FILES = 128;

/** The pool interface random-access-file calls: `_onactive` once a file is open, `_oninactive` once closed. */
class OpenFiles {
  /** Open handles, least recently used first (a Set keeps insertion order: re-inserting moves to the end). */
  private readonly open = new Set<RandomAccessFile>();
  private readonly closing = new Set<RandomAccessFile>();
  max = DEFAULT_MAX_OPEN_FILES;

  get size(): number {
    return this.open.size;
  }

  /** A handle for `path` in this pool; it opens nothing until read or written. */
  handle(path: string): RandomAccessFile {
    return new RandomAccessFile(path, { pool: this });
  }

  /** Marks a handle as just used (before each read or write). */
  touch(file: RandomAccessFile): void {
    if (!this.open.has(file)) return;
    this.open.delete(file);
    this.open.add(file);
    this.trim();
  }

  _onactive(file: RandomAccessFile): void {
    this.open.add(file);
    this.trim();
  }

  _oninactive(file: RandomAccessFile): void {
    this.open.delete(file);
    this.closing.delete(file);
  }

  /** Closes idle handles, least recently used first, until the bound holds (counting those already closing). */
  private trim(): void {
    let over = this.open.size - this.closing.size - this.max;
    if (over <= 0) return;
    for (const file of this.open) {
      if (over <= 0) break;
      if (this.closing.has(file) || !idle(file)) continue;
      this.closing.add(file);
      over--;
      file.suspend(() => this.closing.delete(file));
    }
  }
}

/** No operation running or waiting on the handle (random-access-storage's own counters). */
function idle(file: RandomAccessFile): boolean {
  const f = file as unknown as { _pending: number; _queued: unknown[] };
  return f._pending === 0 && f._queued.length === 0;
}

/** The process-wide pool every torrent's store takes its file handles from. */
export const openFiles = new OpenFiles();

/** Sets the bound (the torrent service calls it at start with BITWEEN_MAX_OPEN_FILES). */
export function setMaxOpenFiles(max: number): void {
  openFiles.max = max;
}

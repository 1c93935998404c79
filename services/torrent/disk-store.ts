// webtorrent's own file store (fs-chunk-store) with two changes:
// - it tells the torrent when a read fails. webtorrent drops a failed read of a piece a peer asked for
//   without a word; for a share that means its file went away or shrank, which the torrent service must
//   notice (missing / changed) instead of seeding nothing for ever;
// - it keeps file names as they are. fs-chunk-store strips `<>:"|?*` and control characters from each file
//   name (Windows' reserved set), so a share named `a:b.txt` was read from `ab.txt`: nothing to seed, and a
//   recheck found 0 bytes matching. Names from contacts are checked before they get here (names.ts);
// - its files are opened from one process-wide pool with a bound (open-files.ts) instead of each staying open
//   from its first read until the torrent leaves the session. A file is not created or its folder made for a
//   read (fs-chunk-store made the folder on first use, also when closing): a share whose folder went away
//   stays away, and its read fails (reported above). Writing creates both.
import { join, resolve } from 'node:path';
import FSChunkStore from 'fs-chunk-store';
import type RandomAccessFile from 'random-access-file';
import { openFiles } from './open-files.js';

type Callback = (err: Error | null) => void;

/** The event a torrent emits when its store could not read a piece. */
export const READ_ERROR = 'bitween:read-error';

export class ReportingStore extends FSChunkStore {
  private readonly owner: { emit(event: string, ...args: unknown[]): boolean } | undefined;

  constructor(
    chunkLength: number,
    opts: { torrent?: { emit(event: string, ...args: unknown[]): boolean }; path?: string; files?: { path: string }[] } & Record<string, unknown>,
  ) {
    super(chunkLength, opts);
    this.owner = opts.torrent;
    // Each file opens lazily from `file.path`, read when first used: the name as the torrent has it.
    if (typeof opts.path === 'string' && Array.isArray(opts.files) && opts.addUID !== true) {
      opts.files.forEach((f, i) => (this.files[i]!.path = resolve(join(opts.path!, f.path))));
    }
    // fs-chunk-store asks `file.open` for the handle before every read and write.
    for (const file of this.files as (FSChunkStore['files'][number] & { open(cb: (err: Error | null, h?: RandomAccessFile) => void): void })[]) {
      let handle: RandomAccessFile | undefined;
      file.open = (cb) => {
        if (this.closed) return queueMicrotask(() => cb(new Error('Storage is closed')));
        if (!handle) this.handles.push((handle = openFiles.handle(file.path)));
        openFiles.touch(handle);
        cb(null, handle);
      };
    }
  }

  /** Handles made so far (one per file that was read or written). */
  private readonly handles: RandomAccessFile[] = [];

  close(cb?: Callback): void {
    if (this.closed) return void queueMicrotask(() => cb?.(new Error('Storage is closed')));
    this.closed = true;
    // Each close waits for the operations queued on its file.
    const all = this.handles.map((h) => new Promise<void>((done) => h.close(() => done())));
    void Promise.all(all).then(() => cb?.(null));
  }

  override get(index: number, opts: unknown, cb?: (err: Error | null, buf?: Uint8Array) => void): void {
    if (typeof opts === 'function') return this.get(index, null, opts as typeof cb);
    super.get(index, opts, (err, buf) => {
      if (err && !this.closed) this.owner?.emit(READ_ERROR, err);
      cb!(err, buf);
    });
  }
}

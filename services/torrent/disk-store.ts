// webtorrent's own file store (fs-chunk-store) with two changes:
// - it tells the torrent when a read fails. webtorrent drops a failed read of a piece a peer asked for
//   without a word; for a share that means its file went away or shrank, which the torrent service must
//   notice (missing / changed) instead of seeding nothing for ever;
// - it keeps file names as they are. fs-chunk-store strips `<>:"|?*` and control characters from each file
//   name (Windows' reserved set), so a share named `a:b.txt` was read from `ab.txt`: nothing to seed, and a
//   recheck found 0 bytes matching. Names from contacts are checked before they get here (names.ts).
import { join, resolve } from 'node:path';
import FSChunkStore from 'fs-chunk-store';

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
  }

  override get(index: number, opts: unknown, cb?: (err: Error | null, buf?: Uint8Array) => void): void {
    if (typeof opts === 'function') return this.get(index, null, opts as typeof cb);
    super.get(index, opts, (err, buf) => {
      if (err && !this.closed) this.owner?.emit(READ_ERROR, err);
      cb!(err, buf);
    });
  }
}

// webtorrent's own file store (fs-chunk-store), telling the torrent when a read fails. webtorrent drops a
// failed read of a piece a peer asked for without a word; for a share that means its file went away or
// shrank, which the torrent service must notice (missing / changed) instead of seeding nothing for ever.
import FSChunkStore from 'fs-chunk-store';

/** The event a torrent emits when its store could not read a piece. */
export const READ_ERROR = 'bitween:read-error';

export class ReportingStore extends FSChunkStore {
  private readonly owner: { emit(event: string, ...args: unknown[]): boolean } | undefined;

  constructor(chunkLength: number, opts: { torrent?: { emit(event: string, ...args: unknown[]): boolean } } & Record<string, unknown>) {
    super(chunkLength, opts);
    this.owner = opts.torrent;
  }

  override get(index: number, opts: unknown, cb?: (err: Error | null, buf?: Uint8Array) => void): void {
    if (typeof opts === 'function') return this.get(index, null, opts as typeof cb);
    super.get(index, opts, (err, buf) => {
      if (err && !this.closed) this.owner?.emit(READ_ERROR, err);
      cb!(err, buf);
    });
  }
}

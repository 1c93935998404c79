// The one owner of a torrent's life in the torrent service: it adopts torrents (shared, fetched, restored),
// follows them (metadata, done, errors, files changing on disk), and removes them. Every state change goes to
// the store through the journal, in order, so what `bitween ls` reads is what the session holds; an entry
// stays listed when its torrent fails (error) or its files go away (missing) or change (changed), without a
// webtorrent torrent behind it, until `recheck` brings it back or `del_torrent` removes it. A complete, seeding
// torrent that no peer is using is not in webtorrent either (dormant.ts): a peer's handshake wakes it.
import { dirname } from 'node:path';
import bencode from 'bencode';
import type { AddOptions, Torrent } from 'webtorrent';
import { BadInputError, NotFoundError } from '../../lib/errors.js';
import { giveMemoryBack } from '../../lib/memory.js';
import {
  deleteTorrent,
  insertTorrent,
  markDownloading,
  markFailed,
  markSeeding,
  saveMetadata,
  savePaused,
  saveProgress,
  saveSelectedFiles,
  saveTotals,
  type FileStat,
  type TorrentOrigin,
  type RestoreRow,
  type TorrentStatus,
} from '../../lib/store/torrents.js';
import type { TorrentContext } from './context.js';
import { createTorrentFile } from './create.js';
import { deleteDownloadedFiles } from './delete-files.js';
import { dialContacts } from './dial.js';
import { IdleClock, installWakeHook, KeyHashIndex, sweepIntervalMs } from './dormant.js';
import { READ_ERROR, ReportingStore } from './disk-store.js';
import { checkFiles, snapshotFiles } from './file-check.js';
import { classifyTorrentError, oneLine, type Failure } from './failure.js';
import { StoreJournal } from './journal.js';
import { checkTorrentNames, displayName, displayNameOf } from './names.js';
import { applySelection, checkIndexes, fileCountOf, selectionDone, wantedFiles } from './selection.js';
import { bitfieldOf, NO_TRACKERS, verifiedBytes, whenInfoHash } from './session.js';

export function magnetFor(infoHash: string): string {
  return `magnet:?xt=urn:btih:${infoHash}`;
}

export interface Entry {
  readonly infoHash: string;
  readonly origin: TorrentOrigin;
  readonly savePath: string;
  status: TorrentStatus;
  name: string | null;
  totalSize: number | null;
  torrentFile: Buffer | null;
  /** Stat snapshot of a seeding torrent's files. */
  files: FileStat[] | null;
  failure: Failure | null;
  /** The webtorrent torrent while it is in the session; none in error / missing / changed state, nor while dormant. */
  torrent: Torrent | undefined;
  /** Set while share() or recheck() handle the outcome of verification themselves ('done' is theirs). */
  quiet?: boolean;
  /** How many failures were announced (torrent_error): a recheck answers once, not twice. */
  announced?: number;
  /** Paused by the user: no torrent in the session until resumed (status is kept). */
  paused?: boolean;
  /** Verified pieces of a paused torrent, to continue from on resume. */
  heldBitfield?: Buffer | null;
  /** File indexes to download; null or absent = all (selection.ts). */
  selected?: number[] | null;
  /** Bytes uploaded / received in earlier runs and by torrents this entry had before (totals = these + the live torrent's). */
  uploadedBase?: number;
  downloadedBase?: number;
}

/** Totals of an entry as stored: earlier runs plus the torrent in the session now. */
export function totalsOf(entry: Entry): { uploaded: number; downloaded: number } {
  const t = entry.torrent;
  return { uploaded: (entry.uploadedBase ?? 0) + (t?.uploaded ?? 0), downloaded: (entry.downloadedBase ?? 0) + (t?.received ?? 0) };
}

type FailedStatus = 'error' | 'missing' | 'changed';

/** A listed entry and the verified pieces it was stored with, waiting to be resumed. */
interface Listed {
  entry: Entry;
  bitfield: Buffer | null;
}

/**
 * Torrents put to sleep in one sweep from which on the memory they held is given back at once (lib/memory.ts):
 * after a burst of new shares or wakes, not for the odd one (a full collection stops the process ~25 ms).
 */
const GIVE_BACK_AFTER_SLEEPING = 100;

/** Torrents restored side by side at start: enough to keep the disk and webtorrent's parsing busy. */
const RESTORE_CONCURRENCY = 32;

export class Torrents {
  private readonly entries = new Map<string, Entry>();
  readonly journal: StoreJournal;
  private progressTimer: NodeJS.Timeout | undefined;
  private checkTimer: NodeJS.Timeout | undefined;
  private lastProgress = new Map<string, number>();
  private lastTotals = new Map<string, string>();
  private checking: Promise<void> = Promise.resolve();
  /** Dormant torrents (dormant.ts): found by their MSE key hash, woken once per burst of peers, put to sleep when idle. */
  private readonly keyHashes = new KeyHashIndex();
  private readonly waking = new Map<string, Promise<Torrent | null>>();
  private readonly idle = new IdleClock();
  private sweepTimer: NodeJS.Timeout | undefined;
  private markListed!: () => void;
  /** Resolves once list() ran: every stored torrent is known. */
  readonly listed = new Promise<void>((resolve) => (this.markListed = resolve));

  constructor(private readonly ctx: TorrentContext) {
    this.journal = new StoreJournal(ctx.db, ctx.log.child({ component: 'journal' }));
    if (ctx.config.dormantAfterMs > 0) {
      installWakeHook(ctx.client, {
        wake: (infoHash) => this.wake(infoHash),
        infoHashOf: (keyHash) => this.keyHashes.infoHashOf(keyHash),
        plaintextWakes: ctx.config.encryption !== 'require',
        listed: this.listed,
      });
    }
  }

  /** Lists an entry; a peer may name it by its MSE key hash from now on. */
  private track(entry: Entry): void {
    this.entries.set(entry.infoHash, entry);
    this.keyHashes.add(entry.infoHash);
  }

  private untrack(infoHash: string): void {
    this.entries.delete(infoHash);
    this.keyHashes.delete(infoHash);
    this.idle.forget(infoHash);
  }

  get(infoHash: string): Entry | undefined {
    return this.entries.get(infoHash);
  }

  all(): IterableIterator<Entry> {
    return this.entries.values();
  }

  get size(): number {
    return this.entries.size;
  }

  // ---- adopting ------------------------------------------------------------------------------------------

  /**
   * Lists every stored torrent (shares and finished downloads to seed, downloads to continue, failures to
   * keep); nothing joins the session yet. Pass what it returns to resumeAll.
   */
  list(rows: RestoreRow[]): Listed[] {
    const list: Listed[] = [];
    for (const row of rows) {
      const entry: Entry = {
        infoHash: row.infoHash,
        origin: row.origin,
        savePath: row.savePath,
        status: row.status,
        name: row.name,
        totalSize: row.totalSize,
        torrentFile: row.torrentFile,
        files: row.files,
        failure: row.errorCode ? { code: row.errorCode, reason: row.errorReason ?? '' } : null,
        torrent: undefined,
        paused: row.paused,
        heldBitfield: row.paused ? row.bitfield : undefined,
        selected: row.selectedFiles,
        uploadedBase: row.uploadedBytes,
        downloadedBase: row.downloadedBytes,
      };
      this.track(entry);
      list.push({ entry, bitfield: row.bitfield });
    }
    this.markListed();
    return list;
  }

  /**
   * Puts the listed torrents back, RESTORE_CONCURRENCY at a time (file checks are stat calls, run side by side
   * instead of one torrent after the other). Resolves once every one is in the session or failed, with the
   * count per state; it never rejects.
   */
  async resumeAll(list: Listed[]): Promise<Record<string, number>> {
    let next = 0;
    const worker = async () => {
      // The client is destroyed when the service stops meanwhile: nothing more to add.
      while (next < list.length && !(this.ctx.client as { destroyed?: boolean }).destroyed) {
        const { entry, bitfield } = list[next++]!;
        // Removed or put back by a request meanwhile.
        if (this.entries.get(entry.infoHash) !== entry || entry.torrent) continue;
        try {
          await this.resume(entry, bitfield);
        } catch (err) {
          // One broken row must not keep the others from coming back; it stays listed with the reason.
          this.ctx.log.error({ err, infoHash: entry.infoHash }, 'could not restore torrent');
          this.fail(entry, classifyTorrentError(err, entry.savePath), 'error');
        }
      }
    };
    await Promise.all(Array.from({ length: RESTORE_CONCURRENCY }, worker));
    const counts: Record<string, number> = {};
    for (const { entry } of list) counts[entry.status] = (counts[entry.status] ?? 0) + 1;
    return counts;
  }

  /** Restores one entry from its stored state. */
  private async resume(entry: Entry, bitfield: Buffer | null): Promise<void> {
    if (entry.paused) return; // out of the session until `resume`
    if (entry.status === 'error') return; // waits for recheck or removal
    if (entry.torrentFile) checkTorrentNames(decodeInfo(entry.torrentFile));
    if (entry.status === 'seeding' || entry.status === 'missing' || entry.status === 'changed') {
      if (entry.files) {
        const check = await checkFiles(entry.savePath, entry.files);
        if (check.status !== 'ok') {
          if (entry.status !== check.status) this.fail(entry, check, check.status);
          return;
        }
        // A peer woke it while its files were checked.
        if (entry.torrent) return;
        if (entry.status !== 'seeding') this.setSeeding(entry, entry.files, 'files back');
        // Same size and mtime as when it began to seed: dormant until a peer asks for it, or trusted without
        // reading a byte.
        if (this.canSleep(entry)) return;
        this.attach(entry, seedOptions(entry, bitfield));
        await whenInfoHash(entry.torrent!);
        return;
      }
      if (entry.status !== 'seeding') return; // no snapshot to compare with: only recheck can tell
    }
    this.attach(entry, bitfield ? { bitfield: new Uint8Array(bitfield) } : {});
    await whenInfoHash(entry.torrent!);
    if (entry.status !== 'seeding') await this.dial(entry);
  }

  /**
   * Creates a torrent for a file or folder and seeds it where it lies. `path` is resolved (links followed);
   * `asked` is the path as the user gave it, which torrent_added carries back so the asker can match it.
   */
  async share(path: string, asked: string = path): Promise<{ entry: Entry; added: boolean }> {
    const { torrentFile, infoHash } = await createTorrentFile(path, 'bitween').catch((err: unknown) => {
      if (err instanceof BadInputError) throw err;
      throw new BadInputError(`cannot share ${path}: ${(err as Error).message}`);
    });
    const existing = this.entries.get(infoHash);
    if (existing && existing.status === 'seeding') {
      await this.ctx.bus.publish('torrent_added', [infoHash], { name: existing.name, size: existing.totalSize, path: asked, realPath: path });
      return { entry: existing, added: false };
    }
    if (existing) await this.remove(infoHash, false); // a failed or missing earlier copy: this one replaces it
    const entry: Entry = {
      infoHash,
      origin: 'shared',
      savePath: dirname(path),
      status: 'seeding',
      name: null,
      totalSize: null,
      torrentFile: Buffer.from(torrentFile),
      files: null,
      failure: null,
      torrent: undefined,
    };
    this.track(entry);
    // The pieces were just hashed from these bytes: no need to verify them again.
    entry.quiet = true;
    const torrent = this.attach(entry, { skipVerify: true });
    try {
      await whenReady(torrent);
      entry.files = await snapshotFiles(entry.savePath, torrent.files);
    } catch (err) {
      this.untrack(infoHash);
      if (!torrent.destroyed) torrent.destroy();
      throw new BadInputError(`cannot share ${path}: ${(err as Error).message}`);
    } finally {
      entry.quiet = false;
    }
    entry.name = torrent.name;
    entry.totalSize = torrent.length;
    const row = {
      infoHash,
      name: torrent.name,
      magnetLink: torrent.magnetURI,
      torrentFile: entry.torrentFile,
      status: 'seeding' as const,
      origin: 'shared' as const,
      savePath: entry.savePath,
      totalSize: torrent.length,
      bytesDone: torrent.length,
      bitfield: bitfieldOf(torrent),
      files: entry.files,
    };
    this.journal.write({
      infoHash,
      kind: 'insert',
      run: (db) => insertTorrent(db, row),
      then: async () => {
        await this.ctx.bus.publish('torrent_added', [infoHash], { name: row.name, size: row.totalSize, path: asked, realPath: path });
        await this.ctx.bus.publish('publish_shares');
      },
    });
    return { entry, added: true };
  }

  /** Fetches a contact's share: a magnet from the hash, dialled to every address the store knows for it. */
  async fetch(infoHash: string, savePath: string, selected: number[] | null = null): Promise<{ entry: Entry; added: boolean }> {
    const existing = this.entries.get(infoHash);
    if (existing && selected !== null) await this.selectFiles(infoHash, selected);
    if (existing) {
      // Already here: dial again (a contact may have come online).
      await this.dial(existing);
      await this.ctx.bus.publish('torrent_added', [infoHash], { status: existing.status });
      return { entry: existing, added: false };
    }
    const entry: Entry = {
      infoHash,
      origin: 'fetched',
      savePath,
      status: 'metadata',
      name: null,
      totalSize: null,
      torrentFile: null,
      files: null,
      failure: null,
      torrent: undefined,
      selected,
    };
    this.track(entry);
    const magnetLink = magnetFor(infoHash);
    this.journal.write({
      infoHash,
      kind: 'insert',
      run: (db) => insertTorrent(db, { infoHash, magnetLink, status: 'metadata', origin: 'fetched', savePath, selectedFiles: selected }),
      then: () => this.ctx.bus.publish('torrent_added', [infoHash], { savePath }),
    });
    const torrent = this.attach(entry, {});
    await whenInfoHash(torrent);
    await this.dial(entry);
    return { entry, added: true };
  }

  /**
   * Adds the entry's torrent to the session and follows it. Events of a torrent that was replaced (recheck)
   * or removed are ignored: each listener checks that it still belongs to the entry's current torrent.
   */
  private attach(entry: Entry, opts: AddOptions): Torrent {
    const id = entry.torrentFile ?? magnetFor(entry.infoHash);
    // A partial selection starts with nothing selected; its files are selected once the torrent is ready.
    const partial: AddOptions = entry.selected ? { deselect: true } : {};
    const torrent = this.ctx.client.add(id, { ...NO_TRACKERS, path: entry.savePath, store: ReportingStore, ...partial, ...opts });
    entry.torrent = torrent;
    const current = () => entry.torrent === torrent && this.entries.get(entry.infoHash) === entry;
    const log = this.ctx.log.child({ infoHash: entry.infoHash });
    torrent.once('ready', () => {
      // The selection may have changed while the metadata was on its way.
      if (!current() || (!entry.selected && !partial.deselect)) return;
      this.selectOn(entry, torrent);
      // webtorrent marks files done just after 'ready': a selection may be complete already.
      setImmediate(() => this.checkSelection(entry, torrent));
    });
    // A partial selection never gets webtorrent's 'done': look after pieces arrive (file flags follow in the
    // same tick), once per burst.
    let looking = false;
    torrent.on('verified', () => {
      if (looking || !current() || !entry.selected || entry.quiet) return;
      looking = true;
      setImmediate(() => {
        looking = false;
        this.checkSelection(entry, torrent);
      });
    });

    torrent.on('metadata', () => {
      if (!current() || entry.torrentFile) return;
      // Before anything touches disk (the store opens files lazily; verification starts after this event).
      let names;
      try {
        names = checkTorrentNames(torrent.info);
      } catch (err) {
        entry.name = displayNameOf(torrent.info);
        this.fail(entry, classifyTorrentError(err, entry.savePath), 'error');
        return;
      }
      entry.name = names.name;
      entry.totalSize = torrent.length;
      entry.torrentFile = Buffer.from(torrent.torrentFile);
      const metadata = { name: names.name, totalSize: torrent.length, torrentFile: entry.torrentFile, magnetLink: torrent.magnetURI };
      if (entry.status === 'metadata') entry.status = 'downloading';
      log.info({ name: names.name, size: torrent.length }, 'metadata received');
      this.journal.write({
        infoHash: entry.infoHash,
        kind: 'metadata',
        run: (db) => saveMetadata(db, entry.infoHash, metadata),
        then: () => this.ctx.bus.publish('publish_shares'),
      });
    });
    torrent.on('done', () => {
      if (!current() || entry.quiet || (entry.status === 'seeding' && entry.files)) return;
      void this.completed(entry, torrent);
    });
    torrent.on('error', (err: Error) => {
      if (!current()) return;
      this.fail(entry, classifyTorrentError(err, entry.savePath), 'error');
    });
    torrent.on(READ_ERROR, (err: Error) => {
      // A share whose file went away or shrank: find out which, once.
      if (!current() || entry.status !== 'seeding' || !entry.files) return;
      log.debug({ err }, 'read error while seeding');
      void this.checkOne(entry, err);
    });
    torrent.on('warning', (err: Error) => log.debug({ warning: err.message }, 'torrent warning'));
    return torrent;
  }

  /** Download complete and verified: seeding from now on, stored first, then announced. */
  private async completed(entry: Entry, torrent: Torrent): Promise<void> {
    let files: FileStat[];
    try {
      // A partial selection seeds what it has: only the selected files are its to watch.
      files = await snapshotFiles(entry.savePath, wantedFiles(torrent, entry.selected ?? null));
    } catch (err) {
      this.fail(entry, classifyTorrentError(err, entry.savePath), 'error');
      return;
    }
    const wasSeeding = entry.status === 'seeding';
    entry.totalSize ??= torrent.length;
    this.setSeeding(entry, files, 'download complete');
    if (!wasSeeding) this.ctx.log.info({ infoHash: entry.infoHash, name: entry.name, size: torrent.length }, 'download complete: seeding');
  }

  /**
   * Marks an entry seeding from `files`: in memory now, in the store in order. A finished download is
   * announced (torrent_done) once stored; a torrent back from a failure, or from a recheck (`again`), is
   * announced as added again.
   */
  private setSeeding(entry: Entry, files: FileStat[], why: string, again = false): void {
    const finished = entry.status === 'metadata' || entry.status === 'downloading';
    const wasFailed = again || entry.failure !== null;
    entry.status = 'seeding';
    entry.files = files;
    entry.failure = null;
    const torrent = entry.torrent;
    // Right after a skipVerify add the torrent may not have parsed its metadata yet: the stored size holds.
    const bytes = entry.selected && torrent?.bitfield ? verifiedBytes(torrent) : (entry.totalSize ?? torrent?.length ?? 0);
    const bitfield = torrent ? bitfieldOf(torrent) : null;
    this.journal.write({
      infoHash: entry.infoHash,
      kind: 'seeding',
      run: (db) => markSeeding(db, entry.infoHash, bytes, bitfield, files),
      then: async () => {
        if (finished && !wasFailed && entry.origin === 'fetched') await this.ctx.bus.publish('torrent_done', [entry.infoHash]);
        if (wasFailed) {
          this.ctx.log.info({ infoHash: entry.infoHash, why }, 'seeding again');
          await this.ctx.bus.publish('torrent_added', [entry.infoHash], { status: 'seeding' });
          await this.ctx.bus.publish('publish_shares');
        }
      },
    });
  }

  /**
   * The torrent failed, or its files are gone or changed: it leaves the session (its files stay where they
   * are), stays listed with the reason, is no longer advertised, and `torrent_error` says so once.
   */
  fail(entry: Entry, failure: Failure, status: FailedStatus): void {
    const reason = oneLine(failure.reason);
    const same = entry.status === status && entry.failure?.code === failure.code && entry.failure.reason === reason;
    entry.status = status;
    entry.failure = { code: failure.code, reason };
    this.foldTotals(entry);
    const torrent = entry.torrent;
    entry.torrent = undefined;
    if (torrent && !torrent.destroyed) torrent.destroy();
    if (same) return;
    entry.announced = (entry.announced ?? 0) + 1;
    this.ctx.log.warn({ infoHash: entry.infoHash, name: entry.name, status, code: failure.code }, `torrent ${status}: ${reason}`);
    // A refused torrent (no metadata kept) is listed under its made-safe name, so the user sees what was refused.
    const name = entry.torrentFile === null ? entry.name : null;
    this.journal.write({
      infoHash: entry.infoHash,
      kind: 'failed',
      run: (db) => markFailed(db, entry.infoHash, status, failure.code, reason, name),
      then: async () => {
        await this.ctx.bus.publish('torrent_error', [entry.infoHash, { code: failure.code, reason }], { status });
        await this.ctx.bus.publish('publish_shares');
      },
    });
  }

  // ---- user actions --------------------------------------------------------------------------------------

  /**
   * Removes a torrent from the session and the store. With deleteFiles, the files bitween downloaded for it
   * are deleted (exactly those, never a share's originals, never the save path itself).
   */
  async remove(infoHash: string, deleteFiles: boolean): Promise<{ deleted: string[]; deleteFiles: boolean }> {
    const entry = this.entries.get(infoHash);
    if (!entry) throw new NotFoundError(`no torrent ${infoHash}: \`bitween ls\` lists what this node has`);
    this.untrack(infoHash);
    this.lastProgress.delete(infoHash);
    this.lastTotals.delete(infoHash);
    const torrent = entry.torrent;
    entry.torrent = undefined;
    if (torrent && !torrent.destroyed) await new Promise<void>((done) => torrent.destroy({}, () => done()));
    let deleted: string[] = [];
    const deleting = deleteFiles && entry.origin === 'fetched';
    if (deleteFiles && !deleting) this.ctx.log.warn({ infoHash }, 'not deleting the files of a share: they are your originals');
    if (deleting) deleted = (await deleteDownloadedFiles(entry.savePath, entry.torrentFile, entry.name)).deleted;
    this.journal.write({
      infoHash,
      kind: 'remove',
      run: (db) => deleteTorrent(db, infoHash),
      then: async () => {
        await this.ctx.bus.publish('torrent_removed', [infoHash], { deleteFiles: deleting });
        await this.ctx.bus.publish('publish_shares');
      },
    });
    return { deleted, deleteFiles: deleting };
  }

  /**
   * Verifies what is on disk, then seeds (complete) or continues downloading (a fetch); a share whose pieces
   * no longer verify stays `changed` — it is never re-downloaded over the user's own file.
   */
  async recheck(infoHash: string): Promise<Entry> {
    const entry = this.entries.get(infoHash);
    if (!entry) throw new NotFoundError(`no torrent ${infoHash}: \`bitween ls\` lists what this node has`);
    if (entry.paused) throw new BadInputError(`torrent ${infoHash} is paused: \`bitween resume\` it first`);
    const announced = entry.announced ?? 0;
    // The user asked: a recheck that ends in the same failure still answers, once.
    const answerFailure = () => {
      if ((entry.announced ?? 0) === announced) this.republishFailure(entry);
      return entry;
    };
    if (entry.origin === 'shared' && entry.files) {
      const check = await checkFiles(entry.savePath, entry.files);
      if (check.status === 'missing') {
        this.fail(entry, check, 'missing');
        return answerFailure();
      }
    }
    this.foldTotals(entry);
    const old = entry.torrent;
    entry.torrent = undefined;
    if (old && !old.destroyed) await new Promise<void>((done) => old.destroy({}, () => done()));
    if (this.entries.get(infoHash) !== entry) throw new NotFoundError(`torrent ${infoHash} was removed during the recheck`);
    const wasStatus = entry.status;
    if (entry.status !== 'seeding') entry.status = entry.torrentFile ? 'downloading' : 'metadata';
    entry.quiet = true;
    const torrent = this.attach(entry, {}); // no bitfield, no skipVerify: every piece is hashed
    // The entry's listeners may move it to an error state (and drop the torrent) while it verifies.
    const stillOurs = (): boolean => entry.torrent === torrent;
    try {
      await whenReadyOrMetadataWait(torrent);
    } catch (err) {
      if (stillOurs()) this.fail(entry, classifyTorrentError(err, entry.savePath), 'error');
      return answerFailure();
    } finally {
      entry.quiet = false;
    }
    if (!stillOurs()) {
      // Failed while verifying (the listener moved it to error) or removed meanwhile.
      return answerFailure();
    }
    const complete = torrent.ready && (entry.selected ? selectionDone(torrent, entry.selected) : verifiedBytes(torrent) === torrent.length);
    if (complete) {
      const files = await snapshotFiles(entry.savePath, wantedFiles(torrent, entry.selected ?? null));
      entry.status = wasStatus;
      this.setSeeding(entry, files, 'recheck', true);
      return entry;
    }
    if (entry.origin === 'shared') {
      this.fail(
        entry,
        {
          code: 'E_FILES_CHANGED',
          reason: `${verifiedBytes(torrent)} of ${torrent.length} bytes still match: the files changed since they were shared; \`bitween share\` them again to share the new version`,
        },
        'changed',
      );
      return answerFailure();
    }
    // A fetch with pieces missing: continue downloading.
    entry.failure = null;
    const bytes = verifiedBytes(torrent);
    const bitfield = bitfieldOf(torrent);
    this.journal.write({
      infoHash,
      kind: 'downloading',
      run: (db) => markDownloading(db, infoHash, bytes, bitfield),
      then: async () => {
        await this.ctx.bus.publish('torrent_added', [infoHash], { status: entry.status });
        await this.ctx.bus.publish('publish_shares');
      },
    });
    await this.dial(entry);
    return entry;
  }

  /** A recheck that ends where it began still answers the user: torrent_error again. */
  private republishFailure(entry: Entry): void {
    if (!entry.failure) return;
    void this.ctx.bus
      .publish('torrent_error', [entry.infoHash, entry.failure], { status: entry.status })
      .catch((err) => this.ctx.log.debug({ err }, 'torrent_error not published'));
  }

  /** Dials every contact address known for the torrent's hash (unfinished torrents only). */
  async dial(entry: Entry): Promise<void> {
    const torrent = entry.torrent;
    if (!torrent || torrent.destroyed || torrent.done || entry.status === 'seeding') return;
    await dialContacts(this.ctx, torrent, entry.infoHash);
  }

  async dialAll(): Promise<void> {
    for (const entry of [...this.entries.values()]) await this.dial(entry);
  }

  // ---- controls: pause, resume, file selection -------------------------------------------------------------

  private entryOf(infoHash: string): Entry {
    const entry = this.entries.get(infoHash);
    if (!entry) throw new NotFoundError(`no torrent ${infoHash}: \`bitween ls\` lists what this node has`);
    return entry;
  }

  /**
   * Takes the torrent out of the session: webtorrent's own pause only stops new connections, so the torrent
   * is destroyed (its files stay) and added again on resume from the pieces verified now. Not advertised
   * while paused (a contact could not fetch it). Kept across restarts; the status stays what it was.
   */
  async pause(infoHash: string): Promise<Entry> {
    const entry = this.entryOf(infoHash);
    if (entry.paused) {
      await this.ctx.bus.publish('torrent_paused', [infoHash], { status: entry.status });
      return entry;
    }
    entry.paused = true;
    const torrent = entry.torrent;
    const progress = torrent && !torrent.destroyed && torrent.ready && torrent.bitfield ? { bytesDone: verifiedBytes(torrent), bitfield: bitfieldOf(torrent) } : undefined;
    if (progress) entry.heldBitfield = progress.bitfield;
    this.foldTotals(entry);
    entry.torrent = undefined;
    if (torrent && !torrent.destroyed) await new Promise<void>((done) => torrent.destroy({}, () => done()));
    this.lastProgress.delete(infoHash);
    const totals = totalsOf(entry);
    this.ctx.log.info({ infoHash, name: entry.name, status: entry.status }, 'paused');
    this.journal.write({
      infoHash,
      kind: 'paused',
      run: async (db) => {
        await savePaused(db, infoHash, true, progress);
        await saveTotals(db, infoHash, totals.uploaded, totals.downloaded);
      },
      then: async () => {
        await this.ctx.bus.publish('torrent_paused', [infoHash], { status: entry.status });
        await this.ctx.bus.publish('publish_shares');
      },
    });
    return entry;
  }

  /** Puts a paused torrent back as a restart would: a download continues, a share seeds (files checked first). */
  async unpause(infoHash: string): Promise<Entry> {
    const entry = this.entryOf(infoHash);
    if (!entry.paused) {
      await this.ctx.bus.publish('torrent_resumed', [infoHash], { status: entry.status });
      return entry;
    }
    entry.paused = false;
    const bitfield = entry.heldBitfield ?? null;
    entry.heldBitfield = undefined;
    this.journal.write({
      infoHash,
      kind: 'paused',
      run: (db) => savePaused(db, infoHash, false),
      then: async () => {
        await this.ctx.bus.publish('torrent_resumed', [infoHash], { status: entry.status });
        await this.ctx.bus.publish('publish_shares');
      },
    });
    try {
      await this.resume(entry, bitfield);
    } catch (err) {
      this.ctx.log.error({ err, infoHash }, 'could not resume torrent');
      this.fail(entry, classifyTorrentError(err, entry.savePath), 'error');
    }
    this.ctx.log.info({ infoHash, name: entry.name, status: entry.status }, 'resumed');
    return entry;
  }

  /**
   * Which files of a fetched torrent to download (null = all). Before the metadata the indexes are kept as
   * given and checked once it arrives; after, an index past the last file is refused. Files already here
   * stay (and are seeded); a selection that takes in missing files makes a seeding torrent download again.
   */
  async selectFiles(infoHash: string, wanted: number[] | null): Promise<Entry> {
    const entry = this.entryOf(infoHash);
    if (entry.origin === 'shared') throw new BadInputError(`torrent ${infoHash} is your own share: every file of it is here, there is nothing to select`);
    // A selection is applied to the torrent in the session (and makes it one that never sleeps).
    if (this.isDormant(entry)) await this.wake(infoHash);
    const torrent = entry.torrent;
    const count = torrent?.ready ? torrent.files.length : entry.torrentFile ? fileCountOf(entry.torrentFile) : undefined;
    const selected = count === undefined ? wanted : checkIndexes(wanted, count);
    entry.selected = selected;
    this.journal.write({
      infoHash,
      kind: 'selection',
      run: (db) => saveSelectedFiles(db, infoHash, selected),
      then: () => this.ctx.bus.publish('files_selected', [infoHash, selected]),
    });
    if (torrent && !torrent.destroyed && torrent.ready) {
      this.selectOn(entry, torrent);
      this.checkSelection(entry, torrent);
    }
    return entry;
  }

  /** Applies the entry's selection to its ready torrent; indexes past the last file are reported and left out. */
  private selectOn(entry: Entry, torrent: Torrent): void {
    const selected = entry.selected ?? null;
    const past = selected?.filter((i) => i >= torrent.files.length) ?? [];
    if (past.length > 0) {
      const err = new BadInputError(`no file ${past.join(', ')} in ${entry.name ?? entry.infoHash}: it has ${torrent.files.length}; \`bitween files ${entry.infoHash.slice(0, 12)} --select …\` to choose again`);
      this.ctx.log.warn({ infoHash: entry.infoHash, past }, err.message);
      void this.ctx.bus.publishError('select_files', err, JSON.stringify(selected), entry.infoHash).catch(() => undefined);
    }
    applySelection(torrent, selected);
  }

  /** A partial selection is complete once its files are: it seeds what it has; more files selected: downloads again. */
  private checkSelection(entry: Entry, torrent: Torrent): void {
    if (entry.torrent !== torrent || torrent.destroyed || entry.quiet || !torrent.ready || entry.origin !== 'fetched') return;
    const done = selectionDone(torrent, entry.selected ?? null);
    // A whole torrent completes through webtorrent's 'done' (attach).
    if (done && entry.selected && entry.status === 'downloading') {
      void this.completed(entry, torrent);
    } else if (!done && entry.status === 'seeding') {
      entry.status = 'downloading';
      const bytes = verifiedBytes(torrent);
      const bitfield = bitfieldOf(torrent);
      this.journal.write({
        infoHash: entry.infoHash,
        kind: 'downloading',
        run: (db) => markDownloading(db, entry.infoHash, bytes, bitfield),
        then: () => this.ctx.bus.publish('torrent_added', [entry.infoHash], { status: 'downloading' }),
      });
      void this.dial(entry);
    }
  }

  /** The live torrent's counters join the entry's totals before it leaves the session. */
  private foldTotals(entry: Entry): void {
    const t = entry.torrent;
    if (!t) return;
    entry.uploadedBase = (entry.uploadedBase ?? 0) + t.uploaded;
    entry.downloadedBase = (entry.downloadedBase ?? 0) + t.received;
  }

  // ---- files on disk -------------------------------------------------------------------------------------

  /** Checks one seeding entry's files; a read error with the files unchanged is an error of its own. */
  private checkOne(entry: Entry, readError?: Error): Promise<void> {
    this.checking = this.checking.then(async () => {
      if (this.entries.get(entry.infoHash) !== entry || !entry.files) return;
      const check = await checkFiles(entry.savePath, entry.files);
      if (check.status === 'ok') {
        if (entry.status === 'missing' && entry.torrent === undefined) {
          // The files are back as they were (a drive mounted again): seed without reading them (dormant until
          // a peer asks, when it may be).
          this.setSeeding(entry, entry.files, 'files back');
          if (!this.canSleep(entry)) this.attach(entry, seedOptions(entry, null));
        } else if (readError && entry.status === 'seeding') {
          this.fail(entry, { code: 'E_WRITE_FAILED', reason: `cannot read ${entry.name ?? entry.infoHash}: ${readError.message}` }, 'error');
        }
        return;
      }
      if (entry.status === 'seeding' || (entry.status === 'missing' && check.status === 'changed')) this.fail(entry, check, check.status);
    });
    return this.checking;
  }

  /** Checks every seeding (and missing) torrent's files against their snapshot: size and mtime only. */
  async checkAllFiles(): Promise<void> {
    for (const entry of [...this.entries.values()]) {
      if ((entry.status === 'seeding' || entry.status === 'missing') && entry.files && !entry.paused) {
        await this.checkOne(entry).catch((err) => this.ctx.log.warn({ err, infoHash: entry.infoHash }, 'file check failed'));
      }
    }
  }

  // ---- dormant torrents (dormant.ts) ---------------------------------------------------------------------

  /**
   * Whether the entry may be out of webtorrent while it seeds: complete and whole (a partial selection seeds
   * from its bitfield), with its .torrent and a files snapshot to check before it wakes, not paused.
   */
  private canSleep(entry: Entry): boolean {
    return this.ctx.config.dormantAfterMs > 0 && entry.status === 'seeding' && !entry.paused && !entry.selected && entry.torrentFile !== null && entry.files !== null && !entry.quiet;
  }

  isDormant(entry: Entry): boolean {
    return entry.torrent === undefined && this.canSleep(entry);
  }

  /** How many seeding torrents are dormant now, for the heartbeat. */
  dormantCount(): number {
    let n = 0;
    for (const e of this.entries.values()) if (this.isDormant(e)) n++;
    return n;
  }

  /**
   * A peer's handshake named this torrent: if it is dormant, its files are checked (a stat each) and it joins
   * the session as a restart adds it (no byte read); resolves with it once ready, so webtorrent hands it the
   * connection that asked. Peers asking at once share one wake-up. Null when there is nothing to wake
   * (unknown, paused, failed, a download, or its files gone: then it turns missing or changed).
   */
  wake(infoHash: string): Promise<Torrent | null> {
    const pending = this.waking.get(infoHash);
    if (pending) return pending;
    const entry = this.entries.get(infoHash);
    if (!entry || !this.isDormant(entry)) return Promise.resolve(null);
    const woken = this.wakeEntry(entry)
      .catch((err: unknown) => {
        this.ctx.log.warn({ err, infoHash }, 'could not wake a dormant torrent');
        return null;
      })
      .finally(() => this.waking.delete(infoHash));
    this.waking.set(infoHash, woken);
    return woken;
  }

  private async wakeEntry(entry: Entry): Promise<Torrent | null> {
    const check = await checkFiles(entry.savePath, entry.files!);
    // Removed, paused, failed or put in the session by something else meanwhile.
    if (this.entries.get(entry.infoHash) !== entry || !this.isDormant(entry)) return entry.torrent ?? null;
    if (check.status !== 'ok') {
      this.fail(entry, check, check.status);
      return null;
    }
    if ((this.ctx.client as { destroyed?: boolean }).destroyed) return null;
    const torrent = this.attach(entry, seedOptions(entry, null));
    this.idle.touch(entry.infoHash);
    this.ctx.log.debug({ infoHash: entry.infoHash }, 'woke a dormant torrent for a peer');
    const ready = await whenReady(torrent).then(() => true, () => false);
    return ready && entry.torrent === torrent ? torrent : null;
  }

  /** Takes complete torrents that had no peer for `afterMs` out of webtorrent; their totals stay with the entry. */
  private sleepIdle(afterMs: number): void {
    const now = Date.now();
    const gone: Promise<void>[] = [];
    for (const entry of this.entries.values()) {
      const torrent = entry.torrent;
      if (!torrent || torrent.destroyed || !this.canSleep(entry) || this.waking.has(entry.infoHash)) continue;
      if (!this.idle.idleFor(entry.infoHash, torrent, afterMs, now)) continue;
      this.foldTotals(entry);
      entry.torrent = undefined;
      this.idle.forget(entry.infoHash);
      this.lastProgress.delete(entry.infoHash);
      gone.push(new Promise<void>((done) => torrent.destroy({}, () => done())));
    }
    if (gone.length === 0) return;
    this.ctx.log.debug({ slept: gone.length, afterMs }, 'idle torrents dormant');
    // What many torrents held (~15 KiB each) is garbage once they are out of webtorrent, but V8 keeps its pages.
    if (gone.length >= GIVE_BACK_AFTER_SLEEPING) void Promise.all(gone).then(() => giveMemoryBack());
  }

  // ---- timers --------------------------------------------------------------------------------------------

  /**
   * Saves progress of unfinished torrents whose verified bytes changed, and publishes `torrent_progress`
   * (info_hash, bytes_done, total_size, download_speed, peers) for progress bars; checks seeding files.
   */
  startTimers(): void {
    this.progressTimer = setInterval(() => this.saveProgress(), this.ctx.config.progressIntervalMs);
    this.progressTimer.unref();
    this.checkTimer = setInterval(() => void this.checkAllFiles(), this.ctx.config.fileCheckIntervalMs);
    this.checkTimer.unref();
    const after = this.ctx.config.dormantAfterMs;
    if (after > 0) {
      this.sweepTimer = setInterval(() => this.sleepIdle(after), sweepIntervalMs(after));
      this.sweepTimer.unref();
    }
  }

  saveProgress(): void {
    for (const entry of this.entries.values()) {
      const torrent = entry.torrent;
      // Totals move while seeding too (uploads): stored whenever they changed, with the progress when there is one.
      const totals = totalsOf(entry);
      const totalsKey = `${totals.uploaded}/${totals.downloaded}`;
      // Nothing remembered yet: compare with what the store holds (no write for every torrent after a start).
      const stored = `${entry.uploadedBase ?? 0}/${entry.downloadedBase ?? 0}`;
      const totalsChanged = (this.lastTotals.get(entry.infoHash) ?? stored) !== totalsKey;
      this.lastTotals.set(entry.infoHash, totalsKey);
      const storeTotals = () => {
        if (totalsChanged) this.journal.write({ infoHash: entry.infoHash, kind: 'totals', run: (db) => saveTotals(db, entry.infoHash, totals.uploaded, totals.downloaded) });
      };
      if (!torrent || torrent.destroyed || !torrent.bitfield || torrent.done || entry.status === 'seeding') {
        storeTotals();
        continue;
      }
      const bytes = verifiedBytes(torrent);
      if (this.lastProgress.get(entry.infoHash) === bytes) {
        storeTotals();
        continue;
      }
      this.lastProgress.set(entry.infoHash, bytes);
      const bitfield = bitfieldOf(torrent);
      // A newer progress replaces a pending one (journal): each carries the totals of its moment.
      this.journal.write({
        infoHash: entry.infoHash,
        kind: 'progress',
        run: async (db) => {
          await saveProgress(db, entry.infoHash, bytes, bitfield);
          await saveTotals(db, entry.infoHash, totals.uploaded, totals.downloaded);
        },
      });
      // Not awaited: during a Redis outage the publish waits in ioredis's queue.
      this.ctx.bus
        .publish('torrent_progress', [entry.infoHash, bytes, torrent.length, Math.round(torrent.downloadSpeed), torrent.numPeers])
        .catch((err) => this.ctx.log.debug({ err }, 'progress not published'));
    }
  }

  /** Stops the timers, saves the last progress and waits (bounded) for the store to take what is queued. */
  async close(flushMs: number): Promise<void> {
    clearInterval(this.progressTimer);
    clearInterval(this.checkTimer);
    clearInterval(this.sweepTimer);
    this.saveProgress();
    const left = await this.journal.flush(flushMs);
    if (left > 0) this.ctx.log.error({ pendingWrites: left }, `${left} torrent state change(s) not stored: Postgres did not answer before shutdown`);
    this.journal.close();
  }

  /** How many torrents are paused, for the heartbeat. */
  pausedCount(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.paused) n++;
    return n;
  }

  /** Counts by state, for the heartbeat and `bitween status`. */
  states(): Record<TorrentStatus, number> {
    const counts: Record<TorrentStatus, number> = { metadata: 0, downloading: 0, seeding: 0, error: 0, missing: 0, changed: 0 };
    for (const e of this.entries.values()) counts[e.status]++;
    return counts;
  }
}

/**
 * How a complete torrent goes back into the session: a whole one without reading a byte; a partial selection
 * from its bitfield (skipVerify would claim the pieces it never fetched), or verified when there is none.
 */
function seedOptions(entry: Entry, bitfield: Buffer | null): AddOptions {
  if (!entry.selected) return { skipVerify: true };
  return bitfield ? { bitfield: new Uint8Array(bitfield) } : {};
}

function decodeInfo(torrentFile: Buffer): unknown {
  return (bencode.decode(torrentFile) as { info?: unknown }).info;
}

/** Resolves once the torrent is ready; rejects when it fails or is destroyed first (never waits for ever). */
function whenReady(torrent: Torrent): Promise<void> {
  return new Promise((resolve, reject) => {
    if (torrent.ready) return resolve();
    const closed = () => new Error('the torrent was closed before it was ready');
    if (torrent.destroyed) return reject(closed());
    const settle = (done: () => void) => () => {
      torrent.off('ready', onReady);
      torrent.off('error', onError);
      torrent.off('close', onClose);
      done();
    };
    const onReady = settle(resolve);
    const onError = (err: Error) => settle(() => reject(err))();
    const onClose = settle(() => reject(closed()));
    torrent.once('ready', onReady);
    torrent.once('error', onError);
    torrent.once('close', onClose);
  });
}

/** A recheck of a torrent without metadata cannot verify anything: it is back once it has its info-hash. */
function whenReadyOrMetadataWait(torrent: Torrent): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    torrent.once('error', onError);
    const done = () => {
      torrent.off('error', onError);
      resolve();
    };
    if (torrent.ready) return done();
    torrent.once('ready', done);
    torrent.once('infoHash', () => {
      if (!torrent.torrentFile || !torrent.info) done();
    });
    // A destroyed torrent emits neither: the entry's listener has moved it to an error state.
    torrent.once('close', done);
  });
}

export { displayName };

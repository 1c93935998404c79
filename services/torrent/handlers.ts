// The torrent service's topics (INTERFACE.md §2): share, fetch, remove, recheck, pause, resume, set_limits,
// select_files. Each checks its input and hands the work to the one owner of torrents (torrents.ts).
import { isAbsolute } from 'node:path';
import type { Message } from '../../lib/bus.js';
import { BadInputError } from '../../lib/errors.js';
import { requireInfoHash, requireString, takeArgs } from '../../lib/validate.js';
import type { TorrentContext } from './context.js';
import type { RateLimits } from './limits.js';
import { parseFileIndexes } from './selection.js';
import { resolveSharePath } from './share-path.js';
import type { Torrents } from './torrents.js';

export class TorrentHandlers {
  constructor(private readonly ctx: TorrentContext, private readonly torrents: Torrents, private readonly limits: RateLimits) {}

  /** Creates a torrent for a file or folder, seeds it where it lies, stores it, announces it. */
  async on_generate_torrent({ topic, args }: Message): Promise<void> {
    const [rawPath] = takeArgs(topic, args, 1, 1);
    const path = await resolveSharePath(rawPath, this.ctx.config);
    const started = Date.now();
    const { entry, added } = await this.torrents.share(path, rawPath as string);
    const { infoHash, name, totalSize: size } = entry;
    // torrent_added follows once the store has it (torrents.ts).
    this.ctx.log.info({ infoHash, name, size, ms: Date.now() - started, path }, added ? 'sharing' : 'already shared');
  }

  /** The original API's name for generate_torrent. */
  on_add_path(msg: Message): Promise<void> {
    return this.on_generate_torrent(msg);
  }

  /** Fetches a contact's share: magnet from the hash, dial every address the store knows for it. */
  async on_add_hash({ topic, args, kwargs }: Message): Promise<void> {
    const [rawHash, rawSavePath] = takeArgs(topic, args, 1, 2);
    // kwargs {"files": [indexes]}: only those files, selected before the metadata arrives.
    const selected = kwargs.files === undefined ? null : parseFileIndexes(kwargs.files);
    const infoHash = requireInfoHash(rawHash);
    let savePath = this.ctx.config.savePath;
    if (rawSavePath !== undefined && rawSavePath !== null) {
      savePath = requireString(rawSavePath, 'save_path');
      if (!isAbsolute(savePath)) throw new BadInputError(`save_path must be absolute, got ${JSON.stringify(savePath)}`);
    }
    const { added } = await this.torrents.fetch(infoHash, savePath, selected);
    if (added) this.ctx.log.info({ infoHash, savePath }, 'fetching');
  }

  /** Removes a torrent from the session and the store; with delete_files, the files bitween downloaded too. */
  async on_del_torrent({ topic, args, kwargs }: Message): Promise<void> {
    const [rawHash, options] = takeArgs(topic, args, 1, 2);
    const infoHash = requireInfoHash(rawHash);
    if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options))) {
      throw new BadInputError(`del_torrent's second argument must be an object like {"delete_files": true}`);
    }
    const opts = { ...kwargs, ...(options as Record<string, unknown> | undefined) };
    const deleteFiles = opts.delete_files ?? false;
    if (typeof deleteFiles !== 'boolean') throw new BadInputError(`delete_files must be true or false, got ${JSON.stringify(deleteFiles)}`);
    const removed = await this.torrents.remove(infoHash, deleteFiles);
    this.ctx.log.info({ infoHash, deleteFiles: removed.deleteFiles, deleted: removed.deleted.length }, 'removed');
  }

  /** Verifies what is on disk, then seeds or continues; answers with torrent_added or torrent_error. */
  async on_recheck({ topic, args }: Message): Promise<void> {
    const [rawHash] = takeArgs(topic, args, 1, 1);
    await this.torrents.recheck(requireInfoHash(rawHash));
  }

  /** Stops a torrent's transfers (out of the session, not advertised); answers torrent_paused. */
  async on_pause({ topic, args }: Message): Promise<void> {
    const [rawHash] = takeArgs(topic, args, 1, 1);
    await this.torrents.pause(requireInfoHash(rawHash));
  }

  /** Restarts a paused torrent's transfers; answers torrent_resumed. */
  async on_resume({ topic, args }: Message): Promise<void> {
    const [rawHash] = takeArgs(topic, args, 1, 1);
    await this.torrents.unpause(requireInfoHash(rawHash));
  }

  /** [{"upload": B/s, "download": B/s}] (or the same as kwargs), 0 = no limit; answers limits_changed. */
  async on_set_limits({ topic, args, kwargs }: Message): Promise<void> {
    const [given] = takeArgs(topic, args, Object.keys(kwargs).length > 0 ? 0 : 1, 1);
    const limits = this.limits.set(given ?? kwargs);
    this.ctx.log.info({ limits }, 'rate limits changed');
  }

  /** [info_hash, [file indexes] or null for all]: which files of a download to fetch; answers files_selected. */
  async on_select_files({ topic, args }: Message): Promise<void> {
    const [rawHash, rawIndexes] = takeArgs(topic, args, 2, 2);
    const infoHash = requireInfoHash(rawHash);
    await this.torrents.selectFiles(infoHash, parseFileIndexes(rawIndexes));
  }

  /** Contacts' lists changed: let their new addresses in, and dial them for every unfinished torrent. */
  async on_recheck_handles({ topic, args }: Message): Promise<void> {
    takeArgs(topic, args, 0, 0);
    await this.ctx.peerFilter?.reload();
    await this.torrents.dialAll();
  }
}

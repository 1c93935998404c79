// The torrent service's topics (INTERFACE.md §2): share, fetch, remove, recheck.
import { stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import type { Message } from '../../lib/bus.js';
import { BadInputError, NotFoundError } from '../../lib/errors.js';
import { deleteTorrent, getTorrent, insertTorrent } from '../../lib/store/torrents.js';
import { requireInfoHash, requireString, takeArgs } from '../../lib/validate.js';
import type { TorrentContext } from './context.js';
import { dialContacts } from './dial.js';
import { bitfieldOf, seedPath, whenInfoHash } from './session.js';
import { reportErrors, trackDownload, type Registry } from './track.js';

export function magnetFor(infoHash: string): string {
  return `magnet:?xt=urn:btih:${infoHash}`;
}

async function requireExistingPath(value: unknown): Promise<string> {
  const path = requireString(value, 'path');
  if (!isAbsolute(path)) throw new BadInputError(`path must be absolute, got ${JSON.stringify(path)}`);
  try {
    const s = await stat(path);
    if (!s.isFile() && !s.isDirectory()) throw new BadInputError(`${path} is neither a file nor a folder`);
  } catch (err) {
    if (err instanceof BadInputError) throw err;
    throw new BadInputError(`path does not exist or cannot be read: ${path}`);
  }
  return resolve(path);
}

export class TorrentHandlers {
  constructor(private readonly ctx: TorrentContext, private readonly registry: Registry) {}

  /** Creates a torrent for a file or folder, seeds it where it lies, stores it, announces it. */
  async on_generate_torrent({ topic, args }: Message): Promise<void> {
    const [rawPath] = takeArgs(topic, args, 1, 1);
    const path = await requireExistingPath(rawPath);
    const started = Date.now();
    const torrent = await seedPath(this.ctx.client, path);
    const infoHash = torrent.infoHash.toLowerCase();
    this.registry.set(infoHash, torrent);
    const added = await insertTorrent(this.ctx.db, {
      infoHash,
      name: torrent.name,
      magnetLink: torrent.magnetURI,
      torrentFile: Buffer.from(torrent.torrentFile),
      status: 'seeding',
      origin: 'shared',
      savePath: torrent.path,
      totalSize: torrent.length,
      bytesDone: torrent.length,
      bitfield: bitfieldOf(torrent),
    });
    if (added) reportErrors(this.ctx, torrent, infoHash, this.registry);
    this.ctx.log.info({ infoHash, name: torrent.name, size: torrent.length, ms: Date.now() - started, path }, added ? 'sharing' : 'already shared');
    await this.ctx.bus.publish('torrent_added', [infoHash], { name: torrent.name, size: torrent.length, path });
    if (added) await this.ctx.bus.publish('publish_shares');
  }

  /** The original API's name for generate_torrent. */
  on_add_path(msg: Message): Promise<void> {
    return this.on_generate_torrent(msg);
  }

  /** Fetches a contact's share: magnet from the hash, dial every address the store knows for it. */
  async on_add_hash({ topic, args }: Message): Promise<void> {
    const [rawHash, rawSavePath] = takeArgs(topic, args, 1, 2);
    const infoHash = requireInfoHash(rawHash);
    let savePath = this.ctx.config.savePath;
    if (rawSavePath !== undefined && rawSavePath !== null) {
      savePath = requireString(rawSavePath, 'save_path');
      if (!isAbsolute(savePath)) throw new BadInputError(`save_path must be absolute, got ${JSON.stringify(savePath)}`);
    }
    const existing = this.registry.get(infoHash);
    if (existing) {
      // Already here: dial again (a contact may have come online) and acknowledge.
      await dialContacts(this.ctx, existing, infoHash);
      await this.ctx.bus.publish('torrent_added', [infoHash]);
      return;
    }
    const magnetLink = magnetFor(infoHash);
    await insertTorrent(this.ctx.db, { infoHash, magnetLink, status: 'metadata', origin: 'fetched', savePath });
    const torrent = this.ctx.client.add(magnetLink, { path: savePath });
    this.registry.set(infoHash, torrent);
    reportErrors(this.ctx, torrent, infoHash, this.registry);
    trackDownload(this.ctx, torrent, infoHash, true);
    await whenInfoHash(torrent);
    const { dialled } = await dialContacts(this.ctx, torrent, infoHash);
    this.ctx.log.info({ infoHash, savePath, peers: dialled.length }, 'fetching');
    await this.ctx.bus.publish('torrent_added', [infoHash], { savePath });
  }

  /** Removes a torrent from the session and the store; with delete_files, its downloaded files too. */
  async on_del_torrent({ topic, args, kwargs }: Message): Promise<void> {
    const [rawHash, options] = takeArgs(topic, args, 1, 2);
    const infoHash = requireInfoHash(rawHash);
    const opts = { ...kwargs, ...(typeof options === 'object' && options !== null ? options : {}) } as Record<string, unknown>;
    if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options))) {
      throw new BadInputError(`del_torrent's second argument must be an object like {"delete_files": true}`);
    }
    const deleteFiles = opts.delete_files ?? false;
    if (typeof deleteFiles !== 'boolean') throw new BadInputError(`delete_files must be true or false, got ${JSON.stringify(deleteFiles)}`);
    const row = await getTorrent(this.ctx.db, infoHash);
    const torrent = this.registry.get(infoHash);
    if (!row && !torrent) throw new NotFoundError(`no torrent ${infoHash}: \`bitween ls\` lists what this node has`);
    // A share's files are the user's originals where they lie: never delete those, only downloads.
    const destroyStore = deleteFiles && row?.origin === 'fetched';
    if (deleteFiles && !destroyStore) this.ctx.log.warn({ infoHash }, 'not deleting the files of a share: they are your originals');
    this.registry.delete(infoHash);
    if (torrent && !torrent.destroyed) {
      await new Promise<void>((done) => torrent.destroy({ destroyStore }, () => done()));
    }
    await deleteTorrent(this.ctx.db, infoHash);
    this.ctx.log.info({ infoHash, deleteFiles: destroyStore }, 'removed');
    await this.ctx.bus.publish('torrent_removed', [infoHash], { deleteFiles: destroyStore });
    await this.ctx.bus.publish('publish_shares');
  }

  /** Dials newly known contact addresses for every unfinished torrent. */
  async on_recheck_handles({ topic, args }: Message): Promise<void> {
    takeArgs(topic, args, 0, 0);
    for (const [infoHash, torrent] of this.registry) {
      if (!torrent.done && !torrent.destroyed) await dialContacts(this.ctx, torrent, infoHash);
    }
  }
}

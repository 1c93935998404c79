// On start, every stored torrent goes back into the session: shares keep seeding, downloads continue.
// The stored bitfield lets webtorrent trust what is on disk after spot-checking a piece or two per file,
// instead of hashing everything again.
import { errorMessage } from '../../lib/errors.js';
import { listTorrents } from '../../lib/store/torrents.js';
import type { TorrentContext } from './context.js';
import { dialContacts } from './dial.js';
import { magnetFor } from './handlers.js';
import { NO_TRACKERS, whenInfoHash } from './session.js';
import { reportErrors, trackDownload, type Registry } from './track.js';

export async function restoreTorrents(ctx: TorrentContext, registry: Registry): Promise<number> {
  const rows = await listTorrents(ctx.db);
  for (const row of rows) {
    const log = ctx.log.child({ infoHash: row.infoHash });
    try {
      const id = row.torrentFile ?? magnetFor(row.infoHash);
      const torrent = ctx.client.add(id, {
        ...NO_TRACKERS,
        path: row.savePath,
        ...(row.bitfield ? { bitfield: new Uint8Array(row.bitfield) } : {}),
      });
      registry.set(row.infoHash, torrent);
      reportErrors(ctx, torrent, row.infoHash, registry);
      if (row.status !== 'seeding') trackDownload(ctx, torrent, row.infoHash, row.torrentFile === null);
      await whenInfoHash(torrent);
      if (row.status !== 'seeding') await dialContacts(ctx, torrent, row.infoHash);
      log.info({ name: row.name, status: row.status }, 'restored');
    } catch (err) {
      // One broken row must not keep the others from coming back; the row stays for the user to see.
      log.error({ err: errorMessage(err) }, 'could not restore torrent: it stays in the store');
    }
  }
  return rows.length;
}

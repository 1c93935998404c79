// `bitween rm HASH [--delete-files]`: asks the torrent service to remove a torrent and waits until it has.
// The files of one's own shares are never deleted (they are the originals); --delete-files removes downloads.
import { NotFoundError } from '../lib/errors.js';
import { getTorrent } from '../lib/store/torrents.js';
import { clean, json } from './format.js';
import { resolveHash } from './hash.js';
import { Replies, eventHash } from './replies.js';
import { out } from './run.js';
import type { Session } from './session.js';

export async function rmCommand(session: Session, input: string, options: { deleteFiles?: boolean; json?: boolean; timeout?: number }): Promise<number> {
  const infoHash = await resolveHash(session, input, { contacts: false });
  const row = await getTorrent(await session.db(), infoHash);
  if (!row) throw new NotFoundError(`no torrent ${infoHash} here: \`bitween ls\` lists what this node has`);
  const beat = await session.requireService('torrent');
  const replies = await Replies.open(session, ['torrent_removed']);
  // INTERFACE.md §2: del_torrent info_hash [, {"delete_files": bool}]
  const payload = await session.publish('torrent', 'del_torrent', options.deleteFiles ? [infoHash, { delete_files: true }] : [infoHash]);
  const removed = await replies.wait({
    service: 'torrent',
    pid: beat.pid,
    payload,
    what: `removing ${infoHash}`,
    timeoutMs: (options.timeout ?? 60) * 1000,
    pick: (e) => (e.topic === 'torrent_removed' && eventHash(e) === infoHash ? e : undefined),
  });
  const filesDeleted = removed.kwargs.deleteFiles === true;
  if (options.json) {
    await out(json({ infoHash, name: row.name, filesDeleted, savePath: row.savePath }));
    return 0;
  }
  const name = row.name ? clean(row.name) : infoHash;
  let files = '';
  if (options.deleteFiles) files = filesDeleted ? '; its files are deleted' : `; its files stay in ${row.savePath} (a share's files are your originals)`;
  await out(`removed ${name}${files}`);
  return 0;
}

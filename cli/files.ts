// `bitween files HASH [--select LIST]`: a torrent's files with what is on disk and which are selected; with
// --select, chooses which files of a download to fetch (select_files), kept across restarts.
import { BadInputError, NotFoundError } from '../lib/errors.js';
import { getTorrent, type TorrentRow } from '../lib/store/torrents.js';
import { listFiles, type ListedFile } from '../services/torrent/selection.js';
import { clean, formatPercent, formatSize, json, table } from './format.js';
import { resolveHash } from './hash.js';
import { Replies, eventHash } from './replies.js';
import { out } from './run.js';
import type { Session } from './session.js';

/** "0,2,5-7" → [0, 2, 5, 6, 7]; "all" → null (every file). Indexes as `bitween files` shows them. */
export function parseSelection(text: string): number[] | null {
  if (text.trim().toLowerCase() === 'all') return null;
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!m) throw new BadInputError(`"${text}" is not a file selection: give indexes like 0,2 or 1-3 (\`bitween files HASH\` lists them), or all`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from || to - from > 100_000) throw new BadInputError(`"${part.trim()}" is not a range of file indexes`);
    for (let i = from; i <= to; i++) out.add(i);
  }
  return [...out].sort((a, b) => a - b);
}

function filesOf(row: TorrentRow): ListedFile[] | null {
  if (!row.torrentFile) return null;
  const complete = row.status === 'seeding' && row.selectedFiles === null;
  return listFiles(row.torrentFile, row.bitfield, row.selectedFiles, complete);
}

export async function filesCommand(session: Session, input: string, options: { select?: string; json?: boolean; timeout?: number }): Promise<number> {
  const infoHash = await resolveHash(session, input, { contacts: false });
  const db = await session.db();
  let row = await getTorrent(db, infoHash);
  if (!row) throw new NotFoundError(`no torrent ${infoHash} here: \`bitween ls\` lists what this node has`);
  if (options.select !== undefined) {
    const selected = parseSelection(options.select);
    const beat = await session.requireService('torrent');
    const replies = await Replies.open(session, ['files_selected']);
    // select_files [info_hash, [indexes] or null]
    const payload = await session.publish('torrent', 'select_files', [infoHash, selected]);
    await replies.wait({
      service: 'torrent',
      pid: beat.pid,
      payload,
      what: `selecting files of ${infoHash}`,
      timeoutMs: (options.timeout ?? 30) * 1000,
      pick: (e) => (e.topic === 'files_selected' && eventHash(e) === infoHash ? e : undefined),
    });
    row = (await getTorrent(db, infoHash)) ?? row;
  }
  const files = filesOf(row);
  if (options.json) {
    await out(json({ infoHash, name: row.name, selectedFiles: row.selectedFiles, files }));
    return 0;
  }
  if (!files) {
    const chosen = row.selectedFiles ? `; selected: ${row.selectedFiles.join(',')} (checked once it arrives)` : '';
    await out(`${infoHash}: its metadata has not arrived yet, so its files are not known${chosen}`);
    return 0;
  }
  await out(
    table(files, [
      { header: '#', value: (f: ListedFile) => String(f.index), align: 'right' as const },
      { header: 'GET', value: (f: ListedFile) => (f.selected ? 'yes' : 'no') },
      { header: 'SIZE', value: (f: ListedFile) => formatSize(f.size), align: 'right' as const },
      { header: 'DONE', value: (f: ListedFile) => formatPercent(f.size === 0 ? 1 : f.bytesDone / f.size), align: 'right' as const },
      { header: 'PATH', value: (f: ListedFile) => clean(f.path), flex: true, minWidth: 10 },
    ]),
  );
  return 0;
}

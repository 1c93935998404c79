// `bitween ls`: own torrents from the store, with peers and rates from the torrent service's heartbeat when
// it is up (the store knows what is kept; only the running session knows who is connected right now).
// A torrent in error, missing or changed state gets a line under the table: why, and what to do about it.
import { join } from 'node:path';
import { errorMessage } from '../lib/errors.js';
import { listTorrents, ratioOf, type TorrentRow } from '../lib/store/torrents.js';
import { clean, formatPercent, formatRate, formatSize, json, shortHash, table } from './format.js';
import { out } from './run.js';
import type { Session } from './session.js';

export interface LiveTorrent {
  peers: number | null;
  downloadRate: number | null;
  uploadRate: number | null;
  /** Totals over every run with this session's bytes in (fresher than the store's, written each interval). */
  uploaded?: number | null;
  downloaded?: number | null;
}

export interface ListedTorrent extends LiveTorrent {
  infoHash: string;
  name: string | null;
  size: number | null;
  bytesDone: number;
  /** 0..1, null while the size is unknown (metadata not yet fetched) */
  progress: number | null;
  state: string;
  /** Why it is in error / missing / changed state (a stable code and one line); null otherwise. */
  errorCode: string | null;
  errorReason: string | null;
  origin: string;
  savePath: string;
  addedAt: string;
  completedAt: string | null;
  /** Paused by the user (`bitween resume` restarts it); `state` keeps the status it had. */
  paused: boolean;
  /** File indexes being fetched (`bitween files`); null = all. */
  selectedFiles: number[] | null;
  /** Totals over every run, bytes, and uploaded / downloaded (for a share: / size); null when unknown. */
  uploadedBytes: number;
  downloadedBytes: number;
  ratio: number | null;
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/**
 * Per-torrent live figures from the torrent service's heartbeat facts: `transfers` as a list of
 * { infoHash, peers, downloadSpeed, uploadSpeed } (or keyed by hash). Missing figures stay null.
 */
export function liveTorrents(facts: Record<string, unknown> | undefined): Map<string, LiveTorrent> {
  const live = new Map<string, LiveTorrent>();
  const list = facts?.transfers;
  const entries: [string, Record<string, unknown>][] = [];
  if (Array.isArray(list)) {
    for (const t of list) {
      if (typeof t !== 'object' || t === null) continue;
      const r = t as Record<string, unknown>;
      const hash = r.infoHash ?? r.hash;
      if (typeof hash === 'string') entries.push([hash.toLowerCase(), r]);
    }
  } else if (typeof list === 'object' && list !== null) {
    for (const [hash, t] of Object.entries(list)) if (typeof t === 'object' && t !== null) entries.push([hash.toLowerCase(), t as Record<string, unknown>]);
  }
  for (const [hash, r] of entries) {
    live.set(hash, {
      peers: num(r.peers ?? r.numPeers),
      downloadRate: num(r.downloadRate ?? r.downloadSpeed),
      uploadRate: num(r.uploadRate ?? r.uploadSpeed),
      uploaded: num(r.uploaded),
      downloaded: num(r.downloaded),
    });
  }
  return live;
}

export function listed(row: TorrentRow, live: LiveTorrent | undefined): ListedTorrent {
  const size = row.totalSize;
  // A partial selection seeds what it has: its progress is of the whole torrent.
  const whole = row.status === 'seeding' && !row.selectedFiles;
  const progress = whole ? 1 : size ? Math.min(1, row.bytesDone / size) : size === 0 ? 1 : null;
  const uploadedBytes = Math.max(row.uploadedBytes ?? 0, live?.uploaded ?? 0);
  const downloadedBytes = Math.max(row.downloadedBytes ?? 0, live?.downloaded ?? 0);
  return {
    infoHash: row.infoHash,
    name: row.name,
    size,
    bytesDone: row.bytesDone,
    progress,
    state: row.status,
    errorCode: row.errorCode ?? null,
    errorReason: row.errorReason ?? null,
    origin: row.origin,
    savePath: row.savePath,
    addedAt: row.addedAt.toISOString(),
    completedAt: row.completedAt?.toISOString() ?? null,
    peers: live?.peers ?? null,
    downloadRate: live?.downloadRate ?? null,
    uploadRate: live?.uploadRate ?? null,
    paused: row.paused ?? false,
    selectedFiles: row.selectedFiles ?? null,
    uploadedBytes,
    downloadedBytes,
    ratio: ratioOf(uploadedBytes, downloadedBytes, size),
  };
}

/** "seeding", "downloading (paused)", "seeding (some files)": the status with what the user chose. */
export function stateLabel(t: ListedTorrent): string {
  const notes = [t.selectedFiles ? 'some files' : '', t.paused ? 'paused' : ''].filter(Boolean);
  return notes.length > 0 ? `${t.state} (${notes.join(', ')})` : t.state;
}

export function renderTorrents(torrents: ListedTorrent[], width?: number): string {
  if (torrents.length === 0) return 'no torrents yet: `bitween share PATH` shares one, `bitween get HASH` fetches one';
  const columns = [
    { header: 'HASH', value: (t: ListedTorrent) => shortHash(t.infoHash) },
    { header: 'NAME', value: (t: ListedTorrent) => t.name ?? '(fetching metadata)', flex: true, minWidth: 10 },
    { header: 'SIZE', value: (t: ListedTorrent) => formatSize(t.size), align: 'right' as const },
    { header: 'DONE', value: (t: ListedTorrent) => formatPercent(t.progress), align: 'right' as const },
    { header: 'STATE', value: stateLabel },
    { header: 'PEERS', value: (t: ListedTorrent) => (t.peers === null ? '-' : String(t.peers)), align: 'right' as const },
    { header: 'DOWN', value: (t: ListedTorrent) => formatRate(t.downloadRate), align: 'right' as const },
    { header: 'UP', value: (t: ListedTorrent) => formatRate(t.uploadRate), align: 'right' as const },
    { header: 'RATIO', value: (t: ListedTorrent) => (t.ratio === null ? '-' : t.ratio.toFixed(2)), align: 'right' as const },
  ];
  return table(torrents, columns, width);
}

const FAILED = new Set(['error', 'missing', 'changed']);

/** What to do about a torrent in error / missing / changed state, naming its path and hash; undefined otherwise. */
export function stateHint(t: ListedTorrent): string | undefined {
  const hash = shortHash(t.infoHash);
  const path = t.name === null ? t.savePath : join(t.savePath, t.name);
  switch (t.state) {
    case 'missing':
      return `files not found at ${path}: put them back and run \`bitween recheck ${hash}\``;
    case 'changed':
      return `the files changed since they were ${t.origin === 'fetched' ? 'downloaded' : 'shared'}: \`bitween share ${path}\` to share the new version, \`bitween rm ${hash}\` to drop the old one`;
    case 'error':
      return `\`bitween recheck ${hash}\` verifies what is on disk and goes on; \`bitween rm ${hash}\` drops it`;
    default:
      return undefined;
  }
}

/**
 * Two lines per torrent in error / missing / changed state, after the table: the state with its code and
 * the service's reason, then what to do. Not cut to the terminal's width: the reason is the point.
 */
export function renderProblems(torrents: ListedTorrent[]): string[] {
  const lines: string[] = [];
  for (const t of torrents) {
    if (!FAILED.has(t.state)) continue;
    const code = t.errorCode ? ` (${t.errorCode})` : '';
    lines.push(clean(`${shortHash(t.infoHash)}  ${t.state}${code}: ${t.errorReason ?? 'no reason stored'}`));
    lines.push(clean(`  ${stateHint(t)}`));
  }
  return lines;
}

/** "all torrents: 2 peers, down 1.50 MiB/s, up 0 B/s" from the torrent service's facts. */
export function sessionTotals(facts: Record<string, unknown>): string {
  const peers = num(facts.peers);
  return `all torrents: ${peers === null ? '-' : peers} peer${peers === 1 ? '' : 's'}, down ${formatRate(num(facts.downloadSpeed))}, up ${formatRate(num(facts.uploadSpeed))}`;
}

export async function lsCommand(session: Session, options: { json?: boolean }): Promise<number> {
  const rows = await listTorrents(await session.db());
  // Live figures are extra: without Redis or the torrent service the list still shows, with "-".
  let facts: Record<string, unknown> | undefined;
  let warning: string | undefined;
  try {
    facts = (await session.heartbeat('torrent'))?.facts;
    if (!facts && rows.length > 0) warning = 'the torrent service is not running: peers and rates unknown (`bitween status`)';
  } catch (err) {
    warning = `${errorMessage(err)} (peers and rates unknown)`;
  }
  const live = liveTorrents(facts);
  const torrents = rows.map((r) => listed(r, live.get(r.infoHash)));
  if (options.json) {
    await out(json(torrents));
  } else {
    let text = renderTorrents(torrents);
    // Without per-torrent figures, the session's totals are still worth a line.
    if (facts && live.size === 0 && torrents.length > 0) text += `
${sessionTotals(facts)}`;
    const problems = renderProblems(torrents);
    if (problems.length > 0) text += `\n\n${problems.join('\n')}`;
    await out(text);
  }
  if (warning) process.stderr.write(`bitween: ${warning}\n`);
  return 0;
}

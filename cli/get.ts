// `bitween get HASH [--to DIR] [--wait]`: asks the torrent service to fetch a share by its info-hash; with
// --wait, shows a live progress bar (speed, ETA) until torrent_done. Progress comes from the service's
// `torrent_progress` events, and from the store (bytes_done/total_size) as a fallback and for the finish,
// so a `torrent_done` missed for any reason cannot leave the command hanging.
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { BadInputError, NotFoundError } from '../lib/errors.js';
import { getTorrent, type TorrentRow } from '../lib/store/torrents.js';
import { clean, formatDuration, formatRate, formatSize, json, progressLine, shortHash, terminalWidth } from './format.js';
import { resolveHash } from './hash.js';
import { Replies, ServiceRefusedError, eventHash, type Event } from './replies.js';
import { EXIT, out } from './run.js';
import type { Session } from './session.js';
import { statusLine } from './tty.js';

export interface GetOptions {
  to?: string;
  wait?: boolean;
  json?: boolean;
  timeout?: number;
}

async function saveDir(to: string | undefined): Promise<string | undefined> {
  if (to === undefined) return undefined;
  const dir = resolve(to);
  const s = await stat(dir).catch(() => undefined);
  if (s && !s.isDirectory()) throw new BadInputError(`${dir} is not a folder: --to takes the folder to download into`);
  return dir;
}

/** Download speed smoothed over the last few updates, from the service's figure or from byte deltas. */
class Speed {
  private last: { at: number; bytes: number } | undefined;
  private serviceAt = 0;
  value: number | null = null;

  /** The session's own figure wins while it keeps coming (torrent_progress). */
  fromService(rate: number, at = Date.now()): void {
    this.value = rate;
    this.serviceAt = at;
  }

  fromBytes(bytes: number, at = Date.now()): void {
    const ours = at - this.serviceAt >= 3000;
    if (ours && this.last && at - this.last.at >= 500 && bytes >= this.last.bytes) {
      const rate = ((bytes - this.last.bytes) * 1000) / (at - this.last.at);
      this.value = this.value === null ? rate : 0.7 * this.value + 0.3 * rate;
    }
    if (!this.last || at - this.last.at >= 500) this.last = { at, bytes };
  }
}

export async function getCommand(session: Session, input: string, options: GetOptions): Promise<number> {
  const infoHash = await resolveHash(session, input, { contacts: true });
  const dir = await saveDir(options.to);
  const db = await session.db();
  const before = await getTorrent(db, infoHash);
  if (before?.status === 'seeding') return report(before, options, 0);

  const beat = await session.requireService('torrent');
  const replies = await Replies.open(session, ['torrent_added', 'torrent_done', 'torrent_progress']);
  const payload = await session.publish('torrent', 'add_hash', dir ? [infoHash, dir] : [infoHash]);
  const started = Date.now();
  const timeoutMs = (options.timeout ?? 0) * 1000;

  // A warning about this hash (e.g. a contact address refused) is worth a line; a failure of the torrent
  // itself (reported under topic "torrent") ends the wait.
  const onError = (e: Event): undefined => {
    const r = e.report;
    // The hash is in info_hash (older services sent it as the payload).
    if (r?.service !== 'torrent' || (r.info_hash ?? r.payload) !== infoHash) return undefined;
    if (r.topic === 'torrent') throw new ServiceRefusedError(r);
    process.stderr.write(`bitween: warning: ${clean(r.error)}\n`);
    return undefined;
  };

  if (!options.wait) {
    await replies.wait({
      service: 'torrent',
      pid: beat.pid,
      payload,
      what: `adding ${infoHash}`,
      timeoutMs: timeoutMs || 30000,
      pick: (e) => {
        if (e.topic === 'error') return onError(e);
        return (e.topic === 'torrent_added' || e.topic === 'torrent_done') && eventHash(e) === infoHash ? true : undefined;
      },
    });
    const row = (await getTorrent(db, infoHash)) ?? before;
    if (!row) throw new NotFoundError(`the torrent service did not keep ${infoHash}: see \`pm2 logs bitween-torrent\``);
    return report(row, options, null);
  }

  let stored = before !== undefined;
  const status = statusLine();
  const speed = new Speed();
  const view = { name: before?.name ?? shortHash(infoHash), done: before?.bytesDone ?? 0, total: before?.totalSize ?? null, peers: null as number | null };
  const draw = () => status.show(progressLine({ ...view, rate: speed.value }, terminalWidth(process.stderr)));
  const redraw = setInterval(draw, 1000);
  const interrupted = () => {
    status.clear();
    process.stderr.write(`bitween: stopped waiting; the download goes on (\`bitween ls\` shows it)\n`);
    process.exit(EXIT.interrupted);
  };
  process.once('SIGINT', interrupted);
  draw();
  try {
    const done = await replies.wait<TorrentRow | true>({
      service: 'torrent',
      pid: beat.pid,
      payload,
      what: `fetching ${infoHash}`,
      timeoutMs,
      timeoutMessage: `${infoHash} is not complete after ${options.timeout}s: the download goes on (\`bitween ls\` shows it)`,
      survivesRestart: true,
      pick: (e) => {
        if (e.topic === 'error') return onError(e);
        if (eventHash(e) !== infoHash) return undefined;
        if (e.topic === 'torrent_done') return true;
        if (e.topic === 'torrent_progress') {
          const [, bytes, total, rate, peers] = e.args;
          if (typeof bytes === 'number') view.done = bytes;
          if (typeof total === 'number') view.total = total;
          if (typeof rate === 'number') speed.fromService(rate);
          if (typeof peers === 'number') view.peers = peers;
          draw();
        }
        return undefined;
      },
      pollMs: 1000,
      poll: async () => {
        const row = await getTorrent(db, infoHash);
        // Not stored yet right after add_hash; gone after it was there means someone removed it.
        if (!row && stored) throw new NotFoundError(`${infoHash} was removed while downloading`);
        if (!row) return undefined;
        stored = true;
        if (row.name) view.name = row.name;
        if (row.totalSize !== null) view.total = row.totalSize;
        if (row.bytesDone > view.done || row.status === 'seeding') view.done = row.bytesDone;
        speed.fromBytes(view.done);
        return row.status === 'seeding' ? row : undefined;
      },
    });
    status.clear();
    const row = done === true ? await getTorrent(db, infoHash) : done;
    if (!row) throw new NotFoundError(`${infoHash} was removed right after it finished`);
    return report(row, options, (Date.now() - started) / 1000);
  } finally {
    clearInterval(redraw);
    process.removeListener('SIGINT', interrupted);
    status.clear();
  }
}

/** `seconds`: how long the wait took (null: not waited; 0: it was here already). */
async function report(row: TorrentRow, options: GetOptions, seconds: number | null): Promise<number> {
  const done = row.status === 'seeding';
  if (options.json) {
    await out(json({
      infoHash: row.infoHash,
      name: row.name,
      size: row.totalSize,
      state: row.status,
      savePath: row.savePath,
      seconds: seconds === null ? null : Math.round(seconds * 10) / 10,
    }));
    return 0;
  }
  const name = row.name ? clean(row.name) : row.infoHash;
  if (done && seconds === 0) await out(`already here: ${name} (${formatSize(row.totalSize)}) in ${row.savePath}`);
  else if (done) {
    const rate = seconds && row.totalSize ? `, ${formatRate(row.totalSize / seconds)}` : '';
    await out(`downloaded ${name} (${formatSize(row.totalSize)}) in ${formatDuration(seconds ?? 0)}${rate} to ${row.savePath}`);
  } else {
    await out(`fetching ${name} into ${row.savePath}: \`bitween get ${shortHash(row.infoHash)} --wait\` follows it`);
  }
  return 0;
}

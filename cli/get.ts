// `bitween get HASH [--to DIR] [--wait]`: asks the torrent service to fetch a share by its info-hash; with
// --wait, shows a live progress bar (speed, ETA, peers) until torrent_done. Progress comes from the service's
// `torrent_progress` events and heartbeat, and from the store (bytes_done/total_size) as a fallback and for
// the finish, so a `torrent_done` missed for any reason cannot leave the command hanging.
// A hash no contact offers is not added without --wait (it would wait for metadata for ever, silently);
// with --wait it is, and the line says it waits for a contact who has it. A torrent error ends the wait.
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { BadInputError, CodedError, NotFoundError, isErrorCode } from '../lib/errors.js';
import { contactsOffering } from '../lib/store/contacts.js';
import { getTorrent, type TorrentRow } from '../lib/store/torrents.js';
import { clean, formatDuration, formatRate, formatSize, json, progressLine, shortHash, terminalWidth, truncate } from './format.js';
import { resolveHash } from './hash.js';
import { liveTorrents } from './ls.js';
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

/** States a torrent leaves only by `recheck` or `rm`: asking for it again changes nothing. */
const FAILED = new Set(['error', 'missing', 'changed']);

/** The torrent failed (torrent_error, or a failed state in the store): its code and the service's reason. */
function fetchFailed(infoHash: string, name: string | null, code: unknown, reason: unknown, status = 'error'): CodedError {
  const label = name ? `${clean(name)} (${shortHash(infoHash)})` : infoHash;
  const why = typeof reason === 'string' && reason !== '' ? clean(reason) : 'no reason given (`pm2 logs bitween-torrent`)';
  const what = status === 'error' ? `could not fetch ${label}` : `${label} is ${status}`;
  return new CodedError(isErrorCode(code) ? code : 'E_INTERNAL', `${what}${isErrorCode(code) ? ` (${code})` : ''}: ${why}`);
}

/** The status line while no contact offers the hash: the download is listed, nobody can send it yet. */
export const WAITING_FOR_CONTACT = 'waiting for a contact who has it';

function waitingLine(name: string, width: number): string {
  const limit = Number.isFinite(width) ? width - 1 : 100;
  const tail = `  ${WAITING_FOR_CONTACT}`;
  return truncate(clean(name), Math.max(0, limit - tail.length)) + tail;
}

export async function getCommand(session: Session, input: string, options: GetOptions): Promise<number> {
  const infoHash = await resolveHash(session, input, { contacts: true });
  const dir = await saveDir(options.to);
  const db = await session.db();
  const before = await getTorrent(db, infoHash);
  if (before?.status === 'seeding') return report(before, options, 0);
  if (before && FAILED.has(before.status)) throw fetchFailed(infoHash, before.name, before.errorCode, before.errorReason, before.status);
  const beat = await session.requireService('torrent');
  // Nobody to fetch it from: say so now instead of waiting for metadata that cannot come.
  let offered = (await contactsOffering(db, infoHash)).length > 0;
  if (!offered && !options.wait) {
    throw new NotFoundError(`no contact offers ${infoHash}: \`bitween browse\` lists what your contacts share; \`--wait\` waits for one`);
  }
  const replies = await Replies.open(session, ['torrent_added', 'torrent_done', 'torrent_progress', 'torrent_error']);
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
  const draw = () => {
    const width = terminalWidth(process.stderr);
    status.show(!offered && view.total === null ? waitingLine(view.name, width) : progressLine({ ...view, rate: speed.value }, width));
  };
  // Without a terminal the status line is silent: say once why this may take long.
  if (!offered && !status.live) process.stderr.write(`bitween: no contact offers ${infoHash} yet: ${WAITING_FOR_CONTACT} (Ctrl-C stops waiting; it stays listed)\n`);
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
        if (e.topic === 'torrent_error') {
          const failure = (e.args[1] ?? {}) as { code?: unknown; reason?: unknown };
          throw fetchFailed(infoHash, view.name === shortHash(infoHash) ? null : view.name, failure.code, failure.reason);
        }
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
        // Failed before torrent_error reached us (the store is written first): the same answer.
        if (FAILED.has(row.status)) throw fetchFailed(infoHash, row.name, row.errorCode, row.errorReason, row.status);
        if (row.name) view.name = row.name;
        if (row.totalSize !== null) view.total = row.totalSize;
        if (row.bytesDone > view.done || row.status === 'seeding') view.done = row.bytesDone;
        speed.fromBytes(view.done);
        if (row.status === 'seeding') return row;
        // Peers and speed from the heartbeat: torrent_progress comes only when bytes arrive (none before the
        // metadata, none while stalled).
        const live = liveTorrents((await session.heartbeat('torrent').catch(() => undefined))?.facts).get(infoHash);
        if (live?.peers !== null && live?.peers !== undefined) view.peers = live.peers;
        if (live?.downloadRate !== null && live?.downloadRate !== undefined) speed.fromService(live.downloadRate);
        if (!offered && view.total === null) offered = (await contactsOffering(db, infoHash)).length > 0;
        return undefined;
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

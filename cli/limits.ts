// `bitween limits [--up RATE] [--down RATE]`: shows the session's rate limits, or changes them at run time
// (set_limits). A change is stored and wins over BITWEEN_UPLOAD_LIMIT / BITWEEN_DOWNLOAD_LIMIT from then on.
import { BadInputError } from '../lib/errors.js';
import { getState, StateKey, type TorrentLimitsState } from '../lib/store/state.js';
import { formatRate, json } from './format.js';
import { Replies } from './replies.js';
import { out } from './run.js';
import type { Session } from './session.js';

const UNIT: Record<string, number> = { '': 1, b: 1, k: 1024, kib: 1024, m: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gib: 1024 ** 3 };

/**
 * "500000", "500K", "1.5M", "2MiB", "1M/s" → bytes per second (binary units, as the tables show sizes);
 * "0", "none" and "unlimited" → 0 (no limit). "KB"/"MB" are refused: say K (KiB) or a number of bytes.
 */
export function parseRate(text: string): number {
  const t = text.trim().toLowerCase().replace(/\/s$/, '');
  if (t === 'none' || t === 'unlimited') return 0;
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/.exec(t);
  const unit = m ? UNIT[m[2]!] : undefined;
  if (!m || unit === undefined) {
    throw new BadInputError(`"${text}" is not a rate: give bytes per second, e.g. 500000, 500K, 1.5M or 2MiB (K = 1024), or 0 for no limit`);
  }
  const value = Math.round(Number(m[1]) * unit);
  if (!Number.isSafeInteger(value)) throw new BadInputError(`"${text}" is too large a rate`);
  return value;
}

function describe(rate: number): string {
  return rate > 0 ? formatRate(rate) : 'no limit';
}

export async function limitsCommand(session: Session, options: { up?: string; down?: string; json?: boolean; timeout?: number }): Promise<number> {
  const wanted: Partial<TorrentLimitsState> = {};
  if (options.up !== undefined) wanted.upload = parseRate(options.up);
  if (options.down !== undefined) wanted.download = parseRate(options.down);
  let limits: TorrentLimitsState;
  let from: string;
  if (Object.keys(wanted).length === 0) {
    // Show: the running session's values; without it, the stored ones, else the configuration's.
    const facts = (await session.heartbeat('torrent'))?.facts as { limits?: TorrentLimitsState & { from?: string } } | undefined;
    const stored = await getState<TorrentLimitsState>(await session.db(), StateKey.torrentLimits);
    if (facts?.limits) {
      limits = { upload: facts.limits.upload, download: facts.limits.download };
      from = facts.limits.from ?? 'store';
    } else if (stored) {
      limits = stored;
      from = 'store';
    } else {
      limits = { upload: session.config.uploadLimit, download: session.config.downloadLimit };
      from = 'config';
    }
  } else {
    const beat = await session.requireService('torrent');
    const replies = await Replies.open(session, ['limits_changed']);
    // INTERFACE.md §2: set_limits {"upload": B/s, "download": B/s}
    const payload = await session.publish('torrent', 'set_limits', [wanted]);
    const answer = await replies.wait({
      service: 'torrent',
      pid: beat.pid,
      payload,
      what: 'changing the rate limits',
      timeoutMs: (options.timeout ?? 30) * 1000,
      pick: (e) => (e.topic === 'limits_changed' ? e : undefined),
    });
    limits = answer.args[0] as TorrentLimitsState;
    from = 'store';
  }
  if (options.json) {
    await out(json({ upload: limits.upload, download: limits.download, from }));
    return 0;
  }
  const source = from === 'config' ? ' (from BITWEEN_UPLOAD_LIMIT / BITWEEN_DOWNLOAD_LIMIT)' : '';
  await out(`upload: ${describe(limits.upload)}, download: ${describe(limits.download)}${source}`);
  return 0;
}

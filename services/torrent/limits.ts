// Rate limits of the whole BitTorrent session. BITWEEN_UPLOAD_LIMIT / BITWEEN_DOWNLOAD_LIMIT give the
// starting values; once `set_limits` has changed them at run time, the stored ones (node_state
// `torrent.limits`) win at every start, until set_limits changes them again. 0 = no limit.
import type WebTorrent from 'webtorrent';
import type { Bus } from '../../lib/bus.js';
import type { Config } from '../../lib/config.js';
import { BadInputError } from '../../lib/errors.js';
import type { Db } from '../../lib/store/pool.js';
import { getState, setState, StateKey, type TorrentLimitsState } from '../../lib/store/state.js';
import type { StoreJournal } from './journal.js';

export type Limits = TorrentLimitsState;

/** The limits to start with: the stored ones when set_limits ever ran, else the config's. */
export async function startingLimits(db: Db, config: Pick<Config, 'uploadLimit' | 'downloadLimit'>): Promise<{ limits: Limits; from: 'store' | 'config' }> {
  const stored = await getState<Partial<Limits>>(db, StateKey.torrentLimits);
  if (stored && isRate(stored.upload) && isRate(stored.download)) return { limits: { upload: stored.upload, download: stored.download }, from: 'store' };
  return { limits: { upload: config.uploadLimit, download: config.downloadLimit }, from: 'config' };
}

/** Applies limits to a running session: open connections slow down or speed up at once. */
export function applyLimits(client: WebTorrent, limits: Limits): void {
  // webtorrent reads -1 as "no limit" and 0 as "nothing at all"
  client.throttleUpload(limits.upload > 0 ? limits.upload : -1);
  client.throttleDownload(limits.download > 0 ? limits.download : -1);
}

/** set_limits' argument: {"upload"?: B/s, "download"?: B/s}, whole numbers ≥ 0; a key left out keeps its value. */
export function parseLimits(value: unknown, current: Limits): Limits {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new BadInputError(`set_limits takes an object like {"upload": 500000, "download": 0} (bytes per second, 0 = no limit), got ${JSON.stringify(value)}`);
  }
  const given = value as Record<string, unknown>;
  const unknown = Object.keys(given).filter((k) => k !== 'upload' && k !== 'download');
  if (unknown.length > 0) throw new BadInputError(`set_limits knows "upload" and "download", not ${unknown.map((k) => JSON.stringify(k)).join(', ')}`);
  if (given.upload === undefined && given.download === undefined) throw new BadInputError('set_limits needs "upload" or "download" (bytes per second, 0 = no limit)');
  const out = { ...current };
  for (const key of ['upload', 'download'] as const) {
    const v = given[key];
    if (v === undefined) continue;
    if (!isRate(v)) throw new BadInputError(`${key} must be a whole number of bytes per second ≥ 0 (0 = no limit), got ${JSON.stringify(v)}`);
    out[key] = v;
  }
  return out;
}

function isRate(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** The session's limits now, and `set_limits`: applied at once, stored through the journal, then announced. */
export class RateLimits {
  constructor(
    private readonly client: WebTorrent,
    private readonly journal: StoreJournal,
    private readonly bus: Bus,
    public current: Limits,
    /** Where the current values come from: the config (BITWEEN_*_LIMIT) until set_limits ran once. */
    public from: 'store' | 'config',
  ) {}

  set(value: unknown): Limits {
    const next = parseLimits(value, this.current);
    applyLimits(this.client, next);
    this.current = next;
    this.from = 'store';
    this.journal.write({
      // Not a torrent's write: the key only orders and coalesces limit changes among themselves.
      infoHash: '',
      kind: 'limits',
      run: (db) => setState(db, StateKey.torrentLimits, next),
      then: () => this.bus.publish('limits_changed', [next]),
    });
    return next;
  }
}

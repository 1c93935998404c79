// `bitween recheck HASH`: asks the torrent service to verify what is on disk for a torrent in error, missing or
// changed state (or any other), then seed it or continue downloading. Waits for the outcome: `torrent_added`
// with the new status when it is back in the session, `torrent_error` when the problem stays.
import { NotFoundError } from '../lib/errors.js';
import { getTorrent } from '../lib/store/torrents.js';
import { clean, json, shortHash } from './format.js';
import { resolveHash } from './hash.js';
import { Replies, eventHash, type Event } from './replies.js';
import { EXIT, out } from './run.js';
import type { Session } from './session.js';
import { statusLine } from './tty.js';

export interface RecheckOutcome {
  infoHash: string;
  name: string | null;
  /** seeding, downloading or metadata when it is back; error, missing or changed when it is not. */
  status: string;
  errorCode: string | null;
  errorReason: string | null;
}

/** The service's answer for `infoHash`: back in the session (torrent_added with a status) or failed again. */
export function outcomeOf(e: Event, infoHash: string): Omit<RecheckOutcome, 'name'> | undefined {
  if (eventHash(e) !== infoHash) return undefined;
  if (e.topic === 'torrent_added' && typeof e.kwargs.status === 'string') {
    return { infoHash, status: e.kwargs.status, errorCode: null, errorReason: null };
  }
  if (e.topic === 'torrent_error') {
    const detail = (typeof e.args[1] === 'object' && e.args[1] !== null ? e.args[1] : {}) as Record<string, unknown>;
    return {
      infoHash,
      status: typeof e.kwargs.status === 'string' ? e.kwargs.status : 'error',
      errorCode: typeof detail.code === 'string' ? detail.code : null,
      errorReason: typeof detail.reason === 'string' ? detail.reason : null,
    };
  }
  return undefined;
}

const BACK = new Set(['seeding', 'downloading', 'metadata']);

/** One line for people: what the recheck found. */
export function outcomeLine(o: RecheckOutcome): string {
  const name = o.name === null ? o.infoHash : clean(o.name);
  switch (o.status) {
    case 'seeding':
      return `${name}: all of it is on disk, seeding again`;
    case 'downloading':
      return `${name}: pieces are missing, downloading them (\`bitween get ${shortHash(o.infoHash)} --wait\` follows it)`;
    case 'metadata':
      return `${name}: waiting for its metadata from a contact`;
    default:
      return `${name} is still ${o.status}: ${clean(o.errorReason ?? o.errorCode ?? 'no reason given')}`;
  }
}

export async function recheckCommand(session: Session, input: string, options: { json?: boolean; timeout?: number }): Promise<number> {
  const infoHash = await resolveHash(session, input, { contacts: false });
  const row = await getTorrent(await session.db(), infoHash);
  if (!row) throw new NotFoundError(`no torrent ${infoHash} here: \`bitween ls\` lists what this node has`);
  const beat = await session.requireService('torrent');
  const replies = await Replies.open(session, ['torrent_added', 'torrent_error']);
  const status = statusLine();
  status.show(`verifying ${clean(row.name ?? infoHash)} …`);
  let found;
  try {
    // INTERFACE.md §2: recheck info_hash
    const payload = await session.publish('torrent', 'recheck', [infoHash]);
    found = await replies.wait({
      service: 'torrent',
      pid: beat.pid,
      payload,
      what: `rechecking ${infoHash}`,
      // Every piece is hashed again: as long as sharing it took; by default wait while the service runs.
      timeoutMs: (options.timeout ?? 0) * 1000,
      pick: (e) => outcomeOf(e, infoHash),
    });
  } finally {
    status.clear();
  }
  const outcome: RecheckOutcome = { ...found, name: row.name };
  const back = BACK.has(outcome.status);
  if (options.json) await out(json(outcome));
  else if (back) await out(`rechecked ${outcomeLine(outcome)}`);
  else process.stderr.write(`bitween: ${outcomeLine(outcome)}\n`);
  return back ? EXIT.ok : EXIT.failed;
}

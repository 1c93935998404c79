// `bitween pause HASH` / `bitween resume HASH`: stop and restart one torrent's transfers. The torrent service
// answers with torrent_paused / torrent_resumed once the store holds it (a pause is kept across restarts).
import { NotFoundError } from '../lib/errors.js';
import { getTorrent } from '../lib/store/torrents.js';
import { clean, json } from './format.js';
import { resolveHash } from './hash.js';
import { Replies, eventHash } from './replies.js';
import { out } from './run.js';
import type { Session } from './session.js';

type Control = 'pause' | 'resume';
const ANSWER = { pause: 'torrent_paused', resume: 'torrent_resumed' } as const;

async function control(session: Session, topic: Control, input: string, options: { json?: boolean; timeout?: number }): Promise<number> {
  const infoHash = await resolveHash(session, input, { contacts: false });
  const row = await getTorrent(await session.db(), infoHash);
  if (!row) throw new NotFoundError(`no torrent ${infoHash} here: \`bitween ls\` lists what this node has`);
  const beat = await session.requireService('torrent');
  const replies = await Replies.open(session, [ANSWER[topic]]);
  // INTERFACE.md §2: pause / resume info_hash
  const payload = await session.publish('torrent', topic, [infoHash]);
  const answer = await replies.wait({
    service: 'torrent',
    pid: beat.pid,
    payload,
    what: `${topic === 'pause' ? 'pausing' : 'resuming'} ${infoHash}`,
    timeoutMs: (options.timeout ?? 60) * 1000,
    pick: (e) => (e.topic === ANSWER[topic] && eventHash(e) === infoHash ? e : undefined),
  });
  const status = typeof answer.kwargs.status === 'string' ? answer.kwargs.status : row.status;
  if (options.json) {
    await out(json({ infoHash, name: row.name, paused: topic === 'pause', status }));
    return 0;
  }
  const name = row.name ? clean(row.name) : infoHash;
  await out(topic === 'pause' ? `paused ${name} (${status}): no transfers until \`bitween resume\`` : `resumed ${name} (${status})`);
  return 0;
}

export function pauseCommand(session: Session, input: string, options: { json?: boolean; timeout?: number }): Promise<number> {
  return control(session, 'pause', input, options);
}

export function resumeCommand(session: Session, input: string, options: { json?: boolean; timeout?: number }): Promise<number> {
  return control(session, 'resume', input, options);
}
